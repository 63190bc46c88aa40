//! State shared by the pool handle and the relay tasks: the subscription registry, the
//! commands a relay task takes, and the pool-wide settings. Both `pool` and `connection`
//! build on this module; it imports neither.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nipee_nostr::{EventId, Filter, Timestamp};
use tokio::sync::{Notify, broadcast, mpsc, oneshot};

use crate::config::PoolConfig;
use crate::dedup::SeenSet;
use crate::error::Result;
use crate::outcome::{Notification, OkStatus, SubscriptionItem};
use crate::signer::AuthSigner;
use crate::url::RelayUrl;

/// Locks a mutex, ignoring poisoning: every critical section in this crate leaves the
/// data consistent, so a panic elsewhere does not make it unusable.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// This machine's clock, in Unix seconds (0 if it is before 1970).
pub(crate) fn now() -> Timestamp {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    Timestamp::from_secs(secs)
}

/// A publish waiting for a connection or for its `OK`.
pub(crate) struct PendingPublish {
    pub(crate) id: EventId,
    pub(crate) message: Arc<str>,
    pub(crate) reply: oneshot::Sender<Result<OkStatus>>,
    pub(crate) auth_retried: bool,
}

/// What the pool asks of one relay task besides subscription changes (which go through
/// the registry and a wake-up).
pub(crate) enum Command {
    Publish(PendingPublish),
}

/// What a relay task hands a subscription's consumer.
// Events are by far the most common item; boxing them would cost an allocation each.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(crate) enum Delivery {
    /// An item of the public stream.
    Item(SubscriptionItem),
    /// A one-shot fetch cannot finish on this relay: the connection attempt failed, the
    /// relay is waiting out a reconnect delay, or the connection was lost before `EOSE`.
    /// Never sent to live subscriptions.
    Failed { relay: RelayUrl, reason: String },
}

/// Whether a subscription lives until dropped or ends on each relay at `EOSE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Re-issued after every reconnect; live events follow the backfill.
    Live,
    /// One `REQ` per relay: `CLOSE` after `EOSE`, never re-issued, events after `EOSE`
    /// ignored.
    Fetch,
}

/// A subscription as the relay tasks see it.
pub(crate) struct SubShared {
    pub(crate) id: String,
    pub(crate) filters: Vec<Filter>,
    pub(crate) margin: Duration,
    /// The relays it applies to (present or added later); `None` for every relay.
    pub(crate) relays: Option<Vec<RelayUrl>>,
    pub(crate) mode: Mode,
    pub(crate) tx: mpsc::Sender<Delivery>,
    pub(crate) seen: Mutex<SeenSet>,
}

impl SubShared {
    /// Whether the relay at `url` serves this subscription.
    pub(crate) fn wants(&self, url: &RelayUrl) -> bool {
        self.relays.as_ref().is_none_or(|r| r.contains(url))
    }
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

    pub(crate) fn wake_relays(&self) {
        for w in lock(&self.wakers).iter() {
            w.notify_one();
        }
    }
}
