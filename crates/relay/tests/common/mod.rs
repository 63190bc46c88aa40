//! Helpers shared by the integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nipee_nostr::{Event, EventBuilder, Keys, Kind, Tag, Timestamp};
use nipee_relay::{Backoff, PoolConfig, Subscription, SubscriptionItem};

/// A config with short timeouts so that every test is bounded to a few seconds.
pub fn fast_config() -> PoolConfig {
    let mut c = PoolConfig::default();
    c.connect_timeout = Duration::from_secs(2);
    c.ok_timeout = Duration::from_secs(3);
    c.write_timeout = Duration::from_secs(2);
    c.backoff = Backoff {
        initial: Duration::from_millis(200),
        max: Duration::from_secs(1),
    };
    c
}

pub fn now() -> Timestamp {
    Timestamp::from_secs(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
}

pub fn keys() -> Keys {
    Keys::generate(&mut rand::rng())
}

/// A kind-445 group message with an `h` tag, signed by `keys`.
pub fn group_event(keys: &Keys, group: &str, content: &str, at: Timestamp) -> Event {
    EventBuilder::new(Kind::MLS_GROUP_MESSAGE, content)
        .tag(Tag::group(group))
        .sign(keys, at)
        .unwrap()
}

/// `n` random hex characters (unique group ids per test run).
pub fn random_hex(n: usize) -> String {
    use rand::RngExt as _;
    let mut rng = rand::rng();
    (0..n)
        .map(|_| char::from_digit(rng.random_range(0..16u32), 16).unwrap())
        .collect()
}

/// The next item within `secs` seconds, or a panic naming `what`.
pub async fn next_item(sub: &mut Subscription, secs: u64, what: &str) -> SubscriptionItem {
    match tokio::time::timeout(Duration::from_secs(secs), sub.next_item()).await {
        Ok(Some(item)) => item,
        Ok(None) => panic!("subscription ended while waiting for {what}"),
        Err(_) => panic!("timed out after {secs}s waiting for {what}"),
    }
}

/// The next event within `secs` seconds.
pub async fn next_event(sub: &mut Subscription, secs: u64, what: &str) -> Event {
    match tokio::time::timeout(Duration::from_secs(secs), sub.next_event()).await {
        Ok(Some((_, ev))) => ev,
        Ok(None) => panic!("subscription ended while waiting for {what}"),
        Err(_) => panic!("timed out after {secs}s waiting for {what}"),
    }
}

/// Asserts that nothing arrives for `millis`.
pub async fn assert_quiet(sub: &mut Subscription, millis: u64) {
    if let Ok(Some(item)) =
        tokio::time::timeout(Duration::from_millis(millis), sub.next_item()).await
    {
        panic!("unexpected item: {item:?}");
    }
}

pub type Server = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

/// Serves WebSocket connections on a free loopback port with `handler`.
pub async fn serve<F, Fut>(handler: F) -> String
where
    F: Fn(Server) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    let handler = std::sync::Arc::new(handler);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let handler = handler.clone();
            tokio::spawn(async move {
                if let Ok(ws) = tokio_tungstenite::accept_async(tcp).await {
                    handler(ws).await;
                }
            });
        }
    });
    url
}

/// Reads until a client message labelled `label` arrives; returns it.
pub async fn read_until(ws: &mut Server, label: &str) -> Option<serde_json::Value> {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    while let Some(Ok(msg)) = ws.next().await {
        if let Message::Text(t) = msg {
            let v: serde_json::Value = serde_json::from_str(t.as_str()).ok()?;
            if v[0] == label {
                return Some(v);
            }
        }
    }
    None
}

/// Sends one JSON message; false if the connection is gone.
pub async fn send_json(ws: &mut Server, v: serde_json::Value) -> bool {
    use futures_util::SinkExt;
    ws.send(tokio_tungstenite::tungstenite::Message::text(v.to_string()))
        .await
        .is_ok()
}

/// The event as a JSON value (for `["EVENT", sub, <value>]`).
pub fn event_value(ev: &Event) -> serde_json::Value {
    serde_json::from_str(&ev.to_json()).unwrap()
}

/// A tiny in-test relay: stored events answer a `REQ` (matched with `Filter::matches`,
/// so `since` is honoured) followed by `EOSE`; `EVENT`s are stored and answered `OK`;
/// live pushes go to open subscriptions; `kick` drops every connection. Every `REQ`'s
/// filters are recorded.
#[derive(Clone)]
pub struct MiniRelay {
    pub url: String,
    store: std::sync::Arc<std::sync::Mutex<Vec<Event>>>,
    reqs: std::sync::Arc<std::sync::Mutex<Vec<Vec<nipee_nostr::Filter>>>>,
    live: tokio::sync::broadcast::Sender<Event>,
    kick: tokio::sync::broadcast::Sender<()>,
}

impl MiniRelay {
    pub async fn start() -> MiniRelay {
        use futures_util::StreamExt;
        use nipee_nostr::Filter;
        use tokio_tungstenite::tungstenite::Message;
        let store = std::sync::Arc::new(std::sync::Mutex::new(Vec::<Event>::new()));
        let reqs = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (live, _) = tokio::sync::broadcast::channel::<Event>(64);
        let (kick, _) = tokio::sync::broadcast::channel::<()>(4);
        let (s, r, l, k) = (store.clone(), reqs.clone(), live.clone(), kick.clone());
        let url = serve(move |mut ws| {
            let (store, reqs, live, kick) = (s.clone(), r.clone(), l.clone(), k.clone());
            async move {
                let mut live_rx = live.subscribe();
                let mut kick_rx = kick.subscribe();
                let mut subs: Vec<(serde_json::Value, Vec<Filter>)> = Vec::new();
                loop {
                    tokio::select! {
                        msg = ws.next() => {
                            let Some(Ok(Message::Text(t))) = msg else { return };
                            let v: serde_json::Value = serde_json::from_str(t.as_str()).unwrap();
                            if v[0] == "REQ" {
                                let filters: Vec<Filter> = v.as_array().unwrap()[2..]
                                    .iter()
                                    .map(|f| Filter::from_value(f).unwrap())
                                    .collect();
                                reqs.lock().unwrap().push(filters.clone());
                                let stored: Vec<Event> = store.lock().unwrap().clone();
                                for ev in stored.iter().filter(|e| filters.iter().any(|f| f.matches(e))) {
                                    let m = serde_json::json!(["EVENT", v[1], event_value(ev)]);
                                    if !send_json(&mut ws, m).await { return; }
                                }
                                if !send_json(&mut ws, serde_json::json!(["EOSE", v[1]])).await { return; }
                                subs.push((v[1].clone(), filters));
                            } else if v[0] == "CLOSE" {
                                subs.retain(|(id, _)| *id != v[1]);
                            } else if v[0] == "EVENT" {
                                let ev = Event::from_value(&v[1]).unwrap();
                                store.lock().unwrap().push(ev.clone());
                                let ok = serde_json::json!(["OK", ev.id().to_hex(), true, ""]);
                                if !send_json(&mut ws, ok).await { return; }
                                let _ = live.send(ev);
                            }
                        }
                        ev = live_rx.recv() => {
                            let Ok(ev) = ev else { continue };
                            for (id, filters) in &subs {
                                if filters.iter().any(|f| f.matches(&ev)) {
                                    let m = serde_json::json!(["EVENT", id, event_value(&ev)]);
                                    if !send_json(&mut ws, m).await { return; }
                                }
                            }
                        }
                        _ = kick_rx.recv() => return,
                    }
                }
            }
        })
        .await;
        MiniRelay {
            url,
            store,
            reqs,
            live,
            kick,
        }
    }

    /// Stores `ev` without telling open subscriptions (as if it arrived while a
    /// subscriber was away).
    pub fn add_stored(&self, ev: &Event) {
        self.store.lock().unwrap().push(ev.clone());
    }

    /// Stores `ev` and sends it to matching open subscriptions.
    pub fn push_live(&self, ev: &Event) {
        self.store.lock().unwrap().push(ev.clone());
        let _ = self.live.send(ev.clone());
    }

    /// Drops every open connection.
    pub fn kick(&self) {
        let _ = self.kick.send(());
    }

    /// The filters of every `REQ` received so far.
    pub fn reqs(&self) -> Vec<Vec<nipee_nostr::Filter>> {
        self.reqs.lock().unwrap().clone()
    }
}
