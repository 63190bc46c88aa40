//! Several clients exchanging events in memory (no relay): the flows of the issue.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use nipee::inner::{chat_message, reaction};
use nipee::storage::MemoryStorage;
use nipee::{Client, ClientConfig, Error, IgnoreReason, Outcome, PendingPublish};
use nipee_nostr::{Event, Keys, Timestamp};

const NOW: u64 = 1_800_000_000;

fn client() -> Client<MemoryStorage> {
    let keys = Keys::generate(&mut rand::rng());
    let config = ClientConfig {
        relays: vec!["wss://relay.example".into()],
        ..ClientConfig::default()
    };
    Client::new(keys, MemoryStorage::new(), config).unwrap()
}

fn deliver(c: &mut Client<MemoryStorage>, e: &Event) -> Outcome {
    c.process(e, NOW).unwrap()
}

fn text_of(o: &Outcome) -> String {
    match o {
        Outcome::Message { event, .. } => event.content.clone(),
        other => panic!("expected a message, got {other:?}"),
    }
}

fn send(c: &mut Client<MemoryStorage>, gid: &[u8; 32], text: &str) -> Event {
    let inner = chat_message(c.public_key(), text, Timestamp::from_secs(NOW));
    c.send(gid, &inner, NOW, &mut rand::rng()).unwrap()
}

fn confirm(c: &mut Client<MemoryStorage>, p: &PendingPublish) -> Vec<Event> {
    c.confirm(p, NOW, &mut rand::rng()).unwrap()
}

#[test]
fn three_clients_chat_add_rotate_remove_and_converge() {
    let mut rng = rand::rng();
    let (mut alice, mut bob, mut carol) = (client(), client(), client());
    let bob_kp = bob.create_key_package(false, NOW, &mut rng).unwrap();
    let carol_kp = carol.create_key_package(true, NOW, &mut rng).unwrap();

    let (gid, welcomes) = alice
        .create_group(
            "test",
            "a group",
            vec![alice.public_key()],
            std::slice::from_ref(&bob_kp),
            NOW,
            &mut rng,
        )
        .unwrap();
    assert_eq!(welcomes.len(), 1);
    // The Welcome is not for carol.
    assert!(matches!(
        carol.process(&welcomes[0], NOW),
        Err(Error::NotForUs { .. })
    ));
    match deliver(&mut bob, &welcomes[0]) {
        Outcome::Joined {
            nostr_group_id,
            deletion,
            rotate_now,
            key_package_event_id,
            ..
        } => {
            assert_eq!(nostr_group_id, gid);
            assert_eq!(key_package_event_id, bob_kp.id());
            // Non-last-resort: a NIP-09 deletion of the consumed KeyPackage, no rotation.
            let del = deletion.unwrap();
            assert_eq!(del.kind().as_u16(), 5);
            assert_eq!(del.tags().event_ids().unwrap(), vec![bob_kp.id()]);
            assert!(!rotate_now);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        alice.epoch_authenticator(&gid).unwrap(),
        bob.epoch_authenticator(&gid).unwrap()
    );
    // A replayed Welcome is a duplicate.
    assert!(matches!(
        deliver(&mut bob, &welcomes[0]),
        Outcome::Ignored(IgnoreReason::Duplicate)
    ));

    let m = send(&mut alice, &gid, "hello bob");
    assert_eq!(m.tags().len(), 1);
    assert_ne!(m.pubkey(), alice.public_key());
    let got = deliver(&mut bob, &m);
    assert_eq!(text_of(&got), "hello bob");
    let hello_id = match &got {
        Outcome::Message { event, .. } => event.id(),
        _ => unreachable!(),
    };
    // Replays are deduplicated; own echoes are ignored.
    assert!(matches!(
        deliver(&mut bob, &m),
        Outcome::Ignored(IgnoreReason::Duplicate)
    ));
    assert!(matches!(
        deliver(&mut alice, &m),
        Outcome::Ignored(IgnoreReason::Duplicate)
    ));
    let r = reaction(bob.public_key(), &hello_id, "+", Timestamp::from_secs(NOW));
    let r = bob.send(&gid, &r, NOW, &mut rng).unwrap();
    match deliver(&mut alice, &r) {
        Outcome::Message { event, .. } => {
            assert_eq!(event.kind.as_u16(), 7);
            assert_eq!(event.tags.event_ids().unwrap(), vec![hello_id]);
        }
        other => panic!("{other:?}"),
    }

    // Alice adds carol: commit first, Welcome only after confirm.
    let p = alice.invite(&gid, &[carol_kp], NOW, &mut rng).unwrap();
    assert!(matches!(
        deliver(&mut bob, &p.event),
        Outcome::Commit { .. }
    ));
    let welcomes = confirm(&mut alice, &p);
    assert_eq!(welcomes.len(), 1);
    match deliver(&mut carol, &welcomes[0]) {
        Outcome::Joined {
            deletion,
            rotate_now,
            ..
        } => {
            assert!(deletion.is_none(), "a last-resort KeyPackage is kept");
            assert!(rotate_now);
        }
        other => panic!("{other:?}"),
    }
    // Carol rotates right after joining through a last-resort KeyPackage.
    let p = carol.rotate(&gid, NOW, &mut rng).unwrap();
    for c in [&mut alice, &mut bob] {
        assert!(matches!(deliver(c, &p.event), Outcome::Commit { .. }));
    }
    assert!(confirm(&mut carol, &p).is_empty());
    let auth = alice.epoch_authenticator(&gid).unwrap();
    assert_eq!(bob.epoch_authenticator(&gid).unwrap(), auth);
    assert_eq!(carol.epoch_authenticator(&gid).unwrap(), auth);

    let m = send(&mut carol, &gid, "hi all");
    assert_eq!(text_of(&deliver(&mut alice, &m)), "hi all");
    assert_eq!(text_of(&deliver(&mut bob, &m)), "hi all");

    // Bob rotates.
    let p = bob.rotate(&gid, NOW, &mut rng).unwrap();
    for c in [&mut alice, &mut carol] {
        assert!(matches!(deliver(c, &p.event), Outcome::Commit { .. }));
    }
    let _ = confirm(&mut bob, &p);

    // A non-admin cannot add or remove members.
    let dave = client();
    let mut dave = dave;
    let dave_kp = dave.create_key_package(false, NOW, &mut rng).unwrap();
    assert!(matches!(
        bob.invite(&gid, &[dave_kp], NOW, &mut rng),
        Err(Error::Misuse { .. })
    ));

    // Alice removes carol.
    let p = alice
        .remove(&gid, &[carol.public_key()], NOW, &mut rng)
        .unwrap();
    assert!(matches!(
        deliver(&mut bob, &p.event),
        Outcome::Commit { .. }
    ));
    assert!(matches!(
        deliver(&mut carol, &p.event),
        Outcome::Removed { .. }
    ));
    let _ = confirm(&mut alice, &p);
    assert!(!carol.group(&gid).unwrap().active);
    let m = send(&mut alice, &gid, "only bob");
    assert_eq!(text_of(&deliver(&mut bob, &m)), "only bob");
    let e = carol.process(&m, NOW).unwrap_err();
    assert!(matches!(e, Error::NoEpochKey), "{e}");
    assert_eq!(alice.group(&gid).unwrap().members.len(), 2);
    assert_eq!(
        alice.epoch_authenticator(&gid).unwrap(),
        bob.epoch_authenticator(&gid).unwrap()
    );
}

#[test]
fn a_non_admin_commit_is_rejected_by_everyone_with_state_unchanged() {
    let mut rng = rand::rng();
    let (mut alice, mut bob, mut carol) = (client(), client(), client());
    let bob_kp = bob.create_key_package(false, NOW, &mut rng).unwrap();
    let carol_kp = carol.create_key_package(false, NOW, &mut rng).unwrap();
    let (gid, w) = alice
        .create_group(
            "g",
            "",
            vec![alice.public_key()],
            &[bob_kp, carol_kp],
            NOW,
            &mut rng,
        )
        .unwrap();
    for (c, w) in [(&mut bob, &w[0]), (&mut carol, &w[1])] {
        if c.process(w, NOW).is_err() {
            // The two wraps may be in any order.
        }
    }
    for c in [&mut bob, &mut carol] {
        if c.group(&gid).is_err() {
            for x in &w {
                let _ = c.process(x, NOW);
            }
        }
        assert!(c.group(&gid).is_ok());
    }
    // Bob (not an admin) adds dave, bypassing his own client's check: alice and carol
    // reject the commit and stay where they were.
    let mut dave = client();
    let dave_kp = dave.create_key_package(false, NOW, &mut rng).unwrap();
    assert!(matches!(
        bob.invite(&gid, std::slice::from_ref(&dave_kp), NOW, &mut rng),
        Err(Error::Misuse { .. })
    ));
    let p = bob
        .invite_without_admin_check(&gid, &[dave_kp], NOW, &mut rng)
        .unwrap();
    for c in [&mut alice, &mut carol] {
        let before = c.epoch_authenticator(&gid).unwrap();
        let e = c.process(&p.event, NOW).unwrap_err();
        assert!(e.to_string().contains("not an admin"), "{e}");
        assert_eq!(c.epoch_authenticator(&gid).unwrap(), before);
        assert_eq!(c.group(&gid).unwrap().members.len(), 3);
    }
    bob.discard(&p).unwrap();
    // A non-admin cannot remove someone else either (his client refuses to build it).
    assert!(matches!(
        bob.remove(&gid, &[carol.public_key()], NOW, &mut rng),
        Err(Error::Misuse { .. })
    ));
    // But a member may leave: a self-removal proposal, which even a non-admin may commit.
    let before_a = alice.epoch_authenticator(&gid).unwrap();
    let leave = carol.leave(&gid, NOW, &mut rng).unwrap();
    for c in [&mut alice, &mut bob] {
        assert!(matches!(
            deliver(c, &leave),
            Outcome::Ignored(IgnoreReason::ProposalStored)
        ));
    }
    // Bob commits carol's self-removal: allowed (a self-removal proposed by the member).
    let p = bob.commit_pending_proposals(&gid, NOW, &mut rng).unwrap();
    assert!(matches!(
        deliver(&mut alice, &p.event),
        Outcome::Commit { .. }
    ));
    let _ = confirm(&mut bob, &p);
    assert_ne!(alice.epoch_authenticator(&gid).unwrap(), before_a);
    assert_eq!(
        alice.epoch_authenticator(&gid).unwrap(),
        bob.epoch_authenticator(&gid).unwrap()
    );
}

#[test]
fn commit_races_converge_on_the_lowest_created_at_then_id() {
    let mut rng = rand::rng();
    let (mut alice, mut bob, mut carol) = (client(), client(), client());
    let bob_kp = bob.create_key_package(false, NOW, &mut rng).unwrap();
    let carol_kp = carol.create_key_package(false, NOW, &mut rng).unwrap();
    let (gid, w) = alice
        .create_group(
            "g",
            "",
            vec![alice.public_key(), bob.public_key()],
            &[bob_kp, carol_kp],
            NOW,
            &mut rng,
        )
        .unwrap();
    for c in [&mut bob, &mut carol] {
        for x in &w {
            let _ = c.process(x, NOW);
        }
        assert!(c.group(&gid).is_ok());
    }
    // Two admins, alice and bob, both commit in the same epoch; bob's is earlier and wins.
    let pa = alice.rotate(&gid, NOW + 10, &mut rng).unwrap();
    let pb = bob.rotate(&gid, NOW + 5, &mut rng).unwrap();
    // Carol sees alice's first and applies it, then bob's: she rolls back.
    assert!(matches!(
        deliver(&mut carol, &pa.event),
        Outcome::Commit { .. }
    ));
    match deliver(&mut carol, &pb.event) {
        Outcome::Commit { rolled_back, .. } => assert!(rolled_back),
        other => panic!("{other:?}"),
    }
    // Alice receives bob's winner while hers is pending: hers is dropped.
    assert!(matches!(
        deliver(&mut alice, &pb.event),
        Outcome::Commit { .. }
    ));
    assert!(alice.confirm(&pa, NOW, &mut rng).is_err());
    // Bob receives alice's loser while his is pending: ignored; then he confirms.
    assert!(matches!(
        deliver(&mut bob, &pa.event),
        Outcome::Ignored(IgnoreReason::LostRace)
    ));
    let _ = confirm(&mut bob, &pb);
    let auth = bob.epoch_authenticator(&gid).unwrap();
    assert_eq!(alice.epoch_authenticator(&gid).unwrap(), auth);
    assert_eq!(carol.epoch_authenticator(&gid).unwrap(), auth);
    // And they still talk.
    let m = send(&mut carol, &gid, "converged");
    assert_eq!(text_of(&deliver(&mut alice, &m)), "converged");
    assert_eq!(text_of(&deliver(&mut bob, &m)), "converged");
}

#[test]
fn a_discarded_commit_leaves_no_fork_and_no_sticky_error() {
    let mut rng = rand::rng();
    let (mut alice, mut bob) = (client(), client());
    let bob_kp = bob.create_key_package(false, NOW, &mut rng).unwrap();
    let (gid, w) = alice
        .create_group("g", "", vec![alice.public_key()], &[bob_kp], NOW, &mut rng)
        .unwrap();
    deliver(&mut bob, &w[0]);
    let p = alice.rotate(&gid, NOW, &mut rng).unwrap();
    assert!(matches!(
        alice.rotate(&gid, NOW, &mut rng),
        Err(Error::Misuse { .. })
    ));
    alice.discard(&p).unwrap();
    assert!(alice.confirm(&p, NOW, &mut rng).is_err());
    let m = send(&mut alice, &gid, "still here");
    assert_eq!(text_of(&deliver(&mut bob, &m)), "still here");
    let p = alice.rotate(&gid, NOW, &mut rng).unwrap();
    deliver(&mut bob, &p.event);
    let _ = confirm(&mut alice, &p);
    assert_eq!(
        alice.epoch_authenticator(&gid).unwrap(),
        bob.epoch_authenticator(&gid).unwrap()
    );
}

#[test]
fn state_survives_a_restart_including_a_pending_commit() {
    let mut rng = rand::rng();
    let alice_keys = Keys::generate(&mut rng);
    let config = ClientConfig {
        relays: vec!["wss://r.example".into()],
        ..ClientConfig::default()
    };
    let mut alice = Client::new(alice_keys.clone(), MemoryStorage::new(), config.clone()).unwrap();
    let mut bob = client();
    let bob_kp = bob.create_key_package(false, NOW, &mut rng).unwrap();
    let (gid, w) = alice
        .create_group("g", "", vec![alice.public_key()], &[bob_kp], NOW, &mut rng)
        .unwrap();
    deliver(&mut bob, &w[0]);
    let m = send(&mut bob, &gid, "one");
    assert_eq!(text_of(&deliver(&mut alice, &m)), "one");
    let p = alice.rotate(&gid, NOW, &mut rng).unwrap();
    // Crash after publishing, before confirm.
    let storage = alice.into_storage();
    let mut alice = Client::new(alice_keys, storage, config).unwrap();
    // A replay of an already processed message after the restart is still a duplicate.
    assert!(matches!(
        deliver(&mut alice, &m),
        Outcome::Ignored(IgnoreReason::Duplicate)
    ));
    // The relay echoes our commit: it is confirmed, no fork.
    assert!(matches!(
        deliver(&mut alice, &p.event),
        Outcome::OwnCommitConfirmed { .. }
    ));
    deliver(&mut bob, &p.event);
    assert_eq!(
        alice.epoch_authenticator(&gid).unwrap(),
        bob.epoch_authenticator(&gid).unwrap()
    );
    let m = send(&mut bob, &gid, "two");
    assert_eq!(text_of(&deliver(&mut alice, &m)), "two");
}

#[test]
fn bad_input_is_a_typed_error_that_changes_no_state() {
    let mut rng = rand::rng();
    let (mut alice, mut bob) = (client(), client());
    let bob_kp = bob.create_key_package(false, NOW, &mut rng).unwrap();
    let (gid, w) = alice
        .create_group("g", "", vec![alice.public_key()], &[bob_kp], NOW, &mut rng)
        .unwrap();
    deliver(&mut bob, &w[0]);
    let auth = bob.epoch_authenticator(&gid).unwrap();
    let throwaway = Keys::generate(&mut rng);
    let mk = |content: &str, h: &str| {
        nipee_nostr::EventBuilder::new(nipee_nostr::Kind::MLS_GROUP_MESSAGE, content)
            .tag(nipee_nostr::Tag::group(h))
            .sign(&throwaway, Timestamp::from_secs(NOW))
            .unwrap()
    };
    // Garbage content.
    let e = bob
        .process(&mk("garbage", &hex::encode(gid)), NOW)
        .unwrap_err();
    assert!(matches!(e, Error::NoEpochKey), "{e}");
    // Unknown group.
    let e = bob
        .process(&mk("garbage", &"ab".repeat(32)), NOW)
        .unwrap_err();
    assert!(matches!(e, Error::UnknownGroup { .. }), "{e}");
    // An inner event whose pubkey is not the MLS sender: alice sends an event "by" bob.
    // The client API refuses to build it; the hazmat helper sends it anyway.
    let forged = chat_message(bob.public_key(), "forged", Timestamp::from_secs(NOW));
    assert!(matches!(
        alice.send(&gid, &forged, NOW, &mut rng),
        Err(Error::Misuse { .. })
    ));
    let data = forged.to_json();
    let raw = alice
        .send_raw_application_data(&gid, data.as_bytes(), NOW, &mut rng)
        .unwrap();
    let e = bob.process(&raw, NOW).unwrap_err();
    assert!(matches!(e, Error::InnerEventAuthor { .. }), "{e}");
    // A signed inner event and one with an h tag.
    let signed = nipee_nostr::EventBuilder::new(nipee_nostr::Kind::new(9), "signed")
        .sign(&Keys::generate(&mut rng), Timestamp::from_secs(NOW))
        .unwrap();
    let raw = alice
        .send_raw_application_data(&gid, signed.to_json().as_bytes(), NOW, &mut rng)
        .unwrap();
    assert!(matches!(
        bob.process(&raw, NOW),
        Err(Error::InnerEvent { .. })
    ));
    let with_h = nipee_nostr::EventBuilder::new(nipee_nostr::Kind::new(9), "h")
        .tag(nipee_nostr::Tag::group(&hex::encode(gid)))
        .build(alice.public_key(), Timestamp::from_secs(NOW));
    let raw = alice
        .send_raw_application_data(&gid, with_h.to_json().as_bytes(), NOW, &mut rng)
        .unwrap();
    assert!(matches!(
        bob.process(&raw, NOW),
        Err(Error::InnerEvent { .. })
    ));
    // A kind that is neither 445 nor 1059.
    let note = nipee_nostr::EventBuilder::text_note("x")
        .sign(&throwaway, Timestamp::from_secs(NOW))
        .unwrap();
    assert!(matches!(
        bob.process(&note, NOW),
        Err(Error::UnexpectedKind { .. })
    ));
    assert_eq!(bob.epoch_authenticator(&gid).unwrap(), auth);
    let m = send(&mut alice, &gid, "after the junk");
    assert_eq!(text_of(&deliver(&mut bob, &m)), "after the junk");
}

#[cfg(feature = "sqlite")]
#[test]
fn a_client_on_sqlite_resumes_after_a_restart_with_no_message_lost() {
    use nipee::storage::SqliteStorage;
    let mut rng = rand::rng();
    let dir = std::env::temp_dir().join(format!(
        "nipee-client-{}-{}",
        std::process::id(),
        rand::random::<u64>()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bob.db");
    let bob_keys = Keys::generate(&mut rng);
    let config = ClientConfig {
        relays: vec!["wss://r.example".into()],
        ..ClientConfig::default()
    };
    let mut alice = client();
    let mut bob = Client::new(
        bob_keys.clone(),
        SqliteStorage::open(&path).unwrap(),
        config.clone(),
    )
    .unwrap();
    let kp = bob.create_key_package(false, NOW, &mut rng).unwrap();
    let (gid, w) = alice
        .create_group("g", "", vec![alice.public_key()], &[kp], NOW, &mut rng)
        .unwrap();
    assert!(matches!(
        bob.process(&w[0], NOW).unwrap(),
        Outcome::Joined { .. }
    ));
    let m1 = send(&mut alice, &gid, "before the crash");
    assert_eq!(text_of(&bob.process(&m1, NOW).unwrap()), "before the crash");
    // Bob is killed; alice goes on (a commit and two messages) while he is down.
    drop(bob);
    let p = alice.rotate(&gid, NOW, &mut rng).unwrap();
    let _ = confirm(&mut alice, &p);
    let m2 = send(&mut alice, &gid, "while you were away");
    let m3 = send(&mut alice, &gid, "and again");
    let mut bob = Client::new(bob_keys, SqliteStorage::open(&path).unwrap(), config).unwrap();
    assert_eq!(bob.group(&gid).unwrap().epoch, 1);
    assert!(matches!(
        bob.process(&m1, NOW).unwrap(),
        Outcome::Ignored(IgnoreReason::Duplicate)
    ));
    assert!(matches!(
        bob.process(&p.event, NOW).unwrap(),
        Outcome::Commit { .. }
    ));
    assert_eq!(
        text_of(&bob.process(&m2, NOW).unwrap()),
        "while you were away"
    );
    assert_eq!(text_of(&bob.process(&m3, NOW).unwrap()), "and again");
    assert_eq!(
        alice.epoch_authenticator(&gid).unwrap(),
        bob.epoch_authenticator(&gid).unwrap()
    );
    drop(bob);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn retained_epoch_snapshots_are_bounded_and_late_messages_of_kept_epochs_decrypt() {
    use nipee::storage::{Storage, Table, epoch_prefix};
    let mut rng = rand::rng();
    let (mut alice, mut bob) = (client(), client());
    let kp = bob.create_key_package(false, NOW, &mut rng).unwrap();
    let (gid, w) = alice
        .create_group("g", "", vec![alice.public_key()], &[kp], NOW, &mut rng)
        .unwrap();
    deliver(&mut bob, &w[0]);
    // A message of epoch 1 that bob receives only after two more commits.
    let late = send(&mut alice, &gid, "late");
    for _ in 0..2 {
        let p = alice.rotate(&gid, NOW, &mut rng).unwrap();
        deliver(&mut bob, &p.event);
        let _ = confirm(&mut alice, &p);
    }
    assert_eq!(text_of(&deliver(&mut bob, &late)), "late");
    for _ in 0..8 {
        let p = alice.rotate(&gid, NOW, &mut rng).unwrap();
        deliver(&mut bob, &p.event);
        let _ = confirm(&mut alice, &p);
    }
    for c in [&alice, &bob] {
        let n = c
            .storage()
            .scan(Table::EpochState, &epoch_prefix(&gid))
            .unwrap()
            .len();
        assert_eq!(n, 5, "exactly the retained epochs are kept");
    }
    assert_eq!(
        alice.epoch_authenticator(&gid).unwrap(),
        bob.epoch_authenticator(&gid).unwrap()
    );
}

#[test]
fn one_identity_on_two_devices_has_two_leaves_with_their_own_state() {
    let mut rng = rand::rng();
    let keys = Keys::generate(&mut rng);
    let config = ClientConfig {
        relays: vec!["wss://r.example".into()],
        ..ClientConfig::default()
    };
    let mut phone = Client::new(keys.clone(), MemoryStorage::new(), config.clone()).unwrap();
    let mut laptop = Client::new(keys, MemoryStorage::new(), config).unwrap();
    let mut bob = client();
    let laptop_kp = laptop.create_key_package(false, NOW, &mut rng).unwrap();
    let bob_kp = bob.create_key_package(false, NOW, &mut rng).unwrap();
    let (gid, w) = phone
        .create_group(
            "me",
            "",
            vec![phone.public_key()],
            &[laptop_kp, bob_kp],
            NOW,
            &mut rng,
        )
        .unwrap();
    for x in &w {
        let _ = laptop.process(x, NOW);
        let _ = bob.process(x, NOW);
    }
    let g = bob.group(&gid).unwrap();
    assert_eq!(g.members.len(), 3);
    assert_eq!(
        g.members
            .iter()
            .filter(|(_, pk)| *pk == phone.public_key())
            .count(),
        2
    );
    let m = send(&mut laptop, &gid, "from the laptop");
    assert_eq!(text_of(&deliver(&mut phone, &m)), "from the laptop");
    assert_eq!(text_of(&deliver(&mut bob, &m)), "from the laptop");
    // The laptop (same identity, so an admin) rotates; everyone follows.
    let p = laptop.rotate(&gid, NOW, &mut rng).unwrap();
    deliver(&mut phone, &p.event);
    deliver(&mut bob, &p.event);
    let _ = confirm(&mut laptop, &p);
    assert_eq!(
        phone.epoch_authenticator(&gid).unwrap(),
        bob.epoch_authenticator(&gid).unwrap()
    );
    assert_eq!(
        laptop.epoch_authenticator(&gid).unwrap(),
        bob.epoch_authenticator(&gid).unwrap()
    );
}

#[test]
fn the_admin_policy_rejects_what_nip_ee_forbids() {
    use nipee::AdminPolicy;
    use nipee_mls::framing::Proposal;
    use nipee_mls::group::{GroupPolicy, PolicyView, Sender};
    let mut rng = rand::rng();
    let (mut alice, mut bob) = (client(), client());
    let kp = bob.create_key_package(false, NOW, &mut rng).unwrap();
    let (gid, w) = alice
        .create_group("g", "", vec![alice.public_key()], &[kp], NOW, &mut rng)
        .unwrap();
    deliver(&mut bob, &w[0]);
    let g = bob.mls_group(&gid).unwrap();
    let view = PolicyView {
        context: g.context(),
        tree: g.tree(),
        own_leaf: g.own_leaf(),
    };
    let (a, b) = (Sender::Member(0), Sender::Member(1));
    let data = bob.group(&gid).unwrap().data;
    let gce = |admins: Vec<nipee_nostr::PublicKey>, gid_byte: Option<u8>| {
        let mut d = data.clone();
        d.admins = admins;
        if let Some(x) = gid_byte {
            d.nostr_group_id[0] ^= x;
        }
        Proposal::GroupContextExtensions(vec![d.to_extension().unwrap()])
    };
    let p = AdminPolicy;
    // Allowed: an admin removes a member; anyone updates or removes itself.
    assert!(
        p.check_commit(&view, &a, &[(a, Proposal::Remove { removed: 1 })])
            .is_ok()
    );
    assert!(
        p.check_commit(&view, &b, &[(b, Proposal::Remove { removed: 1 })])
            .is_ok()
    );
    assert!(p.check_commit(&view, &b, &[]).is_ok());
    assert!(
        p.check_commit(
            &view,
            &a,
            &[(a, gce(vec![alice.public_key(), bob.public_key()], None))]
        )
        .is_ok()
    );
    // Forbidden: a non-admin removes someone else or changes the group data.
    assert!(
        p.check_proposal(&view, &b, &Proposal::Remove { removed: 0 })
            .is_err()
    );
    assert!(
        p.check_commit(&view, &b, &[(a, Proposal::Remove { removed: 1 })])
            .is_err()
    );
    assert!(
        p.check_commit(&view, &b, &[(b, gce(vec![bob.public_key()], None))])
            .is_err()
    );
    // Forbidden: leaving the group without an admin, or changing the nostr_group_id.
    let e = p
        .check_commit(&view, &a, &[(a, Proposal::Remove { removed: 0 })])
        .unwrap_err();
    assert!(e.contains("without an admin"), "{e}");
    let e = p
        .check_commit(&view, &a, &[(a, gce(vec![], None))])
        .unwrap_err();
    assert!(e.contains("without an admin"), "{e}");
    assert!(
        p.check_commit(&view, &a, &[(a, gce(vec![alice.public_key()], Some(1)))])
            .is_err()
    );
    // No Update may change the identity of a credential.
    let leaf_of = |pk: &nipee_nostr::PublicKey| {
        let b = nipee::generate_key_package(
            pk,
            &nipee::NewKeyPackage {
                now: NOW,
                last_resort: false,
            },
            &mut rand::rng(),
        )
        .unwrap();
        Proposal::Update(Box::new(b.key_package().leaf_node.clone()))
    };
    assert!(
        p.check_proposal(&view, &b, &leaf_of(&bob.public_key()))
            .is_ok()
    );
    let e = p
        .check_proposal(&view, &b, &leaf_of(&alice.public_key()))
        .unwrap_err();
    assert!(e.contains("may not change the identity"), "{e}");
}

#[test]
fn an_invite_confirmed_by_its_echo_after_a_restart_still_yields_the_welcome() {
    let mut rng = rand::rng();
    let keys = Keys::generate(&mut rng);
    let config = ClientConfig {
        relays: vec!["wss://r.example".into()],
        ..ClientConfig::default()
    };
    let mut alice = Client::new(keys.clone(), MemoryStorage::new(), config.clone()).unwrap();
    let (mut bob, mut carol) = (client(), client());
    let bkp = bob.create_key_package(false, NOW, &mut rng).unwrap();
    let ckp = carol.create_key_package(false, NOW, &mut rng).unwrap();
    let (gid, w) = alice
        .create_group("g", "", vec![alice.public_key()], &[bkp], NOW, &mut rng)
        .unwrap();
    deliver(&mut bob, &w[0]);
    let p = alice.invite(&gid, &[ckp], NOW, &mut rng).unwrap();
    // Crash after the relay accepted the commit, before confirm.
    let mut alice = Client::new(keys, alice.into_storage(), config).unwrap();
    let welcomes = match deliver(&mut alice, &p.event) {
        Outcome::OwnCommitConfirmed {
            welcomes: Some(w), ..
        } => alice.wrap_welcomes(&w, NOW, &mut rng).unwrap(),
        other => panic!("{other:?}"),
    };
    deliver(&mut bob, &p.event);
    assert!(matches!(
        deliver(&mut carol, &welcomes[0]),
        Outcome::Joined { .. }
    ));
    let auth = alice.epoch_authenticator(&gid).unwrap();
    assert_eq!(bob.epoch_authenticator(&gid).unwrap(), auth);
    assert_eq!(carol.epoch_authenticator(&gid).unwrap(), auth);
}

#[test]
fn pruned_processed_ids_do_not_let_old_events_change_state() {
    let mut rng = rand::rng();
    let (mut alice, mut bob) = (client(), client());
    let kp = bob.create_key_package(false, NOW, &mut rng).unwrap();
    let (gid, w) = alice
        .create_group("g", "", vec![alice.public_key()], &[kp], NOW, &mut rng)
        .unwrap();
    deliver(&mut bob, &w[0]);
    let m = send(&mut alice, &gid, "old");
    deliver(&mut bob, &m);
    assert_eq!(bob.prune_processed(NOW + 1).unwrap(), 2);
    assert_eq!(bob.prune_processed(NOW + 1).unwrap(), 0);
    let auth = bob.epoch_authenticator(&gid).unwrap();
    // The message's generation is spent and the Welcome's group exists: both are refused.
    assert!(bob.process(&m, NOW).is_err());
    assert!(bob.process(&w[0], NOW).is_err());
    assert_eq!(bob.epoch_authenticator(&gid).unwrap(), auth);
    let m = send(&mut alice, &gid, "new");
    assert_eq!(text_of(&deliver(&mut bob, &m)), "new");
}
