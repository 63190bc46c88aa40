//! Discovery fetches from relays other users named: filtered URLs, at most
//! `max_relays` of them, on temporary connections that are closed afterwards and never
//! join the caller's pool.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::*;
use futures_util::StreamExt;
use nipee_nostr::{EventBuilder, Filter, Kind};
use nipee_relay::discovery::{DiscoveryConfig, fetch_from};
use nipee_relay::test_relay::TestRelay;
use nipee_relay::{FetchStatus, Pool, RelayUrl, UrlRefusal};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

/// Counts connections opened, and connections the client closed with a close frame.
#[derive(Default)]
struct Counts {
    opened: AtomicUsize,
    closed_by_client: AtomicUsize,
}

/// Answers a REQ with EOSE and records how the connection ends.
async fn eose_endpoint(counts: Arc<Counts>) -> String {
    serve(move |mut ws| {
        let counts = counts.clone();
        async move {
            counts.opened.fetch_add(1, Ordering::SeqCst);
            while let Some(msg) = ws.next().await {
                match msg {
                    Ok(Message::Text(t)) => {
                        let v: serde_json::Value = serde_json::from_str(t.as_str()).unwrap();
                        if v[0] == "REQ" {
                            send_json(&mut ws, json!(["EOSE", v[1]])).await;
                        }
                    }
                    Ok(Message::Close(_)) => {
                        counts.closed_by_client.fetch_add(1, Ordering::SeqCst);
                        return;
                    }
                    Ok(_) => {}
                    Err(_) => return,
                }
            }
        }
    })
    .await
}

fn private_ok() -> DiscoveryConfig {
    let mut c = DiscoveryConfig::default();
    c.allow_private = true;
    c.timeout = Duration::from_secs(5);
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_most_max_relays_are_contacted_and_every_connection_is_closed() {
    let counts: Vec<Arc<Counts>> = (0..10).map(|_| Arc::new(Counts::default())).collect();
    let mut urls = Vec::new();
    for c in &counts {
        urls.push(eose_endpoint(c.clone()).await);
    }
    // A duplicate spelling of the first one does not use up a slot.
    urls.insert(1, format!("{}/", urls[0]));

    let report = fetch_from(
        &urls,
        vec![Filter::new().kind(Kind::MLS_KEY_PACKAGE)],
        &private_ok(),
    )
    .await
    .unwrap();
    assert_eq!(report.relays.len(), 8);
    assert!(
        report
            .relays
            .iter()
            .all(|(_, s)| *s == FetchStatus::Complete)
    );
    let over: Vec<&str> = report.refused.iter().map(|r| r.url.as_str()).collect();
    assert_eq!(over, [urls[9].as_str(), urls[10].as_str()]);
    assert!(
        report
            .refused
            .iter()
            .all(|r| r.reason == UrlRefusal::OverLimit { max: 8 })
    );

    // Each connection was closed with a close frame before fetch_from returned; the
    // endpoints' tasks see it shortly after.
    let closed = || -> usize {
        counts
            .iter()
            .map(|c| c.closed_by_client.load(Ordering::SeqCst))
            .sum()
    };
    tokio::time::timeout(Duration::from_secs(3), async {
        while closed() < 8 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("eight close frames");
    let opened: Vec<usize> = counts
        .iter()
        .map(|c| c.opened.load(Ordering::SeqCst))
        .collect();
    assert_eq!(opened, [1, 1, 1, 1, 1, 1, 1, 1, 0, 0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_and_local_urls_are_refused_by_default_and_nothing_is_contacted() {
    let counts = Arc::new(Counts::default());
    let local = eose_endpoint(counts.clone()).await;
    let urls = [
        local.clone(),
        "ws://localhost:1".to_owned(),
        "ws://[::1]:1".to_owned(),
        "wss://10.1.2.3".to_owned(),
        "https://relay.example.com".to_owned(),
    ];
    let report = fetch_from(&urls, vec![Filter::new()], &DiscoveryConfig::default())
        .await
        .unwrap();
    let reasons: Vec<&UrlRefusal> = report.refused.iter().map(|r| &r.reason).collect();
    assert_eq!(reasons.len(), 5);
    assert_eq!(reasons[0], &UrlRefusal::Loopback);
    assert_eq!(reasons[1], &UrlRefusal::LocalName);
    assert_eq!(reasons[2], &UrlRefusal::Loopback);
    assert_eq!(reasons[3], &UrlRefusal::Private);
    assert!(matches!(reasons[4], UrlRefusal::Malformed(_)));
    assert!(report.relays.is_empty());
    assert!(!report.is_complete());
    assert_eq!(counts.opened.load(Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_discovery_fetch_leaves_the_callers_pool_as_it_was() {
    let mine = MiniRelay::start().await;
    let pool = Pool::connect(fast_config(), [&mine.url]).unwrap();
    pool.wait_connected(1, Duration::from_secs(5))
        .await
        .unwrap();
    let theirs = MiniRelay::start().await;
    let k = keys();
    let kp = EventBuilder::new(Kind::MLS_KEY_PACKAGE, "their key package")
        .sign(&k, now())
        .unwrap();
    theirs.add_stored(&kp);

    let filters = vec![
        Filter::new()
            .kind(Kind::MLS_KEY_PACKAGE)
            .author(k.public_key()),
    ];
    let report = fetch_from(&[theirs.url.as_str()], filters, &private_ok())
        .await
        .unwrap();
    assert!(report.is_complete(), "{report:?}");
    assert_eq!(report.events, vec![kp]);
    assert_eq!(pool.relays(), vec![RelayUrl::parse(&mine.url).unwrap()]);
    assert_eq!(pool.stats().relays[0].connects, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_packages_are_fetched_from_the_real_relay_they_were_published_to() {
    let started = Instant::now();
    let real = TestRelay::start_async()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let publisher = Pool::connect(fast_config(), [real.url()]).unwrap();
    let k = keys();
    let kp = EventBuilder::new(Kind::MLS_KEY_PACKAGE, "kp on the real relay")
        .sign(&k, now())
        .unwrap();
    publisher.publish_until_accepted(&kp, 1).await.unwrap();

    let filters = vec![
        Filter::new()
            .kind(Kind::MLS_KEY_PACKAGE)
            .author(k.public_key()),
    ];
    let fetched = Instant::now();
    let report = fetch_from(&[real.url()], filters.clone(), &private_ok())
        .await
        .unwrap();
    eprintln!(
        "discovery fetch from the real relay took {:?}",
        fetched.elapsed()
    );
    assert!(report.is_complete(), "{report:?}");
    assert_eq!(report.events, vec![kp]);

    // The test relay listens on 127.0.0.1: refused without allow_private.
    let refused = fetch_from(&[real.url()], filters, &DiscoveryConfig::default())
        .await
        .unwrap();
    assert_eq!(refused.refused[0].reason, UrlRefusal::Loopback);
    assert!(refused.events.is_empty());
    eprintln!("real-relay discovery test took {:?}", started.elapsed());
}
