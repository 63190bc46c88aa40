//! Leaving a Marmot group by SelfRemove (MLS extensions draft, MIP-03) between nipee
//! clients: Marmot KeyPackages list it, groups whose first members all list it require it,
//! a non-admin leaves with it and any member commits the departure, an admin must step
//! down first, and a non-admin cannot turn it into the removal of anyone else. (With MDK:
//! the `nipee-mdk-interop` tests.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use nipee::inner::chat_message;
use nipee::storage::MemoryStorage;
use nipee::{
    Client, ClientConfig, Error, GroupDataUpdate, GroupId, NewGroup, Outcome, PolicyViolation,
    Profile, RelayAnswer,
};
use nipee_keypackage::{ExtensionType, ProposalType};
use nipee_mls::group::RequiredCapabilities;
use nipee_mls::{MlsMessageIn, Proposal, WireFormat};
use nipee_nostr::{Event, Timestamp};

const NOW: u64 = 1_800_000_000;
const RELAY: &str = "wss://relay.example";

type C = Client<MemoryStorage>;

fn client(profile: Profile) -> C {
    let mut config = ClientConfig::with_relays([RELAY]);
    config.profile = profile;
    Client::new(
        nipee_nostr::Keys::generate(&mut rand::rng()),
        MemoryStorage::new(),
        config,
    )
    .unwrap()
}

fn ack(c: &mut C, e: &Event) -> Vec<Event> {
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

fn kp(c: &mut C) -> Event {
    c.create_key_package(false, NOW, &mut rand::rng())
        .unwrap()
        .event
}

/// Alice (admin) creates a group of `profile` with `n` other members; returns everyone
/// (alice first) and the group.
fn group(profile: Profile, n: usize) -> (Vec<C>, GroupId) {
    let mut rng = rand::rng();
    let mut alice = client(profile);
    let mut others: Vec<C> = (0..n).map(|_| client(profile)).collect();
    let kps: Vec<Event> = others.iter_mut().map(kp).collect();
    let (gid, created) = alice
        .create_group(NewGroup::new("g", kps), NOW, &mut rng)
        .unwrap();
    for (c, w) in others.iter_mut().zip(&created.publish) {
        let effects = c.process(&w.event, NOW, &mut rng).unwrap();
        assert!(matches!(effects.outcome(), Outcome::Joined { .. }));
    }
    others.insert(0, alice);
    (others, gid)
}

fn required(c: &C, gid: &GroupId) -> RequiredCapabilities {
    let ext = c
        .mls_group(gid)
        .unwrap()
        .extensions()
        .iter()
        .find(|e| e.extension_type == ExtensionType::REQUIRED_CAPABILITIES)
        .unwrap()
        .data
        .clone();
    RequiredCapabilities::from_bytes(&ext).unwrap()
}

fn say(from: &mut C, gid: &GroupId, text: &str) -> Event {
    let m = chat_message(from.public_key(), text, Timestamp::from_secs(NOW));
    from.send(gid, &m, NOW, &mut rand::rng()).unwrap().event
}

/// The MLS message inside a group event, opened with `c`'s current key.
fn mls_of(c: &C, gid: &GroupId, e: &Event) -> MlsMessageIn {
    let key = c
        .profile(gid)
        .unwrap()
        .group_event_key(c.mls_group(gid).unwrap());
    MlsMessageIn::parse(&key.unwrap().decrypt(e.content()).unwrap()).unwrap()
}

#[test]
fn a_marmot_member_leaves_by_self_remove_and_a_non_admin_commits_it() {
    let mut rng = rand::rng();
    let (mut c, gid) = group(Profile::Marmot, 3);
    assert_eq!(
        required(&c[0], &gid).proposal_types,
        vec![ProposalType::SELF_REMOVE]
    );
    // c[1] leaves: a SelfRemove, as a PublicMessage.
    let leave = c[1].leave(&gid, NOW, &mut rng).unwrap().event;
    let msg = mls_of(&c[0], &gid, &leave);
    assert_eq!(msg.wire_format(), WireFormat::PublicMessage);
    for i in [0, 2, 3] {
        match c[i].process(&leave, NOW, &mut rng).unwrap().outcome() {
            Outcome::Proposal { leave_request, .. } => assert!(leave_request),
            other => panic!("expected a proposal, got {other:?}"),
        }
    }
    assert!(
        c[2].mls_group(&gid)
            .unwrap()
            .pending_proposals()
            .iter()
            .any(|(_, p)| *p == Proposal::SelfRemove)
    );
    // c[2], not an admin, commits it; everyone else applies it.
    let commit = c[2]
        .commit_pending_proposals(&gid, NOW, &mut rng)
        .unwrap()
        .outgoing
        .event;
    ack(&mut c[2], &commit);
    for i in [0, 3] {
        assert!(matches!(
            c[i].process(&commit, NOW, &mut rng).unwrap().outcome(),
            Outcome::Commit(_)
        ));
    }
    assert!(matches!(
        c[1].process(&commit, NOW, &mut rng).unwrap().outcome(),
        Outcome::Removed { .. }
    ));
    for i in [0, 3] {
        assert_eq!(c[i].epoch(&gid).unwrap(), c[2].epoch(&gid).unwrap());
        assert_eq!(
            *c[i].exporter_secret(&gid).unwrap(),
            *c[2].exporter_secret(&gid).unwrap()
        );
        assert_eq!(c[i].mls_group(&gid).unwrap().members().len(), 3);
    }
    // The leaver reads nothing after; the others do.
    let after = say(&mut c[0], &gid, "bye");
    assert!(!matches!(
        c[1].process(&after, NOW, &mut rng).unwrap().outcome(),
        Outcome::Message { .. }
    ));
    assert!(matches!(
        c[3].process(&after, NOW, &mut rng).unwrap().outcome(),
        Outcome::Message { .. }
    ));
}

#[test]
fn a_non_admin_with_nothing_to_commit_but_self_removes_is_told_so() {
    let mut rng = rand::rng();
    let (mut c, gid) = group(Profile::Marmot, 2);
    assert!(matches!(
        c[1].commit_pending_proposals(&gid, NOW, &mut rng),
        Err(Error::Misuse { .. })
    ));
    // Its own SelfRemove is not one it may commit.
    let _ = c[1].leave(&gid, NOW, &mut rng).unwrap();
    assert!(matches!(
        c[1].commit_pending_proposals(&gid, NOW, &mut rng),
        Err(Error::Misuse { .. })
    ));
    // A second leave in the same epoch is refused.
    assert!(c[1].leave(&gid, NOW, &mut rng).is_err());
}

#[test]
fn an_admin_steps_down_before_leaving_a_marmot_group() {
    let mut rng = rand::rng();
    let (mut c, gid) = group(Profile::Marmot, 2);
    match c[0].leave(&gid, NOW, &mut rng) {
        Err(Error::Policy(v)) => assert!(matches!(*v, PolicyViolation::NotAdmin { .. })),
        other => panic!("expected a policy refusal, got {other:?}"),
    }
    // An admin's SelfRemove, sent anyway, is refused by its receivers.
    let forged = c[0]
        .self_remove_unchecked(&gid, NOW, &mut rng)
        .unwrap()
        .event;
    let epoch = c[1].epoch(&gid).unwrap();
    match c[1].process(&forged, NOW, &mut rng) {
        Err(Error::Policy(v)) => assert!(matches!(*v, PolicyViolation::NotAdmin { .. })),
        other => panic!("expected a policy refusal, got {other:?}"),
    }
    assert!(c[1].mls_group(&gid).unwrap().pending_proposals().is_empty());
    assert_eq!(c[1].epoch(&gid).unwrap(), epoch);
    // Alice hands the admin role to c[1] (a commit, which drops her unsent SelfRemove),
    // then leaves.
    let bob = c[1].public_key();
    let step_down = c[0]
        .update_group_data(
            &gid,
            GroupDataUpdate::new().admins(vec![bob]),
            NOW,
            &mut rng,
        )
        .unwrap()
        .outgoing
        .event;
    ack(&mut c[0], &step_down);
    for i in [1, 2] {
        let _ = c[i].process(&step_down, NOW, &mut rng).unwrap();
    }
    let leave = c[0].leave(&gid, NOW, &mut rng).unwrap().event;
    for i in [1, 2] {
        let _ = c[i].process(&leave, NOW, &mut rng).unwrap();
    }
    // c[2] (not an admin) commits her departure.
    let commit = c[2]
        .commit_pending_proposals(&gid, NOW, &mut rng)
        .unwrap()
        .outgoing
        .event;
    ack(&mut c[2], &commit);
    let _ = c[1].process(&commit, NOW, &mut rng).unwrap();
    assert!(matches!(
        c[0].process(&commit, NOW, &mut rng).unwrap().outcome(),
        Outcome::Removed { .. }
    ));
    assert_eq!(c[1].epoch(&gid).unwrap(), c[2].epoch(&gid).unwrap());
    assert_eq!(c[1].mls_group(&gid).unwrap().members().len(), 2);
}

#[test]
fn a_non_admin_cannot_slip_another_removal_into_a_self_remove_commit() {
    let mut rng = rand::rng();
    let (mut c, gid) = group(Profile::Marmot, 3);
    let leave = c[1].leave(&gid, NOW, &mut rng).unwrap().event;
    for i in [0, 2, 3] {
        let _ = c[i].process(&leave, NOW, &mut rng).unwrap();
    }
    // Mallory (c[2], not an admin) commits c[1]'s SelfRemove and, by value, the removal
    // of c[3]: every receiver refuses it and stays where it was.
    let victim = c[3].mls_group(&gid).unwrap().own_leaf().0;
    let bad = c[2]
        .commit_pending_unchecked(
            &gid,
            vec![Proposal::Remove { removed: victim }],
            NOW,
            &mut rng,
        )
        .unwrap()
        .outgoing
        .event;
    let epoch = c[0].epoch(&gid).unwrap();
    for i in [0, 3] {
        match c[i].process(&bad, NOW, &mut rng) {
            Err(Error::Policy(v)) => assert!(matches!(*v, PolicyViolation::NotAdmin { .. })),
            other => panic!("expected a policy refusal, got {other:?}"),
        }
        assert_eq!(c[i].epoch(&gid).unwrap(), epoch);
    }
    // Through the checked path its client commits the SelfRemove alone, which applies.
    let _ = c[2].discard_pending(&gid, NOW, &mut rng).unwrap();
    let good = c[2]
        .commit_pending_proposals(&gid, NOW, &mut rng)
        .unwrap()
        .outgoing
        .event;
    assert!(mls_of(&c[0], &gid, &good).is_commit());
    ack(&mut c[2], &good);
    for i in [0, 3] {
        assert!(matches!(
            c[i].process(&good, NOW, &mut rng).unwrap().outcome(),
            Outcome::Commit(_)
        ));
        assert_eq!(c[i].epoch(&gid).unwrap(), epoch + 1);
        assert_eq!(c[i].mls_group(&gid).unwrap().members().len(), 3);
    }
    assert!(
        c[3].mls_group(&gid)
            .unwrap()
            .member(nipee_mls::LeafIndex(victim))
            .is_some()
    );
}

#[test]
fn nip_ee_groups_keep_the_remove_proposal() {
    let mut rng = rand::rng();
    let (mut c, gid) = group(Profile::NipEe, 2);
    assert!(required(&c[0], &gid).proposal_types.is_empty());
    let leave = c[1].leave(&gid, NOW, &mut rng).unwrap().event;
    let _ = c[0].process(&leave, NOW, &mut rng).unwrap();
    let own = c[1].mls_group(&gid).unwrap().own_leaf().0;
    assert_eq!(
        c[0].mls_group(&gid).unwrap().pending_proposals(),
        vec![(
            nipee_mls::Sender::Member(own),
            Proposal::Remove { removed: own }
        )]
    );
}

#[test]
fn a_marmot_group_that_does_not_require_self_remove_keeps_the_remove_proposal() {
    let mut rng = rand::rng();
    // Created alone: nothing is required, so later members need not list SelfRemove.
    let mut alice = client(Profile::Marmot);
    let mut bob = client(Profile::Marmot);
    let (gid, _) = alice
        .create_group(NewGroup::new("g", vec![]), NOW, &mut rng)
        .unwrap();
    assert!(required(&alice, &gid).proposal_types.is_empty());
    let add = alice
        .invite(&gid, &[kp(&mut bob)], NOW, &mut rng)
        .unwrap()
        .outgoing
        .event;
    let wraps = ack(&mut alice, &add);
    let _ = bob.process(&wraps[0], NOW, &mut rng).unwrap();
    let leave = bob.leave(&gid, NOW, &mut rng).unwrap().event;
    let _ = alice.process(&leave, NOW, &mut rng).unwrap();
    assert!(matches!(
        alice.mls_group(&gid).unwrap().pending_proposals()[..],
        [(_, Proposal::Remove { .. })]
    ));
}
