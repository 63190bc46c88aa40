//! Counters per relay, readable at any time without locks.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::url::RelayUrl;

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) connected: AtomicBool,
    pub(crate) connects: AtomicU64,
    pub(crate) disconnects: AtomicU64,
    pub(crate) events_received: AtomicU64,
    pub(crate) events_delivered: AtomicU64,
    pub(crate) duplicates: AtomicU64,
    pub(crate) invalid_events: AtomicU64,
    pub(crate) unmatched_events: AtomicU64,
    pub(crate) expired_events: AtomicU64,
    pub(crate) late_events: AtomicU64,
    pub(crate) malformed_messages: AtomicU64,
    pub(crate) notices: AtomicU64,
    pub(crate) ok_accepted: AtomicU64,
    pub(crate) ok_rejected: AtomicU64,
    pub(crate) auth_sent: AtomicU64,
}

pub(crate) fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

impl Counters {
    pub(crate) fn snapshot(&self, url: &RelayUrl) -> RelayStats {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        RelayStats {
            url: url.clone(),
            connected: self.connected.load(Ordering::Relaxed),
            connects: g(&self.connects),
            disconnects: g(&self.disconnects),
            events_received: g(&self.events_received),
            events_delivered: g(&self.events_delivered),
            duplicates: g(&self.duplicates),
            invalid_events: g(&self.invalid_events),
            unmatched_events: g(&self.unmatched_events),
            expired_events: g(&self.expired_events),
            late_events: g(&self.late_events),
            malformed_messages: g(&self.malformed_messages),
            notices: g(&self.notices),
            ok_accepted: g(&self.ok_accepted),
            ok_rejected: g(&self.ok_rejected),
            auth_sent: g(&self.auth_sent),
        }
    }
}

/// A snapshot of one relay's counters.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RelayStats {
    /// The relay.
    pub url: RelayUrl,
    /// Whether a connection is currently open.
    pub connected: bool,
    /// Successful connections (the first one included).
    pub connects: u64,
    /// Connections lost or dropped (errors, close frames, stalls).
    pub disconnects: u64,
    /// `EVENT` messages received.
    pub events_received: u64,
    /// Events delivered to a subscription (verified, matching, first copy).
    pub events_delivered: u64,
    /// Events dropped because the subscription had already delivered them.
    pub duplicates: u64,
    /// Events dropped because their id or signature did not verify.
    pub invalid_events: u64,
    /// Events dropped because they matched no filter of the subscription, or named an
    /// unknown subscription.
    pub unmatched_events: u64,
    /// Events dropped because their NIP-40 `expiration` had passed (or was malformed), with
    /// [`crate::PoolConfig::drop_expired`] on.
    pub expired_events: u64,
    /// Events for a one-shot fetch that arrived after this relay's `EOSE` for it (not
    /// part of the fetch's answer, so not delivered).
    pub late_events: u64,
    /// Frames that were not NIP-01 relay messages (garbage, binary frames).
    pub malformed_messages: u64,
    /// `NOTICE` messages received.
    pub notices: u64,
    /// `OK true` answers.
    pub ok_accepted: u64,
    /// `OK false` answers.
    pub ok_rejected: u64,
    /// NIP-42 AUTH events sent.
    pub auth_sent: u64,
}

/// A snapshot of every relay's counters.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolStats {
    /// Per relay, in the order the relays were added.
    pub relays: Vec<RelayStats>,
}

impl PoolStats {
    /// The counters of `url`, if it is in the pool.
    pub fn relay(&self, url: &RelayUrl) -> Option<&RelayStats> {
        self.relays.iter().find(|r| &r.url == url)
    }

    /// Invalid events dropped, summed over relays.
    pub fn invalid_events(&self) -> u64 {
        self.relays.iter().map(|r| r.invalid_events).sum()
    }

    /// Duplicate events dropped, summed over relays.
    pub fn duplicates(&self) -> u64 {
        self.relays.iter().map(|r| r.duplicates).sum()
    }

    /// Events delivered, summed over relays.
    pub fn events_delivered(&self) -> u64 {
        self.relays.iter().map(|r| r.events_delivered).sum()
    }

    /// Malformed messages, summed over relays.
    pub fn malformed_messages(&self) -> u64 {
        self.relays.iter().map(|r| r.malformed_messages).sum()
    }

    /// Relays with an open connection.
    pub fn connected(&self) -> usize {
        self.relays.iter().filter(|r| r.connected).count()
    }
}
