//! The inbox: what processing an event yields for the application is kept, written in the
//! same batch as the state change, until the host acknowledges it; it survives a restart;
//! acknowledging is idempotent; replays add nothing; ids are never reused.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use nipee::storage::{MemoryStorage, Table};
use nipee::{Client, Effects, InboxId, Outcome};
use nipee_nostr::Event;
use nipee_test_support::mem::{Net, re_sign};

/// Hands `ev` to member `who`'s client directly: its host takes nothing from the inbox.
fn process(net: &mut Net, who: usize, ev: &Event) -> nipee::Result<Effects> {
    let now = net.now;
    net.members[who].client.process(ev, now, &mut net.rng)
}

fn texts(client: &Client<MemoryStorage>) -> Vec<String> {
    client
        .inbox()
        .unwrap()
        .into_iter()
        .filter_map(|e| match e.outcome {
            Outcome::Message { event, .. } => Some(event.content),
            _ => None,
        })
        .collect()
}

#[test]
fn a_received_message_waits_in_the_inbox_across_a_restart_until_acknowledged() {
    let mut net = Net::new(41);
    let (a, b) = (net.add("alice"), net.add("bob"));
    let gid = net.group(a, &[b]);
    assert!(net.members[b].client.inbox().unwrap().is_empty());
    let ev = net.say(a, &gid, "hello");
    let effects = process(&mut net, b, &ev).unwrap();
    let kept = effects.kept();
    assert_eq!(kept.len(), 1);
    assert_eq!(effects.inbox.len(), effects.outcomes.len());

    let inbox = net.members[b].client.inbox().unwrap();
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0].id, kept[0]);
    assert_eq!(inbox[0].source, Some(ev.id()));
    let Outcome::Message { event, .. } = &inbox[0].outcome else {
        panic!("{:?}", inbox[0].outcome);
    };
    // The same inner event the live outcome carried (its id is the app's dedup key).
    let Outcome::Message { event: live, .. } = &effects.outcomes[0] else {
        panic!("{:?}", effects.outcomes[0]);
    };
    assert_eq!(event.id(), live.id());
    assert_eq!(event.content, "hello");

    // A crash before the app took it: the restarted client still holds it.
    net.restart(b);
    assert_eq!(texts(&net.members[b].client), ["hello"]);
    assert_eq!(net.members[b].client.inbox().unwrap()[0].id, kept[0]);

    assert_eq!(net.members[b].client.acknowledge(&kept).unwrap(), 1);
    assert!(net.members[b].client.inbox().unwrap().is_empty());
    assert!(
        !net.members[b]
            .client
            .storage()
            .rows()
            .any(|(t, _, _)| t == Table::Inbox),
        "the plaintext is gone from the store"
    );
    net.restart(b);
    assert!(net.members[b].client.inbox().unwrap().is_empty());
}

#[test]
fn acknowledging_unknown_or_already_acknowledged_ids_is_harmless() {
    let mut net = Net::new(42);
    let (a, b) = (net.add("alice"), net.add("bob"));
    let gid = net.group(a, &[b]);
    let one = net.say(a, &gid, "one");
    let two = net.say(a, &gid, "two");
    let first = process(&mut net, b, &one).unwrap().kept();
    let _ = process(&mut net, b, &two).unwrap();
    let c = &mut net.members[b].client;
    assert_eq!(c.acknowledge(&[InboxId::from_u64(9_999)]).unwrap(), 0);
    assert_eq!(c.acknowledge(&[]).unwrap(), 0);
    assert_eq!(c.acknowledge(&first).unwrap(), 1);
    assert_eq!(c.acknowledge(&first).unwrap(), 0);
    assert_eq!(texts(c), ["two"]);
}

#[test]
fn a_replayed_or_re_signed_message_does_not_make_a_second_entry() {
    let mut net = Net::new(43);
    let (a, b) = (net.add("alice"), net.add("bob"));
    let gid = net.group(a, &[b]);
    let ev = net.say(a, &gid, "once");
    let _ = process(&mut net, b, &ev).unwrap();
    assert_eq!(texts(&net.members[b].client), ["once"]);

    // The same event again.
    let again = process(&mut net, b, &ev).unwrap();
    assert!(again.kept().is_empty(), "{:?}", again.outcomes);
    // An attacker re-signs its content under another key and date.
    let copy = re_sign(&ev, net.now + 1, &mut net.rng);
    if let Ok(e) = process(&mut net, b, &copy) {
        assert!(e.kept().is_empty(), "{:?}", e.outcomes);
    }
    // Even after the processed marks are pruned, the used message key opens nothing.
    net.members[b].client.prune_processed(u64::MAX).unwrap();
    if let Ok(e) = process(&mut net, b, &ev) {
        assert!(e.kept().is_empty(), "{:?}", e.outcomes);
    }
    assert_eq!(texts(&net.members[b].client), ["once"]);
}

#[test]
fn joins_commits_and_removals_are_kept_too() {
    let mut net = Net::new(44);
    let (a, b, c) = (net.add("alice"), net.add("bob"), net.add("carol"));
    let kp = net.key_package(b, false);
    let now = net.now;
    let (gid, effects) = net.members[a]
        .client
        .create_group(nipee::NewGroup::new("g", vec![kp]), now, &mut net.rng)
        .unwrap();
    net.publish_all(a, effects);
    // Bob's host takes nothing: the join waits in his inbox.
    let wraps: Vec<Event> = net.relay.clone();
    let mut joined = false;
    for ev in &wraps {
        if let Ok(e) = process(&mut net, b, ev) {
            joined |= e
                .outcomes
                .iter()
                .any(|o| matches!(o, Outcome::Joined { .. }));
        }
    }
    assert!(joined);
    net.members[b].cursor = net.relay.len();
    let kinds = |net: &Net, who: usize| -> Vec<&'static str> {
        net.members[who]
            .client
            .inbox()
            .unwrap()
            .into_iter()
            .map(|e| match e.outcome {
                Outcome::Joined { .. } => "joined",
                Outcome::Commit(_) => "commit",
                Outcome::Removed { .. } => "removed",
                Outcome::Message { .. } => "message",
                _ => "other",
            })
            .collect()
    };
    assert_eq!(kinds(&net, b), ["joined"]);

    // Alice adds carol: bob's client applies the commit; it is kept.
    let kp = net.key_package(c, false);
    let now = net.now;
    let p = net.members[a]
        .client
        .invite(&gid, &[kp], now, &mut net.rng)
        .unwrap();
    net.commit(a, p);
    let log: Vec<Event> = net.relay[net.members[b].cursor..].to_vec();
    for ev in &log {
        let _ = process(&mut net, b, ev);
    }
    net.members[b].cursor = net.relay.len();
    assert_eq!(kinds(&net, b), ["joined", "commit"]);
    net.sync(c);

    // Alice removes bob: his removal is kept, in order, after a restart too.
    let bob = net.pk(b);
    let now = net.now;
    let p = net.members[a]
        .client
        .remove(&gid, &[bob], now, &mut net.rng)
        .unwrap();
    net.commit(a, p);
    let log: Vec<Event> = net.relay[net.members[b].cursor..].to_vec();
    for ev in &log {
        let _ = process(&mut net, b, ev);
    }
    net.restart(b);
    assert_eq!(kinds(&net, b), ["joined", "commit", "removed"]);
    let ids: Vec<InboxId> = net.members[b]
        .client
        .inbox()
        .unwrap()
        .iter()
        .map(|e| e.id)
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]));

    // Alice's own commit confirmations were kept and taken by her host (`Net`
    // acknowledges what it records).
    assert!(net.members[a].client.inbox().unwrap().is_empty());
    net.members[b].client.acknowledge(&ids).unwrap();
    net.restart(b);
    net.sync(c);
    let ev = net.say(a, &gid, "after");
    let more = process(&mut net, c, &ev).unwrap().kept();
    assert_eq!(more.len(), 1);
    // Bob was removed: nothing of the group reaches him, and his inbox stays empty.
    let _ = process(&mut net, b, &ev);
    assert!(net.members[b].client.inbox().unwrap().is_empty());
}

#[test]
fn inbox_ids_keep_growing_after_everything_was_acknowledged_and_the_client_restarted() {
    let mut net = Net::new(45);
    let (a, b) = (net.add("alice"), net.add("bob"));
    let gid = net.group(a, &[b]);
    let one = net.say(a, &gid, "one");
    let first = process(&mut net, b, &one).unwrap().kept();
    net.members[b].client.acknowledge(&first).unwrap();
    net.restart(b);
    let two = net.say(a, &gid, "two");
    let second = process(&mut net, b, &two).unwrap().kept();
    assert!(second[0] > first[0], "{second:?} after {first:?}");
}
