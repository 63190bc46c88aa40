//! The bounds this crate puts on every variable-length field.
//!
//! RFC 9420 lets vectors run to `2^30 - 1` bytes. A KeyPackage is published to
//! relays and parsed from untrusted input, so every vector is bounded here,
//! far above anything a real client sends but low enough that a hostile
//! encoding cannot make a reader build large lists. Decoding beyond a limit
//! fails with [`nipee_codec::Error::LimitExceeded`] naming the field; encoding
//! beyond it fails with [`crate::Error::TooLargeToEncode`], so what this crate
//! writes it can always read back.

/// Most extensions in one `extensions<V>` list (KeyPackage or LeafNode).
pub const MAX_EXTENSIONS: usize = 64;
/// Most bytes in one `extension_data<V>`.
pub const MAX_EXTENSION_DATA_LEN: usize = 64 * 1024;
/// Most entries in each list of `Capabilities`.
pub const MAX_CAPABILITY_ENTRIES: usize = 128;
/// Most bytes in a basic credential's `identity<V>`.
pub const MAX_IDENTITY_LEN: usize = 1024;
/// Most certificates in an X.509 credential chain.
pub const MAX_CERTIFICATES: usize = 16;
/// Most bytes in one certificate's `cert_data<V>`.
pub const MAX_CERTIFICATE_LEN: usize = 16 * 1024;
/// Most bytes in the body of a credential of an unknown type.
pub const MAX_UNKNOWN_CREDENTIAL_LEN: usize = 64 * 1024;
/// Length of a SHA-256 output: a non-empty `parent_hash` must be this long.
pub const HASH_LEN: usize = 32;
