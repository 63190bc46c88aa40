//! Signature key rotation: a self-update gives our new leaf a fresh Ed25519 key, signed
//! with that key inside a commit signed with the old one; every member then verifies us
//! under the new key, and a restart between commit and merge keeps it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{assert_agree, deliver, members, stage_commit};
use nipee_mls::{
    CommitOptions, Group, HandshakeFormat, LeafIndex, ProcessedMessage, RustCryptoSuite1,
};

fn key_of(g: &Group, leaf: u32) -> [u8; 32] {
    g.member(LeafIndex(leaf)).unwrap().signature_key
}

#[test]
fn a_self_update_rotates_our_signature_key_for_every_member() {
    for format in [HandshakeFormat::Public, HandshakeFormat::Private] {
        let mut g = members(3, format, 21);
        let old = key_of(&g[0], 1);
        let out = g[1].self_update().unwrap();
        // The commit is signed with the old key (receivers verify it with the tree they
        // have), its path leaf with the new one.
        let staged = stage_commit(&g[0], &out.commit);
        let new = staged.committer_new_leaf().unwrap().signature_key;
        assert_ne!(new, old);
        assert_eq!(
            g[1].pending_commit()
                .unwrap()
                .committer_new_leaf()
                .unwrap()
                .signature_key,
            new
        );
        // Until the merge, we still sign with the old key.
        assert_eq!(key_of(&g[1], 1), old);
        g[1].merge_pending_commit().unwrap();
        deliver(&mut g, 1, &out.commit);
        assert_agree(&g);
        for m in &g {
            assert_eq!(key_of(m, 1), new, "every member sees the new key");
        }
        // Later messages and commits from us verify under the new key.
        let m = g[1].create_message(b"new key", b"").unwrap();
        for r in [0, 2] {
            match g[r].process_message(&m).unwrap() {
                ProcessedMessage::Application { data, .. } => assert_eq!(data, b"new key"),
                other => panic!("{other:?}"),
            }
        }
        let out = g[1].remove_members(&[LeafIndex(2)]).unwrap();
        g[1].merge_pending_commit().unwrap();
        assert!(matches!(
            g[0].process_message(&out.commit).unwrap(),
            ProcessedMessage::CommitApplied(_)
        ));
        assert_eq!(g[0].epoch_authenticator(), g[1].epoch_authenticator());
        // A GroupInfo we sign now verifies too (an external joiner checks it).
        assert!(g[1].group_info(true, true).is_ok());
    }
}

#[test]
fn a_rotated_key_survives_a_restart_between_commit_and_merge() {
    let mut g = members(3, HandshakeFormat::Private, 22);
    let out = g[2].self_update().unwrap();
    let new = g[2]
        .pending_commit()
        .unwrap()
        .committer_new_leaf()
        .unwrap()
        .signature_key;
    let stored = g[2].to_bytes().unwrap();
    let mut restarted = Group::from_bytes(RustCryptoSuite1::new(), &stored).unwrap();
    restarted.merge_pending_commit().unwrap();
    g[2] = restarted;
    deliver(&mut g, 2, &out.commit);
    assert_agree(&g);
    assert_eq!(key_of(&g[0], 2), new);
    let m = g[2].create_message(b"after restart", b"").unwrap();
    assert!(matches!(
        g[0].process_message(&m).unwrap(),
        ProcessedMessage::Application { .. }
    ));
    // A commit from us after the restart, signed with the rotated key, is accepted.
    let out = g[2].self_update().unwrap();
    g[2].merge_pending_commit().unwrap();
    deliver(&mut g, 2, &out.commit);
    assert_agree(&g);
}

#[test]
fn a_discarded_rotation_keeps_the_old_key() {
    let mut g = members(2, HandshakeFormat::Public, 23);
    let old = key_of(&g[1], 0);
    let _ = g[0].self_update().unwrap();
    g[0].discard_pending_commit();
    let m = g[0].create_message(b"old key", b"").unwrap();
    assert!(g[1].process_message(&m).is_ok());
    assert_eq!(key_of(&g[0], 0), old);
    // Without rotation a path commit keeps the key.
    let out = g[0]
        .commit(CommitOptions {
            force_path: true,
            ..CommitOptions::default()
        })
        .unwrap();
    g[0].merge_pending_commit().unwrap();
    g[1].process_message(&out.commit).unwrap();
    assert_eq!(key_of(&g[1], 0), old);
}
