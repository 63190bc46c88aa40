//! nipee's `marmot` profile against MDK (`mdk-core` 0.8.0), in process: every event goes
//! from one side to the other as JSON, Welcomes through each side's own NIP-59, and after
//! every step both sides must agree on the epoch, the members, the epoch authenticator, the
//! group-event exporter secret and the group data.
//!
//! (a) MDK creates a group with a nipee member; (b) nipee creates a group with an MDK
//! member; (c) bad input from either side is a typed error on the other and changes
//! nothing there.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mdk_core::prelude::MessageProcessingResult;
use nipee::{Error, Outcome, PolicyViolation};
use nipee_mdk_interop::{MdkUser, NipeeUser, assert_agree, mdk_gid, now, sign_with, to_nostr};
use nipee_mls::Proposal;
use nipee_nostr::{EventBuilder, Keys, Tag, Timestamp};

#[test]
fn a_mdk_creates_a_group_with_a_nipee_member() {
    let alice = MdkUser::new();
    let mut bob = NipeeUser::new();
    let mut carol = NipeeUser::new();
    let dave = MdkUser::new();

    // Bob's last-resort KeyPackage: after joining he rotates at once, a non-admin's
    // path-only commit that MDK must accept.
    let kp = bob.key_package_event(true);
    alice
        .mdk
        .parse_key_package(&to_nostr(&kp))
        .expect("MDK reads nipee's KeyPackage");
    let (gid, rumors) = alice.create_group("a", &[kp], &[]);
    let (bob_gid, rotation) = bob.join(&alice.wrap(&rumors[0], &bob.pubkey()));
    assert_eq!(bob_gid, gid);
    assert_eq!(bob.client.profile(&gid).unwrap(), nipee::Profile::Marmot);
    assert_agree(&bob, &alice, &gid);
    let [rotation] = rotation.as_slice() else {
        panic!("a last-resort join rotates: {rotation:?}")
    };
    bob.acked(rotation);
    alice.applies(rotation);
    assert_agree(&bob, &alice, &gid);

    // Messages both ways.
    assert_eq!(
        bob.hears(&alice.send(&gid, "hello from MDK")),
        "hello from MDK"
    );
    assert_eq!(
        alice.hears(&bob.send(&gid, "hello from nipee")),
        "hello from nipee"
    );

    // MDK rotates its own leaf.
    let update = alice
        .mdk
        .self_update(&mdk_gid(&gid))
        .unwrap()
        .evolution_event;
    alice.mdk.merge_pending_commit(&mdk_gid(&gid)).unwrap();
    let info = bob.applies(&nipee_mdk_interop::to_nipee(&update));
    assert_eq!(info.updated, vec![alice.pubkey()]);
    assert_agree(&bob, &alice, &gid);

    // MDK renames the group (new versioned group data in a GroupContextExtensions commit).
    let renamed = alice
        .mdk
        .update_group_data(
            &mdk_gid(&gid),
            mdk_core::prelude::NostrGroupDataUpdate::new().name("a, renamed by MDK"),
        )
        .unwrap()
        .evolution_event;
    alice.mdk.merge_pending_commit(&mdk_gid(&gid)).unwrap();
    let info = bob.applies(&nipee_mdk_interop::to_nipee(&renamed));
    assert_eq!(info.group_data.unwrap().name, "a, renamed by MDK");
    assert_agree(&bob, &alice, &gid);

    // MDK adds a nipee user and an MDK user in one commit.
    let carol_kp = carol.key_package_event(false);
    let dave_kp = dave.key_package_event(false);
    let added = alice
        .mdk
        .add_members(&mdk_gid(&gid), &[to_nostr(&carol_kp), to_nostr(&dave_kp)])
        .unwrap();
    alice.mdk.merge_pending_commit(&mdk_gid(&gid)).unwrap();
    let info = bob.applies(&nipee_mdk_interop::to_nipee(&added.evolution_event));
    assert_eq!(info.added.len(), 2);
    let rumors = added.welcome_rumors.unwrap();
    let (carol_gid, nothing) = carol.join(&alice.wrap(&rumors[0], &carol.pubkey()));
    assert_eq!((carol_gid, nothing.len()), (gid.clone(), 0));
    dave.join(&alice.wrap(&rumors[1], &dave.pubkey())).unwrap();
    assert_agree(&bob, &alice, &gid);
    assert_agree(&carol, &dave, &gid);
    let hi = carol.send(&gid, "hi all");
    assert_eq!(bob.hears(&hi), "hi all");
    assert_eq!(alice.hears(&hi), "hi all");
    assert_eq!(dave.hears(&hi), "hi all");

    // MDK removes the nipee user it added.
    let removed = alice
        .mdk
        .remove_members(
            &mdk_gid(&gid),
            &[nipee_mdk_interop::pk_to_nostr(&carol.pubkey())],
        )
        .unwrap()
        .evolution_event;
    alice.mdk.merge_pending_commit(&mdk_gid(&gid)).unwrap();
    let removed = nipee_mdk_interop::to_nipee(&removed);
    assert_eq!(bob.applies(&removed).removed, vec![carol.pubkey()]);
    dave.applies(&removed);
    assert!(matches!(
        carol.process(&removed).unwrap().outcome(),
        Outcome::Removed { .. }
    ));
    assert_agree(&bob, &alice, &gid);
    assert_agree(&bob, &dave, &gid);

    // nipee rotates (path only, fresh signature key).
    let rotation = bob
        .client
        .rotate(&gid, now(), &mut rand::rng())
        .unwrap()
        .outgoing
        .event;
    bob.acked(&rotation);
    alice.applies(&rotation);
    dave.applies(&rotation);
    assert_agree(&bob, &alice, &gid);
    assert_agree(&bob, &dave, &gid);
    assert_eq!(alice.hears(&bob.send(&gid, "rotated")), "rotated");
    assert_eq!(bob.hears(&dave.send(&gid, "seen")), "seen");
}

#[test]
fn b_nipee_creates_a_group_with_a_mdk_member() {
    let mut alice = NipeeUser::new();
    let bob = MdkUser::new();
    let carol = MdkUser::new();

    // Bob's KeyPackage as White Noise publishes it: addressable kind 30443.
    let kp = bob.key_package_event(false);
    assert_eq!(kp.kind().as_u16(), 30443);
    let (gid, created) = alice
        .client
        .create_group(nipee::NewGroup::new("b", vec![kp]), now(), &mut rand::rng())
        .unwrap();
    assert_eq!(bob.join(&created.publish[0].event).unwrap(), gid);
    assert_agree(&alice, &bob, &gid);

    // Messages both ways.
    assert_eq!(
        bob.hears(&alice.send(&gid, "hello from nipee")),
        "hello from nipee"
    );
    assert_eq!(
        alice.hears(&bob.send(&gid, "hello from MDK")),
        "hello from MDK"
    );

    // nipee renames the group and adds a relay.
    let update = nipee::GroupDataUpdate::new()
        .name("b, renamed by nipee")
        .relays(vec![
            nipee_mdk_interop::RELAY.into(),
            "wss://relay.example".into(),
        ]);
    let renamed = alice
        .client
        .update_group_data(&gid, update, now(), &mut rand::rng())
        .unwrap()
        .outgoing
        .event;
    alice.acked(&renamed);
    bob.applies(&renamed);
    assert_agree(&alice, &bob, &gid);
    assert_eq!(bob.mdk.get_relays(&mdk_gid(&gid)).unwrap().len(), 2);

    // nipee adds a third member (an MDK user with a legacy kind-443 KeyPackage)...
    let carol_kp = carol.key_package_event(true);
    let add = alice
        .client
        .invite(&gid, &[carol_kp], now(), &mut rand::rng())
        .unwrap()
        .outgoing
        .event;
    let wraps = alice.acked(&add);
    bob.applies(&add);
    carol.join(&wraps[0]).unwrap();
    assert_agree(&alice, &bob, &gid);
    assert_agree(&alice, &carol, &gid);
    let hi = carol.send(&gid, "hi from carol");
    assert_eq!(alice.hears(&hi), "hi from carol");
    assert_eq!(bob.hears(&hi), "hi from carol");

    // ...and removes her.
    let remove = alice
        .client
        .remove(&gid, &[carol.pubkey()], now(), &mut rand::rng())
        .unwrap()
        .outgoing
        .event;
    alice.acked(&remove);
    bob.applies(&remove);
    carol.applies(&remove);
    let state = carol.mdk.get_group(&mdk_gid(&gid)).unwrap().unwrap().state;
    assert_eq!(format!("{state:?}"), "Inactive");
    assert_agree(&alice, &bob, &gid);

    // MDK rotates.
    let update = bob.mdk.self_update(&mdk_gid(&gid)).unwrap().evolution_event;
    bob.mdk.merge_pending_commit(&mdk_gid(&gid)).unwrap();
    assert_eq!(
        alice.applies(&nipee_mdk_interop::to_nipee(&update)).updated,
        vec![bob.pubkey()]
    );
    assert_agree(&alice, &bob, &gid);
    assert_eq!(
        bob.hears(&alice.send(&gid, "after the rotation")),
        "after the rotation"
    );

    // The MDK member leaves: the group requires SelfRemove (every first member listed
    // it), so a SelfRemove proposal, which the nipee admin commits (more on SelfRemove:
    // tests/mdk_self_remove.rs).
    let leave = bob.mdk.leave_group(&mdk_gid(&gid)).unwrap().evolution_event;
    match alice
        .process(&nipee_mdk_interop::to_nipee(&leave))
        .unwrap()
        .outcome()
    {
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
    let commit = alice
        .client
        .commit_pending_proposals(&gid, now(), &mut rand::rng())
        .unwrap()
        .outgoing
        .event;
    alice.acked(&commit);
    bob.applies(&commit);
    let state = bob.mdk.get_group(&mdk_gid(&gid)).unwrap().unwrap().state;
    assert_eq!(format!("{state:?}"), "Inactive");
    assert_eq!(
        alice.members(&gid).into_iter().collect::<Vec<_>>(),
        vec![alice.pubkey()]
    );
}

/// A two-member group made by MDK (`mdk`, admin) with a nipee member.
fn mdk_group() -> (MdkUser, NipeeUser, nipee::GroupId) {
    let mdk = MdkUser::new();
    let mut nipee = NipeeUser::new();
    let kp = nipee.key_package_event(false);
    let (gid, rumors) = mdk.create_group("c", &[kp], &[]);
    nipee.join(&mdk.wrap(&rumors[0], &nipee.pubkey()));
    assert_agree(&nipee, &mdk, &gid);
    (mdk, nipee, gid)
}

/// A snapshot of what both sides hold, to show nothing changed.
fn state(
    nipee: &NipeeUser,
    mdk: &MdkUser,
    gid: &nipee::GroupId,
) -> (u64, u64, Vec<u8>, Vec<u8>, Vec<u8>) {
    (
        nipee.client.epoch(gid).unwrap(),
        mdk.epoch(gid),
        nipee.client.exporter_secret(gid).unwrap().to_vec(),
        mdk.exporter_secret(gid),
        mdk.epoch_authenticator(gid),
    )
}

#[test]
fn c_bad_input_from_mdk_is_a_typed_error_in_nipee_and_changes_nothing() {
    let (mdk, mut nipee, gid) = mdk_group();
    let before = state(&nipee, &mdk, &gid);

    // A message whose inner event claims another author (MDK does not check its own).
    let forged = nostr::EventBuilder::new(nostr::Kind::Custom(9), "I am someone else")
        .build(nipee_mdk_interop::pk_to_nostr(&nipee.pubkey()));
    let forged = mdk
        .mdk
        .create_message(&mdk_gid(&gid), forged, None)
        .unwrap();
    assert!(matches!(
        nipee.process(&nipee_mdk_interop::to_nipee(&forged)),
        Err(Error::InnerEventAuthor { .. })
    ));

    // MDK's event without its encoding tag, or re-dated beyond MDK's window.
    let genuine = mdk.send(&gid, "genuine");
    let h = genuine.tags().first_value("h").unwrap().to_owned();
    let mut rng = rand::rng();
    let stripped = EventBuilder::new(genuine.kind(), genuine.content())
        .tag(Tag::group(&h))
        .sign(&Keys::generate(&mut rng), genuine.created_at())
        .unwrap();
    assert!(matches!(
        nipee.process(&stripped),
        Err(Error::MissingTag {
            tag: "encoding",
            ..
        })
    ));
    let old = EventBuilder::new(genuine.kind(), genuine.content())
        .tags(genuine.tags().iter().cloned())
        .sign(
            &Keys::generate(&mut rng),
            Timestamp::from_secs(now() - 46 * 86_400),
        )
        .unwrap();
    assert!(matches!(nipee.process(&old), Err(Error::TooOld { .. })));

    // A KeyPackage whose `i` tag names another KeyPackageRef.
    let kp = MdkUser::new();
    let event = to_nostr(&kp.key_package_event(false));
    let mut unsigned = nostr::UnsignedEvent::new(
        event.pubkey,
        event.created_at,
        event.kind,
        event
            .tags
            .iter()
            .map(|t| {
                if t.as_slice()[0] == "i" {
                    nostr::Tag::parse(["i", &"00".repeat(32)]).unwrap()
                } else {
                    t.clone()
                }
            })
            .collect::<Vec<_>>(),
        event.content.clone(),
    );
    unsigned.ensure_id();
    let tampered = nipee_mdk_interop::to_nipee(&sign_with(&kp.keys, unsigned));
    assert!(matches!(
        nipee
            .client
            .create_group(nipee::NewGroup::new("x", vec![tampered]), now(), &mut rng),
        Err(Error::BadTag { tag: "i", .. })
    ));

    assert_eq!(state(&nipee, &mdk, &gid), before);
    // The genuine message still reads: no key was used up by the refusals.
    assert_eq!(nipee.hears(&genuine), "genuine");
    assert_agree(&nipee, &mdk, &gid);
}

#[test]
fn c_bad_input_from_nipee_is_a_typed_error_in_mdk_and_changes_nothing() {
    let (mdk, mut nipee, gid) = mdk_group();
    let mut rng = rand::rng();
    let before = state(&nipee, &mdk, &gid);
    let mdk_members = mdk.members(&gid);

    // A non-admin's commit of a removal, which nipee itself would never make: MDK refuses
    // it as a commit from a non-admin.
    let admin_leaf = nipee
        .client
        .members(&gid)
        .unwrap()
        .into_iter()
        .find(|m| m.pubkey == mdk.pubkey())
        .unwrap()
        .leaf;
    let rogue = nipee
        .client
        .commit_unchecked(
            &gid,
            vec![Proposal::Remove {
                removed: admin_leaf,
            }],
            now(),
            &mut rng,
        )
        .unwrap()
        .outgoing
        .event;
    assert!(matches!(
        mdk.receive(&rogue),
        Err(mdk_core::Error::CommitFromNonAdmin)
    ));
    let _ = nipee.client.discard_pending(&gid, now(), &mut rng).unwrap();
    // nipee's own check refuses the same commit.
    match nipee.client.remove(&gid, &[mdk.pubkey()], now(), &mut rng) {
        Err(Error::Policy(v)) => assert!(matches!(*v, PolicyViolation::NotAdmin { .. })),
        other => panic!("expected a policy refusal, got {other:?}"),
    }

    // Application data that is not an inner event.
    let junk = nipee
        .client
        .send_raw_application_data(&gid, b"not json", now(), &mut rng)
        .unwrap()
        .event;
    // MDK reports a failure after decryption as `Unprocessable` (and records it), not as
    // an error.
    assert!(matches!(
        mdk.receive(&junk),
        Ok(MessageProcessingResult::Unprocessable { .. })
    ));

    // A group event without its `h` tag.
    let genuine = nipee.send(&gid, "genuine");
    let no_h = EventBuilder::new(genuine.kind(), genuine.content())
        .tag(nipee::marmot::encoding_tag())
        .sign(&Keys::generate(&mut rng), genuine.created_at())
        .unwrap();
    assert!(matches!(
        mdk.receive(&no_h),
        Err(mdk_core::Error::MissingGroupIdTag)
    ));

    // A KeyPackage whose `i` tag names another KeyPackageRef.
    let mut other = NipeeUser::new();
    let kp = other.key_package_event(false);
    let tags: Vec<Tag> = kp
        .tags()
        .iter()
        .map(|t| {
            if t.name() == Some("i") {
                Tag::new(["i", &"00".repeat(32)])
            } else {
                t.clone()
            }
        })
        .collect();
    let tampered = EventBuilder::new(kp.kind(), kp.content())
        .tags(tags)
        .sign(other.client.keys(), kp.created_at())
        .unwrap();
    assert!(mdk.mdk.parse_key_package(&to_nostr(&tampered)).is_err());

    assert_eq!(mdk.members(&gid), mdk_members);
    assert_eq!(state(&nipee, &mdk, &gid).1, before.1);
    assert_eq!(state(&nipee, &mdk, &gid).3, before.3);
    assert_eq!(state(&nipee, &mdk, &gid).4, before.4);
    // The genuine message still reads at MDK.
    assert_eq!(mdk.hears(&genuine), "genuine");
    assert!(matches!(
        mdk.receive(&nipee.send(&gid, "and the next")),
        Ok(MessageProcessingResult::ApplicationMessage(_))
    ));
    assert_agree(&nipee, &mdk, &gid);
}

/// MDK 0.8.0's admin answers a member's leave request (a Remove proposal for its own
/// leaf, the only way to leave a group whose required capabilities lack SelfRemove) with
/// an automatic commit whose proposal filter keeps only SelfRemove proposals: the commit
/// removes nobody. Both sides apply it alike; the member leaves when an admin removes it.
#[test]
fn a_nipee_member_leaves_a_mdk_group_once_an_admin_removes_it() {
    // MDK creates the group alone (so it requires nothing) and adds the nipee member.
    let mdk = MdkUser::new();
    let mut nipee = NipeeUser::new();
    let (gid, _) = mdk.create_group("legacy", &[], &[]);
    let added = mdk
        .mdk
        .add_members(&mdk_gid(&gid), &[to_nostr(&nipee.key_package_event(false))])
        .unwrap();
    mdk.mdk.merge_pending_commit(&mdk_gid(&gid)).unwrap();
    let rumors = added.welcome_rumors.unwrap();
    nipee.join(&mdk.wrap(&rumors[0], &nipee.pubkey()));
    assert!(
        mdk.mdk
            .group_required_proposals(&mdk_gid(&gid))
            .unwrap()
            .is_empty()
    );
    assert_agree(&nipee, &mdk, &gid);
    let leave = nipee
        .client
        .leave(&gid, now(), &mut rand::rng())
        .unwrap()
        .event;
    let Ok(MessageProcessingResult::Proposal(auto)) = mdk.receive(&leave) else {
        panic!("MDK's admin commits a leave request at once")
    };
    mdk.mdk.merge_pending_commit(&mdk_gid(&gid)).unwrap();
    let info = nipee.applies(&nipee_mdk_interop::to_nipee(&auto.evolution_event));
    assert!(
        info.removed.is_empty(),
        "MDK's automatic commit removes nobody"
    );
    assert_agree(&nipee, &mdk, &gid);

    let removal = mdk
        .mdk
        .remove_members(
            &mdk_gid(&gid),
            &[nipee_mdk_interop::pk_to_nostr(&nipee.pubkey())],
        )
        .unwrap()
        .evolution_event;
    mdk.mdk.merge_pending_commit(&mdk_gid(&gid)).unwrap();
    assert!(matches!(
        nipee
            .process(&nipee_mdk_interop::to_nipee(&removal))
            .unwrap()
            .outcome(),
        Outcome::Removed { .. }
    ));
    assert_eq!(
        mdk.members(&gid).into_iter().collect::<Vec<_>>(),
        vec![mdk.pubkey()]
    );
}

/// A group MDK made with MDK users only requires SelfRemove of every member; nipee's
/// Marmot KeyPackages list it, so MDK admits a nipee member there.
#[test]
fn a_mdk_only_group_that_requires_self_remove_admits_a_nipee_member() {
    let alice = MdkUser::new();
    let bob = MdkUser::new();
    let mut carol = NipeeUser::new();
    let (gid, rumors) = alice.create_group("mdk only", &[bob.key_package_event(false)], &[]);
    bob.join(&alice.wrap(&rumors[0], &bob.pubkey())).unwrap();
    assert_eq!(
        alice
            .mdk
            .group_required_proposals(&mdk_gid(&gid))
            .unwrap()
            .len(),
        1
    );
    let kp = to_nostr(&carol.key_package_event(false));
    let added = alice.mdk.add_members(&mdk_gid(&gid), &[kp]).unwrap();
    alice.mdk.merge_pending_commit(&mdk_gid(&gid)).unwrap();
    bob.applies(&nipee_mdk_interop::to_nipee(&added.evolution_event));
    let rumors = added.welcome_rumors.unwrap();
    carol.join(&alice.wrap(&rumors[0], &carol.pubkey()));
    assert_agree(&carol, &alice, &gid);
    assert_agree(&carol, &bob, &gid);
    assert_eq!(bob.hears(&carol.send(&gid, "hello")), "hello");
}
