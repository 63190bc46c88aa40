//! One-shot fetches: per relay, a finished answer (`EOSE`) is told apart from one that
//! was closed, failed or timed out; against the real relay and against in-test
//! endpoints that misbehave.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use futures_util::StreamExt;
use nipee_nostr::{EventBuilder, EventId, Filter, Kind};
use nipee_relay::test_relay::TestRelay;
use nipee_relay::{FetchOptions, FetchStatus, Pool, Prefix, RelayUrl, UrlRefusal};
use serde_json::json;

fn url(s: &str) -> RelayUrl {
    RelayUrl::parse(s).unwrap()
}

/// A port on which nothing listens (bound, then released).
async fn dead_url() -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    format!("ws://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_relay_answering_without_the_event_means_it_is_not_there() {
    let started = Instant::now();
    let real = TestRelay::start_async()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let pool = Pool::connect(fast_config(), [real.url()]).unwrap();
    pool.wait_connected(1, Duration::from_secs(5))
        .await
        .unwrap();
    let k = keys();
    let present = EventBuilder::new(Kind::MLS_KEY_PACKAGE, "kp")
        .sign(&k, now())
        .unwrap();
    pool.publish_until_accepted(&present, 1).await.unwrap();

    let found = pool
        .fetch(
            vec![Filter::new().id(present.id())],
            FetchOptions::new(Duration::from_secs(5)),
        )
        .await
        .unwrap();
    assert!(found.is_complete(), "{found:?}");
    assert_eq!(found.events, vec![present.clone()]);

    let absent = EventId::from_bytes([7; 32]);
    let missing = pool
        .fetch(
            vec![Filter::new().id(absent)],
            FetchOptions::new(Duration::from_secs(5)),
        )
        .await
        .unwrap();
    assert!(missing.is_complete(), "{missing:?}");
    assert!(missing.events.is_empty());
    assert_eq!(missing.complete_relays(), vec![&url(&real.url())]);

    // The REQs were closed: the relay delivers nothing more to the pool.
    let later = EventBuilder::new(Kind::MLS_KEY_PACKAGE, "later")
        .sign(&k, now())
        .unwrap();
    pool.publish_until_accepted(&later, 1).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(pool.stats().relays[0].late_events, 0);
    eprintln!("real-relay fetch test took {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_that_cannot_be_reached_makes_the_answer_incomplete_at_once() {
    let started = Instant::now();
    let real = TestRelay::start_async()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let dead = dead_url().await;
    let pool = Pool::connect(fast_config(), [real.url(), dead.clone()]).unwrap();
    pool.wait_connected(1, Duration::from_secs(5))
        .await
        .unwrap();
    let filters = vec![Filter::new().id(EventId::from_bytes([9; 32]))];

    let asked = Instant::now();
    let report = pool
        .fetch(filters.clone(), FetchOptions::new(Duration::from_secs(5)))
        .await
        .unwrap();
    // The dead relay fails (refused connection or reconnect delay); nobody waits 5 s.
    assert!(
        asked.elapsed() < Duration::from_secs(2),
        "{:?}",
        asked.elapsed()
    );
    assert!(!report.is_complete());
    assert!(report.any_complete());
    assert_eq!(
        report.status(&url(&real.url())),
        Some(&FetchStatus::Complete)
    );
    match report.status(&url(&dead)) {
        Some(FetchStatus::Failed(reason)) => assert!(!reason.is_empty()),
        other => panic!("{other:?}"),
    }

    // Asking only the relay that answers gives a complete answer; naming a relay that
    // is not in the pool does not.
    let only_real = pool
        .fetch(
            filters.clone(),
            FetchOptions::new(Duration::from_secs(5)).relays(vec![url(&real.url())]),
        )
        .await
        .unwrap();
    assert!(only_real.is_complete(), "{only_real:?}");
    assert_eq!(only_real.relays.len(), 1);
    let stranger = pool
        .fetch(
            filters,
            FetchOptions::new(Duration::from_secs(5))
                .relays(vec![url(&real.url()), url("wss://not.in.pool.example")]),
        )
        .await
        .unwrap();
    assert!(!stranger.is_complete());
    assert_eq!(stranger.refused.len(), 1);
    assert_eq!(stranger.refused[0].reason, UrlRefusal::NotInPool);
    assert_eq!(stranger.complete_relays(), vec![&url(&real.url())]);
    eprintln!(
        "real-relay unreachable-relay fetch test took {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misbehaving_relays_are_reported_for_what_they_did() {
    let k = keys();
    let group = random_hex(64);
    let stored = group_event(&k, &group, "stored", now());
    let from_silent = group_event(&k, &group, "from the relay that never says EOSE", now());
    let after_eose = group_event(&k, &group, "sent after EOSE", now());

    let good = MiniRelay::start().await;
    good.add_stored(&stored);
    // Sends an event, then never EOSE.
    let v = event_value(&from_silent);
    let silent = serve(move |mut ws| {
        let v = v.clone();
        async move {
            let Some(req) = read_until(&mut ws, "REQ").await else {
                return;
            };
            send_json(&mut ws, json!(["EVENT", req[1], v])).await;
            while ws.next().await.is_some() {}
        }
    })
    .await;
    // Ends the request with CLOSED.
    let closing = serve(|mut ws| async move {
        let Some(req) = read_until(&mut ws, "REQ").await else {
            return;
        };
        send_json(&mut ws, json!(["CLOSED", req[1], "error: shutting down"])).await;
        while ws.next().await.is_some() {}
    })
    .await;
    // Hangs up on the REQ (after the pool is connected).
    let hanging_up = serve(|mut ws| async move {
        let _ = read_until(&mut ws, "REQ").await;
        drop(ws);
    })
    .await;
    // EOSE first, then an event: not part of the stored answer.
    let v = event_value(&after_eose);
    let late = serve(move |mut ws| {
        let v = v.clone();
        async move {
            let Some(req) = read_until(&mut ws, "REQ").await else {
                return;
            };
            send_json(&mut ws, json!(["EOSE", req[1]])).await;
            send_json(&mut ws, json!(["EVENT", req[1], v])).await;
            while ws.next().await.is_some() {}
        }
    })
    .await;

    let all = [
        good.url.clone(),
        silent.clone(),
        closing.clone(),
        hanging_up.clone(),
        late.clone(),
    ];
    let pool = Pool::connect(fast_config(), &all).unwrap();
    pool.wait_connected(all.len(), Duration::from_secs(5))
        .await
        .unwrap();
    let started = Instant::now();
    let report = pool
        .fetch(
            vec![Filter::new().kind(Kind::MLS_GROUP_MESSAGE).group(&group)],
            FetchOptions::new(Duration::from_millis(1500)),
        )
        .await
        .unwrap();
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(1400) && took < Duration::from_secs(3),
        "{took:?}"
    );

    assert_eq!(report.status(&url(&good.url)), Some(&FetchStatus::Complete));
    assert_eq!(report.status(&url(&silent)), Some(&FetchStatus::TimedOut));
    match report.status(&url(&closing)) {
        Some(FetchStatus::Closed(reason)) => assert_eq!(reason.prefix(), &Prefix::Error),
        other => panic!("{other:?}"),
    }
    match report.status(&url(&hanging_up)) {
        Some(FetchStatus::Failed(reason)) => {
            assert!(
                reason.contains("connection lost") && reason.contains("before EOSE"),
                "{reason}"
            )
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(report.status(&url(&late)), Some(&FetchStatus::Complete));
    assert!(!report.is_complete());
    assert_eq!(report.incomplete_relays().len(), 3);

    let mut contents: Vec<&str> = report.events.iter().map(|e| e.content()).collect();
    contents.sort_unstable();
    assert_eq!(contents, ["from the relay that never says EOSE", "stored"]);
    // The event sent after EOSE was received and set aside.
    tokio::time::timeout(Duration::from_secs(2), async {
        while pool.stats().relay(&url(&late)).unwrap().late_events == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the late event is counted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetch_stops_at_its_event_limit_and_says_so() {
    let k = keys();
    let group = random_hex(64);
    let relay = MiniRelay::start().await;
    for i in 0..5 {
        relay.add_stored(&group_event(&k, &group, &format!("{i}"), now()));
    }
    let pool = Pool::connect(fast_config(), [&relay.url]).unwrap();
    let mut options = FetchOptions::new(Duration::from_secs(5));
    options.max_events = 3;
    let report = pool
        .fetch(vec![Filter::new().group(&group)], options)
        .await
        .unwrap();
    assert_eq!(report.events.len(), 3);
    assert!(report.truncated);
    assert!(!report.is_complete());
    assert_eq!(report.relays[0].1, FetchStatus::EventLimit);
    assert!(
        pool.fetch(Vec::new(), FetchOptions::default())
            .await
            .is_err()
    );
}
