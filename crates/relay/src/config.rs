//! Pool settings, and the per-call options of subscriptions and fetches.

use std::time::Duration;

use crate::backoff::Backoff;
use crate::url::RelayUrl;

/// The re-subscription margin for NIP-59 gift wraps (kind 1059): two days plus one hour.
/// NIP-59 backdates a wrap's `created_at` by up to two days, so a smaller margin would
/// let a renewed subscription skip wraps published during a disconnection.
pub const GIFT_WRAP_MARGIN: Duration = Duration::from_secs(2 * 24 * 60 * 60 + 60 * 60);

/// Timeouts, queue bounds and reconnect policy of a [`crate::Pool`].
///
/// Start from [`PoolConfig::default`] and change fields:
///
/// ```
/// use std::time::Duration;
/// let mut config = nipee_relay::PoolConfig::default();
/// config.ok_timeout = Duration::from_secs(3);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PoolConfig {
    /// Limit for TCP connect plus TLS and WebSocket handshakes. Default 10 s.
    pub connect_timeout: Duration,
    /// How long [`crate::Pool::publish`] waits for each relay's `OK`. Default 10 s.
    pub ok_timeout: Duration,
    /// Limit for writing one message; a relay that stops reading is dropped. Default 10 s.
    pub write_timeout: Duration,
    /// A WebSocket ping is sent this often. Default 30 s.
    pub ping_interval: Duration,
    /// A connection that delivers no frame at all (not even a pong) for this long is
    /// considered stalled and is reconnected. Default 75 s.
    pub idle_timeout: Duration,
    /// Reconnect delays.
    pub backoff: Backoff,
    /// A connection that lived at least this long resets the backoff. Default 10 s.
    pub stable_after: Duration,
    /// After a reconnect, subscriptions are re-issued with `since` = newest `created_at`
    /// already received from that relay minus this margin (clock skew between authors).
    /// Default 120 s. Subscriptions to backdated events (NIP-59 gift wraps are backdated up
    /// to two days) need a larger margin: see [`SubscribeOptions::gift_wraps`] and
    /// [`GIFT_WRAP_MARGIN`].
    pub resubscribe_margin: Duration,
    /// How far in the future a `created_at` may lie and still count. The newest
    /// `created_at` that feeds a renewed subscription's `since` is clamped to the time it
    /// was received plus this, and so is any `since` the caller puts in a filter, so one
    /// future-dated event cannot push `since` past the events that follow. (The renewed
    /// `since` is also never later than the moment the previous connection ended, minus
    /// the margin.) Default 15 minutes.
    pub max_future_skew: Duration,
    /// Capacity of each subscription's event queue. When the consumer is slow, relay
    /// readers wait (back-pressure reaches the sockets) instead of buffering. Default 1024.
    pub subscription_queue: usize,
    /// Capacity of each relay's command queue. Default 256.
    pub command_queue: usize,
    /// Publishes waiting for a connection or for an `OK`, per relay. Default 1024.
    pub max_pending_publishes: usize,
    /// Event ids remembered per subscription for de-duplication. Default 100 000.
    pub dedup_capacity: usize,
    /// Largest accepted WebSocket message from a relay. Default 4 MiB.
    pub max_message_bytes: usize,
    /// Capacity of the [`crate::Notification`] broadcast (slow listeners lose the oldest).
    /// Default 256.
    pub notification_queue: usize,
    /// NIP-40: drop received events whose `expiration` tag lies at or before this machine's
    /// clock (a malformed `expiration` counts as expired) instead of delivering them; they
    /// are counted in [`crate::RelayStats::expired_events`]. Default `true` ("clients SHOULD
    /// ignore events that have expired").
    pub drop_expired: bool,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            connect_timeout: Duration::from_secs(10),
            ok_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(10),
            ping_interval: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(75),
            backoff: Backoff::DEFAULT,
            stable_after: Duration::from_secs(10),
            resubscribe_margin: Duration::from_secs(120),
            max_future_skew: Duration::from_secs(15 * 60),
            subscription_queue: 1024,
            command_queue: 256,
            max_pending_publishes: 1024,
            dedup_capacity: 100_000,
            max_message_bytes: 4 << 20,
            notification_queue: 256,
            drop_expired: true,
        }
    }
}

/// Options of [`crate::Pool::subscribe_with`].
///
/// ```
/// use nipee_relay::{GIFT_WRAP_MARGIN, SubscribeOptions};
/// let options = SubscribeOptions::gift_wraps();
/// assert_eq!(options.margin, Some(GIFT_WRAP_MARGIN));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SubscribeOptions {
    /// The re-subscription margin after a reconnect; `None` for
    /// [`PoolConfig::resubscribe_margin`].
    pub margin: Option<Duration>,
    /// The pool's relays to subscribe on (also when added later); `None` for all.
    pub relays: Option<Vec<RelayUrl>>,
}

impl SubscribeOptions {
    /// Every relay, the pool's margin.
    pub fn new() -> Self {
        Self::default()
    }

    /// For NIP-59 gift wraps (kind 1059): margin [`GIFT_WRAP_MARGIN`].
    pub fn gift_wraps() -> Self {
        Self::new().margin(GIFT_WRAP_MARGIN)
    }

    /// With this re-subscription margin.
    pub fn margin(mut self, margin: Duration) -> Self {
        self.margin = Some(margin);
        self
    }

    /// On these relays only.
    pub fn relays(mut self, relays: Vec<RelayUrl>) -> Self {
        self.relays = Some(relays);
        self
    }
}

/// Options of [`crate::Pool::fetch`].
///
/// ```
/// use std::time::Duration;
/// let mut options = nipee_relay::FetchOptions::default();
/// options.timeout = Duration::from_secs(3);
/// assert_eq!(options.relays, None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FetchOptions {
    /// The pool's relays to ask; `None` for all of them. A URL that is not in the pool
    /// is reported in [`crate::FetchReport::refused`].
    pub relays: Option<Vec<RelayUrl>>,
    /// How long to wait for every relay's `EOSE`. Default 10 s.
    pub timeout: Duration,
    /// The fetch stops once this many distinct events arrived
    /// ([`crate::FetchReport::truncated`]). Default 10 000.
    pub max_events: usize,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            relays: None,
            timeout: Duration::from_secs(10),
            max_events: 10_000,
        }
    }
}

impl FetchOptions {
    /// Every relay of the pool, with this timeout.
    pub fn new(timeout: Duration) -> Self {
        FetchOptions {
            timeout,
            ..Self::default()
        }
    }

    /// Ask these relays of the pool only.
    pub fn relays(mut self, relays: Vec<RelayUrl>) -> Self {
        self.relays = Some(relays);
        self
    }
}
