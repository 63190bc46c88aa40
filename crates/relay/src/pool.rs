//! The relay pool: the public face of the crate.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use nipee_nostr::{Event, Filter};
use tokio::sync::{Notify, broadcast, mpsc};
use tokio::task::JoinHandle;

use crate::config::{PoolConfig, SubscribeOptions};
use crate::connection;
use crate::dedup::SeenSet;
use crate::error::{Error, Result};
use crate::outcome::{Notification, SubscriptionItem};
use crate::relay_sub::clamp_since;
use crate::shared::{Command, Delivery, Mode, Shared, SubShared, lock, now};
use crate::signer::AuthSigner;
use crate::stats::{Counters, PoolStats};
use crate::url::RelayUrl;

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

    /// The pool's settings.
    pub(crate) fn config(&self) -> &PoolConfig {
        &self.inner.shared.config
    }

    /// The command queues of the relays in the pool, in the order they were added.
    pub(crate) fn senders(&self) -> Vec<(RelayUrl, mpsc::Sender<Command>)> {
        lock(&self.inner.relays)
            .iter()
            .map(|r| (r.url.clone(), r.commands.clone()))
            .collect()
    }

    /// Opens a subscription on every relay (present and future) with
    /// [`PoolConfig::resubscribe_margin`].
    ///
    /// # Errors
    /// As [`Pool::subscribe_with`].
    pub fn subscribe(&self, filters: Vec<Filter>) -> Result<Subscription> {
        self.subscribe_with(filters, SubscribeOptions::new())
    }

    /// Opens a subscription whose re-issue after a reconnect uses `since` = newest
    /// `created_at` received from that relay minus `margin`. Use at least
    /// [`crate::GIFT_WRAP_MARGIN`] for NIP-59 gift wraps, whose `created_at` is randomly
    /// backdated by up to two days.
    ///
    /// # Errors
    /// As [`Pool::subscribe_with`].
    pub fn subscribe_with_margin(
        &self,
        filters: Vec<Filter>,
        margin: Duration,
    ) -> Result<Subscription> {
        self.subscribe_with(filters, SubscribeOptions::new().margin(margin))
    }

    /// Opens a subscription with per-subscription options: the re-subscription margin
    /// and the relays to use (see [`SubscribeOptions`]).
    ///
    /// Events arrive verified, matching at least one filter, and at most once however
    /// many relays send them. After a reconnect the subscription is re-issued with
    /// `since` = min(newest `created_at` fully delivered by that relay, clamped to its
    /// arrival time plus [`PoolConfig::max_future_skew`]; the moment the previous
    /// connection ended) minus the margin, and without `limit`. A `since` in the
    /// caller's filters later than now plus `max_future_skew` is lowered to that.
    ///
    /// # Errors
    /// [`Error::Misuse`] for an empty filter list; [`Error::Internal`] if no random
    /// subscription id can be drawn.
    pub fn subscribe_with(
        &self,
        filters: Vec<Filter>,
        options: SubscribeOptions,
    ) -> Result<Subscription> {
        let margin = options
            .margin
            .unwrap_or(self.inner.shared.config.resubscribe_margin);
        self.open(filters, margin, options.relays, Mode::Live)
    }

    /// Registers a subscription with the relay tasks.
    pub(crate) fn open(
        &self,
        filters: Vec<Filter>,
        margin: Duration,
        relays: Option<Vec<RelayUrl>>,
        mode: Mode,
    ) -> Result<Subscription> {
        if filters.is_empty() {
            return Err(Error::Misuse {
                field: "filters",
                reason: "a subscription needs at least one filter",
            });
        }
        let shared = &self.inner.shared;
        // A `since` far in the future would hide everything until then, locally too.
        let ceiling = now().saturating_add(shared.config.max_future_skew.as_secs());
        let filters = filters.iter().map(|f| clamp_since(f, ceiling)).collect();
        let id = random_subscription_id()?;
        let (tx, rx) = mpsc::channel(shared.config.subscription_queue.max(1));
        let sub = Arc::new(SubShared {
            id: id.clone(),
            filters,
            margin,
            relays,
            mode,
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

    /// Closes every relay connection of the pool (this handle and its clones): each
    /// relay task sends a WebSocket close frame (waiting at most 1 s for it to go out)
    /// and stops; tasks still running after 2 s are aborted. Afterwards the pool has no
    /// relays and every subscription stream has ended; relays can be added again.
    pub async fn close(&self) {
        let relays: Vec<RelayHandle> = lock(&self.inner.relays).drain(..).collect();
        lock(&self.inner.shared.wakers).clear();
        let mut tasks = Vec::with_capacity(relays.len());
        for r in relays {
            // Dropping the last command sender makes the task close its socket and end.
            drop(r.commands);
            tasks.push(r.task);
        }
        let mut all = futures_util::future::join_all(tasks.iter_mut());
        if tokio::time::timeout(Duration::from_secs(2), &mut all)
            .await
            .is_err()
        {
            drop(all);
            for t in &tasks {
                t.abort();
            }
        }
        lock(&self.inner.shared.subs).clear();
    }
}

/// An open subscription: a stream of [`SubscriptionItem`]s from the pool's relays.
///
/// Dropping it (or [`Subscription::close`]) sends `CLOSE` to every relay.
pub struct Subscription {
    id: String,
    rx: mpsc::Receiver<Delivery>,
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
        loop {
            if let Delivery::Item(item) = self.rx.recv().await? {
                return Some(item);
            }
        }
    }

    /// The next delivery, including fetch failures (for [`Pool::fetch`]).
    pub(crate) async fn next_delivery(&mut self) -> Option<Delivery> {
        self.rx.recv().await
    }

    /// The next event, skipping `EOSE` and `CLOSED` items.
    pub async fn next_event(&mut self) -> Option<(RelayUrl, Event)> {
        loop {
            match self.next_item().await? {
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
        let this = self.get_mut();
        loop {
            match this.rx.poll_recv(cx) {
                Poll::Ready(Some(Delivery::Item(item))) => return Poll::Ready(Some(item)),
                Poll::Ready(Some(Delivery::Failed { .. })) => {}
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
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
