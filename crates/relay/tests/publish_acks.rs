//! Publishing reports, per relay and with its URL, who accepted, who rejected (with the
//! machine-readable prefix) and who did not answer; and it can target a subset of the
//! pool, as a NIP-EE commit needs (acknowledged only by one of the group's relays).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use futures_util::StreamExt;
use nipee_nostr::EventBuilder;
use nipee_relay::test_relay::TestRelay;
use nipee_relay::{Error, Pool, Prefix, RelayUrl};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

/// Answers every EVENT with `OK <accepted> <message>`; records the event ids it saw.
async fn answering(accepted: bool, message: &'static str) -> (String, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let url = serve(move |mut ws| {
        let seen = s.clone();
        async move {
            while let Some(ev) = read_until(&mut ws, "EVENT").await {
                seen.lock()
                    .unwrap()
                    .push(ev[1]["id"].as_str().unwrap().to_owned());
                send_json(&mut ws, json!(["OK", ev[1]["id"], accepted, message])).await;
            }
        }
    })
    .await;
    (url, seen)
}

/// Reads everything and never answers; records the EVENTs it saw.
async fn silent() -> (String, Arc<Mutex<Vec<Value>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let url = serve(move |mut ws| {
        let seen = s.clone();
        async move {
            while let Some(Ok(Message::Text(t))) = ws.next().await {
                let v: Value = serde_json::from_str(t.as_str()).unwrap();
                if v[0] == "EVENT" {
                    seen.lock().unwrap().push(v);
                }
            }
        }
    })
    .await;
    (url, seen)
}

fn url(s: &str) -> RelayUrl {
    RelayUrl::parse(s).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_relay_is_reported_as_accepted_rejected_or_unanswered() {
    let (acc, _) = answering(true, "duplicate: already have it").await;
    let (rej, _) = answering(false, "blocked: not on the allow list").await;
    let (quiet, _) = silent().await;
    let mut cfg = fast_config();
    cfg.ok_timeout = Duration::from_secs(1);
    let pool = Pool::connect(cfg, [&acc, &rej, &quiet]).unwrap();
    pool.wait_connected(3, Duration::from_secs(5))
        .await
        .unwrap();
    let ev = EventBuilder::text_note("who takes it?")
        .sign(&keys(), now())
        .unwrap();

    let out = pool.publish(&ev).await;
    assert_eq!(out.results.len(), 3);
    assert_eq!(out.accepted_by(), vec![&url(&acc)]);
    let accepted = out.result(&url(&acc)).unwrap().as_ref().unwrap();
    assert_eq!(accepted.reason.prefix(), &Prefix::Duplicate);
    let rejected = out.rejected_by();
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].0, &url(&rej));
    assert_eq!(rejected[0].1.prefix(), &Prefix::Blocked);
    assert_eq!(rejected[0].1.detail(), "not on the allow list");
    let unanswered = out.unanswered();
    assert_eq!(unanswered.len(), 1);
    assert_eq!(unanswered[0].0, &url(&quiet));
    assert!(matches!(unanswered[0].1, Error::Timeout { .. }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishing_to_a_subset_leaves_the_other_relays_untouched() {
    let (acc, acc_seen) = answering(true, "").await;
    let (rej, rej_seen) = answering(false, "invalid: no").await;
    let (quiet, quiet_seen) = silent().await;
    let pool = Pool::connect(fast_config(), [&acc, &rej, &quiet]).unwrap();
    pool.wait_connected(3, Duration::from_secs(5))
        .await
        .unwrap();
    let ev = EventBuilder::text_note("for two of three")
        .sign(&keys(), now())
        .unwrap();

    let subset = [url(&rej), url(&acc), url(&rej)];
    let out = pool.publish_to(&ev, Some(&subset)).await;
    let asked: Vec<&RelayUrl> = out.results.iter().map(|(u, _)| u).collect();
    assert_eq!(
        asked,
        vec![&url(&rej), &url(&acc)],
        "in order, duplicates merged"
    );
    assert!(out.accepted_by_any_of(&[url(&acc)]));
    assert!(!out.accepted_by_any_of(&[url(&rej), url(&quiet)]));
    assert_eq!(acc_seen.lock().unwrap().len(), 1);
    assert_eq!(rej_seen.lock().unwrap().len(), 1);

    // "Acknowledged by one of the group's relays" when the group's only relay refuses.
    let group_relays = [url(&rej)];
    let e = pool
        .publish_until_accepted_to(&ev, 1, Some(&group_relays))
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::NotEnoughAccepted { accepted: 0, .. }),
        "{e}"
    );
    assert!(e.to_string().contains("invalid: no"), "{e}");
    // A relay outside the pool answers NotInPool; more acceptances than relays asked is
    // misuse.
    let stranger = [url("wss://not.in.pool.example")];
    let out = pool.publish_to(&ev, Some(&stranger)).await;
    assert!(matches!(out.unanswered()[0].1, Error::NotInPool { .. }));
    let e = pool
        .publish_until_accepted_to(&ev, 2, Some(&group_relays))
        .await
        .unwrap_err();
    assert_eq!(e.kind().as_str(), "misuse");

    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        quiet_seen.lock().unwrap().is_empty(),
        "the silent relay got nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_is_acknowledged_by_the_group_relay_on_the_real_relay() {
    let started = Instant::now();
    let real = TestRelay::start_async()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (other, other_seen) = silent().await;
    let pool = Pool::connect(fast_config(), [real.url(), other.clone()]).unwrap();
    pool.wait_connected(2, Duration::from_secs(5))
        .await
        .unwrap();
    let k = keys();
    let commit = group_event(&k, &random_hex(64), "commit", now());
    let group_relays = [url(&real.url())];
    let out = pool
        .publish_until_accepted_to(&commit, 1, Some(&group_relays))
        .await
        .unwrap();
    assert_eq!(out.accepted_by(), vec![&url(&real.url())]);
    let status = out.results[0].1.as_ref().unwrap();
    assert!(status.accepted, "{status:?}");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(other_seen.lock().unwrap().is_empty());

    // And a rejection from the real relay carries its prefix.
    let mut bad: Value = serde_json::from_str(&commit.to_json()).unwrap();
    bad["content"] = json!("tampered");
    let bad = nipee_nostr::Event::from_json_unchecked(&bad.to_string()).unwrap();
    let out = pool.publish_to(&bad, Some(&group_relays)).await;
    let (who, why) = out.rejected_by()[0];
    assert_eq!(who, &url(&real.url()));
    assert_eq!(why.prefix(), &Prefix::Invalid, "{why}");
    eprintln!(
        "real-relay subset publish test took {:?}",
        started.elapsed()
    );
}
