//! Classic-only NIP-44 mode (`ClientConfig::classic_nip44`): what we send opens with a
//! decoder that knows only the 2-byte length prefix (nostr-mls, rust-nostr 0.43), and what
//! does not fit fails with `Error::ClassicNip44TooLarge` before any state changes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use nipee::storage::{MemoryStorage, Table};
use nipee::{
    Client, ClientConfig, Error, ErrorKind, GroupEventKey, GroupId, NewGroup, Outcome, Profile,
    RelayAnswer,
};
use nipee_nostr::nip44::{self, ConversationKey};
use nipee_nostr::{Event, Keys, Kind};
use nipee_test_support::mem::{received, say};
use rand::SeedableRng;
use rand::rngs::StdRng;

const RELAY: &str = "wss://relay.test";
const T0: u64 = 1_800_000_000;

fn client(profile: Profile, classic: bool, rng: &mut StdRng) -> Client<MemoryStorage> {
    let mut config = ClientConfig::with_relays([RELAY]);
    config.profile = profile;
    config.classic_nip44 = classic;
    Client::new(Keys::generate(rng), MemoryStorage::new(), config).unwrap()
}

/// `n` KeyPackage events of throwaway clients (who never join).
fn key_packages(profile: Profile, n: usize, rng: &mut StdRng) -> Vec<Event> {
    (0..n)
        .map(|_| {
            let mut c = client(profile, false, rng);
            c.create_key_package(false, T0, rng).unwrap().event
        })
        .collect()
}

type Rows = Vec<(Table, Vec<u8>, Vec<u8>)>;

fn rows(c: &Client<MemoryStorage>) -> Rows {
    c.storage()
        .rows()
        .map(|(t, k, v)| (t, k.to_vec(), v.to_vec()))
        .collect()
}

/// Opens both layers of a gift wrap to `receiver` with the classic-only decoder.
fn open_classic(wrap: &Event, receiver: &Keys, sender: &Keys) -> Vec<u8> {
    let ck = ConversationKey::derive(receiver.secret_key(), &wrap.pubkey());
    let seal = nip44::decrypt_classic(&ck, wrap.content()).expect("wrap layer is classic");
    let seal = Event::from_json(core::str::from_utf8(&seal).unwrap()).unwrap();
    let ck = ConversationKey::derive(receiver.secret_key(), &sender.public_key());
    nip44::decrypt_classic(&ck, seal.content()).expect("seal layer is classic")
}

fn wraps(publish: &[nipee::Outgoing]) -> Vec<Event> {
    publish
        .iter()
        .filter(|o| o.event.kind() == Kind::GIFT_WRAP)
        .map(|o| o.event.clone())
        .collect()
}

fn joined(c: &mut Client<MemoryStorage>, wrap: &Event, rng: &mut StdRng) -> bool {
    c.process(wrap, T0, rng)
        .unwrap()
        .outcomes
        .iter()
        .any(|o| matches!(o, Outcome::Joined { .. }))
}

/// The group's kind-445 content must open with the classic decoder (NIP-EE profile; the
/// Marmot profile's content is ChaCha20-Poly1305, not NIP-44).
fn assert_classic_445(c: &Client<MemoryStorage>, gid: &GroupId, ev: &Event) {
    if c.profile(gid).unwrap() == Profile::NipEe {
        let key = GroupEventKey::from_exporter_secret(&c.exporter_secret(gid).unwrap()).unwrap();
        nip44::decrypt_classic(key.conversation_key(), ev.content())
            .expect("kind-445 content is classic");
    }
}

#[test]
fn a_small_group_works_end_to_end_in_classic_mode_in_both_profiles() {
    for profile in [Profile::NipEe, Profile::Marmot] {
        let mut rng = StdRng::seed_from_u64(7);
        let mut alice = client(profile, true, &mut rng);
        let mut bob = client(profile, true, &mut rng);
        let mut carol = client(profile, true, &mut rng);
        let kp = bob.create_key_package(false, T0, &mut rng).unwrap().event;
        let (gid, effects) = alice
            .create_group(NewGroup::new("classic", vec![kp]), T0, &mut rng)
            .unwrap();
        let wrap = wraps(&effects.publish).pop().unwrap();
        open_classic(&wrap, bob.keys(), alice.keys());
        assert!(joined(&mut bob, &wrap, &mut rng), "{profile:?}");

        let hello = say(&mut alice, &gid, "hello in classic", &mut rng);
        assert_classic_445(&alice, &gid, &hello);
        assert_eq!(received(&mut bob, &hello, &mut rng), ["hello in classic"]);
        let back = say(&mut bob, &gid, "and back", &mut rng);
        assert_eq!(received(&mut alice, &back, &mut rng), ["and back"]);

        // An invite: the commit and, once confirmed, the Welcome are classic too.
        let kp = carol.create_key_package(false, T0, &mut rng).unwrap().event;
        let pending = alice.invite(&gid, &[kp], T0, &mut rng).unwrap();
        let commit = pending.outgoing.event.clone();
        assert_classic_445(&alice, &gid, &commit);
        let confirmed = alice
            .published(
                &commit.id(),
                &[RelayAnswer::Accepted {
                    relay: RELAY.to_owned(),
                }],
                T0,
                &mut rng,
            )
            .unwrap();
        let wrap = wraps(&confirmed.publish).pop().unwrap();
        open_classic(&wrap, carol.keys(), alice.keys());
        let _ = bob.process(&commit, T0, &mut rng).unwrap();
        assert!(joined(&mut carol, &wrap, &mut rng), "{profile:?}");
        let third = say(&mut carol, &gid, "three of us", &mut rng);
        assert_eq!(received(&mut alice, &third, &mut rng), ["three of us"]);
        assert_eq!(received(&mut bob, &third, &mut rng), ["three of us"]);
    }
}

fn assert_too_large(e: &Error) {
    match e {
        Error::ClassicNip44TooLarge { size, limit, .. } => {
            assert_eq!(*limit, 65_535);
            assert!(*size > 65_535, "{e}");
        }
        other => panic!("expected ClassicNip44TooLarge, got {other}"),
    }
    assert_eq!(e.kind(), ErrorKind::Misuse);
    assert!(e.to_string().contains("65535"), "{e}");
}

#[test]
fn a_welcome_too_large_for_classic_peers_fails_before_any_state_change() {
    for profile in [Profile::NipEe, Profile::Marmot] {
        let mut rng = StdRng::seed_from_u64(8);
        // 300 members: a Welcome of about 100 KB in either profile.
        let many = key_packages(profile, 300, &mut rng);
        let mut alice = client(profile, true, &mut rng);
        let before = rows(&alice);
        let e = alice
            .create_group(NewGroup::new("big", many.clone()), T0, &mut rng)
            .unwrap_err();
        assert_too_large(&e);
        assert_eq!(rows(&alice), before, "{profile:?}: create_group wrote");
        assert!(alice.groups().is_empty());

        // Inviting them into a small group fails the same way, before the commit is
        // staged: no pending commit, same epoch, the group still works.
        let mut bob = client(profile, true, &mut rng);
        let kp = bob.create_key_package(false, T0, &mut rng).unwrap().event;
        let (gid, effects) = alice
            .create_group(NewGroup::new("small", vec![kp]), T0, &mut rng)
            .unwrap();
        assert!(joined(&mut bob, &wraps(&effects.publish)[0], &mut rng));
        let before = rows(&alice);
        let e = alice.invite(&gid, &many, T0, &mut rng).unwrap_err();
        assert_too_large(&e);
        assert_eq!(rows(&alice), before, "{profile:?}: invite wrote");
        assert_eq!(alice.epoch(&gid).unwrap(), 1);
        let after = say(&mut alice, &gid, "still here", &mut rng);
        assert_eq!(received(&mut bob, &after, &mut rng), ["still here"]);

        // The default mode sends the same Welcome with the extended prefix, and it joins.
        let mut dave = client(profile, false, &mut rng);
        let mut erin = client(profile, false, &mut rng);
        let mut all = many;
        all.push(erin.create_key_package(false, T0, &mut rng).unwrap().event);
        let (_, effects) = dave
            .create_group_welcoming_only(
                NewGroup::new("big", all),
                &[erin.public_key()],
                T0,
                &mut rng,
            )
            .expect("default mode carries large Welcomes");
        let wrap = wraps(&effects.publish).pop().unwrap();
        assert!(wrap.content().len() > 100_000);
        let ck = ConversationKey::derive(erin.keys().secret_key(), &wrap.pubkey());
        assert!(nip44::decrypt_classic(&ck, wrap.content()).is_err());
        assert!(joined(&mut erin, &wrap, &mut rng), "{profile:?}");
    }
}

/// Whether a group of `members` (us included) can be created in classic mode: its
/// Welcome's seal fits a classic gift wrap.
fn classic_group_fits(profile: Profile, members: usize, seed: u64) -> bool {
    let mut rng = StdRng::seed_from_u64(seed);
    let kps = key_packages(profile, members - 1, &mut rng);
    let mut alice = client(profile, true, &mut rng);
    match alice.create_group(NewGroup::new("probe", kps), T0, &mut rng) {
        Ok(_) => true,
        Err(e) => {
            assert_too_large(&e);
            false
        }
    }
}

/// Measures the largest group a classic-only peer can be welcomed into, per profile (the
/// figure docs/NIP-EE.md states). Run with
/// `cargo test -p nipee-test-support --test classic_nip44 -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement: prints the largest group whose Welcome fits classic NIP-44"]
fn measure_the_largest_group_a_classic_peer_can_join() {
    for profile in [Profile::NipEe, Profile::Marmot] {
        let (mut lo, mut hi) = (2usize, 400usize);
        assert!(classic_group_fits(profile, lo, 1));
        assert!(!classic_group_fits(profile, hi, 1));
        while hi - lo > 1 {
            let mid = (lo + hi) / 2;
            if classic_group_fits(profile, mid, 1) {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        println!("{profile:?}: largest group for classic-only peers: {lo} members ({hi} fail)");
    }
}
