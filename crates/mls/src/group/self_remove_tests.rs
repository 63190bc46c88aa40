//! SelfRemove (draft-ietf-mls-extensions, proposal type 0x000a): a member asks to leave,
//! another member commits it by reference, everyone but the leaver moves on together.
//! Negative cases forge what an honest sender would never send.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use nipee_keypackage::{KeyPackageBundle, KeyPackageOptions, ProposalType};
use rand::SeedableRng;
use rand::rngs::StdRng;

use super::tests::{NOW, public_commit, reframe};
use super::{CommitOptions, Group, GroupConfig, HandshakeFormat, ProcessedMessage};
use crate::error::Error;
use crate::framing::{Content, MlsMessage, MlsMessageBody, Proposal, ProposalOrRef, Sender};
use crate::group::message_in::MlsMessageIn;
use crate::group::proposals::{validate_and_apply, validate_single};
use crate::tree::math::LeafIndex;

const FORMATS: [HandshakeFormat; 2] = [HandshakeFormat::Public, HandshakeFormat::Private];

/// KeyPackage options that list SelfRemove (`capable`) or not.
fn options(capable: bool) -> KeyPackageOptions {
    let mut o = KeyPackageOptions::new(NOW);
    if capable {
        o.capabilities.proposals.push(ProposalType::SELF_REMOVE);
    }
    o
}

/// A group created by m0, who adds the others in one commit; member `i` lists SelfRemove
/// in its capabilities when `capable[i]`.
fn group(capable: &[bool], format: HandshakeFormat) -> Vec<Group> {
    let mut rng = StdRng::seed_from_u64(17);
    let mut cfg = GroupConfig::new(NOW);
    cfg.handshake_format = format;
    let bundles: Vec<KeyPackageBundle> = capable
        .iter()
        .enumerate()
        .map(|(i, c)| {
            KeyPackageBundle::generate(format!("m{i}").as_bytes(), &options(*c), &mut rng).unwrap()
        })
        .collect();
    super::tests::group_of(&cfg, b"self-remove", bundles)
}

fn self_removes_only() -> CommitOptions {
    CommitOptions {
        include_pending: true,
        pending_types: vec![ProposalType::SELF_REMOVE],
        ..CommitOptions::default()
    }
}

fn deliver(g: &mut [Group], from: usize, to: &[usize], bytes: &[u8]) -> Vec<ProcessedMessage> {
    to.iter()
        .filter(|i| **i != from)
        .map(|i| g[*i].process_message(bytes).unwrap())
        .collect()
}

#[test]
fn a_member_leaves_by_self_remove_and_another_member_commits_it() {
    for format in FORMATS {
        let mut g = group(&[true, true, true, true], format);
        let leave = g[2].propose_self_remove().unwrap();
        // Always a PublicMessage, whatever the handshake format says.
        assert!(matches!(
            MlsMessage::from_bytes(&leave).unwrap().body,
            MlsMessageBody::PublicMessage(_)
        ));
        for r in deliver(&mut g, 2, &[0, 1, 3], &leave) {
            assert!(matches!(
                r,
                ProcessedMessage::ProposalStored {
                    sender: Sender::Member(2),
                    proposal: Proposal::SelfRemove,
                    ..
                }
            ));
        }
        // m3, not the creator, commits it.
        let out = g[3].commit(self_removes_only()).unwrap();
        assert_eq!(
            g[3].pending_commit().unwrap().summary().removed,
            vec![LeafIndex(2)]
        );
        g[3].merge_pending_commit().unwrap();
        for r in deliver(&mut g, 3, &[0, 1], &out.commit) {
            assert!(matches!(r, ProcessedMessage::CommitApplied(_)), "{r:?}");
        }
        assert!(matches!(
            g[2].process_message(&out.commit).unwrap(),
            ProcessedMessage::Removed(_)
        ));
        for i in [0, 1] {
            assert_eq!(g[i].epoch(), g[3].epoch());
            assert_eq!(g[i].epoch_authenticator(), g[3].epoch_authenticator());
            assert!(g[i].member(LeafIndex(2)).is_none());
        }
        // The leaver reads nothing of the new epoch.
        let msg = g[0].create_message(b"after", b"").unwrap();
        assert!(g[2].process_message(&msg).is_err());
        assert!(matches!(
            g[1].process_message(&msg).unwrap(),
            ProcessedMessage::Application { .. }
        ));
        // The committer's new (path) leaf still lists SelfRemove: m1 can leave next.
        assert!(g[1].propose_self_remove().is_ok());
    }
}

#[test]
fn the_committer_leaves_out_its_own_self_remove_and_other_proposal_types() {
    let mut g = group(&[true, true, true], HandshakeFormat::Private);
    let mine = g[1].propose_self_remove().unwrap();
    // A second SelfRemove of ours in one epoch is refused.
    assert!(matches!(g[1].propose_self_remove(), Err(Error::Misuse(_))));
    let theirs = g[2].propose_self_remove().unwrap();
    let remove = g[0].propose_remove(LeafIndex(2)).unwrap();
    deliver(&mut g, 1, &[0, 2], &mine);
    deliver(&mut g, 2, &[0, 1], &theirs);
    deliver(&mut g, 0, &[1, 2], &remove);
    // m1 commits: m2's SelfRemove wins over m0's Remove of m2; m1's own is left out.
    let out = g[1]
        .commit(CommitOptions {
            include_pending: true,
            ..CommitOptions::default()
        })
        .unwrap();
    let view = g[1].pending_commit().unwrap();
    assert_eq!(view.summary().removed, vec![LeafIndex(2)]);
    assert_eq!(view.proposals().len(), 1);
    assert_eq!(
        view.proposals()[0],
        (Sender::Member(2), Proposal::SelfRemove)
    );
    g[1].merge_pending_commit().unwrap();
    assert!(matches!(
        g[0].process_message(&out.commit).unwrap(),
        ProcessedMessage::CommitApplied(_)
    ));
    assert_eq!(g[0].epoch_authenticator(), g[1].epoch_authenticator());
    // With only SelfRemoves wanted, m0's Remove is not taken either (here: nothing left).
    let mut g = group(&[true, true, true], HandshakeFormat::Public);
    let remove = g[0].propose_remove(LeafIndex(2)).unwrap();
    deliver(&mut g, 0, &[1, 2], &remove);
    let _ = g[1].commit(self_removes_only()).unwrap();
    assert!(g[1].pending_commit().unwrap().proposals().is_empty());
}

#[test]
fn self_remove_by_value_is_refused_by_committer_and_receivers() {
    let mut g = group(&[true, true, true], HandshakeFormat::Public);
    let err = g[0]
        .commit(CommitOptions {
            proposals: vec![Proposal::SelfRemove],
            ..CommitOptions::default()
        })
        .unwrap_err();
    assert!(matches!(err, Error::Misuse(_)), "{err:?}");
    // A correctly framed commit of m0 carrying a SelfRemove by value.
    let out = g[0].self_update().unwrap();
    let pm = public_commit(&out.commit);
    let mut content = pm.content.clone();
    let Content::Commit(commit) = &mut content.content else {
        panic!("a commit");
    };
    commit
        .proposals
        .push(ProposalOrRef::Proposal(Proposal::SelfRemove));
    let forged = reframe(&g[0], content, pm.auth.confirmation_tag.clone());
    let before = g[1].to_bytes().unwrap();
    let err = g[1].process_message(&forged).unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidProposal {
                reason: "a SelfRemove proposal by value"
            }
        ),
        "{err:?}"
    );
    assert_eq!(*g[1].to_bytes().unwrap(), *before, "state changed");
    // And the committer's own SelfRemove, were it resolved, is refused too.
    let err = validate_and_apply(
        &g[1],
        Some(LeafIndex(0)),
        &[(Sender::Member(0), Proposal::SelfRemove)],
    )
    .err()
    .unwrap();
    assert!(matches!(err, Error::InvalidProposal { .. }), "{err:?}");
}

#[test]
fn self_remove_from_a_non_member_is_refused() {
    let mut g = group(&[true, true, true], HandshakeFormat::Public);
    // A SelfRemove framed as a new member's proposal.
    let mut content = g[1].framed(Content::Proposal(Proposal::SelfRemove), &[]);
    content.sender = Sender::NewMemberProposal;
    let forged = reframe(&g[1], content, None);
    let before = g[0].to_bytes().unwrap();
    let err = g[0].process_message(&forged).unwrap_err();
    assert!(matches!(err, Error::InvalidSender { .. }), "{err:?}");
    assert_eq!(*g[0].to_bytes().unwrap(), *before, "state changed");
    for sender in [
        Sender::External(0),
        Sender::NewMemberProposal,
        Sender::NewMemberCommit,
    ] {
        let err = validate_single(&g[0], &sender, &Proposal::SelfRemove).unwrap_err();
        assert!(matches!(err, Error::InvalidSender { .. }), "{err:?}");
        let err = validate_and_apply(&g[0], Some(LeafIndex(1)), &[(sender, Proposal::SelfRemove)])
            .err()
            .unwrap();
        assert!(matches!(err, Error::InvalidSender { .. }), "{err:?}");
    }
    // A member who left (a blank leaf) cannot send one either.
    let leave = g[2].propose_self_remove().unwrap();
    deliver(&mut g, 2, &[0, 1], &leave);
    let out = g[0].commit(self_removes_only()).unwrap();
    g[0].merge_pending_commit().unwrap();
    g[1].process_message(&out.commit).unwrap();
    let err = validate_single(&g[0], &Sender::Member(2), &Proposal::SelfRemove).unwrap_err();
    assert!(matches!(err, Error::InvalidSender { .. }), "{err:?}");
}

#[test]
fn self_remove_needs_every_member_to_list_it() {
    let mut g = group(&[true, true, false], HandshakeFormat::Public);
    let err = g[1].propose_self_remove().unwrap_err();
    assert!(matches!(err, Error::CapabilityMissing { .. }), "{err:?}");
    // A correctly framed one, sent anyway, is refused by its receivers.
    let content = g[1].framed(Content::Proposal(Proposal::SelfRemove), &[]);
    let forged = reframe(&g[1], content, None);
    for r in [0, 2] {
        let err = g[r].process_message(&forged).unwrap_err();
        assert!(matches!(err, Error::CapabilityMissing { .. }), "{err:?}");
    }
    // Nor can the sender itself list it alone.
    let g = group(&[false, true, true], HandshakeFormat::Public);
    let err = validate_single(&g[1], &Sender::Member(1), &Proposal::SelfRemove).unwrap_err();
    assert!(matches!(err, Error::CapabilityMissing { .. }), "{err:?}");
}

#[test]
fn an_external_commit_may_reference_self_removes_and_nothing_else() {
    let mut g = group(&[true, true, true], HandshakeFormat::Public);
    let leave = g[2].propose_self_remove().unwrap();
    let remove = g[0].propose_remove(LeafIndex(1)).unwrap();
    deliver(&mut g, 2, &[0, 1], &leave);
    deliver(&mut g, 0, &[1], &remove);
    let refs: Vec<(Proposal, Vec<u8>)> = g[1]
        .proposals
        .iter()
        .map(|c| (c.proposal.clone(), c.reference.clone()))
        .collect();
    for (proposal, reference) in refs {
        let commit = crate::framing::Commit {
            proposals: vec![ProposalOrRef::Reference(reference)],
            path: None,
        };
        let r = super::commit_stage::resolve_for_test(&g[1], &commit, true);
        match proposal {
            Proposal::SelfRemove => assert_eq!(r.unwrap(), vec![(Sender::Member(2), proposal)]),
            _ => assert!(matches!(r, Err(Error::InvalidProposal { .. })), "{r:?}"),
        }
    }
    // MlsMessageIn sees a SelfRemove's sender in the clear (a PublicMessage).
    let in_msg = MlsMessageIn::parse(&leave).unwrap();
    assert_eq!(in_msg.public_sender(), Some(Sender::Member(2)));
}
