//! Integration tests against a real nostr-rs-relay 0.8.12 (see `nipee_relay::test_relay`).
//! Each test starts its own relay(s) on free loopback ports, so they run in parallel.
//! A missing relay binary FAILS these tests with instructions (`cargo xtask setup`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use nipee_nostr::{Event, EventBuilder, Filter, Kind, Tag};
use nipee_relay::test_relay::{TestRelay, TestRelayOptions};
use nipee_relay::{Error, Notification, Pool, Prefix, RelayUrl, SubscriptionItem};

async fn relay() -> TestRelay {
    TestRelay::start_async()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

async fn pool_on(urls: &[String]) -> Pool {
    let pool = Pool::connect(fast_config(), urls).unwrap();
    pool.wait_connected(urls.len(), Duration::from_secs(5))
        .await
        .unwrap();
    pool
}

/// The same event with one signature byte changed; the id still matches.
fn with_bad_signature(ev: &Event) -> Event {
    let mut json: serde_json::Value = serde_json::from_str(&ev.to_json()).unwrap();
    let sig = json["sig"].as_str().unwrap().to_owned();
    let flipped = if sig.starts_with('0') { "1" } else { "0" };
    json["sig"] = serde_json::Value::String(format!("{flipped}{}", &sig[1..]));
    let bad = Event::from_json_unchecked(&json.to_string()).unwrap();
    assert!(bad.verify().is_err());
    bad
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_reports_each_relays_ok() {
    let r = relay().await;
    let pool = pool_on(&[r.url()]).await;
    let k = keys();
    let note = EventBuilder::text_note("hello relay")
        .sign(&k, now())
        .unwrap();
    let out = pool.publish(&note).await;
    assert_eq!(out.event_id, note.id());
    assert_eq!(out.results.len(), 1);
    let status = out.results[0].1.as_ref().unwrap();
    assert!(status.accepted, "{status:?}");
    assert_eq!(out.accepted(), 1);

    // Publishing again is still an acceptance (the relay may say `duplicate:`).
    let again = pool.publish_until_accepted(&note, 1).await.unwrap();
    assert_eq!(again.accepted(), 1);
    let stats = pool.stats();
    assert_eq!(stats.relays[0].ok_accepted, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_signature_is_rejected_with_invalid_prefix() {
    let r = relay().await;
    let pool = pool_on(&[r.url()]).await;
    let k = keys();
    let good = EventBuilder::text_note("tampered").sign(&k, now()).unwrap();
    let bad = with_bad_signature(&good);

    let out = pool.publish(&bad).await;
    let status = out.results[0].1.as_ref().unwrap();
    assert!(!status.accepted);
    assert_eq!(
        status.reason.prefix(),
        &Prefix::Invalid,
        "{:?}",
        status.reason
    );
    assert_eq!(out.accepted(), 0);

    let err = pool.publish_until_accepted(&bad, 1).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::NotEnoughAccepted {
                required: 1,
                accepted: 0,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("invalid:"), "{err}");
    assert_eq!(pool.stats().relays[0].ok_rejected, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h_and_p_filters_receive_stored_then_live_events() {
    let r = relay().await;
    let pool = pool_on(&[r.url()]).await;
    let alice = keys();
    let bob = keys();
    let group = random_hex(64);
    let other_group = random_hex(64);

    // Stored before the subscription.
    let stored_h = group_event(&alice, &group, "stored in group", now());
    let stored_other = group_event(&alice, &other_group, "other group", now());
    let stored_p = EventBuilder::new(Kind::GIFT_WRAP, "wrap for bob")
        .tag(Tag::public_key(&bob.public_key()))
        .sign(&alice, now().saturating_sub(3600))
        .unwrap();
    for ev in [&stored_h, &stored_other, &stored_p] {
        pool.publish_until_accepted(ev, 1).await.unwrap();
    }

    let mut by_h = pool
        .subscribe(vec![
            Filter::new().kind(Kind::MLS_GROUP_MESSAGE).group(&group),
        ])
        .unwrap();
    let mut by_p = pool
        .subscribe(vec![
            Filter::new()
                .kind(Kind::GIFT_WRAP)
                .pubkey_tags([bob.public_key()]),
        ])
        .unwrap();

    // Stored: exactly the matching event, then EOSE.
    match next_item(&mut by_h, 5, "stored #h event").await {
        SubscriptionItem::Event { event, .. } => assert_eq!(event, stored_h),
        other => panic!("expected the stored event, got {other:?}"),
    }
    assert!(matches!(
        next_item(&mut by_h, 5, "EOSE").await,
        SubscriptionItem::Eose { .. }
    ));
    match next_item(&mut by_p, 5, "stored #p event").await {
        SubscriptionItem::Event { event, .. } => assert_eq!(event, stored_p),
        other => panic!("expected the stored event, got {other:?}"),
    }
    assert!(matches!(
        next_item(&mut by_p, 5, "EOSE").await,
        SubscriptionItem::Eose { .. }
    ));

    // Live: only matching events arrive.
    let live_other = group_event(&bob, &other_group, "live other", now());
    let live_h = group_event(&bob, &group, "live in group", now());
    let live_p = EventBuilder::new(Kind::GIFT_WRAP, "live wrap")
        .tag(Tag::public_key(&bob.public_key()))
        .sign(&alice, now())
        .unwrap();
    for ev in [&live_other, &live_h, &live_p] {
        pool.publish_until_accepted(ev, 1).await.unwrap();
    }
    assert_eq!(next_event(&mut by_h, 5, "live #h event").await, live_h);
    assert_eq!(next_event(&mut by_p, 5, "live #p event").await, live_p);
    assert_quiet(&mut by_h, 300).await;
    assert_quiet(&mut by_p, 100).await;
    assert_eq!(pool.stats().invalid_events(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_killed_and_restarted_loses_nothing_and_duplicates_nothing() {
    let a = relay().await;
    let mut b = relay().await;
    let (ua, ub) = (a.url(), b.url());
    let url_b = RelayUrl::parse(&ub).unwrap();

    // The subscriber reconnects after 1.5..3 s, so the gap event below is published
    // to B while the subscriber is certainly away from it (a restart takes ~30 ms).
    let mut cfg = fast_config();
    cfg.backoff = nipee_relay::Backoff {
        initial: Duration::from_secs(3),
        max: Duration::from_secs(3),
    };
    cfg.resubscribe_margin = Duration::from_secs(10);
    let sub_pool = Pool::connect(cfg, [&ua, &ub]).unwrap();
    sub_pool
        .wait_connected(2, Duration::from_secs(5))
        .await
        .unwrap();
    let mut notes = sub_pool.notifications();
    let pub_a = pool_on(std::slice::from_ref(&ua)).await;
    let pub_b = pool_on(std::slice::from_ref(&ub)).await;

    let k = keys();
    let group = random_hex(64);
    let t = now();
    // Old events on both relays.
    let old: Vec<Event> = (0..3)
        .map(|i| group_event(&k, &group, &format!("old {i}"), t.saturating_sub(600 - i)))
        .collect();
    for ev in &old {
        pub_a.publish_until_accepted(ev, 1).await.unwrap();
        pub_b.publish_until_accepted(ev, 1).await.unwrap();
    }
    let mut sub = sub_pool
        .subscribe(vec![
            Filter::new().kind(Kind::MLS_GROUP_MESSAGE).group(&group),
        ])
        .unwrap();
    let mut got: Vec<Event> = Vec::new();
    let mut eose = 0;
    while eose < 2 {
        match next_item(&mut sub, 5, "backfill").await {
            SubscriptionItem::Event { event, .. } => got.push(event),
            SubscriptionItem::Eose { .. } => eose += 1,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(got.len(), 3, "each stored event exactly once");

    // A live event on both relays.
    let live = group_event(&k, &group, "live", t.saturating_sub(300));
    pub_a.publish_until_accepted(&live, 1).await.unwrap();
    pub_b.publish_until_accepted(&live, 1).await.unwrap();
    got.push(next_event(&mut sub, 5, "live event").await);
    // Let B's copy of the live event arrive (it is counted as a duplicate).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let b_before = sub_pool.stats().relay(&url_b).unwrap().clone();
    assert_eq!(b_before.events_received, 4);

    // Kill B mid-run.
    b.stop();
    let wait_down = async {
        loop {
            if let Ok(Notification::Disconnected { relay, .. }) = notes.recv().await
                && relay == url_b
            {
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(5), wait_down)
        .await
        .expect("B's disconnect noticed");

    // While B is down: an event only A gets.
    let only_a = group_event(&k, &group, "only on A", now());
    pub_a.publish_until_accepted(&only_a, 1).await.unwrap();
    // B comes back (same port, same database) and gets an event only it has, before
    // the subscriber has reconnected to it.
    let restarting = Instant::now();
    b.restart_async().await.unwrap();
    eprintln!("relay restart took {:?}", restarting.elapsed());
    pub_b
        .wait_connected(1, Duration::from_secs(5))
        .await
        .unwrap();
    let only_b = group_event(&k, &group, "only on B", now());
    pub_b.publish_until_accepted(&only_b, 1).await.unwrap();
    assert!(
        !sub_pool.stats().relay(&url_b).unwrap().connected,
        "the subscriber reconnected too early for this test to prove the re-issue"
    );

    // Two events, and a second EOSE from B: its re-issued subscription.
    let (mut new_events, mut b_eose) = (0, false);
    while new_events < 2 || !b_eose {
        match next_item(&mut sub, 8, "events published around the outage").await {
            SubscriptionItem::Event { event, .. } => {
                got.push(event);
                new_events += 1;
            }
            SubscriptionItem::Eose { relay } => {
                assert_eq!(relay, url_b, "only B reconnected");
                b_eose = true;
            }
            other => panic!("{other:?}"),
        }
    }
    assert_quiet(&mut sub, 500).await;

    let ids: HashSet<_> = got.iter().map(Event::id).collect();
    assert_eq!(ids.len(), got.len(), "no event delivered twice");
    let want: HashSet<_> = old
        .iter()
        .chain([&live, &only_a, &only_b])
        .map(Event::id)
        .collect();
    assert_eq!(ids, want, "no event lost");

    let b_after = sub_pool.stats().relay(&url_b).unwrap().clone();
    assert_eq!(b_after.connects, 2);
    assert_eq!(b_after.disconnects, 1);
    // The re-issued REQ carried `since` = newest from B (the live event) - 10 s, so B
    // re-sent only the live event and the gap event, not the three old ones.
    assert_eq!(b_after.events_received - b_before.events_received, 2);
    drop(a);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_challenge_is_answered_and_nothing_waits_for_its_ok() {
    let mut opts = TestRelayOptions::default();
    opts.nip42_auth = true;
    let r = TestRelay::start_with_async(opts).await.unwrap();
    let k = keys();
    let pool = Pool::with_signer(fast_config(), Arc::new(k.clone())).unwrap();
    let mut notes = pool.notifications();
    let url = pool.add_relay(&r.url()).unwrap();

    let auth_id = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if let Ok(Notification::AuthSent { relay, event_id }) = notes.recv().await {
                assert_eq!(relay, url);
                break event_id;
            }
        }
    })
    .await
    .expect("AUTH sent after the challenge");
    assert_eq!(pool.stats().relays[0].auth_sent, 1);

    // nostr-rs-relay sends no OK for a good AUTH; the connection keeps working.
    let note = EventBuilder::text_note("after auth")
        .sign(&k, now())
        .unwrap();
    assert_ne!(note.id(), auth_id);
    let out = pool.publish(&note).await;
    assert!(out.results[0].1.as_ref().unwrap().accepted);
    let mut sub = pool.subscribe(vec![Filter::new().id(note.id())]).unwrap();
    assert_eq!(next_event(&mut sub, 5, "own note").await, note);
}
