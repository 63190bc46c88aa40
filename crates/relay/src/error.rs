//! The crate's single error type.

use std::time::Duration;

/// Everything that can go wrong in `nipee-relay`.
///
/// Variants are grouped by cause: malformed input (a relay sent something that is not a
/// NIP-01 message, or the caller passed an unusable URL), invalid input (a check failed:
/// a relay refused, an event did not verify), misuse of the API, transport failures
/// (connection, TLS, timeouts), and internal failures. [`Error::kind`] gives a stable
/// machine-readable category.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // ---- malformed input -------------------------------------------------------------
    /// A relay URL could not be used.
    #[error("malformed relay URL {url:?}: {reason}")]
    Url {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A message from a relay was not a NIP-01 relay-to-client message.
    #[error("malformed relay message ({what}): {reason}")]
    Message {
        /// What was expected (e.g. "OK", "EVENT", "JSON array").
        what: &'static str,
        /// What is wrong with it.
        reason: String,
    },

    // ---- invalid input (a check failed) ----------------------------------------------
    /// A Nostr-level check failed (an event did not verify, a filter was unusable, ...).
    #[error("nostr: {0}")]
    Nostr(#[from] nipee_nostr::Error),
    /// Fewer relays accepted an event than required.
    #[error(
        "only {accepted} of the {required} required relays accepted event {event_id} ({details})"
    )]
    NotEnoughAccepted {
        /// The event id (hex).
        event_id: String,
        /// How many acceptances were required.
        required: usize,
        /// How many relays accepted.
        accepted: usize,
        /// Each relay's answer or failure, human readable.
        details: String,
    },

    // ---- misuse ----------------------------------------------------------------------
    /// The caller used the API wrongly (e.g. an empty pool, a requirement of zero relays).
    #[error("invalid argument {field}: {reason}")]
    Misuse {
        /// The argument.
        field: &'static str,
        /// The rule it broke.
        reason: &'static str,
    },

    /// The relay named is not one of the pool's relays.
    #[error("{url} is not one of the pool's relays")]
    NotInPool {
        /// The relay.
        url: String,
    },

    // ---- transport -------------------------------------------------------------------
    /// Connecting, the TLS or WebSocket handshake, or the connection itself failed.
    #[error("connection to {url} failed: {reason}")]
    Connection {
        /// The relay.
        url: String,
        /// The transport's explanation.
        reason: String,
    },
    /// The relay did not answer within the allotted time.
    #[error("timed out after {after:?} waiting for {what} from {url}")]
    Timeout {
        /// The relay.
        url: String,
        /// What was awaited (e.g. "OK").
        what: &'static str,
        /// The time limit.
        after: Duration,
    },
    /// The relay's outgoing queue is full (back-pressure): the relay is not keeping up.
    #[error("queue for {url} is full")]
    QueueFull {
        /// The relay.
        url: String,
    },
    /// The pool (or the relay's task) has shut down.
    #[error("the relay pool is shut down")]
    Shutdown,

    // ---- test relay ------------------------------------------------------------------
    /// The test relay could not be started (missing binary, failed start, ...).
    #[error("test relay: {reason}")]
    TestRelay {
        /// What went wrong, including how to fix it.
        reason: String,
    },

    // ---- internal --------------------------------------------------------------------
    /// A platform failure (e.g. the operating system's RNG).
    #[error("internal error: {reason}")]
    Internal {
        /// The platform's explanation.
        reason: String,
    },
}

/// Stable error categories (see [`Error::kind`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The input does not have the required shape.
    Malformed,
    /// The input is well-formed but a check failed, or a relay refused.
    Invalid,
    /// The input uses something this crate does not implement.
    Unsupported,
    /// The caller used the API wrongly.
    Misuse,
    /// The network or the relay failed (connection, TLS, timeout, full queue).
    Transport,
    /// Persistent storage failed (unused by this crate, kept for a uniform code set).
    Storage,
    /// A bug or a platform failure.
    Internal,
}

impl ErrorKind {
    /// A stable lowercase code: "malformed", "invalid", "unsupported", "misuse",
    /// "transport", "storage" or "internal".
    pub fn as_str(&self) -> &'static str {
        match self {
            ErrorKind::Malformed => "malformed",
            ErrorKind::Invalid => "invalid",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Misuse => "misuse",
            ErrorKind::Transport => "transport",
            ErrorKind::Storage => "storage",
            ErrorKind::Internal => "internal",
        }
    }
}

impl Error {
    /// The stable category of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Url { .. } | Error::Message { .. } => ErrorKind::Malformed,
            Error::Nostr(e) => match e.kind() {
                nipee_nostr::ErrorKind::Malformed => ErrorKind::Malformed,
                nipee_nostr::ErrorKind::Invalid => ErrorKind::Invalid,
                nipee_nostr::ErrorKind::Unsupported => ErrorKind::Unsupported,
                nipee_nostr::ErrorKind::Misuse => ErrorKind::Misuse,
                nipee_nostr::ErrorKind::Storage => ErrorKind::Storage,
                _ => ErrorKind::Internal,
            },
            Error::NotEnoughAccepted { .. } => ErrorKind::Invalid,
            Error::Misuse { .. } | Error::NotInPool { .. } => ErrorKind::Misuse,
            Error::Connection { .. }
            | Error::Timeout { .. }
            | Error::QueueFull { .. }
            | Error::Shutdown => ErrorKind::Transport,
            Error::TestRelay { .. } | Error::Internal { .. } => ErrorKind::Internal,
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = core::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_have_stable_codes() {
        let e = Error::Timeout {
            url: "ws://127.0.0.1:1".into(),
            what: "OK",
            after: Duration::from_secs(1),
        };
        assert_eq!(e.kind().as_str(), "transport");
        let e = Error::Url {
            url: "http://x".into(),
            reason: "scheme",
        };
        assert_eq!(e.kind().as_str(), "malformed");
        let e = Error::from(nipee_nostr::Error::BadSignature { what: "event" });
        assert_eq!(e.kind(), ErrorKind::Invalid);
        assert_eq!(Error::Shutdown.kind(), ErrorKind::Transport);
    }
}
