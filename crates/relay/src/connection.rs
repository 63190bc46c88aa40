//! One relay's task: connect, speak NIP-01/NIP-42, reconnect with backoff.
//!
//! Invariants:
//! - The task owns its socket; nothing else writes to it. Every write has a timeout, so a
//!   relay that stops reading cannot hold the task forever.
//! - An `EVENT` reaches a subscription only after its id and signature verified, it
//!   matched one of the subscription's filters, and its id was not delivered before.
//! - While disconnected, publishes wait in a bounded outbox; live subscriptions are
//!   re-issued on every new connection (see `relay_sub` for where they resume).
//! - A one-shot fetch gets one `REQ` on this relay and ends here at `EOSE`, `CLOSED`, a
//!   failed connection attempt, a reconnect delay or a lost connection; it is never
//!   re-issued.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use nipee_nostr::{Event, EventId, Timestamp};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio::sync::{Notify, mpsc};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

use crate::backoff::jitter_word;
use crate::error::Error;
use crate::message::{Prefix, Reason, RelayMessage, auth_message, close_message, req_message};
use crate::outcome::{Notification, OkStatus, SubscriptionItem};
use crate::relay_sub::RelaySub;
use crate::shared::{Command, Delivery, PendingPublish, Shared, SubShared, lock, now};
use crate::signer::auth_event;
use crate::stats::{Counters, bump};
use crate::url::RelayUrl;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

struct RelayTask {
    shared: Arc<Shared>,
    url: RelayUrl,
    counters: Arc<Counters>,
    subs: BTreeMap<String, RelaySub>,
    outbox: VecDeque<PendingPublish>,
    awaiting_ok: HashMap<EventId, Vec<PendingPublish>>,
    challenge: Option<String>,
    answered_challenge: Option<String>,
    auth_event_id: Option<EventId>,
    /// When the last frame of the current (or previous) connection arrived.
    last_rx: Instant,
    /// Wall-clock time of the last frame of the previous connection: live subscriptions
    /// never resume later than this (minus their margin).
    lost_at: Option<Timestamp>,
    /// Why the last connection attempt failed or the last connection ended, while not
    /// connected.
    last_error: Option<String>,
}

/// Why a connection ended.
enum End {
    Lost(String),
    Shutdown,
}

pub(crate) async fn run(
    shared: Arc<Shared>,
    url: RelayUrl,
    mut commands: mpsc::Receiver<Command>,
    wake: Arc<Notify>,
    counters: Arc<Counters>,
) {
    let mut task = RelayTask {
        shared,
        url,
        counters,
        subs: BTreeMap::new(),
        outbox: VecDeque::new(),
        awaiting_ok: HashMap::new(),
        challenge: None,
        answered_challenge: None,
        auth_event_id: None,
        last_rx: Instant::now(),
        lost_at: None,
        last_error: None,
    };
    let mut attempt: u32 = 0;
    loop {
        let connecting = connect(task.shared.clone(), task.url.clone());
        tokio::pin!(connecting);
        let connected = loop {
            tokio::select! {
                r = &mut connecting => break r,
                cmd = commands.recv() => match cmd {
                    Some(c) => task.queue(c),
                    None => return,
                },
                () = wake.notified() => {
                    task.sync_registry();
                }
            }
        };
        match connected {
            Ok(mut ws) => {
                let started = Instant::now();
                task.last_error = None;
                task.last_rx = started;
                task.counters
                    .connected
                    .store(true, std::sync::atomic::Ordering::Relaxed);
                bump(&task.counters.connects);
                task.shared.notify(Notification::Connected {
                    relay: task.url.clone(),
                });
                let end = task.session(&mut ws, &mut commands, &wake).await;
                task.counters
                    .connected
                    .store(false, std::sync::atomic::Ordering::Relaxed);
                task.after_connection();
                let reason = match &end {
                    End::Lost(r) => format!("connection lost: {r}"),
                    End::Shutdown => "the pool shut down".to_owned(),
                };
                task.fail_fetches(&format!("{reason} (before EOSE)")).await;
                task.last_error = Some(reason);
                match end {
                    End::Shutdown => {
                        let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
                        return;
                    }
                    End::Lost(reason) => {
                        bump(&task.counters.disconnects);
                        task.shared.notify(Notification::Disconnected {
                            relay: task.url.clone(),
                            reason,
                        });
                    }
                }
                if started.elapsed() >= task.shared.config.stable_after {
                    attempt = 0;
                }
            }
            Err(reason) => {
                let failed = format!("connection attempt failed: {reason}");
                task.fail_fetches(&failed).await;
                task.last_error = Some(failed);
                task.shared.notify(Notification::ConnectFailed {
                    relay: task.url.clone(),
                    reason,
                });
            }
        }
        let delay = task.shared.config.backoff.delay(attempt, jitter_word());
        attempt = attempt.saturating_add(1);
        let sleep = tokio::time::sleep(delay);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                () = &mut sleep => break,
                cmd = commands.recv() => match cmd {
                    Some(c) => task.queue(c),
                    None => return,
                },
                () = wake.notified() => {
                    task.sync_registry();
                    // A fetch does not wait out a reconnect delay.
                    let reason = format!(
                        "not connected, waiting to reconnect ({})",
                        task.last_error.as_deref().unwrap_or("no connection yet")
                    );
                    task.fail_fetches(&reason).await;
                }
            }
        }
    }
}

async fn connect(shared: Arc<Shared>, url: RelayUrl) -> Result<Ws, String> {
    let max = shared.config.max_message_bytes;
    let ws_config = WebSocketConfig::default()
        .max_message_size(Some(max))
        .max_frame_size(Some(max));
    let connector = Connector::Rustls(shared.tls.clone());
    let fut = tokio_tungstenite::connect_async_tls_with_config(
        url.as_str(),
        Some(ws_config),
        true,
        Some(connector),
    );
    match tokio::time::timeout(shared.config.connect_timeout, fut).await {
        Ok(Ok((ws, _response))) => Ok(ws),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!(
            "connect and handshake timed out after {:?}",
            shared.config.connect_timeout
        )),
    }
}

impl RelayTask {
    /// Takes a publish while disconnected.
    fn queue(&mut self, cmd: Command) {
        match cmd {
            Command::Publish(p) => {
                self.outbox.retain(|q| !q.reply.is_closed());
                if self.outbox.len() >= self.shared.config.max_pending_publishes {
                    let _ = p.reply.send(Err(Error::QueueFull {
                        url: self.url.to_string(),
                    }));
                } else {
                    self.outbox.push_back(p);
                }
            }
        }
    }

    /// Brings the local subscription map in line with the pool's registry (no IO);
    /// returns the ids added, and the ids removed whose `REQ` is still open on the relay.
    fn sync_registry(&mut self) -> (Vec<String>, Vec<String>) {
        let registry: Vec<Arc<SubShared>> = lock(&self.shared.subs)
            .values()
            .filter(|s| s.wants(&self.url))
            .cloned()
            .collect();
        let gone: Vec<String> = self
            .subs
            .keys()
            .filter(|id| !registry.iter().any(|s| &s.id == *id))
            .cloned()
            .collect();
        let mut removed = Vec::new();
        for id in gone {
            if self.subs.remove(&id).is_some_and(|s| s.req_open) {
                removed.push(id);
            }
        }
        let mut added = Vec::new();
        for s in registry {
            if !self.subs.contains_key(&s.id) {
                added.push(s.id.clone());
                self.subs.insert(s.id.clone(), RelaySub::new(s));
            }
        }
        (added, removed)
    }

    /// Ends every unfinished fetch on this relay with `reason`.
    async fn fail_fetches(&mut self, reason: &str) {
        let mut failed = Vec::new();
        for s in self.subs.values_mut() {
            if s.is_fetch() && !s.done {
                s.done = true;
                s.req_open = false;
                failed.push(s.shared.tx.clone());
            }
        }
        for tx in failed {
            // The fetch reads until its deadline, then drops the receiver: never stuck.
            let _ = tx
                .send(Delivery::Failed {
                    relay: self.url.clone(),
                    reason: reason.to_owned(),
                })
                .await;
        }
    }

    /// Per-connection state is reset; publishes that got no `OK` go back to the outbox
    /// (sending an event twice is harmless: the relay answers `duplicate:`).
    fn after_connection(&mut self) {
        let mut unanswered: Vec<PendingPublish> =
            self.awaiting_ok.drain().flat_map(|(_, v)| v).collect();
        unanswered.retain(|p| !p.reply.is_closed());
        for p in unanswered.into_iter().rev() {
            self.outbox.push_front(p);
        }
        self.challenge = None;
        self.answered_challenge = None;
        self.auth_event_id = None;
        let quiet_for = self.last_rx.elapsed().as_secs();
        self.lost_at = Some(now().saturating_sub(quiet_for));
        for s in self.subs.values_mut() {
            s.eose_pending = false;
            s.req_open = false;
            s.backfill_newest = None;
            s.auth_retried = false;
        }
    }

    async fn send(&self, ws: &mut Ws, text: String) -> Result<(), String> {
        match tokio::time::timeout(
            self.shared.config.write_timeout,
            ws.send(Message::text(text)),
        )
        .await
        {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(format!("write failed: {e}")),
            Err(_) => Err("write timed out (relay not reading)".to_owned()),
        }
    }

    async fn send_req(&mut self, ws: &mut Ws, id: &str) -> Result<(), String> {
        let Some(sub) = self.subs.get_mut(id) else {
            return Ok(());
        };
        if sub.done {
            return Ok(());
        }
        let filters = sub.req_filters(now(), self.shared.config.max_future_skew, self.lost_at);
        sub.eose_pending = true;
        sub.req_open = true;
        sub.backfill_newest = None;
        let text = req_message(id, &filters);
        self.send(ws, text).await
    }

    async fn send_publish(&mut self, ws: &mut Ws, p: PendingPublish) -> Result<(), String> {
        if p.reply.is_closed() {
            return Ok(());
        }
        // Bounded: callers that timed out leave closed entries behind; drop those first,
        // and refuse when the relay has that many unanswered events outstanding.
        if self.awaiting_ok.len() >= self.shared.config.max_pending_publishes {
            self.awaiting_ok.retain(|_, v| {
                v.retain(|q| !q.reply.is_closed());
                !v.is_empty()
            });
            if self.awaiting_ok.len() >= self.shared.config.max_pending_publishes {
                let _ = p.reply.send(Err(Error::QueueFull {
                    url: self.url.to_string(),
                }));
                return Ok(());
            }
        }
        let text = p.message.to_string();
        let id = p.id;
        let list = self.awaiting_ok.entry(id).or_default();
        list.retain(|q| !q.reply.is_closed());
        list.push(p);
        self.send(ws, text).await
    }

    async fn session(
        &mut self,
        ws: &mut Ws,
        commands: &mut mpsc::Receiver<Command>,
        wake: &Notify,
    ) -> End {
        match self.start_session(ws).await {
            Ok(()) => {}
            Err(e) => return End::Lost(e),
        }
        let cfg = &self.shared.config;
        let mut ping = tokio::time::interval_at(
            tokio::time::Instant::now() + cfg.ping_interval,
            cfg.ping_interval,
        );
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let idle_timeout = cfg.idle_timeout;
        self.last_rx = Instant::now();
        loop {
            let step: Result<(), String> = tokio::select! {
                frame = ws.next() => {
                    let r = match frame {
                        Some(Ok(Message::Text(t))) => self.on_text(ws, t.as_str()).await,
                        Some(Ok(Message::Binary(_))) => {
                            bump(&self.counters.malformed_messages);
                            Ok(())
                        }
                        Some(Ok(Message::Close(frame))) => Err(match frame {
                            Some(f) => format!("closed by relay: {} {}", f.code, f.reason),
                            None => "closed by relay".to_owned(),
                        }),
                        Some(Ok(_)) => Ok(()), // ping, pong (answered by tungstenite), raw frames
                        Some(Err(e)) => Err(format!("read failed: {e}")),
                        None => Err("connection closed".to_owned()),
                    };
                    // Counted after handling: time spent waiting for a slow consumer
                    // (back-pressure) is not the relay's silence.
                    self.last_rx = Instant::now();
                    r
                }
                cmd = commands.recv() => match cmd {
                    Some(Command::Publish(p)) => self.send_publish(ws, p).await,
                    None => return End::Shutdown,
                },
                () = wake.notified() => self.resync(ws).await,
                _ = ping.tick() => {
                    if self.last_rx.elapsed() >= idle_timeout {
                        Err(format!("no frame for {idle_timeout:?}: relay stalled"))
                    } else {
                        match tokio::time::timeout(
                            self.shared.config.write_timeout,
                            ws.send(Message::Ping(Vec::new().into())),
                        ).await {
                            Ok(Ok(())) => Ok(()),
                            Ok(Err(e)) => Err(format!("ping failed: {e}")),
                            Err(_) => Err("ping write timed out".to_owned()),
                        }
                    }
                }
            };
            if let Err(reason) = step {
                return End::Lost(reason);
            }
        }
    }

    /// On a new connection: re-issue every subscription, then flush the outbox.
    async fn start_session(&mut self, ws: &mut Ws) -> Result<(), String> {
        self.sync_registry();
        let ids: Vec<String> = self.subs.keys().cloned().collect();
        for id in ids {
            self.send_req(ws, &id).await?;
        }
        while let Some(p) = self.outbox.pop_front() {
            self.send_publish(ws, p).await?;
        }
        Ok(())
    }

    /// The registry changed while connected: `REQ` new subscriptions, `CLOSE` dropped ones.
    async fn resync(&mut self, ws: &mut Ws) -> Result<(), String> {
        let (added, removed) = self.sync_registry();
        for id in removed {
            self.send(ws, close_message(&id)).await?;
        }
        for id in added {
            self.send_req(ws, &id).await?;
        }
        Ok(())
    }

    async fn on_text(&mut self, ws: &mut Ws, text: &str) -> Result<(), String> {
        let msg = match RelayMessage::from_json(text) {
            Ok(m) => m,
            Err(_) => {
                bump(&self.counters.malformed_messages);
                return Ok(());
            }
        };
        match msg {
            RelayMessage::Event {
                subscription_id,
                event,
            } => {
                self.on_event(&subscription_id, &event).await;
                Ok(())
            }
            RelayMessage::Ok {
                event_id,
                accepted,
                reason,
            } => self.on_ok(ws, event_id, accepted, reason).await,
            RelayMessage::Eose { subscription_id } => self.on_eose(ws, subscription_id).await,
            RelayMessage::Closed {
                subscription_id,
                reason,
            } => self.on_closed(ws, subscription_id, reason).await,
            RelayMessage::Notice { message } => {
                bump(&self.counters.notices);
                self.shared.notify(Notification::Notice {
                    relay: self.url.clone(),
                    message,
                });
                Ok(())
            }
            RelayMessage::Auth { challenge } => {
                self.challenge = Some(challenge);
                self.authenticate(ws).await
            }
            RelayMessage::Other { .. } => Ok(()),
        }
    }

    async fn on_eose(&mut self, ws: &mut Ws, subscription_id: String) -> Result<(), String> {
        let Some(sub) = self.subs.get_mut(&subscription_id) else {
            return Ok(());
        };
        if sub.done {
            return Ok(());
        }
        if sub.eose_pending {
            sub.backfill_done();
        }
        let fetch_ended = sub.is_fetch();
        if fetch_ended {
            sub.done = true;
            sub.req_open = false;
        }
        let tx = sub.shared.tx.clone();
        let _ = tx
            .send(Delivery::Item(SubscriptionItem::Eose {
                relay: self.url.clone(),
            }))
            .await;
        if fetch_ended {
            self.send(ws, close_message(&subscription_id)).await?;
        }
        Ok(())
    }

    async fn on_event(&mut self, subscription_id: &str, value: &Value) {
        bump(&self.counters.events_received);
        let Some(sub) = self.subs.get_mut(subscription_id) else {
            bump(&self.counters.unmatched_events);
            return;
        };
        if sub.done {
            // A fetch's answer ended at EOSE; this is a live event (or a relay that
            // ignores CLOSE), not part of it.
            bump(&self.counters.late_events);
            return;
        }
        let skew = self.shared.config.max_future_skew;
        let claimed = value
            .get("id")
            .and_then(Value::as_str)
            .and_then(|s| EventId::from_hex(s).ok());
        let Some(claimed) = claimed else {
            bump(&self.counters.invalid_events);
            return;
        };
        // Only verified ids enter the seen set, so a hit means "already delivered"
        // whatever this copy contains; verification can be skipped.
        let seen_at = lock(&sub.shared.seen).get(&claimed);
        if let Some(created_at) = seen_at {
            bump(&self.counters.duplicates);
            sub.note_created_at(created_at, now(), skew);
            return;
        }
        let event = match Event::from_value(value) {
            Ok(e) => e,
            Err(_) => {
                bump(&self.counters.invalid_events);
                return;
            }
        };
        if !sub.shared.filters.iter().any(|f| f.matches(&event)) {
            bump(&self.counters.unmatched_events);
            return;
        }
        if self.shared.config.drop_expired && event.is_expired(now()) {
            // Not remembered as seen: if it was reported expired by mistake (clock skew),
            // a later copy is judged again.
            bump(&self.counters.expired_events);
            return;
        }
        let fresh = lock(&sub.shared.seen).insert(event.id(), event.created_at());
        sub.note_created_at(event.created_at(), now(), skew);
        if !fresh {
            bump(&self.counters.duplicates);
            return;
        }
        bump(&self.counters.events_delivered);
        let tx = sub.shared.tx.clone();
        // Back-pressure: a slow consumer makes this relay's reader wait here.
        let _ = tx
            .send(Delivery::Item(SubscriptionItem::Event {
                relay: self.url.clone(),
                event,
            }))
            .await;
    }

    async fn on_ok(
        &mut self,
        ws: &mut Ws,
        event_id: EventId,
        accepted: bool,
        reason: Reason,
    ) -> Result<(), String> {
        if self.auth_event_id == Some(event_id) {
            self.shared.notify(Notification::AuthResult {
                relay: self.url.clone(),
                accepted,
                reason,
            });
            return Ok(());
        }
        let Some(waiting) = self.awaiting_ok.remove(&event_id) else {
            return Ok(());
        };
        if accepted {
            bump(&self.counters.ok_accepted);
        } else {
            bump(&self.counters.ok_rejected);
        }
        let can_auth = self.shared.signer.is_some() && self.challenge.is_some();
        let mut retry = Vec::new();
        for p in waiting {
            if !accepted && can_auth && *reason.prefix() == Prefix::AuthRequired && !p.auth_retried
            {
                retry.push(p);
            } else {
                let _ = p.reply.send(Ok(OkStatus {
                    accepted,
                    reason: reason.clone(),
                }));
            }
        }
        if !retry.is_empty() {
            self.authenticate(ws).await?;
            for mut p in retry {
                p.auth_retried = true;
                self.send_publish(ws, p).await?;
            }
        }
        Ok(())
    }

    async fn on_closed(
        &mut self,
        ws: &mut Ws,
        subscription_id: String,
        reason: Reason,
    ) -> Result<(), String> {
        let can_auth = self.shared.signer.is_some() && self.challenge.is_some();
        let Some(sub) = self.subs.get_mut(&subscription_id) else {
            return Ok(());
        };
        if sub.done {
            return Ok(());
        }
        sub.eose_pending = false;
        sub.req_open = false;
        sub.backfill_newest = None;
        if can_auth && *reason.prefix() == Prefix::AuthRequired && !sub.auth_retried {
            sub.auth_retried = true;
            self.authenticate(ws).await?;
            return self.send_req(ws, &subscription_id).await;
        }
        if sub.is_fetch() {
            sub.done = true;
        }
        let tx = sub.shared.tx.clone();
        let _ = tx
            .send(Delivery::Item(SubscriptionItem::Closed {
                relay: self.url.clone(),
                reason,
            }))
            .await;
        Ok(())
    }

    /// Answers the current challenge once (NIP-42). Does not wait for an `OK`: relays
    /// such as nostr-rs-relay send none after a successful AUTH.
    async fn authenticate(&mut self, ws: &mut Ws) -> Result<(), String> {
        let (Some(signer), Some(challenge)) = (self.shared.signer.clone(), self.challenge.clone())
        else {
            return Ok(());
        };
        if self.answered_challenge.as_deref() == Some(challenge.as_str()) {
            return Ok(());
        }
        match auth_event(signer.as_ref(), &self.url, &challenge, now()) {
            Ok(ev) => {
                self.send(ws, auth_message(&ev)).await?;
                bump(&self.counters.auth_sent);
                self.answered_challenge = Some(challenge);
                self.auth_event_id = Some(ev.id());
                self.shared.notify(Notification::AuthSent {
                    relay: self.url.clone(),
                    event_id: ev.id(),
                });
            }
            Err(e) => self.shared.notify(Notification::AuthFailed {
                relay: self.url.clone(),
                reason: e.to_string(),
            }),
        }
        Ok(())
    }
}
