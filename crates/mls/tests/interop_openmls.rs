//! Live, in-process interoperability with OpenMLS 0.9: groups created on either side, Welcome
//! joins, application messages both ways, commits by value and by reference (several
//! proposals by reference in one commit), updates, removals and additions, with both sides
//! agreeing on the epoch authenticator and `export_secret("nostr", b"nostr", 32)` at every
//! epoch. Each scenario runs with handshake messages as PrivateMessages (OpenMLS's
//! pure-ciphertext policy) and as PublicMessages (pure plaintext).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod openmls_peer;

use nipee_mls::{
    CommitOptions, Group, GroupId, LeafIndex, ProcessedMessage as NProcessed,
    Proposal as NProposal, RustCryptoSuite1, WelcomeSplit,
};
use openmls::prelude::*;
use openmls_peer::*;

#[test]
fn openmls_creates_and_we_follow_then_commit() {
    openmls_creates_and_we_follow_then_commit_with(false);
}

#[test]
fn openmls_creates_and_we_follow_then_commit_with_public_handshakes() {
    openmls_creates_and_we_follow_then_commit_with(true);
}

#[test]
fn we_create_and_openmls_follows_then_commits() {
    we_create_and_openmls_follows_then_commits_with(false);
}

#[test]
fn we_create_and_openmls_follows_then_commits_with_public_handshakes() {
    we_create_and_openmls_follows_then_commits_with(true);
}

fn openmls_creates_and_we_follow_then_commit_with(public: bool) {
    PUBLIC.with(|p| p.set(public));
    let mut alice = Om::new("alice");
    let mut carol = Om::new("carol");
    let mut dave = Om::new("dave");
    alice.create();

    // Alice adds us and Carol in one commit.
    let bob_bundle = our_bundle("bob");
    let bob_kp = to_theirs(&alice, bob_bundle.key_package());
    let carol_kp = carol.key_package();
    let (_commit, welcome, _) = {
        let provider = &alice.provider;
        let signer = &alice.signer;
        alice
            .group
            .as_mut()
            .unwrap()
            .add_members(provider, signer, &[bob_kp, carol_kp])
            .unwrap()
    };
    alice.merge();
    let w = om_bytes(&welcome);
    let mut bob = Group::join(
        RustCryptoSuite1::new(),
        our_config(),
        &w,
        bob_bundle.into(),
        None,
        vec![],
    )
    .unwrap();
    carol.join(&w);
    agree(&bob, &mut [&mut alice, &mut carol]);

    // Application messages both ways.
    let m = alice.send(b"hello bob");
    expect_app(bob.process_message(&m).unwrap(), b"hello bob");
    carol.process(&m);
    let m = bob.create_message(b"hello openmls", b"").unwrap();
    assert_eq!(alice.process(&m).unwrap(), b"hello openmls");
    assert_eq!(carol.process(&m).unwrap(), b"hello openmls");

    // We propose an update, Alice proposes removing Carol, Alice commits both by reference.
    let upd = bob.propose_update().unwrap();
    alice.process(&upd);
    carol.process(&upd);
    let carol_index = carol.g().own_leaf_index();
    let (rm, _) = {
        let provider = &alice.provider;
        let signer = &alice.signer;
        alice
            .group
            .as_mut()
            .unwrap()
            .propose_remove_member(provider, signer, carol_index)
            .unwrap()
    };
    let rm = om_bytes(&rm);
    assert!(matches!(
        bob.process_message(&rm).unwrap(),
        NProcessed::ProposalStored { .. }
    ));
    carol.process(&rm);
    let (commit, _, _) = {
        let provider = &alice.provider;
        let signer = &alice.signer;
        alice
            .group
            .as_mut()
            .unwrap()
            .commit_to_pending_proposals(provider, signer)
            .unwrap()
    };
    alice.merge();
    let commit = om_bytes(&commit);
    match bob.process_message(&commit).unwrap() {
        NProcessed::CommitApplied(s) => {
            assert_eq!(s.removed, vec![LeafIndex(carol_index.u32())]);
            assert_eq!(s.updated, vec![bob.own_leaf()]);
        }
        other => panic!("{other:?}"),
    }
    agree(&bob, &mut [&mut alice]);

    // Alice commits a self-update (with a path).
    let (commit, _, _) = {
        let provider = &alice.provider;
        let signer = &alice.signer;
        alice
            .group
            .as_mut()
            .unwrap()
            .self_update(provider, signer, LeafNodeParameters::default())
            .unwrap()
            .into_contents()
    };
    alice.merge();
    bob.process_message(&om_bytes(&commit)).unwrap();
    agree(&bob, &mut [&mut alice]);

    // Alice proposes an update; we commit it by reference together with our own path
    // (update) and the addition of Dave, an OpenMLS member.
    let (upd, _) = {
        let provider = &alice.provider;
        let signer = &alice.signer;
        alice
            .group
            .as_mut()
            .unwrap()
            .propose_self_update(provider, signer, LeafNodeParameters::default())
            .unwrap()
    };
    bob.process_message(&om_bytes(&upd)).unwrap();
    let dave_kp = to_ours(&dave.key_package());
    let out = bob
        .commit(CommitOptions {
            proposals: vec![NProposal::Add(Box::new(dave_kp))],
            include_pending: true,
            force_path: true,
            ..CommitOptions::default()
        })
        .unwrap();
    bob.merge_pending_commit().unwrap();
    alice.process(&out.commit);
    dave.join(&out.welcome.unwrap());
    agree(&bob, &mut [&mut alice, &mut dave]);

    // Messages in the new epoch.
    let m = dave.send(b"hi from dave");
    expect_app(bob.process_message(&m).unwrap(), b"hi from dave");
    assert_eq!(alice.process(&m).unwrap(), b"hi from dave");
    let m = bob.create_message(b"welcome dave", b"").unwrap();
    assert_eq!(dave.process(&m).unwrap(), b"welcome dave");
    assert_eq!(alice.process(&m).unwrap(), b"welcome dave");
}

fn we_create_and_openmls_follows_then_commits_with(public: bool) {
    PUBLIC.with(|p| p.set(public));
    let mut alice = Om::new("alice");
    let mut carol = Om::new("carol");
    let mut dave = Om::new("dave");
    let mut bob = Group::create(
        RustCryptoSuite1::new(),
        our_config(),
        GroupId::new(b"nipee interop group".to_vec()),
        our_bundle("bob"),
        vec![],
    )
    .unwrap();

    // We add Alice and Carol (OpenMLS) in one commit with a path.
    let out = bob
        .commit(CommitOptions {
            proposals: vec![
                NProposal::Add(Box::new(to_ours(&alice.key_package()))),
                NProposal::Add(Box::new(to_ours(&carol.key_package()))),
            ],
            force_path: true,
            ..CommitOptions::default()
        })
        .unwrap();
    bob.merge_pending_commit().unwrap();
    let w = out.welcome.unwrap();
    alice.join(&w);
    carol.join(&w);
    agree(&bob, &mut [&mut alice, &mut carol]);

    let m = bob.create_message(b"hello openmls", b"").unwrap();
    assert_eq!(alice.process(&m).unwrap(), b"hello openmls");
    assert_eq!(carol.process(&m).unwrap(), b"hello openmls");
    let m = alice.send(b"hello bob");
    expect_app(bob.process_message(&m).unwrap(), b"hello bob");
    carol.process(&m);

    // OpenMLS commits an update and the removal of a third member: we propose an update,
    // Alice proposes removing Carol, and Alice commits both by reference (with her path).
    let upd = bob.propose_update().unwrap();
    alice.process(&upd);
    carol.process(&upd);
    let carol_index = carol.g().own_leaf_index();
    let (rm, _) = {
        let provider = &alice.provider;
        let signer = &alice.signer;
        alice
            .group
            .as_mut()
            .unwrap()
            .propose_remove_member(provider, signer, carol_index)
            .unwrap()
    };
    let rm = om_bytes(&rm);
    bob.process_message(&rm).unwrap();
    carol.process(&rm);
    let (commit, _, _) = {
        let provider = &alice.provider;
        let signer = &alice.signer;
        alice
            .group
            .as_mut()
            .unwrap()
            .commit_to_pending_proposals(provider, signer)
            .unwrap()
    };
    alice.merge();
    bob.process_message(&om_bytes(&commit)).unwrap();
    agree(&bob, &mut [&mut alice]);

    // We commit an update (path) and the addition of Dave.
    let out = bob
        .commit(CommitOptions {
            proposals: vec![NProposal::Add(Box::new(to_ours(&dave.key_package())))],
            force_path: true,
            ..CommitOptions::default()
        })
        .unwrap();
    bob.merge_pending_commit().unwrap();
    alice.process(&out.commit);
    dave.join(&out.welcome.unwrap());
    agree(&bob, &mut [&mut alice, &mut dave]);

    // A self-update from us (it rotates our signature key), and one from Dave.
    let old_key = bob.member(bob.own_leaf()).unwrap().signature_key;
    let out = bob.self_update().unwrap();
    bob.merge_pending_commit().unwrap();
    alice.process(&out.commit);
    dave.process(&out.commit);
    agree(&bob, &mut [&mut alice, &mut dave]);
    let new_key = bob.member(bob.own_leaf()).unwrap().signature_key;
    assert_ne!(new_key, old_key);
    for om in [&mut alice, &mut dave] {
        let theirs = om
            .g()
            .members()
            .find(|m| m.index.u32() == bob.own_leaf().0)
            .unwrap();
        assert_eq!(
            theirs.signature_key,
            new_key.to_vec(),
            "OpenMLS sees the new key"
        );
    }
    // Signed with the new key, our messages still verify on their side.
    let m = bob.create_message(b"after rotation", b"").unwrap();
    assert_eq!(alice.process(&m).as_deref(), Some(&b"after rotation"[..]));
    assert_eq!(dave.process(&m).as_deref(), Some(&b"after rotation"[..]));
    let (commit, _, _) = {
        let provider = &dave.provider;
        let signer = &dave.signer;
        dave.group
            .as_mut()
            .unwrap()
            .self_update(provider, signer, LeafNodeParameters::default())
            .unwrap()
            .into_contents()
    };
    dave.merge();
    let c = om_bytes(&commit);
    bob.process_message(&c).unwrap();
    alice.process(&c);
    agree(&bob, &mut [&mut alice, &mut dave]);

    let m = dave.send(b"bye");
    expect_app(bob.process_message(&m).unwrap(), b"bye");
}

/// OpenMLS joins from Welcomes cut per member (`WelcomeSplit`: its own group secrets and the
/// shared encrypted GroupInfo), with the ratchet tree in the GroupInfo and, separately,
/// supplied out of band (the GroupInfo without the `ratchet_tree` extension).
#[test]
fn openmls_joins_from_a_welcome_cut_for_it_with_the_tree_inside_or_out_of_band() {
    for out_of_band in [false, true] {
        let mut alice = Om::new("alice");
        let mut carol = Om::new("carol");
        let (alice_kp, carol_kp) = (to_ours(&alice.key_package()), to_ours(&carol.key_package()));
        let mut cfg = our_config();
        cfg.ratchet_tree_extension = !out_of_band;
        let mut bob = Group::create(
            RustCryptoSuite1::new(),
            cfg,
            GroupId::new(b"split welcome".to_vec()),
            our_bundle("bob"),
            vec![],
        )
        .unwrap();
        let out = bob
            .commit(CommitOptions {
                proposals: vec![
                    NProposal::Add(Box::new(alice_kp.clone())),
                    NProposal::Add(Box::new(carol_kp.clone())),
                ],
                force_path: true,
                ..CommitOptions::default()
            })
            .unwrap();
        bob.merge_pending_commit().unwrap();
        let split = WelcomeSplit::parse(&out.welcome.unwrap()).unwrap();
        let tree = out_of_band.then(|| bob.encoded_tree().unwrap());
        for (om, kp) in [(&mut alice, &alice_kp), (&mut carol, &carol_kp)] {
            let own = split
                .for_new_member(kp.reference().unwrap().as_bytes())
                .unwrap()
                .unwrap();
            om.join_with_tree(&own, tree.as_deref());
        }
        agree(&bob, &mut [&mut alice, &mut carol]);
        let m = bob.create_message(b"hello, split", b"").unwrap();
        assert_eq!(alice.process(&m).unwrap(), b"hello, split");
        assert_eq!(carol.process(&m).unwrap(), b"hello, split");
    }
}
