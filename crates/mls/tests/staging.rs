//! Two-phase receiving: staging changes nothing (accepted or rejected, every kind of
//! message), a staged result merges only into the state it was staged on, and a staged
//! commit shows what it does, the same way to its committer and to every receiver.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{assert_agree, members, parse, stage_commit, state};
use nipee_mls::{
    CommitOptions, Error, ErrorKind, Group, HandshakeFormat, LeafIndex, ProcessedMessage, Proposal,
    Sender, Staged,
};
use rand::SeedableRng;
use rand::rngs::StdRng;

const FORMATS: [HandshakeFormat; 2] = [HandshakeFormat::Public, HandshakeFormat::Private];

/// Flips a byte near the end (inside the signature, tag or ciphertext).
fn tampered(bytes: &[u8]) -> Vec<u8> {
    let mut bad = bytes.to_vec();
    let n = bad.len();
    bad[n - 3] ^= 1;
    bad
}

/// Stages `bytes` on `g` and checks that the serialized state did not change, whether the
/// message was accepted or not; returns whether it was accepted.
fn stage_changes_nothing(g: &Group, bytes: &[u8]) -> bool {
    let before = state(g);
    let accepted = nipee_mls::MlsMessageIn::parse(bytes)
        .and_then(|m| g.stage(&m))
        .is_ok();
    assert_eq!(state(g), before, "staging changed the state");
    accepted
}

#[test]
fn staging_any_message_accepted_or_rejected_changes_nothing() {
    for format in FORMATS {
        let mut g = members(3, format, 1);
        // Application messages, genuine and tampered.
        let app = g[0].create_message(b"hello", b"ad").unwrap();
        assert!(stage_changes_nothing(&g[1], &app));
        assert!(!stage_changes_nothing(&g[1], &tampered(&app)));
        // A proposal, genuine and tampered.
        let prop = g[0].propose_remove(LeafIndex(2)).unwrap();
        assert!(stage_changes_nothing(&g[1], &prop));
        assert!(!stage_changes_nothing(&g[1], &tampered(&prop)));
        g[1].process_message(&prop).unwrap();
        g[2].process_message(&prop).unwrap();
        // A commit (by reference, removing carol), genuine and tampered, seen by the
        // member it keeps and by the member it removes.
        let out = g[0]
            .commit(CommitOptions {
                include_pending: true,
                ..CommitOptions::default()
            })
            .unwrap();
        for receiver in [1, 2] {
            assert!(stage_changes_nothing(&g[receiver], &out.commit));
            assert!(!stage_changes_nothing(&g[receiver], &tampered(&out.commit)));
        }
        // Our own pending commit echoed back, and the committer's view of it.
        assert!(stage_changes_nothing(&g[0], &out.commit));
        // A GroupInfo is not a message for the group.
        assert!(!stage_changes_nothing(
            &g[1],
            &g[0].group_info(true, false).unwrap()
        ));
        g[0].merge_pending_commit().unwrap();
        assert!(matches!(
            g[1].process_message(&out.commit).unwrap(),
            ProcessedMessage::CommitApplied(_)
        ));
        assert!(matches!(
            g[2].process_message(&out.commit).unwrap(),
            ProcessedMessage::Removed(_)
        ));
        // A late application message of a retained past epoch: staged without change,
        // then merged once.
        assert!(stage_changes_nothing(&g[1], &app));
        assert!(matches!(
            g[1].process_message(&app).unwrap(),
            ProcessedMessage::Application { epoch: 1, .. }
        ));
        assert!(!stage_changes_nothing(&g[1], &app), "a replay");
        // The removed member still stages (and merges) it too.
        assert!(stage_changes_nothing(&g[2], &app));
        assert_eq!(g[0].epoch_authenticator(), g[1].epoch_authenticator());
    }
}

#[test]
fn an_application_message_stages_twice_but_merges_once() {
    for format in FORMATS {
        let mut g = members(2, format, 2);
        let m = g[0].create_message(b"twice", b"").unwrap();
        let msg = parse(&m);
        let first = g[1].stage(&msg).unwrap();
        let second = g[1].stage(&msg).unwrap();
        for s in [&first, &second] {
            let Staged::Application(a) = s else {
                panic!("an application message")
            };
            assert_eq!(a.data(), b"twice");
            assert_eq!(a.sender(), LeafIndex(0));
            assert_eq!(a.sender_credential().identity(), Some(&b"m0"[..]));
            assert_eq!(a.epoch(), 1);
        }
        assert!(matches!(
            g[1].merge(first).unwrap(),
            ProcessedMessage::Application { .. }
        ));
        // The second copy was staged on a state that no longer exists.
        let err = g[1].merge(second).unwrap_err();
        assert!(matches!(err, Error::StaleStaged { .. }), "{err:?}");
        assert_eq!(err.kind(), ErrorKind::Misuse);
        // And staging it again fails: its key is gone.
        assert!(matches!(
            g[1].stage(&msg),
            Err(Error::GenerationConsumed {
                leaf: 0,
                generation: 0
            })
        ));
    }
}

#[test]
fn a_staged_result_is_refused_by_any_other_state() {
    let mut g = members(3, HandshakeFormat::Private, 3);
    let a = g[0].create_message(b"a", b"").unwrap();
    let b = g[0].create_message(b"b", b"").unwrap();
    // Merging one staged message makes the other stale, even from another sender leaf.
    let sa = g[1].stage(&parse(&a)).unwrap();
    let sb = g[1].stage(&parse(&b)).unwrap();
    g[1].merge(sb).unwrap();
    let before = state(&g[1]);
    assert!(matches!(
        g[1].merge(sa),
        Err(Error::StaleStaged {
            reason: "the group changed since it was staged"
        })
    ));
    assert_eq!(state(&g[1]), before, "a refused merge changes nothing");
    g[1].process_message(&a).unwrap();

    // Sending a message in between makes a staged commit stale.
    let out = g[0].self_update().unwrap();
    let staged = g[1].stage(&parse(&out.commit)).unwrap();
    let _ = g[1].create_message(b"in between", b"").unwrap();
    assert!(matches!(g[1].merge(staged), Err(Error::StaleStaged { .. })));

    // A result staged by one member does not merge into another member's group.
    let staged = g[1].stage(&parse(&out.commit)).unwrap();
    assert!(matches!(g[2].merge(staged), Err(Error::StaleStaged { .. })));

    // Nor into the same member after it moved to another epoch.
    let staged_by_bob = g[1].stage(&parse(&out.commit)).unwrap();
    g[0].merge_pending_commit().unwrap();
    g[1].process_message(&out.commit).unwrap();
    assert!(matches!(
        g[1].merge(staged_by_bob),
        Err(Error::StaleStaged {
            reason: "it was staged in another epoch"
        })
    ));

    // Nor into a group with another id.
    let mut other = members(2, HandshakeFormat::Private, 4);
    let m = other[0].create_message(b"x", b"").unwrap();
    let staged = other[1].stage(&parse(&m)).unwrap();
    assert!(matches!(g[1].merge(staged), Err(Error::StaleStaged { .. })));
    other[1].process_message(&m).unwrap();

    // A staged proposal goes stale when another merge happens first.
    let p1 = g[0].propose_remove(LeafIndex(2)).unwrap();
    let staged = g[1].stage(&parse(&p1)).unwrap();
    let m = g[2].create_message(b"from carol", b"").unwrap();
    g[1].process_message(&m).unwrap();
    assert!(matches!(g[1].merge(staged), Err(Error::StaleStaged { .. })));
    assert!(matches!(
        g[1].process_message(&p1).unwrap(),
        ProcessedMessage::ProposalStored { .. }
    ));
}

#[test]
fn a_staged_commit_shows_who_commits_adds_and_removes_and_the_new_epoch() {
    for format in FORMATS {
        let mut g = members(3, format, 5);
        let mut rng = StdRng::seed_from_u64(55);
        let dave = common::bundle(&mut rng, "dave");
        // Bob proposes removing Carol; Alice commits it by reference and adds Dave by value.
        let prop = g[1].propose_remove(LeafIndex(2)).unwrap();
        g[0].process_message(&prop).unwrap();
        g[2].process_message(&prop).unwrap();
        let out = g[0]
            .commit(CommitOptions {
                proposals: vec![Proposal::Add(Box::new(dave.key_package().clone()))],
                include_pending: true,
                rotate_signature_key: true,
                authenticated_data: b"binding".to_vec(),
                ..CommitOptions::default()
            })
            .unwrap();

        let bob = stage_commit(&g[1], &out.commit);
        assert_eq!(bob.epoch(), 2);
        assert_eq!(bob.committer(), Sender::Member(0));
        assert_eq!(
            bob.committer_credential().unwrap().identity(),
            Some(&b"m0"[..])
        );
        let new_leaf = bob.committer_new_leaf().expect("a path");
        assert_ne!(
            new_leaf.signature_key,
            g[1].member(LeafIndex(0)).unwrap().signature_key,
            "the new leaf carries the rotated key"
        );
        assert_eq!(bob.proposals().len(), 2);
        assert_eq!(
            bob.proposals()[0],
            (Sender::Member(1), Proposal::Remove { removed: 2 }),
            "by reference, with its original sender"
        );
        assert!(matches!(
            bob.proposals()[1],
            (Sender::Member(0), Proposal::Add(_))
        ));
        assert_eq!(bob.added().len(), 1);
        assert_eq!(bob.added()[0].credential.identity(), Some(&b"dave"[..]));
        assert_eq!(bob.removed().len(), 1);
        assert_eq!(bob.removed()[0].index, LeafIndex(2));
        assert_eq!(bob.removed()[0].credential.identity(), Some(&b"m2"[..]));
        assert!(bob.updated().is_empty());
        assert_eq!(bob.new_context().epoch, 2);
        assert_eq!(bob.new_context().group_id, *g[1].group_id());
        assert_eq!(bob.extensions(), g[1].extensions());
        assert!(!bob.removes_us() && !bob.is_own());
        assert_eq!(bob.authenticated_data(), b"binding");
        assert_eq!(bob.summary().removed, vec![LeafIndex(2)]);
        assert_eq!(bob.members().len(), 3);
        let bob_auth = bob.epoch_authenticator().unwrap().clone();
        let bob_export = bob.export_secret(b"nostr", b"nostr", 32).unwrap();

        let carol = stage_commit(&g[2], &out.commit);
        assert!(carol.removes_us());
        assert_eq!(carol.epoch_authenticator(), None);
        assert!(matches!(
            carol.export_secret(b"nostr", b"nostr", 32),
            Err(Error::Misuse(_))
        ));
        assert!(carol.members().is_empty());
        assert_eq!(carol.content_id(), bob.content_id());
        assert_eq!(carol.new_context(), bob.new_context());

        g[0].merge_pending_commit().unwrap();
        assert!(matches!(
            g[1].merge(Staged::Commit(bob)).unwrap(),
            ProcessedMessage::CommitApplied(_)
        ));
        assert!(matches!(
            g[2].merge(Staged::Commit(carol)).unwrap(),
            ProcessedMessage::Removed(_)
        ));
        assert!(!g[2].is_active());
        assert_eq!(g[1].epoch_authenticator(), &bob_auth);
        assert_eq!(g[0].epoch_authenticator(), &bob_auth);
        assert_eq!(
            g[1].export_secret(b"nostr", b"nostr", 32).unwrap(),
            bob_export
        );
        assert_eq!(g[1].members(), g[0].members());
        // The removed member keeps no secret of the group it left but can still read
        // late messages of retained epochs.
        assert!(g[2].export_secret(b"nostr", b"nostr", 32).is_err());
        assert!(g[2].create_message(b"no", b"").is_err());
        assert!(g[2].epoch_authenticator().is_empty());
        let _ = g.pop();
        assert_agree(&g);
    }
}

#[test]
fn our_pending_commit_is_seen_as_every_receiver_sees_it() {
    for format in FORMATS {
        let mut g = members(3, format, 6);
        let mut rng = StdRng::seed_from_u64(66);
        let dave = common::bundle(&mut rng, "dave");
        let out = g[0]
            .commit(CommitOptions {
                proposals: vec![Proposal::Add(Box::new(dave.key_package().clone()))],
                force_path: true,
                authenticated_data: b"binding".to_vec(),
                ..CommitOptions::default()
            })
            .unwrap();
        let bob = stage_commit(&g[1], &out.commit);
        let own = g[0].pending_commit().expect("a pending commit");
        assert!(own.is_own() && !bob.is_own());
        assert_eq!(own.content_id(), bob.content_id());
        assert_eq!(own.new_context(), bob.new_context());
        assert_eq!(own.epoch_authenticator(), bob.epoch_authenticator());
        assert_eq!(own.added(), bob.added());
        assert_eq!(own.removed(), bob.removed());
        assert_eq!(own.proposals(), bob.proposals());
        assert_eq!(own.committer(), bob.committer());
        assert_eq!(own.committer_credential(), bob.committer_credential());
        assert_eq!(own.committer_new_leaf(), bob.committer_new_leaf());
        assert_eq!(own.authenticated_data(), bob.authenticated_data());
        assert_eq!(own.summary(), bob.summary());
        assert_eq!(own.members(), bob.members());
        assert_eq!(
            own.export_secret(b"x", b"y", 16).unwrap(),
            bob.export_secret(b"x", b"y", 16).unwrap()
        );
        // The view survives a restart.
        let restored = Group::from_bytes(
            nipee_mls::RustCryptoSuite1::new(),
            &g[0].to_bytes().unwrap(),
        )
        .unwrap();
        let view = restored.pending_commit().unwrap();
        assert_eq!(view.content_id(), bob.content_id());
        assert_eq!(view.added(), bob.added());
        assert_eq!(view.proposals(), bob.proposals());
        assert_eq!(view.committer_new_leaf(), bob.committer_new_leaf());
        assert_eq!(view.authenticated_data(), b"binding");
        // The echo of exactly our commit stages as that same view and merges it.
        let echo = stage_commit(&g[0], &out.commit);
        assert!(echo.is_own());
        assert_eq!(echo.content_id(), bob.content_id());
        assert!(matches!(
            g[0].merge(Staged::Commit(echo)).unwrap(),
            ProcessedMessage::OwnCommitMerged(_)
        ));
        assert!(!g[0].has_pending_commit());
        g[1].merge(Staged::Commit(bob)).unwrap();
        g[2].process_message(&out.commit).unwrap();
        assert_agree(&g);
    }
}

#[test]
fn a_pending_commit_the_application_refuses_is_discarded_without_a_trace() {
    let mut g = members(2, HandshakeFormat::Public, 7);
    let before = state(&g[0]);
    let _ = g[0].remove_members(&[LeafIndex(1)]).unwrap();
    let own = g[0].pending_commit().unwrap();
    // The rule: nobody is removed.
    assert_eq!(own.removed()[0].credential.identity(), Some(&b"m1"[..]));
    g[0].discard_pending_commit();
    assert!(g[0].pending_commit().is_none());
    // With PublicMessage handshakes nothing was consumed either.
    assert_eq!(state(&g[0]), before);
}

#[test]
fn content_id_is_the_same_for_every_member_and_differs_between_competing_commits() {
    for format in FORMATS {
        let mut g = members(3, format, 8);
        let alice = g[0].self_update().unwrap();
        let bob = g[1].self_update().unwrap();
        let carol_sees_alice = stage_commit(&g[2], &alice.commit);
        let carol_sees_bob = stage_commit(&g[2], &bob.commit);
        assert_ne!(carol_sees_alice.content_id(), carol_sees_bob.content_id());
        assert_eq!(
            carol_sees_alice.content_id(),
            g[0].pending_commit().unwrap().content_id()
        );
        assert_eq!(
            carol_sees_bob.content_id(),
            g[1].pending_commit().unwrap().content_id()
        );
        assert_eq!(
            carol_sees_alice.content_id(),
            stage_commit(&g[1], &alice.commit).content_id()
        );
        assert_eq!(
            carol_sees_alice.content_id(),
            carol_sees_alice
                .new_context()
                .confirmed_transcript_hash
                .as_slice()
        );
        // Alice's commit wins: merging it discards Bob's pending one.
        g[2].merge(Staged::Commit(carol_sees_alice)).unwrap();
        g[0].merge_pending_commit().unwrap();
        g[1].process_message(&alice.commit).unwrap();
        assert!(!g[1].has_pending_commit());
        assert_agree(&g);
    }
}

#[test]
fn a_commit_carries_its_authenticated_data_in_the_clear_and_signed() {
    for format in FORMATS {
        let mut g = members(2, format, 9);
        let out = g[0]
            .commit(CommitOptions {
                force_path: true,
                authenticated_data: b"client binding".to_vec(),
                ..CommitOptions::default()
            })
            .unwrap();
        let msg = parse(&out.commit);
        assert!(msg.is_commit());
        assert_eq!(msg.authenticated_data(), Some(&b"client binding"[..]));
        assert_eq!(msg.group_id(), Some(g[1].group_id()));
        assert_eq!(msg.epoch(), Some(1));
        let staged = stage_commit(&g[1], &out.commit);
        assert_eq!(staged.authenticated_data(), b"client binding");
        // It is covered by the signature (PublicMessage) or the AEAD (PrivateMessage).
        let mut bad = out.commit.clone();
        let at = bad
            .windows(14)
            .position(|w| w == b"client binding")
            .unwrap();
        bad[at] ^= 1;
        assert!(g[1].stage(&parse(&bad)).is_err());
        if format == HandshakeFormat::Public {
            assert_eq!(msg.public_sender(), Some(Sender::Member(0)));
        } else {
            assert_eq!(msg.public_sender(), None);
        }
    }
}
