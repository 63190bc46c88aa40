//! The relay pool: the public face of the crate.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use nipee_nostr::{Event, EventId, Filter};
use tokio::sync::{Notify, broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::config::PoolConfig;
use crate::connection;
use crate::dedup::SeenSet;
use crate::error::{Error, Result};
use crate::message::{Reason, event_message};
use crate::signer::AuthSigner;
use crate::stats::{Counters, PoolStats};
use crate::url::RelayUrl;

/// Locks a mutex, ignoring poisoning: every critical section in this crate leaves the
/// data consistent, so a panic elsewhere does not make it unusable.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A relay's answer to a published event.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OkStatus {
    /// `true` when the relay stored the event or already had it (`duplicate:`).
    pub accepted: bool,
    /// The message with its machine-readable prefix (`invalid:`, `rate-limited:`, ...).
    pub reason: Reason,
}

/// What [`Pool::publish`] learned from each relay.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PublishOutcome {
    /// The published event.
    pub event_id: EventId,
    /// One entry per relay that answered (or failed): its `OK`, or why there was none
    /// ([`Error::Timeout`], [`Error::Shutdown`], ...).
    pub results: Vec<(RelayUrl, Result<OkStatus>)>,
}

impl PublishOutcome {
    /// How many relays accepted.
    pub fn accepted(&self) -> usize {
        self.results
            .iter()
            .filter(|(_, r)| matches!(r, Ok(s) if s.accepted))
            .count()
    }

    /// The relays that accepted.
    pub fn accepted_by(&self) -> Vec<&RelayUrl> {
        self.results
            .iter()
            .filter(|(_, r)| matches!(r, Ok(s) if s.accepted))
            .map(|(u, _)| u)
            .collect()
    }

    /// The answer of one relay, if it is in the outcome.
    pub fn result(&self, url: &RelayUrl) -> Option<&Result<OkStatus>> {
        self.results.iter().find(|(u, _)| u == url).map(|(_, r)| r)
    }
}

/// One item of a [`Subscription`]'s stream.
// Events are by far the most common item; boxing them would cost an allocation each.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SubscriptionItem {
    /// A verified event matching the filters, delivered once however many relays sent it.
    Event {
        /// The relay that delivered it first.
        relay: RelayUrl,
        /// The event (id and signature verified).
        event: Event,
    },
    /// The relay has sent all stored events; live events follow. Sent again after each
    /// reconnect, when the subscription is re-issued.
    Eose {
        /// The relay.
        relay: RelayUrl,
    },
    /// The relay ended the subscription (`CLOSED`), with its reason. Other relays go on.
    Closed {
        /// The relay.
        relay: RelayUrl,
        /// Why, with its machine-readable prefix.
        reason: Reason,
    },
}

/// Connection-level happenings, broadcast to every [`Pool::notifications`] receiver.
/// Slow receivers lose the oldest notifications rather than slowing the pool.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Notification {
    /// A connection was opened.
    Connected {
        /// The relay.
        relay: RelayUrl,
    },
    /// An open connection ended; the pool reconnects after a backoff delay.
    Disconnected {
        /// The relay.
        relay: RelayUrl,
        /// Why.
        reason: String,
    },
    /// A connection attempt failed; the pool retries after a backoff delay.
    ConnectFailed {
        /// The relay.
        relay: RelayUrl,
        /// Why.
        reason: String,
    },
    /// The relay sent a `NOTICE`.
    Notice {
        /// The relay.
        relay: RelayUrl,
        /// The text.
        message: String,
    },
    /// A NIP-42 AUTH event was sent in answer to a challenge. Relays such as
    /// nostr-rs-relay send no `OK` after a successful AUTH, so no further
    /// notification may follow.
    AuthSent {
        /// The relay.
        relay: RelayUrl,
        /// The id of the kind-22242 event.
        event_id: EventId,
    },
    /// The relay answered an AUTH with `OK`.
    AuthResult {
        /// The relay.
        relay: RelayUrl,
        /// Whether it accepted the authentication.
        accepted: bool,
        /// Its message.
        reason: Reason,
    },
    /// Signing an AUTH event failed.
    AuthFailed {
        /// The relay.
        relay: RelayUrl,
        /// The signer's error.
        reason: String,
    },
}

/// A publish waiting for a connection or for its `OK`.
pub(crate) struct PendingPublish {
    pub(crate) id: EventId,
    pub(crate) message: Arc<str>,
    pub(crate) reply: oneshot::Sender<Result<OkStatus>>,
    pub(crate) auth_retried: bool,
}

pub(crate) enum Command {
    Publish(PendingPublish),
}

/// A subscription as the relay tasks see it.
pub(crate) struct SubShared {
    pub(crate) id: String,
    pub(crate) filters: Vec<Filter>,
    pub(crate) margin: Duration,
    pub(crate) tx: mpsc::Sender<SubscriptionItem>,
    pub(crate) seen: Mutex<SeenSet>,
}

/// State shared by the pool handle and the relay tasks.
pub(crate) struct Shared {
    pub(crate) config: PoolConfig,
    pub(crate) signer: Option<Arc<dyn AuthSigner>>,
    pub(crate) subs: Mutex<BTreeMap<String, Arc<SubShared>>>,
    pub(crate) wakers: Mutex<Vec<Arc<Notify>>>,
    pub(crate) notifications: broadcast::Sender<Notification>,
    pub(crate) tls: Arc<rustls::ClientConfig>,
}

impl Shared {
    pub(crate) fn notify(&self, n: Notification) {
        // No receiver is fine: notifications are optional.
        let _ = self.notifications.send(n);
    }

    fn wake_relays(&self) {
        for w in lock(&self.wakers).iter() {
            w.notify_one();
        }
    }
}

struct RelayHandle {
    url: RelayUrl,
    commands: mpsc::Sender<Command>,
    wake: Arc<Notify>,
    counters: Arc<Counters>,
    task: JoinHandle<()>,
}

struct PoolInner {
    shared: Arc<Shared>,
    relays: Mutex<Vec<RelayHandle>>,
}

impl Drop for PoolInner {
    fn drop(&mut self) {
        for r in lock(&self.relays).drain(..) {
            r.task.abort();
        }
        // Dropping the registry drops the last senders once the tasks are gone, so every
        // subscription stream ends.
        lock(&self.shared.subs).clear();
    }
}

/// A set of relays used together: publish to all, subscribe across all.
///
/// Each relay runs in its own tokio task with its own connection, reconnect loop and
/// bounded queues, so a relay that is down, slow, stalled or sending garbage never holds
/// up the others. Cloning a `Pool` gives another handle to the same relays; when the
/// last handle is dropped the relay tasks stop and subscription streams end.
#[derive(Clone)]
pub struct Pool {
    inner: Arc<PoolInner>,
}

impl core::fmt::Debug for Pool {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Pool")
            .field("relays", &self.relays())
            .finish_non_exhaustive()
    }
}

fn tls_config() -> Result<Arc<rustls::ClientConfig>> {
    let roots: rustls::RootCertStore = webpki_roots::TLS_SERVER_ROOTS.iter().cloned().collect();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Internal {
            reason: format!("TLS configuration: {e}"),
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

fn random_subscription_id() -> Result<String> {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).map_err(|e| Error::Internal {
        reason: format!("randomness unavailable: {e}"),
    })?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

impl Pool {
    /// An empty pool without a NIP-42 signer (AUTH challenges are ignored).
    ///
    /// # Errors
    /// [`Error::Internal`] if the TLS configuration cannot be built.
    pub fn new(config: PoolConfig) -> Result<Pool> {
        Self::build(config, None)
    }

    /// An empty pool that answers NIP-42 AUTH challenges with events signed by `signer`
    /// (on the challenge, and again when a relay answers `auth-required:`).
    ///
    /// # Errors
    /// [`Error::Internal`] if the TLS configuration cannot be built.
    pub fn with_signer(config: PoolConfig, signer: Arc<dyn AuthSigner>) -> Result<Pool> {
        Self::build(config, Some(signer))
    }

    fn build(config: PoolConfig, signer: Option<Arc<dyn AuthSigner>>) -> Result<Pool> {
        let (notifications, _) = broadcast::channel(config.notification_queue.max(1));
        let shared = Arc::new(Shared {
            config,
            signer,
            subs: Mutex::new(BTreeMap::new()),
            wakers: Mutex::new(Vec::new()),
            notifications,
            tls: tls_config()?,
        });
        Ok(Pool {
            inner: Arc::new(PoolInner {
                shared,
                relays: Mutex::new(Vec::new()),
            }),
        })
    }

    /// A pool connected (in the background) to `urls`.
    ///
    /// # Errors
    /// As [`Pool::new`] and [`Pool::add_relay`].
    pub fn connect<I, S>(config: PoolConfig, urls: I) -> Result<Pool>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let pool = Pool::new(config)?;
        for u in urls {
            pool.add_relay(u.as_ref())?;
        }
        Ok(pool)
    }

    /// Adds a relay and starts connecting to it in the background. Open subscriptions
    /// are sent to it once connected. Adding a relay that is already in the pool does
    /// nothing.
    ///
    /// # Errors
    /// [`Error::Url`] for a bad URL; [`Error::Misuse`] outside a tokio runtime.
    pub fn add_relay(&self, url: &str) -> Result<RelayUrl> {
        let url = RelayUrl::parse(url)?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| Error::Misuse {
            field: "runtime",
            reason: "relays can only be added inside a tokio runtime",
        })?;
        let mut relays = lock(&self.inner.relays);
        if relays.iter().any(|r| r.url == url) {
            return Ok(url);
        }
        let shared = &self.inner.shared;
        let (commands, rx) = mpsc::channel(shared.config.command_queue.max(1));
        let wake = Arc::new(Notify::new());
        lock(&shared.wakers).push(wake.clone());
        let counters = Arc::new(Counters::default());
        let task = runtime.spawn(connection::run(
            shared.clone(),
            url.clone(),
            rx,
            wake.clone(),
            counters.clone(),
        ));
        relays.push(RelayHandle {
            url: url.clone(),
            commands,
            wake,
            counters,
            task,
        });
        Ok(url)
    }

    /// Removes a relay, closing its connection. Returns whether it was in the pool.
    pub fn remove_relay(&self, url: &RelayUrl) -> bool {
        let mut relays = lock(&self.inner.relays);
        let Some(pos) = relays.iter().position(|r| &r.url == url) else {
            return false;
        };
        let r = relays.remove(pos);
        r.task.abort();
        lock(&self.inner.shared.wakers).retain(|w| !Arc::ptr_eq(w, &r.wake));
        true
    }

    /// The relays, in the order they were added.
    pub fn relays(&self) -> Vec<RelayUrl> {
        lock(&self.inner.relays)
            .iter()
            .map(|r| r.url.clone())
            .collect()
    }

    /// A snapshot of every relay's counters.
    pub fn stats(&self) -> PoolStats {
        PoolStats {
            relays: lock(&self.inner.relays)
                .iter()
                .map(|r| r.counters.snapshot(&r.url))
                .collect(),
        }
    }

    /// A receiver of connection-level [`Notification`]s from now on.
    pub fn notifications(&self) -> broadcast::Receiver<Notification> {
        self.inner.shared.notifications.subscribe()
    }

    /// Waits until at least `n` relays have an open connection.
    ///
    /// # Errors
    /// [`Error::Timeout`] after `timeout`.
    pub async fn wait_connected(&self, n: usize, timeout: Duration) -> Result<()> {
        let poll = async {
            loop {
                if self.stats().connected() >= n {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        tokio::time::timeout(timeout, poll)
            .await
            .map_err(|_| Error::Timeout {
                url: format!("{} relays", n),
                what: "connection",
                after: timeout,
            })
    }

    fn senders(&self) -> Vec<(RelayUrl, mpsc::Sender<Command>)> {
        lock(&self.inner.relays)
            .iter()
            .map(|r| (r.url.clone(), r.commands.clone()))
            .collect()
    }

    /// Sends `event` to every relay and waits (at most [`PoolConfig::ok_timeout`]) for
    /// each relay's `OK`. A relay that is disconnected gets the event when it reconnects,
    /// if that happens within the timeout.
    pub async fn publish(&self, event: &Event) -> PublishOutcome {
        let message: Arc<str> = event_message(event).into();
        let timeout = self.inner.shared.config.ok_timeout;
        let futs = self
            .senders()
            .into_iter()
            .map(|(url, tx)| publish_one(url, tx, event.id(), message.clone(), timeout));
        let results = futures_util::future::join_all(futs).await;
        PublishOutcome {
            event_id: event.id(),
            results,
        }
    }

    /// Sends `event` to every relay and returns as soon as `n` relays have accepted it.
    /// The other relays still receive the event; their answers are not awaited.
    ///
    /// # Errors
    /// [`Error::Misuse`] if `n` is 0 or larger than the pool;
    /// [`Error::NotEnoughAccepted`] once every relay has answered, failed or timed out
    /// without `n` acceptances.
    pub async fn publish_until_accepted(&self, event: &Event, n: usize) -> Result<PublishOutcome> {
        let senders = self.senders();
        if n == 0 || n > senders.len() {
            return Err(Error::Misuse {
                field: "n",
                reason: "must be between 1 and the number of relays in the pool",
            });
        }
        let message: Arc<str> = event_message(event).into();
        let timeout = self.inner.shared.config.ok_timeout;
        let mut running: FuturesUnordered<_> = senders
            .into_iter()
            .map(|(url, tx)| publish_one(url, tx, event.id(), message.clone(), timeout))
            .collect();
        let mut outcome = PublishOutcome {
            event_id: event.id(),
            results: Vec::new(),
        };
        while let Some(r) = running.next().await {
            outcome.results.push(r);
            if outcome.accepted() >= n {
                return Ok(outcome);
            }
        }
        let details = outcome
            .results
            .iter()
            .map(|(u, r)| match r {
                Ok(s) => format!("{u}: {} {}", s.accepted, s.reason),
                Err(e) => format!("{u}: {e}"),
            })
            .collect::<Vec<_>>()
            .join("; ");
        Err(Error::NotEnoughAccepted {
            event_id: event.id().to_hex(),
            required: n,
            accepted: outcome.accepted(),
            details,
        })
    }

    /// Opens a subscription on every relay (present and future) with
    /// [`PoolConfig::resubscribe_margin`].
    ///
    /// # Errors
    /// As [`Pool::subscribe_with_margin`].
    pub fn subscribe(&self, filters: Vec<Filter>) -> Result<Subscription> {
        let margin = self.inner.shared.config.resubscribe_margin;
        self.subscribe_with_margin(filters, margin)
    }

    /// Opens a subscription whose re-issue after a reconnect uses `since` = newest
    /// `created_at` received from that relay minus `margin`. Use a margin of at least two
    /// days for NIP-59 gift wraps, whose `created_at` is randomly backdated.
    ///
    /// Events arrive verified, matching at least one filter, and at most once however
    /// many relays send them.
    ///
    /// # Errors
    /// [`Error::Misuse`] for an empty filter list; [`Error::Internal`] if no random
    /// subscription id can be drawn.
    pub fn subscribe_with_margin(
        &self,
        filters: Vec<Filter>,
        margin: Duration,
    ) -> Result<Subscription> {
        if filters.is_empty() {
            return Err(Error::Misuse {
                field: "filters",
                reason: "a subscription needs at least one filter",
            });
        }
        let shared = &self.inner.shared;
        let id = random_subscription_id()?;
        let (tx, rx) = mpsc::channel(shared.config.subscription_queue.max(1));
        let sub = Arc::new(SubShared {
            id: id.clone(),
            filters,
            margin,
            tx,
            seen: Mutex::new(SeenSet::new(shared.config.dedup_capacity)),
        });
        lock(&shared.subs).insert(id.clone(), sub);
        shared.wake_relays();
        Ok(Subscription {
            id,
            rx,
            shared: shared.clone(),
        })
    }
}

async fn publish_one(
    url: RelayUrl,
    tx: mpsc::Sender<Command>,
    id: EventId,
    message: Arc<str>,
    timeout: Duration,
) -> (RelayUrl, Result<OkStatus>) {
    let (reply, rx) = oneshot::channel();
    let cmd = Command::Publish(PendingPublish {
        id,
        message,
        reply,
        auth_retried: false,
    });
    let wait = async {
        tx.send(cmd).await.map_err(|_| Error::Shutdown)?;
        rx.await.map_err(|_| Error::Shutdown)?
    };
    let r = match tokio::time::timeout(timeout, wait).await {
        Ok(r) => r,
        Err(_) => Err(Error::Timeout {
            url: url.to_string(),
            what: "OK",
            after: timeout,
        }),
    };
    (url, r)
}

/// An open subscription: a stream of [`SubscriptionItem`]s from all relays of the pool.
///
/// Dropping it (or [`Subscription::close`]) sends `CLOSE` to every relay.
pub struct Subscription {
    id: String,
    rx: mpsc::Receiver<SubscriptionItem>,
    shared: Arc<Shared>,
}

impl core::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Subscription")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Subscription {
    /// The subscription id sent in `REQ` (the same on every relay).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The next item, or `None` once the pool is gone.
    pub async fn next_item(&mut self) -> Option<SubscriptionItem> {
        self.rx.recv().await
    }

    /// The next event, skipping `EOSE` and `CLOSED` items.
    pub async fn next_event(&mut self) -> Option<(RelayUrl, Event)> {
        loop {
            match self.rx.recv().await? {
                SubscriptionItem::Event { relay, event } => return Some((relay, event)),
                SubscriptionItem::Eose { .. } | SubscriptionItem::Closed { .. } => {}
            }
        }
    }

    /// Closes the subscription on every relay.
    pub fn close(self) {
        drop(self);
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        lock(&self.shared.subs).remove(&self.id);
        self.shared.wake_relays();
    }
}

impl futures_core::Stream for Subscription {
    type Item = SubscriptionItem;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<SubscriptionItem>> {
        self.get_mut().rx.poll_recv(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn adding_a_relay_outside_a_runtime_is_misuse_not_a_panic() {
        let pool = Pool::new(PoolConfig::default()).unwrap();
        let e = pool.add_relay("ws://127.0.0.1:9").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Misuse);
        assert!(pool.relays().is_empty());
    }

    #[tokio::test]
    async fn misuse_is_reported() {
        let pool = Pool::new(PoolConfig::default()).unwrap();
        assert_eq!(
            pool.add_relay("http://x").unwrap_err().kind(),
            ErrorKind::Malformed
        );
        let url = pool.add_relay("ws://127.0.0.1:9").unwrap();
        // Adding twice keeps one relay.
        assert_eq!(pool.add_relay("ws://127.0.0.1:9").unwrap(), url);
        assert_eq!(pool.relays(), vec![url.clone()]);
        assert_eq!(
            pool.subscribe(Vec::new()).unwrap_err().kind(),
            ErrorKind::Misuse
        );
        let keys = nipee_nostr::Keys::generate(&mut rand::rng());
        let ev = nipee_nostr::EventBuilder::text_note("x")
            .sign(&keys, nipee_nostr::Timestamp::from_secs(1))
            .unwrap();
        for n in [0, 2] {
            let e = pool.publish_until_accepted(&ev, n).await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Misuse, "n = {n}");
        }
        assert!(pool.remove_relay(&url));
        assert!(!pool.remove_relay(&url));
        assert!(pool.relays().is_empty());
        assert!(lock(&pool.inner.shared.wakers).is_empty());
    }

    #[tokio::test]
    async fn dropping_the_pool_ends_subscription_streams() {
        let pool = Pool::connect(PoolConfig::default(), ["ws://127.0.0.1:9"]).unwrap();
        let mut sub = pool.subscribe(vec![Filter::new()]).unwrap();
        assert_eq!(sub.id().len(), 16);
        drop(pool);
        let end = tokio::time::timeout(Duration::from_secs(2), sub.next_item()).await;
        assert_eq!(end, Ok(None));
    }
}
