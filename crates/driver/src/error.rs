//! The driver's one error type.

/// Errors of the driver: the core's, the relay layer's, and what only the driver sees.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The client core refused or failed.
    #[error(transparent)]
    Core(#[from] nipee::Error),
    /// The relay layer failed (bad URL, no runtime, ...).
    #[error("relay: {0}")]
    Relay(#[from] nipee_relay::Error),
    /// Nobody we could reach has a valid KeyPackage of this key.
    #[error("no valid KeyPackage of {pubkey} on the relays asked")]
    NoKeyPackage {
        /// The Nostr key (hex).
        pubkey: String,
    },
    /// No relay took an event (it stays in the outbox and is republished by `sync`).
    #[error("no relay accepted {what}; it stays queued and is sent again by the next sync")]
    NotPublished {
        /// What.
        what: &'static str,
    },
    /// A bug.
    #[error("internal error: {reason}")]
    Internal {
        /// What did not hold.
        reason: &'static str,
    },
}

/// The stable category of an [`Error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Input that did not decode.
    Malformed,
    /// Input that failed a check.
    Invalid,
    /// The API was used wrongly.
    Misuse,
    /// Storage failed.
    Storage,
    /// Relays failed (network, refusal, timeout, nothing found).
    Network,
    /// A bug.
    Internal,
}

impl ErrorKind {
    /// A stable lower-case code.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Malformed => "malformed",
            ErrorKind::Invalid => "invalid",
            ErrorKind::Misuse => "misuse",
            ErrorKind::Storage => "storage",
            ErrorKind::Network => "network",
            ErrorKind::Internal => "internal",
        }
    }
}

impl Error {
    /// The stable category of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Core(e) => match e.kind().as_str() {
                "malformed" => ErrorKind::Malformed,
                "misuse" => ErrorKind::Misuse,
                "storage" => ErrorKind::Storage,
                "internal" => ErrorKind::Internal,
                "network" => ErrorKind::Network,
                _ => ErrorKind::Invalid,
            },
            Error::Relay(e) => match e.kind().as_str() {
                "misuse" => ErrorKind::Misuse,
                "internal" => ErrorKind::Internal,
                _ => ErrorKind::Network,
            },
            Error::NoKeyPackage { .. } | Error::NotPublished { .. } => ErrorKind::Network,
            Error::Internal { .. } => ErrorKind::Internal,
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = core::result::Result<T, E>;
