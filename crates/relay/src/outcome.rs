//! What the pool reports: publish outcomes, subscription items, fetch reports and
//! connection notifications. Plain data, no IO.

use nipee_nostr::{Event, EventId};

use crate::error::{Error, Result};
use crate::message::Reason;
use crate::url::RelayUrl;
use crate::url_policy::UrlRefusal;

/// A relay's answer to a published event.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OkStatus {
    /// `true` when the relay stored the event or already had it (`duplicate:`).
    pub accepted: bool,
    /// The message with its machine-readable prefix (`invalid:`, `rate-limited:`, ...).
    pub reason: Reason,
}

/// What [`crate::Pool::publish`] and its variants learned from each relay asked.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PublishOutcome {
    /// The published event.
    pub event_id: EventId,
    /// One entry per relay asked, with its URL: its `OK` (accepted or rejected, with the
    /// relay's message), or why there was none ([`Error::Timeout`], [`Error::NotInPool`],
    /// [`Error::Shutdown`], ...). [`crate::Pool::publish_until_accepted`] returns early,
    /// so its outcome lists only the relays that had answered by then.
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

    /// The relays that answered `OK false`, with their reasons (see [`Reason::prefix`]
    /// for the machine-readable part: `invalid`, `blocked`, `rate-limited`, ...).
    pub fn rejected_by(&self) -> Vec<(&RelayUrl, &Reason)> {
        self.results
            .iter()
            .filter_map(|(u, r)| match r {
                Ok(s) if !s.accepted => Some((u, &s.reason)),
                _ => None,
            })
            .collect()
    }

    /// The relays that gave no answer, with why: [`Error::Timeout`] (no `OK` in time,
    /// including a relay that was disconnected for the whole wait), [`Error::NotInPool`],
    /// [`Error::QueueFull`], [`Error::Shutdown`].
    pub fn unanswered(&self) -> Vec<(&RelayUrl, &Error)> {
        self.results
            .iter()
            .filter_map(|(u, r)| r.as_ref().err().map(|e| (u, e)))
            .collect()
    }

    /// Whether at least one of `relays` accepted (e.g. one of a NIP-EE group's relays).
    pub fn accepted_by_any_of(&self, relays: &[RelayUrl]) -> bool {
        self.accepted_by().into_iter().any(|u| relays.contains(u))
    }
}

/// One item of a [`crate::Subscription`]'s stream.
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

/// Connection-level happenings, broadcast to every [`crate::Pool::notifications`]
/// receiver.
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

/// How a one-shot fetch ended on one relay.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FetchStatus {
    /// The relay sent `EOSE`: it sent every stored event it has that matches (so an event
    /// it did not send is one it does not have, as far as it admits).
    Complete,
    /// The relay ended the request with `CLOSED` before `EOSE`, with its reason.
    Closed(Reason),
    /// The connection attempt failed, the relay was waiting out a reconnect delay, or the
    /// connection was lost before `EOSE`.
    Failed(String),
    /// No `EOSE` before the fetch's timeout.
    TimedOut,
    /// The fetch stopped at its event limit before this relay sent `EOSE`.
    EventLimit,
}

impl FetchStatus {
    /// Whether the relay finished with `EOSE`.
    pub fn is_complete(&self) -> bool {
        matches!(self, FetchStatus::Complete)
    }
}

impl core::fmt::Display for FetchStatus {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            FetchStatus::Complete => f.write_str("complete (EOSE)"),
            FetchStatus::Closed(r) => write!(f, "closed by the relay: {r}"),
            FetchStatus::Failed(r) => write!(f, "failed: {r}"),
            FetchStatus::TimedOut => f.write_str("timed out before EOSE"),
            FetchStatus::EventLimit => f.write_str("stopped at the event limit before EOSE"),
        }
    }
}

/// A relay URL that was not contacted, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedUrl {
    /// The URL as given.
    pub url: String,
    /// Why it was not contacted.
    pub reason: UrlRefusal,
}

/// What a one-shot fetch ([`crate::Pool::fetch`], [`crate::discovery::fetch_from`])
/// learned: the events, and per relay asked whether it finished.
///
/// The point is to tell "no relay answered" from "every relay asked answered and none
/// has it": only [`FetchReport::is_complete`] supports the second reading.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct FetchReport {
    /// Verified events matching the filters, each once however many relays sent it, in
    /// the order they arrived. Events a relay sent after its own `EOSE` are not included
    /// (they are live events, not part of the stored answer; the pool counts them in
    /// [`crate::RelayStats::late_events`]).
    pub events: Vec<Event>,
    /// One entry per relay asked, in the order asked.
    pub relays: Vec<(RelayUrl, FetchStatus)>,
    /// URLs asked for but not contacted (not in the pool; refused by the discovery
    /// policy; over the relay limit).
    pub refused: Vec<RefusedUrl>,
    /// The event limit was reached: more events may exist.
    pub truncated: bool,
}

impl FetchReport {
    /// True when at least one relay was asked, every relay asked sent `EOSE`, nothing was
    /// refused, and the event limit was not reached: an event absent from
    /// [`FetchReport::events`] is then absent from every relay asked.
    pub fn is_complete(&self) -> bool {
        !self.relays.is_empty()
            && self.refused.is_empty()
            && !self.truncated
            && self.relays.iter().all(|(_, s)| s.is_complete())
    }

    /// Whether at least one relay sent `EOSE`.
    pub fn any_complete(&self) -> bool {
        self.relays.iter().any(|(_, s)| s.is_complete())
    }

    /// The relays that sent `EOSE`.
    pub fn complete_relays(&self) -> Vec<&RelayUrl> {
        self.relays
            .iter()
            .filter(|(_, s)| s.is_complete())
            .map(|(u, _)| u)
            .collect()
    }

    /// The relays that did not finish, with why.
    pub fn incomplete_relays(&self) -> Vec<(&RelayUrl, &FetchStatus)> {
        self.relays
            .iter()
            .filter(|(_, s)| !s.is_complete())
            .map(|(u, s)| (u, s))
            .collect()
    }

    /// How the fetch ended on `url`, if it was asked.
    pub fn status(&self, url: &RelayUrl) -> Option<&FetchStatus> {
        self.relays.iter().find(|(u, _)| u == url).map(|(_, s)| s)
    }
}
