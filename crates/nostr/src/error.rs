//! The crate's single error type.

/// Everything that can go wrong in `nipee-nostr`.
///
/// Variants are grouped by cause: malformed input (the bytes or JSON do not have the
/// required shape), invalid input (well-formed, but a cryptographic or policy check
/// failed), unsupported input, misuse of the API by the caller, and internal failures.
/// [`Error::kind`] gives a stable machine-readable category.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // ---- malformed input -------------------------------------------------------------
    /// The JSON text could not be parsed into the expected structure.
    #[error("malformed JSON for {what}: {reason}")]
    Json {
        /// What was being parsed (e.g. "event", "filter").
        what: &'static str,
        /// The parser's explanation.
        reason: String,
    },
    /// A hex string contained a character outside `[0-9a-f]` (uppercase is rejected).
    #[error("malformed hex in {field}: {reason}")]
    Hex {
        /// The field being decoded.
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A value had the wrong length.
    #[error("{field}: expected {expected} {unit}, found {found}")]
    Length {
        /// The field being decoded.
        field: &'static str,
        /// The required length.
        expected: usize,
        /// The length found.
        found: usize,
        /// "bytes" or "hex characters".
        unit: &'static str,
    },
    /// An input was larger than the configured limit.
    #[error("{field} too large: {found} exceeds the limit of {limit}")]
    TooLarge {
        /// The field or input that was too large.
        field: &'static str,
        /// The configured limit.
        limit: usize,
        /// The size found.
        found: usize,
    },
    /// A bech32 (NIP-19) string was malformed or carried the wrong prefix.
    #[error("malformed NIP-19 {field}: {reason}")]
    Bech32 {
        /// The entity being decoded (npub, nsec, nprofile, nevent).
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A tag did not have the shape its name requires.
    #[error("malformed `{name}` tag: {reason}")]
    Tag {
        /// The tag name.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The NIP-44 payload was not valid base64 (including truncated input).
    #[error("malformed NIP-44 payload: invalid base64 ({reason})")]
    Base64 {
        /// The decoder's explanation.
        reason: String,
    },
    /// The NIP-44 payload had an impossible size.
    #[error("malformed NIP-44 payload: {reason}")]
    Nip44Payload {
        /// What is wrong with it.
        reason: &'static str,
    },

    // ---- invalid input (a check failed) ----------------------------------------------
    /// A key was not a valid secp256k1 secret scalar or x-only public key.
    #[error("invalid {field}: not a valid secp256k1 key")]
    InvalidKey {
        /// The field holding the key.
        field: &'static str,
    },
    /// The event id does not match the hash of the canonical serialization.
    #[error("event id mismatch: computed {computed}, found {found}")]
    IdMismatch {
        /// The id computed from the event's fields.
        computed: String,
        /// The id the event claimed.
        found: String,
    },
    /// The BIP-340 signature does not verify.
    #[error("invalid BIP-340 signature on {what}")]
    BadSignature {
        /// What was signed (e.g. "event", "seal", "gift wrap").
        what: &'static str,
    },
    /// The NIP-44 MAC did not match.
    #[error("invalid NIP-44 MAC")]
    BadMac,
    /// The NIP-44 padding (length prefix or padded size) was wrong.
    #[error("invalid NIP-44 padding: {reason}")]
    BadPadding {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The decrypted NIP-44 plaintext was not UTF-8 where a string was requested.
    #[error("NIP-44 plaintext is not valid UTF-8")]
    NotUtf8,
    /// An event had a different kind from the one required.
    #[error("unexpected event kind: expected {expected}, found {found}")]
    UnexpectedKind {
        /// The required kind(s), human readable.
        expected: &'static str,
        /// The kind found.
        found: u16,
    },
    /// A NIP-59 layer violated the protocol (e.g. seal with tags, signed rumor).
    #[error("invalid NIP-59 {layer}: {reason}")]
    GiftWrap {
        /// "seal", "rumor" or "gift wrap".
        layer: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The seal's signer is not the rumor's author: an impersonation attempt.
    #[error("seal pubkey {seal} differs from rumor pubkey {rumor}")]
    SealAuthorMismatch {
        /// The pubkey that signed the seal.
        seal: String,
        /// The pubkey the rumor claims.
        rumor: String,
    },
    /// A typed event (deletion, relay list, ...) did not satisfy its NIP.
    #[error("invalid {what}: {reason}")]
    InvalidEvent {
        /// The event type.
        what: &'static str,
        /// What is wrong with it.
        reason: String,
    },

    // ---- unsupported -----------------------------------------------------------------
    /// A NIP-44 payload used an encryption version this crate does not implement.
    #[error("unsupported NIP-44 version {}", match .version { Some(v) => v.to_string(), None => "(non-base64 encoding)".into() })]
    UnsupportedVersion {
        /// The version byte, or `None` when the payload starts with `#`.
        version: Option<u8>,
    },

    // ---- misuse ----------------------------------------------------------------------
    /// A NIP-44 plaintext is longer than the length prefix asked for allows: 65 535 bytes
    /// for the classic prefix (which every NIP-44 v2 implementation reads), 2^32 - 1 for
    /// the extended one.
    #[error(
        "NIP-44 plaintext of {found} bytes exceeds the {prefix} length prefix's limit of {limit} bytes"
    )]
    PlaintextTooLong {
        /// The plaintext's length in bytes.
        found: usize,
        /// The longest plaintext the prefix allows.
        limit: u64,
        /// "classic" or "extended".
        prefix: &'static str,
    },
    /// The caller passed an argument outside its allowed range.
    #[error("invalid argument {field}: {reason}")]
    Misuse {
        /// The argument.
        field: &'static str,
        /// The rule it broke.
        reason: &'static str,
    },

    // ---- internal --------------------------------------------------------------------
    /// A [`crate::Signer`] other than in-memory keys failed or refused (e.g. the user
    /// declined a browser extension's prompt, or a remote signer did not answer).
    #[error("signer failed: {reason}")]
    Signer {
        /// The signer's explanation.
        reason: String,
    },
    /// The operating system's random number generator failed.
    #[error("randomness unavailable: {reason}")]
    Rng {
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
    /// The input is well-formed but a cryptographic or policy check failed.
    Invalid,
    /// The input uses a version or feature this crate does not implement.
    Unsupported,
    /// The caller used the API wrongly.
    Misuse,
    /// Persistent storage failed (unused by this crate, kept for a uniform code set).
    Storage,
    /// A bug or a platform failure.
    Internal,
}

impl ErrorKind {
    /// A stable lowercase code: "malformed", "invalid", "unsupported", "misuse",
    /// "storage" or "internal".
    pub fn as_str(&self) -> &'static str {
        match self {
            ErrorKind::Malformed => "malformed",
            ErrorKind::Invalid => "invalid",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Misuse => "misuse",
            ErrorKind::Storage => "storage",
            ErrorKind::Internal => "internal",
        }
    }
}

impl Error {
    /// The stable category of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Json { .. }
            | Error::Hex { .. }
            | Error::Length { .. }
            | Error::TooLarge { .. }
            | Error::Bech32 { .. }
            | Error::Tag { .. }
            | Error::Base64 { .. }
            | Error::Nip44Payload { .. } => ErrorKind::Malformed,
            Error::InvalidKey { .. }
            | Error::IdMismatch { .. }
            | Error::BadSignature { .. }
            | Error::BadMac
            | Error::BadPadding { .. }
            | Error::NotUtf8
            | Error::UnexpectedKind { .. }
            | Error::GiftWrap { .. }
            | Error::SealAuthorMismatch { .. }
            | Error::InvalidEvent { .. } => ErrorKind::Invalid,
            Error::UnsupportedVersion { .. } => ErrorKind::Unsupported,
            Error::Misuse { .. } | Error::PlaintextTooLong { .. } => ErrorKind::Misuse,
            Error::Signer { .. } | Error::Rng { .. } => ErrorKind::Internal,
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = core::result::Result<T, Error>;
