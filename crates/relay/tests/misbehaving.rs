//! The pool against endpoints that misbehave: garbage frames, forged events, stalls,
//! slow consumers, and NIP-42 flows. The misbehaving endpoints are small WebSocket
//! servers inside the test, on 127.0.0.1; one test also uses the real relay.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use futures_util::{SinkExt, StreamExt};
use nipee_nostr::{Event, Filter, Kind, Timestamp};
use nipee_relay::test_relay::TestRelay;
use nipee_relay::{Pool, RelayUrl, SubscriptionItem};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;

fn forge(ev: &Event) -> Value {
    let mut v: Value = serde_json::from_str(&ev.to_json()).unwrap();
    v["content"] = json!("forged content");
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_stalling_endpoints_do_not_stall_the_pool() {
    let real = TestRelay::start_async()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let k = keys();
    let group = random_hex(64);
    let target = group_event(&k, &group, "the real one", now());
    let forged = forge(&target);

    // Sends garbage, a forged copy of `target`, then stalls without reading.
    let garbage = serve(move |mut ws| {
        let forged = forged.clone();
        async move {
            let Some(req) = read_until(&mut ws, "REQ").await else {
                return;
            };
            let sub = req[1].clone();
            let frames = [
                Message::text("this is not json {{{"),
                Message::binary(vec![0xff, 0x00, 0x13]),
                Message::text(r#"["OK","zz",true,""]"#),
                Message::text(json!(["EVENT", sub, forged]).to_string()),
                Message::text(json!(["EVENT", "no-such-sub", {"id": "00"}]).to_string()),
                Message::text(r#"["NOTICE","hello from the garbage relay"]"#),
            ];
            for f in frames {
                if ws.send(f).await.is_err() {
                    return;
                }
            }
            // Stall: keep the connection open, read nothing, answer nothing.
            tokio::time::sleep(Duration::from_secs(60)).await;
            drop(ws);
        }
    })
    .await;
    // Accepts TCP and never completes the WebSocket handshake.
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_url = format!("ws://{}", silent.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((tcp, _)) = silent.accept().await {
            held.push(tcp);
        }
    });

    let mut cfg = fast_config();
    cfg.connect_timeout = Duration::from_secs(1);
    cfg.ok_timeout = Duration::from_secs(2);
    let pool = Pool::connect(cfg, [real.url(), garbage.clone(), silent_url.clone()]).unwrap();
    pool.wait_connected(2, Duration::from_secs(5))
        .await
        .unwrap();
    let real_url = RelayUrl::parse(&real.url()).unwrap();
    let garbage_url = RelayUrl::parse(&garbage).unwrap();

    let mut sub = pool
        .subscribe(vec![
            Filter::new().kind(Kind::MLS_GROUP_MESSAGE).group(&group),
        ])
        .unwrap();
    match next_item(&mut sub, 3, "EOSE from the real relay").await {
        SubscriptionItem::Eose { relay } => assert_eq!(relay, real_url),
        other => panic!("nothing but the real relay's EOSE may come first: {other:?}"),
    }

    // The garbage has been read (its last frame is the NOTICE) before the real event
    // is published, so the forged copy really comes first.
    tokio::time::timeout(Duration::from_secs(3), async {
        while pool.stats().relay(&garbage_url).unwrap().notices == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("garbage frames read");
    assert_eq!(pool.stats().relay(&garbage_url).unwrap().invalid_events, 1);

    // One acceptance is enough and arrives fast, whatever the others do.
    let started = Instant::now();
    let out = pool.publish_until_accepted(&target, 1).await.unwrap();
    assert_eq!(out.accepted_by(), vec![&real_url]);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    // The real event is delivered although a forged copy with the same id came first.
    let (from, ev) = tokio::time::timeout(Duration::from_secs(2), sub.next_event())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((from, ev), (real_url.clone(), target.clone()));

    // Waiting for every relay ends at the OK timeout, with a timeout for the bad ones.
    let started = Instant::now();
    let all = pool.publish(&target).await;
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(all.accepted(), 1);
    assert!(matches!(
        all.result(&garbage_url),
        Some(Err(nipee_relay::Error::Timeout { .. }))
    ));
    assert!(matches!(
        all.result(&RelayUrl::parse(&silent_url).unwrap()),
        Some(Err(nipee_relay::Error::Timeout { .. }))
    ));

    let stats = pool.stats();
    let g = stats.relay(&garbage_url).unwrap();
    assert_eq!(g.invalid_events, 1, "{g:?}");
    assert!(g.malformed_messages >= 3, "{g:?}");
    assert_eq!(g.unmatched_events, 1, "{g:?}");
    assert_eq!(g.notices, 1, "{g:?}");
    assert_eq!(g.events_delivered, 0);
    assert_eq!(stats.relay(&real_url).unwrap().events_delivered, 1);
    assert!(!stats.relays[2].connected);
    assert_quiet(&mut sub, 200).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_consumer_gets_back_pressure_not_unbounded_buffering() {
    const N: usize = 200;
    let k = keys();
    let group = random_hex(64);
    let events: Vec<Event> = (0..N)
        .map(|i| group_event(&k, &group, &format!("event {i}"), now()))
        .collect();
    let to_send = events.clone();
    let url = serve(move |mut ws| {
        let to_send = to_send.clone();
        async move {
            let Some(req) = read_until(&mut ws, "REQ").await else {
                return;
            };
            for ev in &to_send {
                let v: Value = serde_json::from_str(&ev.to_json()).unwrap();
                if ws
                    .send(Message::text(json!(["EVENT", req[1], v]).to_string()))
                    .await
                    .is_err()
                {
                    return;
                }
            }
            let _ = ws
                .send(Message::text(json!(["EOSE", req[1]]).to_string()))
                .await;
            while ws.next().await.is_some() {}
        }
    })
    .await;

    let mut cfg = fast_config();
    cfg.subscription_queue = 4;
    let pool = Pool::connect(cfg, [&url]).unwrap();
    let mut sub = pool.subscribe(vec![Filter::new().group(&group)]).unwrap();
    // Let the queue fill, then give the reader time to (wrongly) read on.
    tokio::time::timeout(Duration::from_secs(5), async {
        while pool.stats().relays[0].events_received < 4 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the first events arrive");
    tokio::time::sleep(Duration::from_millis(500)).await;
    // The reader waits for the consumer: at most the queue plus the one in hand.
    let received = pool.stats().relays[0].events_received;
    assert!((4..=5).contains(&received), "received {received}");

    let mut ids = HashSet::new();
    for _ in 0..N {
        ids.insert(next_event(&mut sub, 5, "flooded event").await.id());
    }
    assert_eq!(ids.len(), N);
    let want: HashSet<_> = events.iter().map(Event::id).collect();
    assert_eq!(ids, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_answers_the_challenge_and_publish_does_not_wait_for_an_auth_ok() {
    let k = keys();
    let (seen_tx, mut seen_rx) = mpsc::unbounded_channel::<Event>();
    let url = serve(move |mut ws| {
        let seen_tx = seen_tx.clone();
        async move {
            let _ = ws.send(Message::text(r#"["AUTH","chal-123"]"#)).await;
            let Some(auth) = read_until(&mut ws, "AUTH").await else {
                return;
            };
            let ev = Event::from_value(&auth[1]).expect("AUTH event verifies");
            let _ = seen_tx.send(ev);
            // Like nostr-rs-relay: no OK for a good AUTH. Then answer events.
            while let Some(ev) = read_until(&mut ws, "EVENT").await {
                let id = ev[1]["id"].clone();
                let _ = ws
                    .send(Message::text(json!(["OK", id, true, ""]).to_string()))
                    .await;
            }
        }
    })
    .await;
    let pool = Pool::with_signer(fast_config(), Arc::new(k.clone())).unwrap();
    let relay = pool.add_relay(&url).unwrap();

    let auth = tokio::time::timeout(Duration::from_secs(5), seen_rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(auth.kind(), Kind::new(22242));
    assert_eq!(auth.pubkey(), k.public_key());
    assert_eq!(auth.tags().first_value("challenge"), Some("chal-123"));
    assert_eq!(auth.tags().first_value("relay"), Some(relay.as_str()));
    assert!(auth.created_at().as_u64().abs_diff(now().as_u64()) < 60);

    let note = group_event(&k, "g", "after auth", now());
    let started = Instant::now();
    let out = pool.publish(&note).await;
    assert!(out.results[0].1.as_ref().unwrap().accepted);
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_required_rejection_is_retried_once_after_auth() {
    let k = keys();
    let url = serve(|mut ws| async move {
        // Challenge only after the first EVENT, and refuse that EVENT.
        let Some(first) = read_until(&mut ws, "EVENT").await else {
            return;
        };
        let id = first[1]["id"].clone();
        let _ = ws.send(Message::text(r#"["AUTH","late-challenge"]"#)).await;
        let _ = ws
            .send(Message::text(
                json!(["OK", id, false, "auth-required: sign in first"]).to_string(),
            ))
            .await;
        let mut authed = false;
        while let Some(Ok(Message::Text(t))) = ws.next().await {
            let v: Value = serde_json::from_str(t.as_str()).unwrap();
            if v[0] == "AUTH" {
                let ev = Event::from_value(&v[1]).unwrap();
                authed = ev.tags().first_value("challenge") == Some("late-challenge");
            } else if v[0] == "EVENT" {
                let (ok, msg) = if authed {
                    (true, "")
                } else {
                    (false, "auth-required: still not")
                };
                let _ = ws
                    .send(Message::text(
                        json!(["OK", v[1]["id"], ok, msg]).to_string(),
                    ))
                    .await;
            }
        }
    })
    .await;

    // Without a signer the rejection is reported as it is.
    let anonymous = Pool::connect(fast_config(), [&url]).unwrap();
    let note = group_event(&k, "g", "needs auth", now());
    let out = anonymous.publish(&note).await;
    let status = out.results[0].1.as_ref().unwrap();
    assert!(!status.accepted);
    assert_eq!(status.reason.prefix(), &nipee_relay::Prefix::AuthRequired);

    // With a signer: AUTH, then the event again, accepted.
    let signed_in = Pool::with_signer(fast_config(), Arc::new(k.clone())).unwrap();
    signed_in.add_relay(&url).unwrap();
    let out = signed_in.publish(&note).await;
    let status = out.results[0].1.as_ref().unwrap();
    assert!(status.accepted, "{status:?}");
    assert_eq!(signed_in.stats().relays[0].auth_sent, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_subscription_sends_close() {
    let (close_tx, close_rx) = oneshot::channel::<Value>();
    let close_tx = Arc::new(std::sync::Mutex::new(Some(close_tx)));
    let url = serve(move |mut ws| {
        let close_tx = close_tx.clone();
        async move {
            let Some(req) = read_until(&mut ws, "REQ").await else {
                return;
            };
            let _ = ws
                .send(Message::text(json!(["EOSE", req[1]]).to_string()))
                .await;
            if let Some(close) = read_until(&mut ws, "CLOSE").await {
                assert_eq!(close[1], req[1]);
                if let Some(tx) = close_tx.lock().unwrap().take() {
                    let _ = tx.send(close);
                }
            }
        }
    })
    .await;
    let pool = Pool::connect(fast_config(), [&url]).unwrap();
    let mut sub = pool
        .subscribe(vec![Filter::new().kind(Kind::TEXT_NOTE)])
        .unwrap();
    let id = sub.id().to_owned();
    assert!(matches!(
        next_item(&mut sub, 5, "EOSE").await,
        SubscriptionItem::Eose { .. }
    ));
    sub.close();
    let close = tokio::time::timeout(Duration::from_secs(5), close_rx)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(close, json!(["CLOSE", id]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_by_relay_is_reported_with_its_reason() {
    let url = serve(|mut ws| async move {
        if let Some(req) = read_until(&mut ws, "REQ").await {
            let _ = ws
                .send(Message::text(
                    json!(["CLOSED", req[1], "unsupported: filter too broad"]).to_string(),
                ))
                .await;
            while ws.next().await.is_some() {}
        }
    })
    .await;
    let pool = Pool::connect(fast_config(), [&url]).unwrap();
    let mut sub = pool.subscribe(vec![Filter::new()]).unwrap();
    match next_item(&mut sub, 5, "CLOSED").await {
        SubscriptionItem::Closed { reason, .. } => {
            assert_eq!(reason.prefix(), &nipee_relay::Prefix::Unsupported);
            assert_eq!(reason.detail(), "filter too broad");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wss_urls_speak_tls_through_rustls() {
    use tokio::io::AsyncReadExt;
    // A TCP endpoint that records the first bytes a client sends, then hangs up.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (first_tx, first_rx) = oneshot::channel::<Vec<u8>>();
    tokio::spawn(async move {
        if let Ok((mut tcp, _)) = listener.accept().await {
            let mut buf = [0u8; 5];
            if tcp.read_exact(&mut buf).await.is_ok() {
                let _ = first_tx.send(buf.to_vec());
            }
        }
    });
    let pool = Pool::connect(fast_config(), [format!("wss://127.0.0.1:{port}")]).unwrap();
    let mut notes = pool.notifications();
    let first = tokio::time::timeout(Duration::from_secs(5), first_rx)
        .await
        .unwrap()
        .unwrap();
    // A TLS record of type handshake (0x16), protocol 3.x: a ClientHello, not HTTP.
    assert_eq!(first[0], 0x16, "{first:?}");
    assert_eq!(first[1], 0x03, "{first:?}");
    let failed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if let Ok(nipee_relay::Notification::ConnectFailed { reason, .. }) = notes.recv().await
            {
                break reason;
            }
        }
    })
    .await
    .unwrap();
    assert!(!failed.is_empty());
    assert!(!pool.stats().relays[0].connected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_relay_is_detected_by_ping_and_reconnected() {
    // Completes the handshake, then neither reads (so pings go unanswered) nor writes.
    let url = serve(|ws| async move {
        tokio::time::sleep(Duration::from_secs(60)).await;
        drop(ws);
    })
    .await;
    let mut cfg = fast_config();
    cfg.ping_interval = Duration::from_millis(200);
    cfg.idle_timeout = Duration::from_millis(600);
    let pool = Pool::connect(cfg, [&url]).unwrap();
    let mut notes = pool.notifications();
    let reason = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if let Ok(nipee_relay::Notification::Disconnected { reason, .. }) = notes.recv().await {
                break reason;
            }
        }
    })
    .await
    .expect("the stall is noticed");
    assert!(reason.contains("stalled"), "{reason}");
    tokio::time::timeout(Duration::from_secs(5), async {
        while pool.stats().relays[0].connects < 2 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("and the relay is reconnected");
}

/// NIP-40: events whose `expiration` has passed (or is malformed) are dropped and counted;
/// events expiring later or never are delivered. With `drop_expired` off, all arrive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_events_are_dropped_and_counted() {
    use nipee_nostr::{EventBuilder, Tag};
    let k = keys();
    let t = now();
    let at = |secs: u64| Timestamp::from_secs(secs);
    let note = |content: &str, tag: Option<Tag>| {
        let mut b = EventBuilder::new(Kind::TEXT_NOTE, content);
        if let Some(tag) = tag {
            b = b.tag(tag);
        }
        b.sign(&k, t).unwrap()
    };
    let events = [
        note("expired", Some(Tag::expiration(at(t.as_u64() - 10)))),
        note("malformed", Some(Tag::new(["expiration", "soon"]))),
        note(
            "expires later",
            Some(Tag::expiration(at(t.as_u64() + 3600))),
        ),
        note("never expires", None),
    ];
    let frames: Vec<String> = events.iter().map(|e| e.to_json()).collect();
    let url = serve(move |mut ws| {
        let frames = frames.clone();
        async move {
            let Some(req) = read_until(&mut ws, "REQ").await else {
                return;
            };
            for f in &frames {
                let ev: Value = serde_json::from_str(f).unwrap();
                let _ = ws
                    .send(Message::text(json!(["EVENT", req[1], ev]).to_string()))
                    .await;
            }
            let _ = ws
                .send(Message::text(json!(["EOSE", req[1]]).to_string()))
                .await;
            while ws.next().await.is_some() {}
        }
    })
    .await;

    let pool = Pool::connect(fast_config(), [&url]).unwrap();
    let mut sub = pool
        .subscribe(vec![Filter::new().kind(Kind::TEXT_NOTE)])
        .unwrap();
    let mut got = Vec::new();
    loop {
        match next_item(&mut sub, 5, "events then EOSE").await {
            SubscriptionItem::Event { event, .. } => got.push(event.content().to_owned()),
            SubscriptionItem::Eose { .. } => break,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(got, ["expires later", "never expires"]);
    let stats = pool.stats();
    assert_eq!(stats.relays[0].expired_events, 2);
    assert_eq!(stats.relays[0].events_delivered, 2);

    let mut config = fast_config();
    config.drop_expired = false;
    let pool = Pool::connect(config, [&url]).unwrap();
    let mut sub = pool
        .subscribe(vec![Filter::new().kind(Kind::TEXT_NOTE)])
        .unwrap();
    let mut n = 0;
    while let SubscriptionItem::Event { .. } = next_item(&mut sub, 5, "events then EOSE").await {
        n += 1;
    }
    assert_eq!(n, 4);
    assert_eq!(pool.stats().relays[0].expired_events, 0);
}
