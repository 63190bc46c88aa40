//! The client flows with real cryptography through the in-process relay: chat, invite,
//! rotate, remove, leave, multiple devices, restarts, bad input, admin rules, retention.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use nipee::inner::chat_message;
use nipee::storage::{MemoryStorage, Storage, Table, group_key};
use nipee::{Client, Error, GroupDataUpdate, IgnoreReason, Outcome};
use nipee_mls::Proposal;
use nipee_nostr::{EventBuilder, Keys, Kind, Tag, Timestamp};
use nipee_test_support::mem::{Net, copy_of};

#[test]
fn three_clients_chat_invite_rotate_remove_and_converge() {
    let mut net = Net::new(1);
    let (a, b, c, d) = (
        net.add("alice"),
        net.add("bob"),
        net.add("carol"),
        net.add("dave"),
    );
    let gid = net.group(a, &[b]);
    net.assert_converged(&gid, &[a, b]);
    net.say(a, &gid, "hello bob");
    net.say(b, &gid, "hi alice");
    net.sync_all();
    assert_eq!(net.texts(b), vec!["hello bob"]);
    assert_eq!(net.texts(a), vec!["hi alice"]);

    // Carol joins through a last-resort KeyPackage: she rotates at once.
    let kp = net.key_package(c, true);
    let now = net.now;
    let p = net.members[a]
        .client
        .invite(&gid, &[kp], now, &mut net.rng)
        .unwrap();
    net.commit(a, p);
    net.sync_all();
    net.assert_converged(&gid, &[a, b, c]);
    assert!(
        net.members[c]
            .outcomes
            .iter()
            .any(|o| matches!(o, Outcome::OwnCommitConfirmed(_))),
        "carol did not rotate after a last-resort join"
    );
    // Dave joins through a one-time KeyPackage: its deletion is published.
    let kp = net.key_package(d, false);
    let now = net.now;
    let p = net.members[a]
        .client
        .invite(&gid, std::slice::from_ref(&kp), now, &mut net.rng)
        .unwrap();
    net.commit(a, p);
    net.sync_all();
    assert!(net.relay.iter().any(|e| {
        e.kind() == Kind::DELETION
            && e.pubkey() == net.pk(d)
            && e.tags()
                .iter()
                .any(|t| t.value() == Some(&kp.id().to_hex()))
    }));
    for who in [a, b, c, d] {
        assert_eq!(net.members[who].client.members(&gid).unwrap().len(), 4);
    }

    // A reaction, a rotation by a non-admin, a removal by the admin.
    let now = net.now;
    let target = chat_message(net.pk(a), "react to me", Timestamp::from_secs(now));
    let out = net.members[a]
        .client
        .send(&gid, &target, now, &mut net.rng)
        .unwrap();
    let e = net.publish(a, &out, true);
    net.publish_all(a, e);
    let r = nipee::inner::reaction(net.pk(b), &target.id(), "🤙", Timestamp::from_secs(now));
    let out = net.members[b]
        .client
        .send(&gid, &r, now, &mut net.rng)
        .unwrap();
    let e = net.publish(b, &out, true);
    net.publish_all(b, e);
    net.now += 1;
    let now = net.now;
    let p = net.members[b]
        .client
        .rotate(&gid, now, &mut net.rng)
        .unwrap();
    net.commit(b, p);
    net.sync_all();
    assert!(
        net.members[c]
            .outcomes
            .iter()
            .any(|o| matches!(o, Outcome::Message { event, .. } if event.kind.as_u16() == 7))
    );
    let now = net.now;
    let dave = net.pk(d);
    let p = net.members[a]
        .client
        .remove(&gid, &[dave], now, &mut net.rng)
        .unwrap();
    net.commit(a, p);
    net.sync_all();
    net.assert_converged(&gid, &[a, b, c]);
    assert!(!net.members[d].client.group(&gid).unwrap().active);
    net.say(c, &gid, "dave cannot read this");
    net.sync_all();
    assert!(!net.texts(d).contains(&"dave cannot read this".to_owned()));
    assert!(net.texts(a).contains(&"dave cannot read this".to_owned()));
    // Once a late commit can no longer undo the removal (the race window has passed),
    // dave's tombstone keeps no secret.
    let later = net.now + nipee::client::DEFAULT_REMOVED_STATE_SECS + 1;
    let _ = net.members[d].client.poll(later, &mut net.rng).unwrap();
    let row = net.members[d]
        .client
        .storage()
        .get(Table::Group, &group_key(gid.as_bytes()))
        .unwrap()
        .unwrap();
    assert!(
        row.len() < 200,
        "a left group keeps its state ({} bytes)",
        row.len()
    );
    assert!(
        net.members[d]
            .client
            .storage()
            .scan(Table::Fork, &group_key(gid.as_bytes()))
            .unwrap()
            .is_empty()
    );
}

#[test]
fn a_non_admin_commit_is_rejected_by_everyone_with_state_unchanged() {
    let (mut net, gid) = Net::three(2);
    let e = net.add("eve");
    let kp = net.key_package(e, false);
    let now = net.now;
    let parsed =
        nipee::parse_key_package_event(&kp, &nipee_keypackage::ValidationPolicy::at(now)).unwrap();
    // Bob (not an admin) adds eve, bypassing his own client's check.
    let p = net.members[1]
        .client
        .commit_unchecked(
            &gid,
            vec![Proposal::Add(Box::new(parsed.key_package))],
            now,
            &mut net.rng,
        )
        .unwrap();
    let before = net.auths(&gid, &[0, 2]);
    net.inject(p.outgoing.event.clone());
    for who in [0, 2] {
        let r = net.members[who]
            .client
            .process(&p.outgoing.event, now, &mut net.rng);
        assert!(matches!(r, Err(Error::Policy(_))), "{r:?}");
    }
    assert_eq!(net.auths(&gid, &[0, 2]), before);
    assert_eq!(net.members[0].client.members(&gid).unwrap().len(), 3);
    let _ = net.members[1]
        .client
        .discard_pending(&gid, now, &mut net.rng)
        .unwrap();

    // A member may leave: a self-removal proposal, which even a non-admin may commit.
    let now = net.now;
    let leave = net.members[2]
        .client
        .leave(&gid, now, &mut net.rng)
        .unwrap();
    let e2 = net.publish(2, &leave, true);
    net.publish_all(2, e2);
    net.sync(0);
    net.sync(1);
    assert!(net.members[0].outcomes.iter().any(|o| matches!(
        o,
        Outcome::Proposal {
            leave_request: true,
            ..
        }
    )));
    let p = net.members[1]
        .client
        .commit_pending_proposals(&gid, now, &mut net.rng)
        .unwrap();
    net.commit(1, p);
    net.sync_all();
    net.assert_converged(&gid, &[0, 1]);
    assert!(!net.members[2].client.group(&gid).unwrap().active);
}

#[test]
fn state_survives_a_restart_including_a_pending_commit() {
    let (mut net, gid) = Net::three(3);
    let now = net.now;
    let p = net.members[0]
        .client
        .rotate(&gid, now, &mut net.rng)
        .unwrap();
    net.restart(0);
    assert!(net.members[0].client.group(&gid).unwrap().pending_commit);
    net.commit(0, p);
    net.sync_all();
    net.assert_converged(&gid, &[0, 1, 2]);
    net.restart(1);
    net.say(1, &gid, "after a restart");
    net.sync_all();
    assert!(net.texts(2).contains(&"after a restart".to_owned()));
}

#[test]
fn bad_input_is_a_typed_error_that_changes_no_state() {
    let (mut net, gid) = Net::three(4);
    let now = net.now;
    let h = net.members[1].client.group(&gid).unwrap().nostr_group_id;
    let auth = net.members[1].client.epoch_authenticator(&gid).unwrap();
    let throwaway = Keys::generate(&mut net.rng);
    let mk = |content: &str, h: &str| {
        EventBuilder::new(Kind::MLS_GROUP_MESSAGE, content)
            .tag(Tag::group(h))
            .sign(&throwaway, Timestamp::from_secs(now))
            .unwrap()
    };
    // Garbage content under the group's id: no key opens it, so it waits in the buffer.
    let e = net.members[1]
        .client
        .process(&mk("garbage", &h.to_hex()), now, &mut net.rng)
        .unwrap();
    assert!(matches!(
        e.outcome(),
        Outcome::Ignored(IgnoreReason::Buffered)
    ));
    // Unknown group.
    let r = net.members[1]
        .client
        .process(&mk("garbage", &"ab".repeat(32)), now, &mut net.rng);
    assert!(matches!(r, Err(Error::UnknownGroup { .. })), "{r:?}");
    // Dated far in the future.
    let future = EventBuilder::new(Kind::MLS_GROUP_MESSAGE, "x")
        .tag(Tag::group(&h.to_hex()))
        .sign(&throwaway, Timestamp::from_secs(now + 86_400 + 3_600))
        .unwrap();
    let r = net.members[1].client.process(&future, now, &mut net.rng);
    assert!(matches!(r, Err(Error::FromTheFuture { .. })), "{r:?}");
    // A few minutes ahead waits for the clock instead.
    let soon = EventBuilder::new(Kind::MLS_GROUP_MESSAGE, "x")
        .tag(Tag::group(&h.to_hex()))
        .sign(&throwaway, Timestamp::from_secs(now + 3_600))
        .unwrap();
    let e = net.members[1]
        .client
        .process(&soon, now, &mut net.rng)
        .unwrap();
    assert!(
        matches!(e.outcome(), Outcome::Ignored(IgnoreReason::Buffered)),
        "{:?}",
        e.outcomes
    );
    // An inner event whose pubkey is not the MLS sender.
    let forged = chat_message(net.pk(1), "forged", Timestamp::from_secs(now));
    assert!(matches!(
        net.members[0].client.send(&gid, &forged, now, &mut net.rng),
        Err(Error::Misuse { .. })
    ));
    let raw = net.members[0]
        .client
        .send_raw_application_data(&gid, forged.to_json().as_bytes(), now, &mut net.rng)
        .unwrap();
    let r = net.members[1].client.process(&raw.event, now, &mut net.rng);
    assert!(matches!(r, Err(Error::InnerEventAuthor { .. })), "{r:?}");
    // A signed inner event and one with an h tag.
    let signed = EventBuilder::new(Kind::new(9), "signed")
        .sign(&Keys::generate(&mut net.rng), Timestamp::from_secs(now))
        .unwrap();
    let raw = net.members[0]
        .client
        .send_raw_application_data(&gid, signed.to_json().as_bytes(), now, &mut net.rng)
        .unwrap();
    let r = net.members[1].client.process(&raw.event, now, &mut net.rng);
    assert!(matches!(r, Err(Error::InnerEvent { .. })), "{r:?}");
    // A kind that is neither 445 nor 1059.
    let note = EventBuilder::text_note("x")
        .sign(&throwaway, Timestamp::from_secs(now))
        .unwrap();
    let r = net.members[1].client.process(&note, now, &mut net.rng);
    assert!(matches!(r, Err(Error::UnexpectedKind { .. })), "{r:?}");
    assert_eq!(
        net.members[1].client.epoch_authenticator(&gid).unwrap(),
        auth
    );
    // A rejected application message did not burn its key: the next message decrypts.
    let m = net.say(0, &gid, "after the junk");
    let out = net.deliver(1, &m);
    assert!(
        out.iter().any(
            |o| matches!(o, Outcome::Message { event, .. } if event.content == "after the junk")
        )
    );
}

#[test]
fn late_messages_of_retained_epochs_decrypt_and_state_stays_bounded() {
    let (mut net, gid) = Net::three(5);
    let late = net.say(0, &gid, "late");
    net.members[1].cursor = net.relay.len(); // bob misses it for now
    for _ in 0..2 {
        net.now += 1;
        let now = net.now;
        let p = net.members[0]
            .client
            .rotate(&gid, now, &mut net.rng)
            .unwrap();
        net.commit(0, p);
    }
    net.members[1].cursor = 0;
    net.sync(1);
    let out = net.deliver(1, &late);
    assert!(
        out.is_empty()
            || out
                .iter()
                .any(|o| matches!(o, Outcome::Ignored(IgnoreReason::Duplicate))),
        "{out:?}"
    );
    assert!(net.texts(1).contains(&"late".to_owned()));
    for _ in 0..8 {
        net.now += 1;
        let now = net.now;
        let p = net.members[0]
            .client
            .rotate(&gid, now, &mut net.rng)
            .unwrap();
        net.commit(0, p);
    }
    net.sync_all();
    for who in 0..3 {
        let forks = net.members[who]
            .client
            .storage()
            .scan(Table::Fork, &group_key(gid.as_bytes()))
            .unwrap()
            .len();
        assert!(
            forks <= 2,
            "{} keeps {forks} fork snapshots",
            net.members[who].name
        );
    }
    net.assert_converged(&gid, &[0, 1, 2]);
}

#[test]
fn one_identity_on_two_devices_has_two_leaves_with_their_own_state() {
    let mut net = Net::new(6);
    let keys = Keys::generate(&mut net.rng);
    let phone = net.add_with("phone", keys.clone(), MemoryStorage::new());
    let laptop = net.add_with("laptop", keys, MemoryStorage::new());
    let bob = net.add("bob");
    let gid = net.group(phone, &[laptop, bob]);
    let members = net.members[bob].client.members(&gid).unwrap();
    assert_eq!(members.len(), 3);
    assert_eq!(
        members.iter().filter(|m| m.pubkey == net.pk(phone)).count(),
        2
    );
    net.say(laptop, &gid, "from the laptop");
    net.sync_all();
    assert!(net.texts(phone).contains(&"from the laptop".to_owned()));
    assert!(net.texts(bob).contains(&"from the laptop".to_owned()));
    let now = net.now;
    let p = net.members[laptop]
        .client
        .rotate(&gid, now, &mut net.rng)
        .unwrap();
    net.commit(laptop, p);
    net.sync_all();
    net.assert_converged(&gid, &[phone, laptop, bob]);
}

#[test]
fn admins_change_the_group_data_and_members_follow_the_new_public_id() {
    let (mut net, gid) = Net::three(7);
    let old_h = net.members[1].client.group(&gid).unwrap().nostr_group_id;
    // A message of the old epoch, delivered late (after the id moved).
    let late = net.say(2, &gid, "under the old id");
    net.members[1].cursor = net.relay.len();
    let new_h = nipee::NostrGroupId::from_bytes([7; 32]);
    let (alice, bob) = (net.pk(0), net.pk(1));
    let now = net.now;
    let p = net.members[0]
        .client
        .update_group_data(
            &gid,
            GroupDataUpdate::new()
                .name("renamed")
                .admins(vec![alice, bob])
                .nostr_group_id(new_h),
            now,
            &mut net.rng,
        )
        .unwrap();
    net.commit(0, p);
    net.sync_all();
    net.assert_converged(&gid, &[0, 1, 2]);
    for who in 0..3 {
        let g = net.members[who].client.group(&gid).unwrap();
        assert_eq!(g.nostr_group_id, new_h);
        assert_eq!(g.data.unwrap().name, "renamed");
    }
    // The subscription covers both ids while the old epoch is retained.
    let subs = net.members[1].client.subscriptions();
    let spec = subs.iter().find(|s| s.key.starts_with("group:")).unwrap();
    let json = spec.filter.to_json();
    assert!(
        json.contains(&new_h.to_hex()) && json.contains(&old_h.to_hex()),
        "{json}"
    );
    // Bob, now an admin, may remove carol; the late message of the old id still reads.
    let out = net.deliver(1, &late);
    assert!(
        out.iter().any(|o| matches!(o, Outcome::Message { .. })),
        "{out:?}"
    );
    let now = net.now;
    let carol = net.pk(2);
    let p = net.members[1]
        .client
        .remove(&gid, &[carol], now, &mut net.rng)
        .unwrap();
    net.commit(1, p);
    net.sync_all();
    net.assert_converged(&gid, &[0, 1]);
}

#[test]
fn no_commit_may_leave_the_group_without_an_admin() {
    let (mut net, gid) = Net::three(8);
    let now = net.now;
    let alice = net.pk(0);
    // The only admin cannot remove herself (MLS forbids a commit removing its committer)...
    let r = net.members[0]
        .client
        .remove(&gid, &[alice], now, &mut net.rng);
    assert!(r.is_err(), "{r:?}");
    // ...nor drop every admin from the group data.
    let r = net.members[0].client.update_group_data(
        &gid,
        GroupDataUpdate::new().admins(vec![]),
        now,
        &mut net.rng,
    );
    assert!(matches!(r, Err(Error::Policy(_))), "{r:?}");
    // Handing over works: bob becomes the only admin, then alice leaves.
    let bob = net.pk(1);
    let p = net.members[0]
        .client
        .update_group_data(
            &gid,
            GroupDataUpdate::new().admins(vec![bob]),
            now,
            &mut net.rng,
        )
        .unwrap();
    net.commit(0, p);
    net.sync_all();
    let now = net.now;
    let leave = net.members[0]
        .client
        .leave(&gid, now, &mut net.rng)
        .unwrap();
    let e = net.publish(0, &leave, true);
    net.publish_all(0, e);
    net.sync(1);
    let p = net.members[1]
        .client
        .commit_pending_proposals(&gid, now, &mut net.rng)
        .unwrap();
    net.commit(1, p);
    net.sync_all();
    net.assert_converged(&gid, &[1, 2]);
    assert!(!net.members[0].client.group(&gid).unwrap().active);
}

#[test]
fn pruned_processed_ids_do_not_let_old_events_change_state() {
    let (mut net, gid) = Net::three(9);
    let m = net.say(0, &gid, "old");
    net.sync_all();
    let later = net.now + 40 * 86_400;
    assert!(net.members[1].client.prune_processed(later).unwrap() >= 2);
    let auth = net.members[1].client.epoch_authenticator(&gid).unwrap();
    // The message's key is spent: it is refused, and nothing changes.
    let r = net.members[1].client.process(&m, net.now, &mut net.rng);
    assert!(r.is_err() || matches!(r.unwrap().outcome(), Outcome::Ignored(_)));
    assert_eq!(
        net.members[1].client.epoch_authenticator(&gid).unwrap(),
        auth
    );
    net.say(0, &gid, "new");
    net.sync_all();
    assert!(net.texts(1).contains(&"new".to_owned()));
}

#[test]
fn a_store_of_another_identity_is_refused() {
    let mut net = Net::new(10);
    let a = net.add("alice");
    let other = Keys::generate(&mut net.rng);
    let r = Client::new(
        other,
        copy_of(net.members[a].client.storage()),
        Net::config(),
    );
    assert!(matches!(r, Err(Error::Misuse { .. })));
}

#[test]
fn a_message_dated_ahead_of_our_clock_is_read_once_the_clock_catches_up() {
    let (mut net, gid) = Net::three(11);
    // Alice's clock runs 40 minutes ahead.
    let now = net.now;
    let ahead = now + 2_400;
    let inner = chat_message(net.pk(0), "from the future", Timestamp::from_secs(ahead));
    let out = net.members[0]
        .client
        .send(&gid, &inner, ahead, &mut net.rng)
        .unwrap();
    let e = net.members[1]
        .client
        .process(&out.event, now, &mut net.rng)
        .unwrap();
    assert!(matches!(
        e.outcome(),
        Outcome::Ignored(IgnoreReason::Buffered)
    ));
    // Later, bob's periodic work finds it due.
    let e = net.members[1].client.poll(ahead, &mut net.rng).unwrap();
    assert!(
        e.outcomes.iter().any(
            |o| matches!(o, Outcome::Message { event, .. } if event.content == "from the future")
        ),
        "{:?}",
        e.outcomes
    );
}
