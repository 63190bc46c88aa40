//! The `marmot` profile between nipee clients: a group's life in the Marmot formats, one
//! client holding groups of both profiles, and the rules MDK enforces that a Marmot group
//! applies on top of the admin rules. (Interop with MDK itself: the `nipee-mdk-interop`
//! tests.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use nipee::inner::chat_message;
use nipee::marmot;
use nipee::storage::MemoryStorage;
use nipee::{
    Client, ClientConfig, Error, GroupId, NewGroup, Outcome, PolicyViolation, Profile, RelayAnswer,
};
use nipee_nostr::{Event, EventBuilder, Keys, Tag, Timestamp};

const NOW: u64 = 1_800_000_000;
const RELAY: &str = "wss://relay.example";

fn client(profile: Profile) -> Client<MemoryStorage> {
    let mut config = ClientConfig::with_relays([RELAY]);
    config.profile = profile;
    Client::new(
        Keys::generate(&mut rand::rng()),
        MemoryStorage::new(),
        config,
    )
    .unwrap()
}

fn ack(c: &mut Client<MemoryStorage>, e: &Event) -> Vec<Event> {
    let answers = [RelayAnswer::Accepted {
        relay: RELAY.to_owned(),
    }];
    c.published(&e.id(), &answers, NOW, &mut rand::rng())
        .unwrap()
        .publish
        .into_iter()
        .map(|o| o.event)
        .collect()
}

fn join(c: &mut Client<MemoryStorage>, wrap: &Event) -> GroupId {
    let effects = c.process(wrap, NOW, &mut rand::rng()).unwrap();
    match effects.outcome() {
        Outcome::Joined { group_id, .. } => group_id,
        other => panic!("expected a join, got {other:?}"),
    }
}

fn say(from: &mut Client<MemoryStorage>, gid: &GroupId, text: &str) -> Event {
    let m = chat_message(from.public_key(), text, Timestamp::from_secs(NOW));
    from.send(gid, &m, NOW, &mut rand::rng()).unwrap().event
}

fn hears(to: &mut Client<MemoryStorage>, e: &Event) -> String {
    match to.process(e, NOW, &mut rand::rng()).unwrap().outcome() {
        Outcome::Message { event, .. } => event.content,
        other => panic!("expected a message, got {other:?}"),
    }
}

#[test]
fn a_marmot_group_lives_in_the_marmot_formats() {
    let mut rng = rand::rng();
    let mut alice = client(Profile::Marmot);
    let mut bob = client(Profile::Marmot);
    let mut carol = client(Profile::Marmot);
    let kp = bob.create_key_package(false, NOW, &mut rng).unwrap().event;
    assert_eq!(kp.tags().first_value("encoding"), Some("base64"));
    let (gid, created) = alice
        .create_group(NewGroup::new("friends", vec![kp]), NOW, &mut rng)
        .unwrap();
    let bob_gid = join(&mut bob, &created.publish[0].event);
    assert_eq!(bob_gid, gid);
    assert_eq!(bob.profile(&gid).unwrap(), Profile::Marmot);

    // The group data is the versioned layout; identities are raw keys.
    let ext = alice
        .mls_group(&gid)
        .unwrap()
        .extensions()
        .iter()
        .find(|e| e.extension_type.0 == 0xf2ee)
        .unwrap()
        .data
        .clone();
    assert_eq!(&ext[..2], &[0, 2]);
    assert_eq!(marmot::group_data::decode(&ext).unwrap().name, "friends");
    for m in alice.mls_group(&gid).unwrap().members() {
        assert_eq!(m.credential.identity().unwrap().len(), 32);
    }

    // Messages: base64 content, exactly h and encoding tags.
    let hello = say(&mut alice, &gid, "hello bob");
    let names: Vec<_> = hello.tags().iter().filter_map(|t| t.name()).collect();
    assert_eq!(names, ["h", "encoding"]);
    assert_eq!(hears(&mut bob, &hello), "hello bob");
    assert_eq!(hears(&mut alice, &say(&mut bob, &gid, "hi")), "hi");

    // Bob (not an admin) rotates with a path-only commit; alice applies it.
    let rotation = bob.rotate(&gid, NOW, &mut rng).unwrap().outgoing.event;
    ack(&mut bob, &rotation);
    assert!(matches!(
        alice.process(&rotation, NOW, &mut rng).unwrap().outcome(),
        Outcome::Commit(_)
    ));

    // Alice adds carol, then removes bob.
    let kp = carol
        .create_key_package(false, NOW, &mut rng)
        .unwrap()
        .event;
    let add = alice
        .invite(&gid, &[kp], NOW, &mut rng)
        .unwrap()
        .outgoing
        .event;
    let wraps = ack(&mut alice, &add);
    let _ = bob.process(&add, NOW, &mut rng).unwrap();
    join(&mut carol, &wraps[0]);
    let remove = alice
        .remove(&gid, &[bob.public_key()], NOW, &mut rng)
        .unwrap()
        .outgoing
        .event;
    ack(&mut alice, &remove);
    let _ = carol.process(&remove, NOW, &mut rng).unwrap();
    assert!(matches!(
        bob.process(&remove, NOW, &mut rng).unwrap().outcome(),
        Outcome::Removed { .. }
    ));
    assert_eq!(alice.epoch(&gid).unwrap(), carol.epoch(&gid).unwrap());
    assert_eq!(
        *alice.exporter_secret(&gid).unwrap(),
        *carol.exporter_secret(&gid).unwrap()
    );
    assert_eq!(
        hears(&mut carol, &say(&mut alice, &gid, "bye bob")),
        "bye bob"
    );
}

#[test]
fn one_client_holds_groups_of_both_profiles() {
    let mut rng = rand::rng();
    let mut alice = client(Profile::NipEe);
    let mut bob_nip_ee = client(Profile::NipEe);
    let mut bob_marmot = client(Profile::Marmot);
    // Alice makes a nip-ee group, then switches her new groups to Marmot.
    let kp = bob_nip_ee
        .create_key_package(false, NOW, &mut rng)
        .unwrap()
        .event;
    let (old, w) = alice
        .create_group(NewGroup::new("old", vec![kp]), NOW, &mut rng)
        .unwrap();
    join(&mut bob_nip_ee, &w.publish[0].event);
    let storage = alice.into_storage();
    let mut config = ClientConfig::with_relays([RELAY]);
    config.profile = Profile::Marmot;
    let mut alice = Client::open(storage, config).unwrap();
    let kp = bob_marmot
        .create_key_package(false, NOW, &mut rng)
        .unwrap()
        .event;
    let (new, w) = alice
        .create_group(NewGroup::new("new", vec![kp]), NOW, &mut rng)
        .unwrap();
    join(&mut bob_marmot, &w.publish[0].event);
    assert_eq!(alice.profile(&old).unwrap(), Profile::NipEe);
    assert_eq!(alice.profile(&new).unwrap(), Profile::Marmot);
    // Each group speaks its own format, both ways, and reloads with it.
    let e = say(&mut alice, &old, "to the old group");
    assert!(e.tags().first_value("encoding").is_none());
    assert_eq!(hears(&mut bob_nip_ee, &e), "to the old group");
    assert_eq!(hears(&mut alice, &say(&mut bob_marmot, &new, "m")), "m");
    let mut alice = Client::open(alice.into_storage(), ClientConfig::with_relays([RELAY])).unwrap();
    assert_eq!(alice.profile(&new).unwrap(), Profile::Marmot);
    assert_eq!(hears(&mut alice, &say(&mut bob_nip_ee, &old, "n")), "n");
    assert_eq!(hears(&mut bob_marmot, &say(&mut alice, &new, "o")), "o");
}

#[test]
fn a_group_invites_only_key_packages_of_its_profile() {
    let mut rng = rand::rng();
    let mut alice = client(Profile::Marmot);
    let mut bob = client(Profile::NipEe);
    let kp = bob.create_key_package(false, NOW, &mut rng).unwrap().event;
    assert!(matches!(
        alice.create_group(NewGroup::new("g", vec![kp]), NOW, &mut rng),
        Err(Error::ProfileMismatch {
            expected: "marmot",
            found: "nip-ee"
        })
    ));
}

#[test]
fn a_marmot_event_without_its_encoding_tag_is_refused_and_changes_nothing() {
    let mut rng = rand::rng();
    let mut alice = client(Profile::Marmot);
    let mut bob = client(Profile::Marmot);
    let kp = bob.create_key_package(false, NOW, &mut rng).unwrap().event;
    let (gid, w) = alice
        .create_group(NewGroup::new("g", vec![kp]), NOW, &mut rng)
        .unwrap();
    join(&mut bob, &w.publish[0].event);
    let e = say(&mut alice, &gid, "x");
    let stripped = EventBuilder::new(e.kind(), e.content())
        .tag(Tag::group(&hex::encode(
            alice.group(&gid).unwrap().nostr_group_id.as_bytes(),
        )))
        .sign(&Keys::generate(&mut rng), e.created_at())
        .unwrap();
    assert!(matches!(
        bob.process(&stripped, NOW, &mut rng),
        Err(Error::MissingTag {
            tag: "encoding",
            ..
        })
    ));
    let stale = NOW + 46 * 86_400;
    assert!(matches!(
        bob.process(&e, stale, &mut rng),
        Err(Error::TooOld { .. })
    ));
    // Still readable as sent.
    assert_eq!(hears(&mut bob, &e), "x");
}

#[test]
fn in_a_marmot_group_a_non_admin_commits_only_path_updates() {
    let mut rng = rand::rng();
    let mut alice = client(Profile::Marmot);
    let mut bob = client(Profile::Marmot);
    let kp = bob.create_key_package(false, NOW, &mut rng).unwrap().event;
    // Created alone, the group does not require SelfRemove: members leave by a Remove of
    // their own leaf, which only an admin commits (leaving by SelfRemove:
    // tests/marmot_self_remove.rs).
    let (gid, _) = alice
        .create_group(NewGroup::new("g", vec![]), NOW, &mut rng)
        .unwrap();
    let add = alice
        .invite(&gid, &[kp], NOW, &mut rng)
        .unwrap()
        .outgoing
        .event;
    join(&mut bob, &ack(&mut alice, &add)[0]);
    // Alice asks to leave: bob (not an admin) may not commit her removal here, though the
    // nip-ee rules would let him.
    let leave = alice.leave(&gid, NOW, &mut rng).unwrap().event;
    let _ = bob.process(&leave, NOW, &mut rng).unwrap();
    // His client commits no pending proposal but SelfRemoves for him...
    assert!(matches!(
        bob.commit_pending_proposals(&gid, NOW, &mut rng),
        Err(Error::Misuse { .. })
    ));
    // ...and a commit of her Remove, sent anyway, is refused by the admin rules.
    let forced = bob
        .commit_pending_unchecked(&gid, vec![], NOW, &mut rng)
        .unwrap()
        .outgoing
        .event;
    let before = alice.epoch(&gid).unwrap();
    match alice.process(&forced, NOW, &mut rng) {
        Err(Error::Policy(v)) => assert!(matches!(*v, PolicyViolation::NotAdmin { .. })),
        other => panic!("expected a policy refusal, got {other:?}"),
    }
    assert_eq!(alice.epoch(&gid).unwrap(), before);
}

#[test]
fn a_welcome_is_read_in_its_own_profile_whatever_the_config_says() {
    let mut rng = rand::rng();
    let mut alice = client(Profile::Marmot);
    let mut carol = client(Profile::Marmot);
    let kp = carol
        .create_key_package(false, NOW, &mut rng)
        .unwrap()
        .event;
    // Carol switches her new groups back to nip-ee before the invitation arrives.
    let mut carol = Client::open(carol.into_storage(), ClientConfig::with_relays([RELAY])).unwrap();
    let (gid, w) = alice
        .create_group(NewGroup::new("g", vec![kp]), NOW, &mut rng)
        .unwrap();
    assert_eq!(join(&mut carol, &w.publish[0].event), gid);
    assert_eq!(carol.profile(&gid).unwrap(), Profile::Marmot);
    assert_eq!(
        hears(&mut carol, &say(&mut alice, &gid, "still marmot")),
        "still marmot"
    );
    assert_eq!(hears(&mut alice, &say(&mut carol, &gid, "yes")), "yes");
}
