//! Bugs the convergence simulation found, each reduced to a scenario of its own.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use nipee::{GroupDataUpdate, Outcome};
use nipee_test_support::mem::{Net, stored_rows};

/// Simulation seed 0: alice removes carol while another commit for the same epoch comes
/// first in the race order, and carol receives alice's removal first. The removal lost the
/// race, so carol is still a member on the branch everyone keeps; she must follow it instead
/// of deleting the group. (Seed 0 raced the removal against bob's earlier self-update; a
/// removal now comes before any commit that removes nobody, so the competitor here is an
/// earlier removal by a second admin.)
#[test]
fn a_member_whose_removal_lost_a_race_stays_in_the_group() {
    let mut net = Net::new(1000);
    let a = net.add("alice");
    let b = net.add("bob");
    let c = net.add("carol");
    let d = net.add("dave");
    let gid = net.group(a, &[b, c, d]);
    let now = net.now;
    let admins = vec![net.pk(a), net.pk(b)];
    let p = net.members[a]
        .client
        .update_group_data(
            &gid,
            GroupDataUpdate::new().admins(admins),
            now,
            &mut net.rng,
        )
        .unwrap();
    net.commit(a, p);
    net.sync_all();
    net.now += 60;
    let t = net.now;
    let (carol, dave) = (net.pk(c), net.pk(d));
    let removal = net.members[a]
        .client
        .remove(&gid, &[carol], t + 1, &mut net.rng)
        .unwrap();
    let competitor = net.members[b]
        .client
        .remove(&gid, &[dave], t, &mut net.rng)
        .unwrap();
    // Both are stored and acknowledged; the removal of carol reaches the relay first.
    net.commit(a, removal);
    net.commit(b, competitor);
    net.sync_all();
    assert!(
        net.members[c]
            .outcomes
            .iter()
            .any(|o| matches!(o, Outcome::Removed { .. })),
        "carol saw the removal first"
    );
    assert!(
        net.members[c].client.group(&gid).unwrap().active,
        "carol is locked out of a group that kept her"
    );
    net.assert_converged(&gid, &[a, b, c]);
    net.say(a, &gid, "carol is still here");
    net.sync_all();
    assert!(net.texts(c).contains(&"carol is still here".to_owned()));
    // A later removal of carol still works.
    net.now += 5;
    let now = net.now;
    let p = net.members[a]
        .client
        .remove(&gid, &[carol], now, &mut net.rng)
        .unwrap();
    net.commit(a, p);
    net.sync_all();
    net.assert_converged(&gid, &[a, b]);
    assert!(!net.members[c].client.group(&gid).unwrap().active);
}

/// Simulation seed 14: clocks differ by a few seconds, so a commit can be dated before the
/// commit that opened its epoch. Whoever received it first applied it; whoever had applied
/// the competing commit first refused it as "too late" although its order key was lower:
/// the group forked. An honest skew must be decided by the order key alone.
#[test]
fn a_commit_dated_slightly_before_its_epoch_began_is_decided_by_the_order_key_everywhere() {
    let (mut net, gid) = Net::three(1001);
    net.now += 100;
    let t = net.now;
    // Alice opens the epoch at t.
    let p = net.members[0].client.rotate(&gid, t, &mut net.rng).unwrap();
    net.commit(0, p);
    net.sync_all();
    // Bob's clock is two seconds behind: his commit for that epoch is dated t - 2; alice
    // commits at t + 1. Alice's reaches the relay first.
    let bob = net.members[1]
        .client
        .rotate(&gid, t - 2, &mut net.rng)
        .unwrap();
    let alice = net.members[0]
        .client
        .rotate(&gid, t + 1, &mut net.rng)
        .unwrap();
    net.commit(0, alice);
    net.commit(1, bob);
    net.sync_all();
    net.assert_converged(&gid, &[0, 1, 2]);
    net.say(2, &gid, "one group");
    net.sync_all();
    assert!(net.texts(0).contains(&"one group".to_owned()));
    assert!(net.texts(1).contains(&"one group".to_owned()));
}

/// Carol asks to leave, alice commits it; bob receives the commit before the proposal it
/// references. Relays do not keep order: the commit must wait for the proposal.
#[test]
fn a_commit_that_arrives_before_the_proposal_it_commits_waits_for_it() {
    let (mut net, gid) = Net::three(1002);
    let now = net.now;
    let leave = net.members[2]
        .client
        .leave(&gid, now, &mut net.rng)
        .unwrap();
    let e = net.publish(2, &leave, true);
    net.publish_all(2, e);
    net.sync(0);
    let p = net.members[0]
        .client
        .commit_pending_proposals(&gid, now, &mut net.rng)
        .unwrap();
    let commit = p.outgoing.event.clone();
    net.commit(0, p);
    // Bob: the commit first, then the proposal.
    net.members[1].cursor = net.relay.len();
    net.deliver(1, &commit);
    net.deliver(1, &leave.event);
    net.assert_converged(&gid, &[0, 1]);
    assert!(
        net.members[1].errors.is_empty(),
        "{:?}",
        net.members[1].errors
    );
}

/// Simulation seed 30: carol asks to leave; alice commits it (earlier) while bob renames
/// the group (later) without having seen the proposal. Dave applies bob's rename first,
/// then receives the proposal (for an epoch he left) and alice's commit: it wins the race,
/// and must find the proposal it references.
#[test]
fn a_late_commit_finds_a_proposal_received_after_its_epoch_was_left() {
    let mut net = Net::new(1003);
    let a = net.add("alice");
    let b = net.add("bob");
    let c = net.add("carol");
    let d = net.add("dave");
    let kps: Vec<_> = [b, c, d]
        .iter()
        .map(|m| net.key_package(*m, false))
        .collect();
    let now = net.now;
    let mut new = nipee::NewGroup::new("race", kps);
    new.admins.push(net.pk(b));
    let (gid, effects) = net.members[a]
        .client
        .create_group(new, now, &mut net.rng)
        .unwrap();
    net.publish_all(a, effects);
    net.sync_all();
    net.now += 60;
    let t = net.now;
    let leave = net.members[c].client.leave(&gid, t, &mut net.rng).unwrap();
    let e = net.publish(c, &leave, true);
    net.publish_all(c, e);
    net.sync(a);
    let pa = net.members[a]
        .client
        .commit_pending_proposals(&gid, t, &mut net.rng)
        .unwrap();
    let pb = net.members[b]
        .client
        .update_group_data(
            &gid,
            nipee::GroupDataUpdate::new().name("renamed"),
            t + 1,
            &mut net.rng,
        )
        .unwrap();
    let (ea, eb) = (pa.outgoing.event.clone(), pb.outgoing.event.clone());
    net.commit(a, pa);
    net.commit(b, pb);
    // Dave: bob's rename, then the proposal, then alice's commit.
    net.members[d].cursor = net.relay.len();
    net.deliver(d, &eb);
    net.deliver(d, &leave.event);
    net.deliver(d, &ea);
    net.sync_all();
    net.assert_converged(&gid, &[a, b, d]);
    assert!(!net.members[c].client.group(&gid).unwrap().active);
}

/// A removed member holding its state from one epoch before the removal's commits a
/// self-update for that earlier epoch, dated just before the commit that was applied
/// from it: rolling back to that epoch would abandon the branch that removed it.
#[test]
fn a_removed_member_cannot_undo_its_removal_from_an_earlier_epoch() {
    let (mut net, gid) = Net::three(1004);
    net.now += 60;
    let t = net.now;
    // Carol's device keeps its state of this epoch.
    let rows = stored_rows(net.members[2].client.storage());
    let p = net.members[0].client.rotate(&gid, t, &mut net.rng).unwrap();
    net.commit(0, p);
    net.sync_all();
    net.now += 10;
    let now = net.now;
    let carol = net.pk(2);
    let p = net.members[0]
        .client
        .remove(&gid, &[carol], now, &mut net.rng)
        .unwrap();
    net.commit(0, p);
    net.sync_all();
    let before = net.auths(&gid, &[0, 1]);
    let mut evil = nipee::Client::open(
        nipee::storage::MemoryStorage::from_rows(rows, false),
        Net::config(),
    )
    .unwrap();
    let pe = evil.rotate(&gid, t - 5, &mut net.rng).unwrap();
    net.inject(pe.outgoing.event.clone());
    net.sync_all();
    assert_eq!(net.auths(&gid, &[0, 1]), before, "the removal was undone");
    net.say(1, &gid, "carol is gone");
    net.sync_all();
    assert!(!net.texts(2).contains(&"carol is gone".to_owned()));
}

/// Simulation seed 347: alice removes bob while bob rotates, bob's commit is earlier.
/// Whoever received the removal first refused bob's commit (a removed member cannot undo
/// its removal); whoever received bob's commit first kept it and refused the removal as
/// later: the group forked. The removal must win everywhere, whatever the arrival order.
#[test]
fn a_removal_beats_its_targets_earlier_commit_in_every_arrival_order() {
    let mut net = Net::new(1005);
    let a = net.add("alice");
    let b = net.add("bob");
    let c = net.add("carol");
    let d = net.add("dave");
    let gid = net.group(a, &[b, c, d]);
    net.now += 60;
    let t = net.now;
    let bob = net.pk(b);
    let removal = net.members[a]
        .client
        .remove(&gid, &[bob], t + 1, &mut net.rng)
        .unwrap();
    let rotation = net.members[b].client.rotate(&gid, t, &mut net.rng).unwrap();
    let (er, eb) = (
        removal.outgoing.event.clone(),
        rotation.outgoing.event.clone(),
    );
    net.commit(a, removal);
    net.commit(b, rotation);
    // Carol: bob's rotation first; dave: the removal first.
    net.members[c].cursor = net.relay.len();
    net.members[d].cursor = net.relay.len();
    net.deliver(c, &eb);
    net.deliver(c, &er);
    net.deliver(d, &er);
    net.deliver(d, &eb);
    net.sync_all();
    net.assert_converged(&gid, &[a, c, d]);
    assert!(
        !net.members[b].client.group(&gid).unwrap().active,
        "bob is still in"
    );
    net.say(c, &gid, "without bob");
    net.sync_all();
    assert!(net.texts(d).contains(&"without bob".to_owned()));
    assert!(!net.texts(b).contains(&"without bob".to_owned()));
}
