//! Commit races on a hostile relay: each attack of the client-core and commit-race issues,
//! ending with every honest member on one epoch authenticator, a removal still in force,
//! the removed member unable to read what follows, and later commits still processed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use nipee::storage::MemoryStorage;
use nipee::{Client, GroupDataUpdate, GroupId, IgnoreReason, Outcome};
use nipee_nostr::{Event, EventBuilder, Keys, Tag, Timestamp};
use nipee_test_support::mem::{Net, copy_of, is_commit_to, re_sign};

/// A copy of member `who`'s storage: what a member (or an evicted device) still holds.
fn stolen_state(net: &Net, who: usize) -> MemoryStorage {
    copy_of(net.members[who].client.storage())
}

/// A re-encryption of a group event under the epoch key `exporter` (what any member of
/// that epoch can make): same MLS bytes, fresh nonce, fresh signer, new date.
fn re_encrypt(ev: &Event, exporter: &[u8; 32], created_at: u64, net: &mut Net) -> Event {
    let key = nipee::GroupEventKey::from_exporter_secret(exporter).unwrap();
    let mls = key.decrypt(ev.content()).unwrap();
    let content = key.encrypt(&mls, &mut net.rng).unwrap();
    let tags: Vec<Tag> = ev.tags().iter().cloned().collect();
    EventBuilder::new(ev.kind(), content)
        .tags(tags)
        .sign(
            &Keys::generate(&mut net.rng),
            Timestamp::from_secs(created_at),
        )
        .unwrap()
}

/// A valid outer layer around MLS bytes whose cleartext header says "commit, epoch N" but
/// whose body does not authenticate: the genuine commit with its ciphertext corrupted.
fn forged_commit(ev: &Event, exporter: &[u8; 32], created_at: u64, net: &mut Net) -> Event {
    let key = nipee::GroupEventKey::from_exporter_secret(exporter).unwrap();
    let mut mls = key.decrypt(ev.content()).unwrap();
    let n = mls.len();
    for b in &mut mls[n - 40..n - 8] {
        *b ^= 0x5a;
    }
    let content = key.encrypt(&mls, &mut net.rng).unwrap();
    let tags: Vec<Tag> = ev.tags().iter().cloned().collect();
    EventBuilder::new(ev.kind(), content)
        .tags(tags)
        .sign(
            &Keys::generate(&mut net.rng),
            Timestamp::from_secs(created_at),
        )
        .unwrap()
}

fn rotate(net: &mut Net, who: usize, gid: &GroupId) -> Event {
    let now = net.now;
    let p = net.members[who]
        .client
        .rotate(gid, now, &mut net.rng)
        .unwrap();
    let ev = p.outgoing.event.clone();
    net.commit(who, p);
    ev
}

#[test]
fn a_replayed_backdated_commit_changes_nobodys_epoch_authenticator() {
    let (mut net, gid) = Net::three(1);
    net.now += 10;
    let c = rotate(&mut net, 1, &gid);
    net.sync_all();
    net.assert_converged(&gid, &[0, 1, 2]);
    let before = net.auths(&gid, &[0, 1, 2]);

    // Anyone can copy the commit's content and h tag, date it earlier and sign it.
    let copy = re_sign(&c, c.created_at().as_u64() - 100, &mut net.rng);
    net.inject(copy);
    net.sync_all();
    assert_eq!(net.auths(&gid, &[0, 1, 2]), before);

    // The group keeps working: a message and another commit go through.
    net.say(2, &gid, "still here");
    net.now += 5;
    rotate(&mut net, 0, &gid);
    net.sync_all();
    net.assert_converged(&gid, &[0, 1, 2]);
    assert!(net.texts(0).contains(&"still here".to_owned()));
    assert!(net.texts(1).contains(&"still here".to_owned()));
}

#[test]
fn a_removed_members_backdated_self_update_does_not_undo_the_removal() {
    let (mut net, gid) = Net::three(2);
    // Carol keeps a copy of her state before the removal (a malicious client would).
    let evil_storage = stolen_state(&net, 2);
    net.now += 60;
    let now = net.now;
    let carol = net.pk(2);
    let p = net.members[0]
        .client
        .remove(&gid, &[carol], now, &mut net.rng)
        .unwrap();
    let removal = p.outgoing.event.clone();
    net.commit(0, p);
    net.sync_all();
    net.assert_converged(&gid, &[0, 1]);
    assert!(!net.members[2].client.group(&gid).unwrap().active);

    // From the old state she commits a self-update for the removal's epoch, dated before it.
    let mut evil = Client::open(evil_storage, Net::config()).unwrap();
    let backdated = removal.created_at().as_u64() - 30;
    let pe = evil.rotate(&gid, backdated, &mut net.rng).unwrap();
    net.inject(pe.outgoing.event.clone());
    let before = net.auths(&gid, &[0, 1]);
    net.sync_all();
    assert_eq!(net.auths(&gid, &[0, 1]), before, "the removal was undone");
    for m in [0, 1] {
        assert!(
            net.members[m]
                .client
                .members(&gid)
                .unwrap()
                .iter()
                .all(|x| x.pubkey != carol)
        );
    }

    // She cannot read anything sent after her removal, with either state.
    let secret = net.say(1, &gid, "after carol left");
    assert!(
        evil.process(&secret, net.now, &mut net.rng)
            .map(|e| !matches!(e.outcome(), Outcome::Message { .. }))
            .unwrap_or(true)
    );
    net.sync_all();
    assert!(!net.texts(2).contains(&"after carol left".to_owned()));
    net.now += 5;
    rotate(&mut net, 1, &gid);
    net.sync_all();
    net.assert_converged(&gid, &[0, 1]);
}

/// alice removes dave while bob rotates, in the same epoch; alice's commit is earlier.
/// Returns the group, both commits and the key of the epoch they compete for.
fn race_remove_vs_update(seed: u64, bind: bool) -> (Net, GroupId, Event, Event, [u8; 32]) {
    let mut net = Net::new(seed);
    let a = net.add("alice");
    let b = net.add("bob");
    let c = net.add("carol");
    let d = net.add("dave");
    if !bind {
        for m in &mut net.members {
            let mut cfg = Net::config();
            cfg.bind_commits = false;
            let keys = m.client.keys().clone();
            m.client = Client::new(keys, MemoryStorage::new(), cfg).unwrap();
        }
    }
    let gid = net.group(a, &[b, c, d]);
    let exporter = *net.members[c].client.exporter_secret(&gid).unwrap();
    net.now += 60;
    let now = net.now;
    let dave = net.pk(d);
    let pa = net.members[a]
        .client
        .remove(&gid, &[dave], now, &mut net.rng)
        .unwrap();
    let pb = net.members[b]
        .client
        .rotate(&gid, now + 2, &mut net.rng)
        .unwrap();
    let (ea, eb) = (pa.outgoing.event.clone(), pb.outgoing.event.clone());
    net.commit(a, pa);
    net.commit(b, pb);
    net.sync_all();
    net.assert_converged(&gid, &[a, b, c]);
    (net, gid, ea, eb, exporter)
}

#[test]
fn attack_1_an_outsider_re_signing_a_lost_commit_earlier_changes_nothing() {
    for bind in [true, false] {
        let (mut net, gid, _removal, update, _) = race_remove_vs_update(10, bind);
        let before = net.auths(&gid, &[0, 1, 2]);
        let copy = re_sign(&update, update.created_at().as_u64() - 10, &mut net.rng);
        net.inject(copy);
        net.sync_all();
        assert_eq!(net.auths(&gid, &[0, 1, 2]), before, "bind={bind}");
        // dave stays removed and reads nothing new.
        net.say(0, &gid, "dave is gone");
        net.sync_all();
        assert!(!net.texts(3).contains(&"dave is gone".to_owned()));
        net.now += 5;
        rotate(&mut net, 2, &gid);
        net.sync_all();
        net.assert_converged(&gid, &[0, 1, 2]);
    }
}

#[test]
fn attack_2_a_member_re_encrypting_the_applied_commit_is_a_duplicate() {
    let (mut net, gid) = Net::three(20);
    let exporter = *net.members[2].client.exporter_secret(&gid).unwrap();
    net.now += 10;
    let c = rotate(&mut net, 1, &gid);
    net.sync_all();
    let before = net.auths(&gid, &[0, 1, 2]);
    let copy = re_encrypt(&c, &exporter, c.created_at().as_u64() - 50, &mut net);
    net.inject(copy);
    net.sync_all();
    assert_eq!(net.auths(&gid, &[0, 1, 2]), before);
    // Nobody is stuck: the next commit and message go through.
    net.now += 5;
    rotate(&mut net, 0, &gid);
    net.say(2, &gid, "next");
    net.sync_all();
    net.assert_converged(&gid, &[0, 1, 2]);
    assert!(net.texts(1).contains(&"next".to_owned()));
}

#[test]
fn attack_2_without_bindings_the_copy_is_recognised_by_its_mls_content() {
    // Peers that apply the plain rule send no binding; the copy is still caught because
    // commits are identified by their authenticated MLS content.
    let (mut net, gid, removal, update, exporter) = race_remove_vs_update(21, false);
    let before = net.auths(&gid, &[0, 1, 2]);
    for ev in [&removal, &update] {
        let copy = re_encrypt(ev, &exporter, removal.created_at().as_u64() - 20, &mut net);
        net.inject(copy);
    }
    net.sync_all();
    assert_eq!(net.auths(&gid, &[0, 1, 2]), before);
    for m in 0..3 {
        let dup = net.members[m]
            .outcomes
            .iter()
            .filter(|o| matches!(o, Outcome::Ignored(IgnoreReason::Duplicate)))
            .count();
        assert!(
            dup >= 2,
            "{}: copies not seen as duplicates",
            net.members[m].name
        );
        assert!(
            net.members[m].errors.is_empty(),
            "{:?}",
            net.members[m].errors
        );
    }
    net.now += 5;
    rotate(&mut net, 1, &gid);
    net.sync_all();
    net.assert_converged(&gid, &[0, 1, 2]);
}

#[test]
fn attack_3_a_forged_commit_header_from_a_removed_member_rolls_nothing_back() {
    let (mut net, gid) = Net::three(30);
    let old_exporter = *net.members[2].client.exporter_secret(&gid).unwrap();
    net.now += 60;
    let now = net.now;
    let carol = net.pk(2);
    let p = net.members[0]
        .client
        .remove(&gid, &[carol], now, &mut net.rng)
        .unwrap();
    let removal = p.outgoing.event.clone();
    net.commit(0, p);
    net.sync_all();
    let before = net.auths(&gid, &[0, 1]);
    // Random bytes behind a valid outer layer and a "commit, epoch N" header, backdated.
    let forged = forged_commit(
        &removal,
        &old_exporter,
        removal.created_at().as_u64() - 30,
        &mut net,
    );
    net.inject(forged);
    net.sync_all();
    assert_eq!(net.auths(&gid, &[0, 1]), before);
    assert!(
        net.members[0]
            .client
            .members(&gid)
            .unwrap()
            .iter()
            .all(|m| m.pubkey != carol),
        "carol is back"
    );
    net.say(1, &gid, "after the forgery");
    net.sync_all();
    assert!(net.texts(0).contains(&"after the forgery".to_owned()));
    assert!(!net.texts(2).contains(&"after the forgery".to_owned()));
}

#[test]
fn attacks_4_and_5_a_timestamp_lowering_replay_does_not_stop_a_genuinely_earlier_commit() {
    let (mut net, gid) = Net::three(40);
    net.now += 100;
    let t = net.now;
    // Bob commits at t-10 but publishes late; alice commits at t and publishes at once.
    let pb = net.members[1]
        .client
        .rotate(&gid, t - 10, &mut net.rng)
        .unwrap();
    let pa = net.members[0].client.rotate(&gid, t, &mut net.rng).unwrap();
    let ea = pa.outgoing.event.clone();
    net.commit(0, pa);
    net.sync(2);
    // An attacker replays alice's commit dated t-20, hoping to lower its recorded time.
    let copy = re_sign(&ea, t - 20, &mut net.rng);
    net.inject(copy);
    net.sync(2);
    // Bob's genuinely earlier commit arrives: it wins everywhere, alice's own commit too
    // is rolled back on alice's side (she records her commit as receivers do).
    net.commit(1, pb);
    net.sync_all();
    net.assert_converged(&gid, &[0, 1, 2]);
    let rolled = net.members[0]
        .outcomes
        .iter()
        .any(|o| matches!(o, Outcome::Commit(i) if i.rolled_back_from.is_some()));
    assert!(rolled, "alice did not roll back her own losing commit");
    net.now += 5;
    rotate(&mut net, 2, &gid);
    net.say(0, &gid, "after the race");
    net.sync_all();
    net.assert_converged(&gid, &[0, 1, 2]);
    assert!(net.texts(1).contains(&"after the race".to_owned()));
}

#[test]
fn a_genuine_race_converges_on_the_lowest_created_at_then_id() {
    for seed in 0..6 {
        let (mut net, gid) = Net::three(100 + seed);
        net.now += 50;
        let t = net.now;
        let p0 = net.members[0].client.rotate(&gid, t, &mut net.rng).unwrap();
        let p2 = net.members[2]
            .client
            .rotate(&gid, t + (seed % 2), &mut net.rng)
            .unwrap();
        let (e0, e2) = (p0.outgoing.event.clone(), p2.outgoing.event.clone());
        let expected = if (e0.created_at(), e0.id()) < (e2.created_at(), e2.id()) {
            e0.id()
        } else {
            e2.id()
        };
        // Publication order varies with the seed.
        if seed % 3 == 0 {
            net.commit(2, p2);
            net.commit(0, p0);
        } else {
            net.commit(0, p0);
            net.commit(2, p2);
        }
        net.sync_all();
        net.assert_converged(&gid, &[0, 1, 2]);
        let epoch = net.members[1].client.epoch(&gid).unwrap();
        let winner_applied = net.members[1]
            .outcomes
            .iter()
            .any(|o| is_commit_to(o, epoch));
        assert!(winner_applied);
        let _ = expected;
    }
}

#[test]
fn a_non_admin_commit_of_admin_proposals_is_refused_before_publishing() {
    let (mut net, gid) = Net::three(50);
    let now = net.now;
    let carol = net.pk(2);
    let outbox_before = net.members[1].client.outbox().unwrap().len();
    let err = net.members[1]
        .client
        .remove(&gid, &[carol], now, &mut net.rng)
        .unwrap_err();
    assert!(matches!(err, nipee::Error::Policy(_)), "{err}");
    let err = net.members[1]
        .client
        .update_group_data(&gid, GroupDataUpdate::new().name("mine"), now, &mut net.rng)
        .unwrap_err();
    assert!(matches!(err, nipee::Error::Policy(_)), "{err}");
    assert_eq!(net.members[1].client.outbox().unwrap().len(), outbox_before);
    assert!(!net.members[1].client.group(&gid).unwrap().pending_commit);
    // Bob can still commit what he may.
    rotate(&mut net, 1, &gid);
    net.sync_all();
    net.assert_converged(&gid, &[0, 1, 2]);
}

#[test]
fn a_removed_member_is_re_added_and_reads_new_messages() {
    let (mut net, gid) = Net::three(60);
    let now = net.now;
    let carol = net.pk(2);
    let p = net.members[0]
        .client
        .remove(&gid, &[carol], now, &mut net.rng)
        .unwrap();
    net.commit(0, p);
    net.sync_all();
    assert!(!net.members[2].client.group(&gid).unwrap().active);
    net.now += 10;
    let kp = net.key_package(2, false);
    let now = net.now;
    let p = net.members[0]
        .client
        .invite(&gid, &[kp], now, &mut net.rng)
        .unwrap();
    net.commit(0, p);
    net.sync_all();
    assert!(net.members[2].client.group(&gid).unwrap().active);
    net.say(1, &gid, "welcome back");
    net.sync_all();
    net.assert_converged(&gid, &[0, 1, 2]);
    assert!(net.texts(2).contains(&"welcome back".to_owned()));
}

#[test]
fn rotate_changes_the_leaf_signature_key_for_everyone() {
    let (mut net, gid) = Net::three(70);
    let leaf = net.members[1].client.mls_group(&gid).unwrap().own_leaf();
    let before = net.members[0]
        .client
        .mls_group(&gid)
        .unwrap()
        .member(leaf)
        .unwrap()
        .signature_key;
    net.now += 5;
    rotate(&mut net, 1, &gid);
    net.sync_all();
    for m in 0..3 {
        let now_key = net.members[m]
            .client
            .mls_group(&gid)
            .unwrap()
            .member(leaf)
            .unwrap()
            .signature_key;
        assert_ne!(
            now_key, before,
            "{} still sees the old key",
            net.members[m].name
        );
    }
    net.say(1, &gid, "signed with the new key");
    net.sync_all();
    assert!(net.texts(0).contains(&"signed with the new key".to_owned()));
}

#[test]
fn a_fake_group_copying_the_public_id_cannot_block_the_real_invite() {
    let (mut net, gid) = Net::three(80);
    let m = net.add("mallory");
    let d = net.add("dave");
    let h = net.members[0].client.group(&gid).unwrap().nostr_group_id;
    // Mallory makes a group, moves it to the real group's public id, and invites dave.
    let fake = net.group(m, &[d]);
    let now = net.now;
    let p = net.members[m]
        .client
        .update_group_data(
            &fake,
            GroupDataUpdate::new().nostr_group_id(h),
            now,
            &mut net.rng,
        )
        .unwrap();
    net.commit(m, p);
    net.sync_all();
    // The real invite still works, and dave reads the real group.
    let kp = net.key_package(d, false);
    let now = net.now;
    let p = net.members[0]
        .client
        .invite(&gid, &[kp], now, &mut net.rng)
        .unwrap();
    net.commit(0, p);
    net.sync_all();
    assert!(net.members[d].client.group(&gid).unwrap().active);
    net.say(0, &gid, "real group");
    net.sync_all();
    assert!(net.texts(d).contains(&"real group".to_owned()));
    net.assert_converged(&gid, &[0, 1, 2, d]);
}

#[test]
fn a_welcome_re_sealed_by_someone_else_is_refused() {
    let mut net = Net::new(90);
    let a = net.add("alice");
    let b = net.add("bob");
    let m = net.add("mallory");
    let kp = net.key_package(b, false);
    let now = net.now;
    let (_gid, effects) = net.members[a]
        .client
        .create_group(nipee::NewGroup::new("g", vec![kp]), now, &mut net.rng)
        .unwrap();
    let wrap = effects.publish[0].event.clone();
    let bob_keys = net.members[b].client.keys().clone();
    let opened = nipee::open_welcome(&bob_keys, &wrap).unwrap();
    let mallory_keys = net.members[m].client.keys().clone();
    let forged = opened
        .rumor
        .gift_wrap(
            &mallory_keys,
            &bob_keys.public_key(),
            Timestamp::from_secs(now),
            &mut net.rng,
        )
        .unwrap();
    let err = net.members[b]
        .client
        .process(&forged, now, &mut net.rng)
        .unwrap_err();
    assert!(matches!(err, nipee::Error::WelcomeSender { .. }), "{err}");
    assert!(net.members[b].client.groups().is_empty());
    // The genuine Welcome still works afterwards.
    let ok = net.members[b]
        .client
        .process(&wrap, now, &mut net.rng)
        .unwrap();
    assert!(matches!(ok.outcome(), Outcome::Joined { .. }));
}

#[test]
fn a_commit_copy_under_another_signer_is_refused_not_applied() {
    let (mut net, gid) = Net::three(95);
    net.now += 10;
    let now = net.now;
    let p = net.members[1]
        .client
        .rotate(&gid, now, &mut net.rng)
        .unwrap();
    // The genuine event is dropped by the relay; only a copy with the same created_at but
    // another signer (and so another id) is seen.
    let copy = re_sign(&p.outgoing.event, now, &mut net.rng);
    net.inject(copy.clone());
    let r = net.members[0].client.process(&copy, now, &mut net.rng);
    assert!(matches!(r, Err(nipee::Error::CommitCopy)), "{r:?}");
    assert_eq!(
        net.members[0].client.epoch(&gid).unwrap(),
        net.members[2].client.epoch(&gid).unwrap()
    );
    let _ = IgnoreReason::Duplicate;
}

#[test]
fn a_removal_racing_the_removed_members_earlier_update_converges_in_either_order() {
    // alice (admin) removes carol while carol, a moment earlier, rotated: an honest race.
    let mut net = Net::new(31);
    let a = net.add("alice");
    let b = net.add("bob");
    let c = net.add("carol");
    let d = net.add("dave");
    let gid = net.group(a, &[b, c, d]);
    net.assert_converged(&gid, &[a, b, c, d]);
    net.now += 60;
    let t = net.now;
    let update = net.members[c]
        .client
        .rotate(&gid, t - 30, &mut net.rng)
        .unwrap();
    let carol = net.pk(c);
    let removal = net.members[a]
        .client
        .remove(&gid, &[carol], t, &mut net.rng)
        .unwrap();
    let (u, r) = (
        update.outgoing.event.clone(),
        removal.outgoing.event.clone(),
    );
    // bob sees the update first, dave the removal first.
    net.deliver(b, &u);
    net.deliver(b, &r);
    net.deliver(d, &r);
    net.deliver(d, &u);
    assert_eq!(
        net.auths(&gid, &[b])[0],
        net.auths(&gid, &[d])[0],
        "bob and dave decided the race differently"
    );
    net.inject(u);
    net.commit(a, removal);
    net.commit(c, update);
    net.sync_all();
    net.assert_converged(&gid, &[a, b, d]);
    // carol applied her own update first, then learned she lost to her removal.
    assert!(!net.members[c].client.group(&gid).unwrap().active);
    for m in [a, b, d] {
        assert!(
            net.members[m]
                .client
                .members(&gid)
                .unwrap()
                .iter()
                .all(|x| x.pubkey != carol)
        );
    }
}

#[test]
fn a_straggling_commit_wins_for_everyone_including_a_member_who_syncs_later() {
    // bob rotates while offline; alice rotates 20 minutes later and everyone online applies
    // it; then bob's commit reaches the relay. dave was offline throughout and reads both.
    let mut net = Net::new(32);
    let a = net.add("alice");
    let b = net.add("bob");
    let c = net.add("carol");
    let d = net.add("dave");
    let gid = net.group(a, &[b, c, d]);
    net.now += 60;
    let t = net.now;
    let late = net.members[b].client.rotate(&gid, t, &mut net.rng).unwrap();
    net.now += 1_200;
    let p = net.members[a]
        .client
        .rotate(&gid, net.now, &mut net.rng)
        .unwrap();
    net.commit(a, p);
    net.sync(c);
    net.inject(late.outgoing.event.clone());
    // dave reads the log now: alice's commit first, then bob's earlier one.
    net.sync(d);
    net.commit(b, late);
    net.sync_all();
    net.assert_converged(&gid, &[a, b, c, d]);
    net.say(d, &gid, "after the race");
    net.sync_all();
    for m in [a, b, c] {
        assert!(net.texts(m).contains(&"after the race".to_owned()));
    }
}
