//! The crate's one error type.

/// Errors of the NIP-EE client, grouped by cause: malformed input, input that failed a
/// policy or cryptographic check, misuse of the API, storage, and internal bugs.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // ---- malformed input ----
    /// A field could not be decoded (bad hex, wrong length, truncated, trailing bytes).
    #[error("malformed {field}: {reason}")]
    Malformed {
        /// The field.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// An event of the wrong kind.
    #[error("unexpected event kind: expected {expected}, found {found}")]
    UnexpectedKind {
        /// The kind that was expected.
        expected: u16,
        /// The kind that was found.
        found: u16,
    },
    /// A required tag is missing.
    #[error("kind {kind}: missing tag {tag:?}")]
    MissingTag {
        /// The event kind.
        kind: u16,
        /// The tag name.
        tag: &'static str,
    },
    /// A tag is present but its value is not acceptable.
    #[error("tag {tag:?}: expected {expected}, found {found:?}")]
    BadTag {
        /// The tag name.
        tag: &'static str,
        /// What was expected.
        expected: &'static str,
        /// What was found.
        found: String,
    },
    /// An MLS structure failed to decode or an MLS operation failed.
    #[error("MLS: {0}")]
    Mls(#[from] nipee_mls::Error),
    /// A KeyPackage failed to decode or validate.
    #[error("KeyPackage: {0}")]
    KeyPackage(#[from] nipee_keypackage::Error),
    /// A Nostr event, key, NIP-44 payload or gift wrap failed to decode or verify.
    #[error("Nostr: {0}")]
    Nostr(#[from] nipee_nostr::Error),
    /// The presentation-language codec failed.
    #[error("codec: {0}")]
    Codec(#[from] nipee_codec::Error),

    // ---- invalid input (a check failed) ----
    /// The MLS credential identity does not match the Nostr public key it must equal.
    #[error("credential identity {found} does not match the Nostr pubkey {expected}")]
    CredentialMismatch {
        /// The Nostr public key (hex) it must equal.
        expected: String,
        /// The identity found (hex of the Nostr key it names, or the raw bytes in hex).
        found: String,
    },
    /// The MLS signature key equals the Nostr identity key, which NIP-EE forbids.
    #[error("the MLS signature key must not be the Nostr identity key")]
    SignatureKeyIsNostrKey,
    /// A KeyPackage that decodes and validates under RFC 9420 but fails a NIP-EE rule.
    #[error("KeyPackage rejected: {reason}")]
    KeyPackageRejected {
        /// Which rule.
        reason: &'static str,
    },
    /// An inner (application) event failed a NIP-EE rule.
    #[error("inner event rejected: {reason}")]
    InnerEvent {
        /// Which rule.
        reason: &'static str,
    },
    /// The inner event's pubkey is not the MLS sender's identity.
    #[error("inner event pubkey {found} is not the MLS sender {expected}")]
    InnerEventAuthor {
        /// The MLS sender's identity.
        expected: String,
        /// The inner event's pubkey.
        found: String,
    },
    /// A group event for a group this client does not know.
    #[error("unknown group {nostr_group_id}")]
    UnknownGroup {
        /// Hex nostr_group_id from the `h` tag.
        nostr_group_id: String,
    },
    /// An event that was already processed.
    #[error("event {event_id} was already processed")]
    Duplicate {
        /// The event id (hex).
        event_id: String,
    },
    /// No epoch secret this client holds opens the kind-445 content.
    #[error("no retained epoch key opens this group event")]
    NoEpochKey,
    /// The Welcome is not addressed to this client (no KeyPackage of ours matches).
    #[error("the Welcome is not for us: {reason}")]
    NotForUs {
        /// Why.
        reason: &'static str,
    },
    /// A Welcome whose GroupInfo was signed by another member than the one who sealed the
    /// gift wrap.
    #[error("the Welcome was sealed by {sealed_by} but its GroupInfo signed by {signed_by}")]
    WelcomeSender {
        /// The seal's author.
        sealed_by: String,
        /// The GroupInfo signer's Nostr key.
        signed_by: String,
    },
    /// A message broke a NIP-EE admin rule.
    #[error("admin rules: {0}")]
    Policy(Box<crate::client::PolicyViolation>),
    /// A commit bound to another kind-445 event (its MLS authenticated data names another
    /// `created_at` or signer): a re-dated or re-signed copy.
    #[error("a copy of a commit under another event (re-dated or re-signed)")]
    CommitCopy,
    /// An event of one wire-format profile where the other was required (a Marmot
    /// KeyPackage for a `nip-ee` group, a Welcome of another profile than asked for).
    #[error("an event of profile {found} where profile {expected} is required")]
    ProfileMismatch {
        /// The profile required.
        expected: &'static str,
        /// The profile the event is written in.
        found: &'static str,
    },
    /// A group event older than its group's profile accepts (Marmot: 45 days).
    #[error("event created_at {created_at} is older than the oldest accepted ({oldest})")]
    TooOld {
        /// The event's `created_at`.
        created_at: u64,
        /// The oldest `created_at` accepted now.
        oldest: u64,
    },
    /// A group event dated further in the future than the allowed clock skew.
    #[error("event created_at {created_at} is too far after now ({now})")]
    FromTheFuture {
        /// The event's `created_at`.
        created_at: u64,
        /// The caller's clock.
        now: u64,
    },

    // ---- misuse ----
    /// The caller used the API wrongly (e.g. a value out of range for the wire format).
    #[error("misuse: {what}")]
    Misuse {
        /// What was wrong.
        what: &'static str,
    },

    /// Classic-only NIP-44 mode (`ClientConfig::classic_nip44`): something we would send
    /// does not fit the classic 2-byte length prefix, so peers that read only that prefix
    /// (nostr-mls and rust-nostr 0.43) could not open it. Nothing was changed or sent.
    #[error(
        "{what} is {size} bytes, over the {limit}-byte limit of classic NIP-44 (classic-only mode is on: peers that read only the classic length prefix could not open it)"
    )]
    ClassicNip44TooLarge {
        /// What would have been encrypted (e.g. "Welcome seal").
        what: &'static str,
        /// Its size in bytes.
        size: usize,
        /// The classic limit, 65 535 bytes.
        limit: usize,
    },

    // ---- storage ----
    /// The storage backend failed, or a stored blob is of an unknown version or corrupt.
    #[error("storage: {reason}")]
    Storage {
        /// What failed.
        reason: String,
    },

    // ---- internal ----
    /// A bug: an invariant did not hold.
    #[error("internal error: {reason}")]
    Internal {
        /// What did not hold.
        reason: &'static str,
    },
}

/// The stable category of an [`Error`], for callers (and the WASM facade) that want a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The input could not be decoded.
    Malformed,
    /// The input decoded but failed a policy or cryptographic check.
    Invalid,
    /// The API was used wrongly.
    Misuse,
    /// The storage backend failed.
    Storage,
    /// Valid but not supported by this implementation.
    Unsupported,
    /// Relays failed (network, refusal, timeout).
    Network,
    /// A bug.
    Internal,
}

impl ErrorKind {
    /// A stable lower-case code: "malformed", "invalid", "misuse", "storage",
    /// "unsupported", "network", "internal".
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Malformed => "malformed",
            ErrorKind::Invalid => "invalid",
            ErrorKind::Misuse => "misuse",
            ErrorKind::Storage => "storage",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Network => "network",
            ErrorKind::Internal => "internal",
        }
    }
}

impl Error {
    /// The stable category of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Malformed { .. }
            | Error::UnexpectedKind { .. }
            | Error::MissingTag { .. }
            | Error::BadTag { .. }
            | Error::Codec(_) => ErrorKind::Malformed,
            Error::Mls(e) => match e.kind().as_str() {
                "malformed" => ErrorKind::Malformed,
                "misuse" => ErrorKind::Misuse,
                "unsupported" => ErrorKind::Unsupported,
                "internal" => ErrorKind::Internal,
                _ => ErrorKind::Invalid,
            },
            Error::KeyPackage(e) => match e.kind().as_str() {
                "malformed" => ErrorKind::Malformed,
                "misuse" => ErrorKind::Misuse,
                "unsupported" => ErrorKind::Unsupported,
                "internal" => ErrorKind::Internal,
                _ => ErrorKind::Invalid,
            },
            Error::Nostr(e) => match e.kind().as_str() {
                "malformed" => ErrorKind::Malformed,
                "misuse" => ErrorKind::Misuse,
                "unsupported" => ErrorKind::Unsupported,
                "internal" => ErrorKind::Internal,
                _ => ErrorKind::Invalid,
            },
            Error::CredentialMismatch { .. }
            | Error::SignatureKeyIsNostrKey
            | Error::KeyPackageRejected { .. }
            | Error::InnerEvent { .. }
            | Error::InnerEventAuthor { .. }
            | Error::UnknownGroup { .. }
            | Error::Duplicate { .. }
            | Error::NoEpochKey
            | Error::NotForUs { .. }
            | Error::WelcomeSender { .. }
            | Error::Policy(_)
            | Error::CommitCopy
            | Error::ProfileMismatch { .. }
            | Error::TooOld { .. }
            | Error::FromTheFuture { .. } => ErrorKind::Invalid,
            Error::Misuse { .. } | Error::ClassicNip44TooLarge { .. } => ErrorKind::Misuse,
            Error::Storage { .. } => ErrorKind::Storage,
            Error::Internal { .. } => ErrorKind::Internal,
        }
    }

    /// Maps a NIP-44 classic-limit refusal of `what` to [`Error::ClassicNip44TooLarge`];
    /// any other error of the Nostr crate stays [`Error::Nostr`].
    pub(crate) fn from_nip44(what: &'static str, e: nipee_nostr::Error) -> Self {
        match e {
            nipee_nostr::Error::PlaintextTooLong {
                found,
                prefix: "classic",
                ..
            } => Error::ClassicNip44TooLarge {
                what,
                size: found,
                limit: nipee_nostr::nip44::MAX_CLASSIC_PLAINTEXT,
            },
            other => Error::Nostr(other),
        }
    }

    pub(crate) fn malformed(field: &'static str, reason: impl Into<String>) -> Self {
        Error::Malformed {
            field,
            reason: reason.into(),
        }
    }
}

impl From<crate::client::PolicyViolation> for Error {
    fn from(v: crate::client::PolicyViolation) -> Self {
        Error::Policy(Box::new(v))
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = core::result::Result<T, E>;
