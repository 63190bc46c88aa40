//! Welcomes as they are sent: each invitee's carries only its own group secrets, and with
//! `ClientConfig::ratchet_tree_out_of_band` the ratchet tree travels once, encrypted, as
//! chunk events that the joiner fetches (nipee's own extension, `nipee::tree_transfer`).
//! In process, both profiles; the same through nostr-rs-relay is in
//! `large_welcome_relay.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use nipee::storage::{MemoryStorage, Table};
use nipee::tree_transfer::{self, KIND_RATCHET_TREE, MAX_WAITING_WELCOMES};
use nipee::{
    Client, ClientConfig, ErrorKind, FetchReport, FetchRequest, IgnoreReason, NewGroup, Outcome,
    Outgoing, Profile, Purpose, RelayAnswer, WelcomeRumor,
};
use nipee_mls::welcome_key_package_refs;
use nipee_nostr::nip44::LengthPrefix;
use nipee_nostr::{Event, Keys, Kind, Timestamp};
use nipee_test_support::mem::{received, say};
use rand::SeedableRng;
use rand::rngs::StdRng;

const RELAY: &str = "wss://relay.test";
const T0: u64 = 1_800_000_000;

fn config(profile: Profile, out_of_band: bool) -> ClientConfig {
    let mut config = ClientConfig::with_relays([RELAY]);
    config.profile = profile;
    config.ratchet_tree_out_of_band = out_of_band;
    config
}

fn client(profile: Profile, out_of_band: bool, rng: &mut StdRng) -> Client<MemoryStorage> {
    Client::new(
        Keys::generate(rng),
        MemoryStorage::new(),
        config(profile, out_of_band),
    )
    .unwrap()
}

fn wraps(publish: &[Outgoing]) -> Vec<Event> {
    publish
        .iter()
        .filter(|o| o.event.kind() == Kind::GIFT_WRAP)
        .map(|o| o.event.clone())
        .collect()
}

fn chunks(publish: &[Outgoing]) -> Vec<Event> {
    publish
        .iter()
        .filter(|o| matches!(o.purpose, Purpose::RatchetTree { .. }))
        .map(|o| o.event.clone())
        .collect()
}

fn joined(effects: &nipee::Effects) -> bool {
    effects
        .outcomes
        .iter()
        .any(|o| matches!(o, Outcome::Joined { .. }))
}

/// The effects are exactly one `Ignored(reason)`.
fn ignored(effects: &nipee::Effects, reason: IgnoreReason) -> bool {
    matches!(effects.outcomes.as_slice(), [Outcome::Ignored(r)] if *r == reason)
}

fn tree_request(effects: &nipee::Effects) -> FetchRequest {
    effects
        .fetch
        .iter()
        .find(|f| matches!(f, FetchRequest::RatchetTree { .. }))
        .cloned()
        .expect("a ratchet-tree read")
}

fn report(events: &[Event]) -> FetchReport {
    FetchReport {
        events: events.to_vec(),
        complete: vec![RELAY.to_owned()],
    }
}

fn waiting(c: &Client<MemoryStorage>) -> usize {
    c.storage()
        .rows()
        .filter(|(t, _, _)| *t == Table::Welcome)
        .count()
}

fn confirm(c: &mut Client<MemoryStorage>, commit: &Event, rng: &mut StdRng) -> nipee::Effects {
    c.published(
        &commit.id(),
        &[RelayAnswer::Accepted {
            relay: RELAY.to_owned(),
        }],
        T0,
        rng,
    )
    .unwrap()
}

#[test]
fn each_invitee_gets_a_welcome_with_only_its_own_group_secrets() {
    for profile in [Profile::NipEe, Profile::Marmot] {
        let mut rng = StdRng::seed_from_u64(11);
        let mut alice = client(profile, false, &mut rng);
        let mut others: Vec<Client<MemoryStorage>> =
            (0..4).map(|_| client(profile, false, &mut rng)).collect();
        let kps: Vec<Event> = others
            .iter_mut()
            .take(3)
            .map(|c| c.create_key_package(false, T0, &mut rng).unwrap().event)
            .collect();
        let (gid, effects) = alice
            .create_group(NewGroup::new("slim", kps), T0, &mut rng)
            .unwrap();
        let ws = wraps(&effects.publish);
        assert_eq!(ws.len(), 3);
        assert!(chunks(&effects.publish).is_empty());
        for (c, w) in others.iter_mut().zip(&ws) {
            let opened = nipee::open_welcome(c.keys(), w)
                .or_else(|_| Profile::open_any_welcome(c.keys(), w).map(|(_, o)| o))
                .unwrap();
            assert_eq!(
                welcome_key_package_refs(&opened.rumor.mls_message)
                    .unwrap()
                    .len(),
                1,
                "{profile:?}: one entry per Welcome"
            );
            assert!(opened.rumor.ratchet_tree.is_none());
            assert!(joined(&c.process(w, T0, &mut rng).unwrap()), "{profile:?}");
        }
        // An invite (confirmed commit) sends the same slim Welcome.
        let kp = others[3]
            .create_key_package(false, T0, &mut rng)
            .unwrap()
            .event;
        let pending = alice.invite(&gid, &[kp], T0, &mut rng).unwrap();
        let confirmed = confirm(&mut alice, &pending.outgoing.event, &mut rng);
        let w = wraps(&confirmed.publish).pop().unwrap();
        let (_, opened) = Profile::open_any_welcome(others[3].keys(), &w).unwrap();
        assert_eq!(
            welcome_key_package_refs(&opened.rumor.mls_message)
                .unwrap()
                .len(),
            1
        );
        assert!(joined(&others[3].process(&w, T0, &mut rng).unwrap()));
        let auth = alice.epoch_authenticator(&gid).unwrap();
        assert_eq!(others[3].epoch_authenticator(&gid).unwrap(), auth);
    }
}

#[test]
fn a_ratchet_tree_sent_out_of_band_is_fetched_and_the_group_joined_in_both_profiles() {
    for profile in [Profile::NipEe, Profile::Marmot] {
        let mut rng = StdRng::seed_from_u64(12);
        let mut alice = client(profile, true, &mut rng);
        let mut bob = client(profile, false, &mut rng);
        let mut carol = client(profile, false, &mut rng);
        let kps = vec![
            bob.create_key_package(false, T0, &mut rng).unwrap().event,
            carol.create_key_package(false, T0, &mut rng).unwrap().event,
        ];
        let (gid, effects) = alice
            .create_group(NewGroup::new("oob", kps), T0, &mut rng)
            .unwrap();
        // The tree's chunks come first, to the group's relays, then the wraps.
        assert!(matches!(
            effects.publish[0].purpose,
            Purpose::RatchetTree { .. }
        ));
        let tree = chunks(&effects.publish);
        assert!(!tree.is_empty());
        for c in &tree {
            assert_eq!(c.kind(), KIND_RATCHET_TREE);
            c.verify().unwrap();
        }
        let ws = wraps(&effects.publish);

        // Bob: the Welcome waits; the read brings the chunks; he joins.
        let first = bob.process(&ws[0], T0, &mut rng).unwrap();
        assert!(ignored(&first, IgnoreReason::AwaitingRatchetTree));
        assert!(bob.groups().is_empty());
        assert_eq!(waiting(&bob), 1);
        let req = tree_request(&first);
        assert_eq!(req.relays(), [RELAY.to_owned()]);
        let done = bob.fetched(&req, &report(&tree), T0, &mut rng).unwrap();
        assert!(joined(&done), "{profile:?}");
        assert_eq!(waiting(&bob), 0);
        assert_eq!(
            bob.epoch_authenticator(&gid).unwrap(),
            alice.epoch_authenticator(&gid).unwrap()
        );
        // The same wrap again is a duplicate.
        assert!(ignored(
            &bob.process(&ws[0], T0, &mut rng).unwrap(),
            IgnoreReason::Duplicate
        ));

        // Carol: a read missing a chunk leaves her waiting, across a restart; `poll` asks
        // again.
        let first = carol.process(&ws[1], T0, &mut rng).unwrap();
        let req = tree_request(&first);
        let partial = carol
            .fetched(&req, &report(&tree[1..]), T0, &mut rng)
            .unwrap();
        if tree.len() > 1 {
            assert!(!joined(&partial));
        }
        let storage = carol.into_storage();
        let mut carol = Client::open(storage, config(profile, false)).unwrap();
        let polled = carol.poll(T0 + 60, &mut rng).unwrap();
        let again = tree_request(&polled);
        assert_eq!(again, req);
        let done = carol.fetched(&again, &report(&tree), T0, &mut rng).unwrap();
        assert!(joined(&done));
        assert!(tree_request_absent(
            &carol.poll(T0 + 120, &mut rng).unwrap()
        ));

        let hi = say(&mut carol, &gid, "joined out of band", &mut rng);
        assert_eq!(received(&mut alice, &hi, &mut rng), ["joined out of band"]);
        assert_eq!(received(&mut bob, &hi, &mut rng), ["joined out of band"]);
    }
}

fn tree_request_absent(effects: &nipee::Effects) -> bool {
    !effects
        .fetch
        .iter()
        .any(|f| matches!(f, FetchRequest::RatchetTree { .. }))
}

#[test]
fn an_invite_sends_the_tree_out_of_band_once_the_commit_is_confirmed() {
    let mut rng = StdRng::seed_from_u64(13);
    let mut alice = client(Profile::NipEe, true, &mut rng);
    let mut bob = client(Profile::NipEe, false, &mut rng);
    let mut carol = client(Profile::NipEe, false, &mut rng);
    let kp = bob.create_key_package(false, T0, &mut rng).unwrap().event;
    let (gid, effects) = alice
        .create_group(NewGroup::new("oob", vec![kp]), T0, &mut rng)
        .unwrap();
    let req = tree_request(
        &bob.process(&wraps(&effects.publish)[0], T0, &mut rng)
            .unwrap(),
    );
    assert!(joined(
        &bob.fetched(&req, &report(&chunks(&effects.publish)), T0, &mut rng)
            .unwrap()
    ));

    let kp = carol.create_key_package(false, T0, &mut rng).unwrap().event;
    let pending = alice.invite(&gid, &[kp], T0, &mut rng).unwrap();
    // Persisted with the pending commit: a restart before the relay's answer keeps it.
    let storage = alice.into_storage();
    let mut alice = Client::open(storage, config(Profile::NipEe, true)).unwrap();
    let confirmed = confirm(&mut alice, &pending.outgoing.event, &mut rng);
    let tree = chunks(&confirmed.publish);
    assert!(!tree.is_empty());
    let _ = bob.process(&pending.outgoing.event, T0, &mut rng).unwrap();
    let first = carol
        .process(&wraps(&confirmed.publish)[0], T0, &mut rng)
        .unwrap();
    assert!(joined(
        &carol
            .fetched(&tree_request(&first), &report(&tree), T0, &mut rng)
            .unwrap()
    ));
    let auth = alice.epoch_authenticator(&gid).unwrap();
    assert_eq!(bob.epoch_authenticator(&gid).unwrap(), auth);
    assert_eq!(carol.epoch_authenticator(&gid).unwrap(), auth);
}

/// A committer that points its Welcome at the tree of another group (or a tree it
/// altered) cannot get anyone into a group whose tree hash the tree does not match: MLS
/// refuses it, nothing is stored, and the Welcome is not tried again.
#[test]
fn a_welcome_pointing_at_another_groups_tree_is_refused() {
    let mut rng = StdRng::seed_from_u64(14);
    let mut alice = client(Profile::NipEe, true, &mut rng);
    let mut bob = client(Profile::NipEe, false, &mut rng);
    let kp1 = bob.create_key_package(false, T0, &mut rng).unwrap().event;
    let kp2 = bob.create_key_package(false, T0, &mut rng).unwrap().event;
    let (_, one) = alice
        .create_group(NewGroup::new("one", vec![kp1]), T0, &mut rng)
        .unwrap();
    let (_, two) = alice
        .create_group(NewGroup::new("two", vec![kp2]), T0, &mut rng)
        .unwrap();
    let (_, opened_one) = Profile::open_any_welcome(bob.keys(), &wraps(&one.publish)[0]).unwrap();
    let (_, opened_two) = Profile::open_any_welcome(bob.keys(), &wraps(&two.publish)[0]).unwrap();
    let forged = WelcomeRumor {
        ratchet_tree: opened_two.rumor.ratchet_tree.clone(),
        ..opened_one.rumor.clone()
    };
    let wrap = Profile::NipEe
        .wrap_welcome(
            &forged,
            None,
            alice.keys(),
            &bob.public_key(),
            Timestamp::from_secs(T0),
            LengthPrefix::Extended,
            &mut rng,
        )
        .unwrap();
    let req = tree_request(&bob.process(&wrap, T0, &mut rng).unwrap());
    let err = bob
        .fetched(&req, &report(&chunks(&two.publish)), T0, &mut rng)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Invalid, "{err}");
    assert!(bob.groups().is_empty());
    assert_eq!(waiting(&bob), 0);
    assert!(ignored(
        &bob.process(&wrap, T0, &mut rng).unwrap(),
        IgnoreReason::Duplicate
    ));
    // The genuine Welcome of group one still works.
    let w1 = &wraps(&one.publish)[0];
    let req = tree_request(&bob.process(w1, T0, &mut rng).unwrap());
    assert!(joined(
        &bob.fetched(&req, &report(&chunks(&one.publish)), T0, &mut rng)
            .unwrap()
    ));
}

/// Anyone can gift-wrap a "Welcome" naming one of our published KeyPackages and a tree
/// that never comes: what such a stranger makes us keep is bounded.
#[test]
fn welcomes_waiting_for_a_tree_are_bounded() {
    let mut rng = StdRng::seed_from_u64(15);
    let mut alice = client(Profile::NipEe, true, &mut rng);
    let mut bob = client(Profile::NipEe, false, &mut rng);
    let kp = bob.create_key_package(false, T0, &mut rng).unwrap().event;
    let (_, effects) = alice
        .create_group(NewGroup::new("g", vec![kp]), T0, &mut rng)
        .unwrap();
    let (_, genuine) = Profile::open_any_welcome(bob.keys(), &wraps(&effects.publish)[0]).unwrap();
    let stranger = Keys::generate(&mut rng);
    for i in 0..MAX_WAITING_WELCOMES + 6 {
        let never = tree_transfer::seal(&[i as u8; 100], Timestamp::from_secs(T0), &mut rng)
            .unwrap()
            .reference;
        let rumor = WelcomeRumor {
            ratchet_tree: Some(never),
            ..genuine.rumor.clone()
        };
        let wrap = Profile::NipEe
            .wrap_welcome(
                &rumor,
                None,
                &stranger,
                &bob.public_key(),
                Timestamp::from_secs(T0),
                LengthPrefix::Extended,
                &mut rng,
            )
            .unwrap();
        let e = bob.process(&wrap, T0 + i as u64, &mut rng).unwrap();
        assert!(ignored(&e, IgnoreReason::AwaitingRatchetTree));
    }
    assert_eq!(waiting(&bob), MAX_WAITING_WELCOMES);
    // They expire with the processed-mark retention.
    let later = T0 + bob.config().processed_retention_secs + 1_000;
    let polled = bob.poll(later, &mut rng).unwrap();
    assert!(tree_request_absent(&polled));
    assert_eq!(waiting(&bob), 0);
}

fn invite_rows(c: &Client<MemoryStorage>) -> usize {
    c.storage()
        .rows()
        .filter(|(t, _, _)| *t == Table::Invite)
        .count()
}

/// Welcomes go out a batch at a time: the report on a batch's last wrap (whatever the
/// relay said) hands out the next one, `poll` resumes after a crash, and memory and the
/// outbox never hold more than a batch.
#[test]
fn welcomes_are_handed_out_a_batch_at_a_time_and_resume_after_a_restart() {
    for out_of_band in [false, true] {
        let mut rng = StdRng::seed_from_u64(16);
        let mut cfg = config(Profile::NipEe, out_of_band);
        cfg.welcome_batch = 3;
        let mut alice =
            Client::new(Keys::generate(&mut rng), MemoryStorage::new(), cfg.clone()).unwrap();
        let mut invitees: Vec<Client<MemoryStorage>> = (0..10)
            .map(|_| client(Profile::NipEe, false, &mut rng))
            .collect();
        let kps: Vec<Event> = invitees
            .iter_mut()
            .map(|c| c.create_key_package(false, T0, &mut rng).unwrap().event)
            .collect();
        let (gid, effects) = alice
            .create_group(NewGroup::new("batches", kps), T0, &mut rng)
            .unwrap();
        let tree = chunks(&effects.publish);
        let mut all_wraps = wraps(&effects.publish);
        assert_eq!(all_wraps.len(), 3);
        assert_eq!(invite_rows(&alice), 2, "a head and a body");
        // A report on a wrap that does not end the batch hands out nothing.
        let first = confirm(&mut alice, &all_wraps[0], &mut rng);
        assert!(wraps(&first.publish).is_empty());
        // The batch's last wrap, even unanswered, hands out the next.
        let next = alice
            .published(
                &all_wraps[2].id(),
                &[RelayAnswer::NoAnswer {
                    relay: RELAY.to_owned(),
                }],
                T0,
                &mut rng,
            )
            .unwrap();
        let batch = wraps(&next.publish);
        assert_eq!(batch.len(), 3);
        all_wraps.extend(batch.iter().cloned());
        // A crash before the host reported anything of this batch: the outbox keeps it;
        // once its last wrap is reported after the restart, the sending goes on.
        let mut alice = Client::open(alice.into_storage(), cfg.clone()).unwrap();
        assert!(wraps(&alice.poll(T0, &mut rng).unwrap().publish).is_empty());
        let outbox = alice.outbox().unwrap();
        assert!(outbox.len() <= 3 + 3 + tree.len(), "{}", outbox.len());
        let mut last = batch.last().unwrap().clone();
        loop {
            let more = wraps(&confirm(&mut alice, &last, &mut rng).publish);
            if more.is_empty() {
                break;
            }
            assert!(more.len() <= 3);
            last = more.last().unwrap().clone();
            all_wraps.extend(more);
        }
        assert_eq!(all_wraps.len(), 10);
        assert_eq!(invite_rows(&alice), 0, "nothing left to hand out");
        for (c, w) in invitees.iter_mut().zip(&all_wraps) {
            let e = c.process(w, T0, &mut rng).unwrap();
            let e = if out_of_band {
                c.fetched(&tree_request(&e), &report(&tree), T0, &mut rng)
                    .unwrap()
            } else {
                e
            };
            assert!(joined(&e), "out of band: {out_of_band}");
            assert_eq!(
                c.epoch_authenticator(&gid).unwrap(),
                alice.epoch_authenticator(&gid).unwrap()
            );
        }
    }
}

/// A crash after the last wrap of a batch was reported accepted (it left the outbox) but
/// before the next batch was written: `poll` hands out the next batch.
#[test]
fn poll_resumes_welcomes_whose_batch_was_reported_before_a_crash() {
    let mut rng = StdRng::seed_from_u64(17);
    let mut cfg = config(Profile::Marmot, false);
    cfg.welcome_batch = 2;
    let mut alice =
        Client::new(Keys::generate(&mut rng), MemoryStorage::new(), cfg.clone()).unwrap();
    let kps: Vec<Event> = (0..5)
        .map(|_| {
            client(Profile::Marmot, false, &mut rng)
                .create_key_package(false, T0, &mut rng)
                .unwrap()
                .event
        })
        .collect();
    let (_, effects) = alice
        .create_group(NewGroup::new("resume", kps), T0, &mut rng)
        .unwrap();
    assert_eq!(wraps(&effects.publish).len(), 2);
    // The host published the batch and the relay took it, but the process died before
    // the report reached the client: simulate by removing the outbox rows only.
    let mut storage = alice.into_storage();
    let mut b = nipee::storage::WriteBatch::new();
    for o in &effects.publish {
        b.delete(Table::Outbox, o.event.id().as_bytes().to_vec());
    }
    nipee::Storage::apply(&mut storage, b).unwrap();
    let mut alice = Client::open(storage, cfg).unwrap();
    let resumed = alice.poll(T0, &mut rng).unwrap();
    assert_eq!(wraps(&resumed.publish).len(), 2);
    // And a later poll with that batch still in the outbox hands out nothing more.
    assert!(wraps(&alice.poll(T0, &mut rng).unwrap().publish).is_empty());
}
