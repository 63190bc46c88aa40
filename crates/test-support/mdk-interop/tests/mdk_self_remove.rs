//! Leaving by SelfRemove (MLS extensions draft, proposal type 0x000a; MIP-03) between
//! nipee's `marmot` profile and MDK (`mdk-core` 0.8.0), in process. nipee's Marmot
//! KeyPackages list SelfRemove as MDK's do, so a group of both requires it; a non-admin
//! leaves with a SelfRemove proposal and any member commits it: MDK members at once, nipee
//! members through `commit_pending_proposals`. After each departure the remaining members
//! agree on everything and the one who left reads nothing more.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mdk_core::prelude::MessageProcessingResult;
use nipee::Outcome;
use nipee_mdk_interop::{MdkUser, NipeeUser, assert_agree, mdk_gid, now, to_nipee};
use nipee_mls::group::RequiredCapabilities;
use nipee_mls::{MlsMessageIn, WireFormat};

fn requires_self_remove(c: &NipeeUser, gid: &nipee::GroupId) -> bool {
    c.client
        .mls_group(gid)
        .unwrap()
        .extensions()
        .iter()
        .filter(|e| e.extension_type.0 == 0x0003)
        .any(|e| {
            RequiredCapabilities::from_bytes(&e.data)
                .unwrap()
                .proposal_types
                .iter()
                .any(|p| p.0 == 0x000a)
        })
}

fn is_inactive(mdk: &MdkUser, gid: &nipee::GroupId) -> bool {
    let state = mdk.mdk.get_group(&mdk_gid(gid)).unwrap().unwrap().state;
    format!("{state:?}") == "Inactive"
}

/// The wire format of the MLS message inside a group event, opened with `c`'s key.
fn wire_format(c: &NipeeUser, gid: &nipee::GroupId, e: &nipee_nostr::Event) -> WireFormat {
    let key = c
        .client
        .profile(gid)
        .unwrap()
        .group_event_key(c.client.mls_group(gid).unwrap())
        .unwrap();
    MlsMessageIn::parse(&key.decrypt(e.content()).unwrap())
        .unwrap()
        .wire_format()
}

/// nipee (alice, admin) makes a group with MDK users bob and carol and nipee user dave.
/// Bob leaves by SelfRemove; dave, a nipee non-admin, commits it before any MDK member's
/// automatic commit reaches the relay. Carol (MDK) accepts the non-admin's SelfRemove-only
/// commit over her own automatic one, bob is out.
#[test]
fn a_mdk_member_leaves_by_self_remove_and_a_nipee_member_commits_it() {
    let mut alice = NipeeUser::new();
    let bob = MdkUser::new();
    let carol = MdkUser::new();
    let mut dave = NipeeUser::new();
    let kps = vec![
        bob.key_package_event(false),
        carol.key_package_event(false),
        dave.key_package_event(false),
    ];
    let (gid, created) = alice
        .client
        .create_group(nipee::NewGroup::new("sr", kps), now(), &mut rand::rng())
        .unwrap();
    assert!(requires_self_remove(&alice, &gid));
    bob.join(&created.publish[0].event).unwrap();
    carol.join(&created.publish[1].event).unwrap();
    dave.join(&created.publish[2].event);
    assert_eq!(
        bob.mdk
            .group_required_proposals(&mdk_gid(&gid))
            .unwrap()
            .len(),
        1,
        "MDK sees SelfRemove required"
    );
    assert_agree(&alice, &bob, &gid);
    assert_agree(&dave, &carol, &gid);

    // Bob leaves: MDK sends a SelfRemove proposal.
    let leave = to_nipee(&bob.mdk.leave_group(&mdk_gid(&gid)).unwrap().evolution_event);
    assert_eq!(wire_format(&alice, &gid, &leave), WireFormat::PublicMessage);
    for c in [&mut alice, &mut dave] {
        match c.process(&leave).unwrap().outcome() {
            Outcome::Proposal {
                leave_request,
                sender,
                ..
            } => {
                assert!(leave_request);
                assert_eq!(sender, Some(bob.pubkey()));
            }
            other => panic!("expected a leave request, got {other:?}"),
        }
    }
    // Carol (MDK, not an admin) commits it at once; that commit loses the race.
    assert!(matches!(
        carol.receive(&leave),
        Ok(MessageProcessingResult::Proposal(_))
    ));

    // Dave (nipee, not an admin) commits it.
    let commit = dave
        .client
        .commit_pending_proposals(&gid, now(), &mut rand::rng())
        .unwrap()
        .outgoing
        .event;
    dave.acked(&commit);
    assert_eq!(alice.applies(&commit).removed, vec![bob.pubkey()]);
    carol.applies(&commit);
    let _ = bob.receive(&commit).unwrap();
    assert!(is_inactive(&bob, &gid));
    assert_agree(&alice, &carol, &gid);
    assert_agree(&dave, &carol, &gid);
    assert!(!alice.members(&gid).contains(&bob.pubkey()));

    // Everyone left goes on; bob reads nothing.
    let after = alice.send(&gid, "bob left");
    assert_eq!(carol.hears(&after), "bob left");
    assert_eq!(dave.hears(&after), "bob left");
    assert!(!matches!(
        bob.receive(&after),
        Ok(MessageProcessingResult::ApplicationMessage(_))
    ));
    assert_eq!(alice.hears(&carol.send(&gid, "still here")), "still here");
}

/// MDK (alice, admin) makes a group with nipee users bob and dave and MDK user carol. Bob
/// (nipee) leaves by SelfRemove; carol (MDK, not an admin) commits it at once, as MDK does;
/// the nipee member dave accepts her SelfRemove-only commit, bob is out.
#[test]
fn a_nipee_member_leaves_by_self_remove_and_a_mdk_member_commits_it() {
    let alice = MdkUser::new();
    let mut bob = NipeeUser::new();
    let carol = MdkUser::new();
    let mut dave = NipeeUser::new();
    let kps = [
        bob.key_package_event(false),
        carol.key_package_event(false),
        dave.key_package_event(false),
    ];
    let (gid, rumors) = alice.create_group("sr", &kps, &[]);
    bob.join(&alice.wrap(&rumors[0], &bob.pubkey()));
    carol
        .join(&alice.wrap(&rumors[1], &carol.pubkey()))
        .unwrap();
    dave.join(&alice.wrap(&rumors[2], &dave.pubkey()));
    assert!(requires_self_remove(&bob, &gid));
    assert_agree(&bob, &alice, &gid);
    assert_agree(&dave, &carol, &gid);

    // Bob leaves: a SelfRemove, as a PublicMessage.
    let leave = bob
        .client
        .leave(&gid, now(), &mut rand::rng())
        .unwrap()
        .event;
    assert_eq!(wire_format(&bob, &gid, &leave), WireFormat::PublicMessage);
    match dave.process(&leave).unwrap().outcome() {
        Outcome::Proposal { leave_request, .. } => assert!(leave_request),
        other => panic!("expected a leave request, got {other:?}"),
    }
    // Carol commits it at once; alice (admin) would too, but carol's reaches the relay
    // first.
    let Ok(MessageProcessingResult::Proposal(auto)) = carol.receive(&leave) else {
        panic!("MDK commits a SelfRemove at once")
    };
    carol.mdk.merge_pending_commit(&mdk_gid(&gid)).unwrap();
    assert!(matches!(
        alice.receive(&leave),
        Ok(MessageProcessingResult::Proposal(_))
    ));
    let commit = to_nipee(&auto.evolution_event);
    alice.applies(&commit);
    assert_eq!(dave.applies(&commit).removed, vec![bob.pubkey()]);
    assert!(matches!(
        bob.process(&commit).unwrap().outcome(),
        Outcome::Removed { .. }
    ));
    assert_agree(&dave, &alice, &gid);
    assert_agree(&dave, &carol, &gid);
    assert!(!alice.members(&gid).contains(&bob.pubkey()));

    // Everyone left goes on; bob reads nothing.
    let after = alice.send(&gid, "bob left");
    assert_eq!(dave.hears(&after), "bob left");
    assert_eq!(carol.hears(&after), "bob left");
    assert!(!matches!(
        bob.process(&after).unwrap().outcome(),
        Outcome::Message { .. }
    ));
    assert_eq!(alice.hears(&dave.send(&gid, "still here")), "still here");
}

/// A nipee admin must step down before leaving (MIP-03), as MDK requires of its admins:
/// nipee refuses the leave, and MDK refuses an admin's SelfRemove sent anyway.
#[test]
fn an_admin_s_self_remove_is_refused_on_both_sides() {
    let mut alice = NipeeUser::new();
    let bob = MdkUser::new();
    let (gid, created) = alice
        .client
        .create_group(
            nipee::NewGroup::new("sr", vec![bob.key_package_event(false)]),
            now(),
            &mut rand::rng(),
        )
        .unwrap();
    bob.join(&created.publish[0].event).unwrap();
    assert!(matches!(
        alice.client.leave(&gid, now(), &mut rand::rng()),
        Err(nipee::Error::Policy(_))
    ));
    let forced = alice
        .client
        .self_remove_unchecked(&gid, now(), &mut rand::rng())
        .unwrap()
        .event;
    assert!(matches!(
        bob.receive(&forced),
        Ok(MessageProcessingResult::IgnoredProposal { .. })
    ));
    assert_agree(&alice, &bob, &gid);
    assert_eq!(alice.hears(&bob.send(&gid, "still two")), "still two");
}
