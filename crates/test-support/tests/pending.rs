//! Own commits whose fate is unknown: a crash before publishing, a relay that answers too
//! slowly, a relay that lost the event, an explicit discard. Each ends with every member on
//! one epoch authenticator and nothing stuck.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use nipee::{FetchReport, FetchRequest, Outcome, Purpose, RelayAnswer};
use nipee_test_support::mem::{Net, RELAY};

#[test]
fn a_crash_before_publishing_republishes_the_same_commit_after_restart() {
    let (mut net, gid) = Net::three(1);
    let now = net.now;
    let carol = net.pk(2);
    let p = net.members[0]
        .client
        .remove(&gid, &[carol], now, &mut net.rng)
        .unwrap();
    let id = p.outgoing.event.id();
    // Crash before anything reached a relay.
    net.restart(0);
    let outbox = net.members[0].client.outbox().unwrap();
    let again = outbox
        .iter()
        .find(|o| o.event.id() == id)
        .expect("the commit is in the outbox");
    assert!(matches!(again.purpose, Purpose::Commit { .. }));
    // A new commit is refused while it is pending (no fork of our own).
    let now = net.now;
    assert!(
        net.members[0]
            .client
            .rotate(&gid, now, &mut net.rng)
            .is_err()
    );
    let again = again.clone();
    let e = net.publish(0, &again, true);
    net.publish_all(0, e);
    net.sync_all();
    net.assert_converged(&gid, &[0, 1]);
    assert!(!net.members[2].client.group(&gid).unwrap().active);
}

#[test]
fn a_relay_that_answers_too_slowly_leaves_the_commit_pending_until_it_is_seen() {
    let (mut net, gid) = Net::three(2);
    let now = net.now;
    let p = net.members[1]
        .client
        .rotate(&gid, now, &mut net.rng)
        .unwrap();
    // The relay stores it but its OK never arrives.
    let effects = net.publish(1, &p.outgoing, false);
    let read_back = effects
        .fetch
        .iter()
        .find(|f| matches!(f, FetchRequest::ReadBack { .. }))
        .cloned()
        .expect("a read-back is asked for");
    // The read-back times out too: no relay answered completely. Still pending.
    let e = net.members[1]
        .client
        .fetched(&read_back, &FetchReport::default(), now, &mut net.rng)
        .unwrap();
    assert!(e.outcomes.is_empty());
    assert!(net.members[1].client.group(&gid).unwrap().pending_commit);
    // The others apply it from the relay; bob sees its echo and confirms.
    net.sync_all();
    net.assert_converged(&gid, &[0, 1, 2]);
    assert!(!net.members[1].client.group(&gid).unwrap().pending_commit);
    assert!(
        net.members[1]
            .outcomes
            .iter()
            .any(|o| matches!(o, Outcome::OwnCommitConfirmed(_)))
    );
}

#[test]
fn a_message_of_the_new_epoch_confirms_a_commit_whose_echo_never_came() {
    let (mut net, gid) = Net::three(3);
    let now = net.now;
    let p = net.members[1]
        .client
        .rotate(&gid, now, &mut net.rng)
        .unwrap();
    let _ = net.publish(1, &p.outgoing, false);
    // Alice and carol apply it; alice speaks in the new epoch.
    net.sync(0);
    net.sync(2);
    let hello = net.say(0, &gid, "new epoch");
    // Bob only gets alice's message (his own commit's echo is lost).
    net.members[1].cursor = net.relay.len();
    let outcomes = net.deliver(1, &hello);
    assert!(
        outcomes
            .iter()
            .any(|o| matches!(o, Outcome::OwnCommitConfirmed(_))),
        "{outcomes:?}"
    );
    assert!(
        outcomes
            .iter()
            .any(|o| matches!(o, Outcome::Message { .. }))
    );
    net.assert_converged(&gid, &[0, 1, 2]);
}

#[test]
fn a_commit_no_relay_stored_is_discarded_after_a_complete_read_back() {
    let (mut net, gid) = Net::three(4);
    let now = net.now;
    let p = net.members[0]
        .client
        .rotate(&gid, now, &mut net.rng)
        .unwrap();
    // Not stored anywhere (the connection dropped before the relay got it).
    let effects = net.members[0]
        .client
        .published(
            &p.outgoing.event.id(),
            &[RelayAnswer::NoAnswer {
                relay: RELAY.to_owned(),
            }],
            now,
            &mut net.rng,
        )
        .unwrap();
    let req = effects.fetch[0].clone();
    let report = FetchReport {
        events: vec![],
        complete: vec![RELAY.to_owned()],
    };
    let e = net.members[0]
        .client
        .fetched(&req, &report, now, &mut net.rng)
        .unwrap();
    assert!(
        matches!(e.outcome(), Outcome::OwnCommitDiscarded { .. }),
        "{:?}",
        e.outcomes
    );
    assert!(
        net.members[0]
            .client
            .outbox()
            .unwrap()
            .iter()
            .all(|o| o.event.id() != p.outgoing.event.id())
    );
    // The group goes on.
    let now = net.now;
    let p = net.members[2]
        .client
        .rotate(&gid, now, &mut net.rng)
        .unwrap();
    net.commit(2, p);
    net.sync_all();
    net.assert_converged(&gid, &[0, 1, 2]);
}

#[test]
fn a_competing_commit_waits_while_ours_is_unknown_and_the_race_rule_decides_after() {
    let (mut net, gid) = Net::three(5);
    net.now += 10;
    let t = net.now;
    // Alice's commit (earlier) is stored but unacknowledged; carol commits later.
    let pa = net.members[0].client.rotate(&gid, t, &mut net.rng).unwrap();
    let _ = net.publish(0, &pa.outgoing, false);
    let pc = net.members[2]
        .client
        .rotate(&gid, t + 1, &mut net.rng)
        .unwrap();
    let ec = pc.outgoing.event.clone();
    net.inject(ec.clone());
    // Alice receives carol's commit while hers is unknown: it waits.
    let out = net.deliver(0, &ec);
    assert!(
        out.iter().any(|o| matches!(
            o,
            Outcome::Ignored(nipee::IgnoreReason::HeldForPendingCommit)
        )),
        "{out:?}"
    );
    // Her commit is then acknowledged; carol's lost; everyone converges on alice's.
    let e = net.publish(0, &pa.outgoing, true);
    net.publish_all(0, e);
    let e = net.publish(2, &pc.outgoing, true);
    net.publish_all(2, e);
    net.sync_all();
    net.assert_converged(&gid, &[0, 1, 2]);
}

#[test]
fn an_explicit_discard_drops_the_pending_commit_and_lets_others_through() {
    let (mut net, gid) = Net::three(6);
    let now = net.now;
    let _p = net.members[1]
        .client
        .rotate(&gid, now, &mut net.rng)
        .unwrap();
    let e = net.members[1]
        .client
        .discard_pending(&gid, now, &mut net.rng)
        .unwrap();
    assert!(matches!(e.outcome(), Outcome::OwnCommitDiscarded { .. }));
    assert!(net.members[1].client.outbox().unwrap().is_empty());
    let p = net.members[0]
        .client
        .rotate(&gid, now, &mut net.rng)
        .unwrap();
    net.commit(0, p);
    net.sync_all();
    net.assert_converged(&gid, &[0, 1, 2]);
}

#[test]
fn only_an_acknowledgement_from_a_group_relay_confirms_a_commit() {
    let (mut net, gid) = Net::three(7);
    let now = net.now;
    let p = net.members[0]
        .client
        .rotate(&gid, now, &mut net.rng)
        .unwrap();
    let e = net.members[0]
        .client
        .published(
            &p.outgoing.event.id(),
            &[RelayAnswer::Accepted {
                relay: "wss://somewhere-else.example".into(),
            }],
            now,
            &mut net.rng,
        )
        .unwrap();
    assert!(e.outcomes.is_empty(), "{:?}", e.outcomes);
    assert!(net.members[0].client.group(&gid).unwrap().pending_commit);
    let e = net.members[0]
        .client
        .published(
            &p.outgoing.event.id(),
            &[RelayAnswer::Accepted {
                relay: format!("{RELAY}/"),
            }],
            now,
            &mut net.rng,
        )
        .unwrap();
    assert!(matches!(e.outcome(), Outcome::OwnCommitConfirmed(_)));
}

#[test]
fn welcome_wraps_stay_in_the_outbox_until_a_relay_took_them() {
    let mut net = Net::new(8);
    let a = net.add("alice");
    let b = net.add("bob");
    let c = net.add("carol");
    let gid = net.group(a, &[b]);
    let kp = net.key_package(c, false);
    let now = net.now;
    let p = net.members[a]
        .client
        .invite(&gid, &[kp], now, &mut net.rng)
        .unwrap();
    let e = net.publish(a, &p.outgoing, true);
    // Confirmed: the Welcome wrap is handed out and persisted before anyone publishes it.
    assert!(
        e.publish
            .iter()
            .any(|o| matches!(o.purpose, Purpose::Welcome { .. }))
    );
    net.restart(a);
    let outbox = net.members[a].client.outbox().unwrap();
    let wrap = outbox
        .iter()
        .find(|o| matches!(o.purpose, Purpose::Welcome { .. }))
        .cloned()
        .expect("the Welcome survives a restart");
    let e = net.publish(a, &wrap, true);
    assert!(matches!(e.outcome(), Outcome::Published { .. }));
    net.sync_all();
    net.assert_converged(&gid, &[a, b, c]);
}

#[test]
fn the_echo_of_an_own_commit_that_lost_is_ignored_not_an_error() {
    let (mut net, gid) = Net::three(9);
    net.now += 10;
    let t = net.now;
    // Bob's commit is earlier; alice's is made while bob's is in flight.
    let pb = net.members[1]
        .client
        .rotate(&gid, t - 5, &mut net.rng)
        .unwrap();
    let pa = net.members[0].client.rotate(&gid, t, &mut net.rng).unwrap();
    net.commit(1, pb);
    // Alice sees bob's commit first: hers is superseded and dropped.
    net.sync(0);
    assert!(!net.members[0].client.group(&gid).unwrap().pending_commit);
    // Her own commit then reaches the relay (published before she knew) and comes back.
    net.inject(pa.outgoing.event.clone());
    let out = net.deliver(0, &pa.outgoing.event);
    assert!(
        out.iter()
            .any(|o| matches!(o, Outcome::Ignored(nipee::IgnoreReason::LostRace))),
        "{out:?}"
    );
    assert!(
        net.members[0].errors.is_empty(),
        "{:?}",
        net.members[0].errors
    );
    net.sync_all();
    net.assert_converged(&gid, &[0, 1, 2]);
    for m in 0..3 {
        assert!(
            net.members[m].errors.is_empty(),
            "{}: {:?}",
            net.members[m].name,
            net.members[m].errors
        );
    }
}
