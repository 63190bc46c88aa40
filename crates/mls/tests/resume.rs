//! Commit races: a member rolls back to its snapshot of an earlier epoch
//! (`Group::resume_snapshot`) without reusing any message key consumed since, then follows
//! the commit that won.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{members, parse, stage_commit};
use nipee_mls::{
    Error, Group, GroupConfig, HandshakeFormat, ProcessedMessage, RustCryptoSuite1, Staged,
};

fn restore(bytes: &[u8]) -> Group {
    Group::from_bytes(RustCryptoSuite1::new(), bytes).unwrap()
}

#[test]
fn a_resumed_snapshot_follows_the_winning_commit_without_reusing_a_key() {
    for format in [HandshakeFormat::Public, HandshakeFormat::Private] {
        let mut g = members(3, format, 31);
        // Epoch 1 -> 2 for everyone; m0 (epoch 1) stays unread by Bob for now.
        let m0 = g[0].create_message(b"m0", b"").unwrap();
        let out = g[0].self_update().unwrap();
        g[0].merge_pending_commit().unwrap();
        g[1].process_message(&out.commit).unwrap();
        g[2].process_message(&out.commit).unwrap();
        let n = 2;

        // In epoch 2 Alice sends m1 and m2; then Bob and Alice both commit.
        let m1 = g[0].create_message(b"m1", b"").unwrap();
        let m2 = g[0].create_message(b"m2", b"").unwrap();
        let bobs = g[1].self_update().unwrap();
        let snapshot = g[1].to_bytes().unwrap(); // taken just before merging
        let alices = g[0].self_update().unwrap();
        // Bob merges his own commit first (epoch 3) and reads m0 and m1 as late messages.
        g[1].merge_pending_commit().unwrap();
        assert_eq!(g[1].epoch(), n + 1);
        for m in [&m0, &m1] {
            assert!(matches!(
                g[1].process_message(m).unwrap(),
                ProcessedMessage::Application { .. }
            ));
        }
        // Alice's commit won at the relay: Bob resumes epoch 2 from the snapshot.
        let live = &g[1];
        let resumed = Group::resume_snapshot(restore(&snapshot), live).unwrap();
        assert_eq!(resumed.epoch(), n);
        assert!(!resumed.has_pending_commit(), "the lost commit is gone");
        // Keys consumed in the live group stay consumed, in epoch 2 and before it.
        for m in [&m0, &m1] {
            assert!(matches!(
                resumed.stage(&parse(m)),
                Err(Error::GenerationConsumed { .. })
            ));
        }
        // A message of epoch 2 not yet read decrypts, once.
        let mut resumed = resumed;
        match resumed.process_message(&m2).unwrap() {
            ProcessedMessage::Application { data, epoch, .. } => {
                assert_eq!(data, b"m2");
                assert_eq!(epoch, n);
            }
            other => panic!("{other:?}"),
        }
        assert!(resumed.process_message(&m2).is_err());
        // The winning commit stages on the resumed group and lands where the others land.
        let staged = stage_commit(&resumed, &alices.commit);
        assert_eq!(staged.epoch(), n + 1);
        resumed.merge(Staged::Commit(staged)).unwrap();
        g[0].merge_pending_commit().unwrap();
        g[2].process_message(&alices.commit).unwrap();
        assert_eq!(resumed.epoch_authenticator(), g[0].epoch_authenticator());
        assert_eq!(resumed.epoch_authenticator(), g[2].epoch_authenticator());
        // And the conversation goes on in both directions.
        let m = resumed.create_message(b"back", b"").unwrap();
        assert!(g[0].process_message(&m).is_ok());
        let m = g[2].create_message(b"welcome back", b"").unwrap();
        assert!(resumed.process_message(&m).is_ok());
        // Bob's losing commit is refused by the others (it is for an epoch they left).
        assert!(g[2].process_message(&bobs.commit).is_err());
    }
}

#[test]
fn resuming_needs_the_same_group_a_later_live_epoch_and_the_same_retained_context() {
    let mut g = members(2, HandshakeFormat::Private, 32);
    let snapshot = g[1].to_bytes().unwrap(); // epoch 1
    // Not past the snapshot's epoch.
    assert!(matches!(
        Group::resume_snapshot(restore(&snapshot), &g[1]),
        Err(Error::CannotResume {
            reason: "the live group is not past the snapshot's epoch"
        })
    ));
    // Another group.
    let mut other = common::members_of(b"another group", 2, HandshakeFormat::Private, 33);
    let _ = other[0].self_update().unwrap();
    other[0].merge_pending_commit().unwrap();
    assert!(matches!(
        Group::resume_snapshot(restore(&snapshot), &other[0]),
        Err(Error::CannotResume {
            reason: "the snapshot is of another group"
        })
    ));
    // A live group whose epoch 3 is another one than the snapshot's (a fork from epoch 2).
    let a = g[0].self_update().unwrap();
    g[0].merge_pending_commit().unwrap();
    g[1].process_message(&a.commit).unwrap();
    let at_two = g[1].to_bytes().unwrap();
    let b = g[0].self_update().unwrap();
    g[0].merge_pending_commit().unwrap();
    g[1].process_message(&b.commit).unwrap();
    let snapshot_three = g[1].to_bytes().unwrap();
    let mut fork = restore(&at_two);
    for _ in 0..2 {
        let _ = fork.self_update().unwrap();
        fork.merge_pending_commit().unwrap();
    }
    assert_eq!(fork.epoch(), 4);
    assert!(matches!(
        Group::resume_snapshot(restore(&snapshot_three), &fork),
        Err(Error::CannotResume {
            reason: "the live group's epoch differs from the snapshot's"
        })
    ));
    // The live group no longer retains the epoch (3 past epochs by default).
    let mut cfg = GroupConfig::new(common::NOW);
    cfg.max_past_epochs = 0;
    g[1].set_config(cfg);
    let e = g[0].self_update().unwrap();
    g[0].merge_pending_commit().unwrap();
    g[1].process_message(&e.commit).unwrap();
    assert!(matches!(
        Group::resume_snapshot(restore(&snapshot_three), &g[1]),
        Err(Error::CannotResume {
            reason: "the live group no longer retains the snapshot's epoch"
        })
    ));
    assert_eq!(
        Group::resume_snapshot(restore(&snapshot_three), &g[1])
            .unwrap_err()
            .kind(),
        nipee_mls::ErrorKind::Misuse
    );
}
