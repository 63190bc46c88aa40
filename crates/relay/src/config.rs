//! Pool settings.

use std::time::Duration;

use crate::backoff::Backoff;

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
    /// to two days) need a larger margin: see [`crate::Pool::subscribe_with_margin`].
    pub resubscribe_margin: Duration,
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
