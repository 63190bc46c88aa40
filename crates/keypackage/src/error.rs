//! The one error type of this crate.

use core::fmt;

use crate::types::{
    CipherSuite, CredentialType, ExtensionType, LeafNodeSourceType, ProtocolVersion,
};

/// Where an extension list sits, for errors about extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ExtensionLocation {
    /// `KeyPackage.extensions`.
    KeyPackage,
    /// `LeafNode.extensions`.
    LeafNode,
}

impl fmt::Display for ExtensionLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ExtensionLocation::KeyPackage => "key_package.extensions",
            ExtensionLocation::LeafNode => "leaf_node.extensions",
        })
    }
}

/// Everything that can go wrong in this crate.
///
/// Variants are grouped by cause: *malformed input* (the bytes do not follow
/// RFC 9420), *unsupported* (well-formed but for a version or cipher suite this
/// crate does not implement), *invalid input* (a policy or cryptographic
/// check of RFC 9420 §7.3 / §10.1 failed), *misuse* (the caller asked for
/// something impossible), *storage* (a stored bundle cannot be loaded) and
/// *internal*. [`Error::kind`] gives the stable classification.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // ---- malformed input -------------------------------------------------
    /// The encoding is malformed; the inner error names the field (for
    /// example `LengthMismatch { field: "init_key", expected: 32, found: 33 }`,
    /// `Truncated`, `TrailingBytes`, or `LimitExceeded` for an oversize list).
    #[error("malformed encoding: {0}")]
    Codec(#[from] nipee_codec::Error),
    /// An `MLSMessage` carried another wire format than the one expected.
    #[error("MLSMessage wire format {found} where {expected} was expected")]
    UnexpectedWireFormat {
        /// The wire format required (5, `mls_key_package`).
        expected: u16,
        /// The wire format found.
        found: u16,
    },

    // ---- unsupported -----------------------------------------------------
    /// A KeyPackage (or MLSMessage) of a cipher suite other than 0x0001.
    #[error("unsupported cipher suite 0x{0:04x} (only 0x0001 is implemented)")]
    UnsupportedCipherSuite(u16),
    /// A protocol version other than `mls10`.
    #[error("unsupported protocol version 0x{0:04x} (only mls10 = 0x0001)")]
    UnsupportedProtocolVersion(u16),

    // ---- invalid input (checks failed) -----------------------------------
    /// The KeyPackage's `cipher_suite` is not the one required.
    #[error("cipher suite mismatch: expected {expected}, found {found}")]
    CipherSuiteMismatch {
        /// The suite required.
        expected: CipherSuite,
        /// The suite found.
        found: CipherSuite,
    },
    /// The KeyPackage inside an `MLSMessage` has another version than the
    /// message (RFC 9420 §10).
    #[error("MLSMessage version {message} differs from KeyPackage version {key_package}")]
    MessageVersionMismatch {
        /// The version of the MLSMessage.
        message: ProtocolVersion,
        /// The version of the KeyPackage.
        key_package: ProtocolVersion,
    },
    /// The LeafNode signature (`LeafNodeTBS`) does not verify.
    #[error("LeafNode signature does not verify")]
    InvalidLeafNodeSignature,
    /// The KeyPackage signature (`KeyPackageTBS`) does not verify.
    #[error("KeyPackage signature does not verify")]
    InvalidKeyPackageSignature,
    /// A signature made with `SignWithLabel` does not verify.
    #[error("signature with label {label:?} does not verify")]
    InvalidSignature {
        /// The label (without the "MLS 1.0 " prefix).
        label: String,
    },
    /// The `signature_key` is not a valid Ed25519 public key.
    #[error("signature_key is not a valid Ed25519 public key")]
    InvalidSignatureKey,
    /// `leaf_node.encryption_key` equals `init_key` (RFC 9420 §10.1).
    #[error("init_key equals leaf_node.encryption_key")]
    InitKeyEqualsEncryptionKey,
    /// The current time is after `lifetime.not_after`.
    #[error("lifetime expired: not_after {not_after} < now {now}")]
    LifetimeExpired {
        /// The end of the lifetime.
        not_after: u64,
        /// The time checked.
        now: u64,
    },
    /// The current time is before `lifetime.not_before`.
    #[error("lifetime not yet valid: not_before {not_before} > now {now}")]
    LifetimeNotYetValid {
        /// The start of the lifetime.
        not_before: u64,
        /// The time checked.
        now: u64,
    },
    /// `not_before` is after `not_after`.
    #[error("lifetime is inverted: not_before {not_before} > not_after {not_after}")]
    LifetimeInverted {
        /// The start of the lifetime.
        not_before: u64,
        /// The end of the lifetime.
        not_after: u64,
    },
    /// The total lifetime exceeds the policy's maximum (RFC 9420 §7.2:
    /// applications MUST define one).
    #[error("lifetime of {duration} s exceeds the maximum of {max} s")]
    LifetimeTooLong {
        /// `not_after - not_before`.
        duration: u64,
        /// The policy's maximum.
        max: u64,
    },
    /// The LeafNode has the wrong `leaf_node_source` for where it appears.
    #[error("leaf_node_source is {found:?}, expected {expected:?}")]
    WrongLeafNodeSource {
        /// The source required here.
        expected: LeafNodeSourceType,
        /// The source found.
        found: LeafNodeSourceType,
    },
    /// The credential type is not accepted by the validation policy (by
    /// default only `basic`).
    #[error("credential type {0} is not supported")]
    UnsupportedCredentialType(CredentialType),
    /// The leaf's credential type is not listed in its own capabilities.
    #[error("credential type {0} is not listed in capabilities.credentials")]
    CredentialNotInCapabilities(CredentialType),
    /// The KeyPackage's protocol version is not listed in the capabilities.
    #[error("protocol version {0} is not listed in capabilities.versions")]
    VersionNotInCapabilities(ProtocolVersion),
    /// The KeyPackage's cipher suite is not listed in the capabilities.
    #[error("cipher suite {0} is not listed in capabilities.cipher_suites")]
    CipherSuiteNotInCapabilities(CipherSuite),
    /// A non-default extension is not listed in `capabilities.extensions`.
    #[error("extension {extension_type} in {location} is not listed in capabilities.extensions")]
    ExtensionNotInCapabilities {
        /// Which extension list.
        location: ExtensionLocation,
        /// The extension type.
        extension_type: ExtensionType,
    },
    /// An extension list holds two extensions of one type (RFC 9420 §13.4).
    #[error("extension {extension_type} appears more than once in {location}")]
    DuplicateExtension {
        /// Which extension list.
        location: ExtensionLocation,
        /// The repeated type.
        extension_type: ExtensionType,
    },

    // ---- misuse ----------------------------------------------------------
    /// A value is larger than this crate's documented limit and would not
    /// decode again, so it is not encoded.
    #[error("`{field}` exceeds its limit of {limit} (found {found})")]
    TooLargeToEncode {
        /// The field.
        field: &'static str,
        /// The limit.
        limit: usize,
        /// The size found.
        found: usize,
    },
    /// The signing key does not match the LeafNode's `signature_key`.
    #[error("the signing key does not match signature_key")]
    SignerKeyMismatch,
    /// Generation options are inconsistent.
    #[error("invalid options: {0}")]
    InvalidOptions(&'static str),
    /// The operating system's random source failed.
    #[error("randomness unavailable")]
    RandomnessUnavailable,

    // ---- storage ---------------------------------------------------------
    /// A stored bundle has a format version this crate does not read.
    #[error("stored bundle has format version {found}, expected {expected}")]
    StorageVersion {
        /// The version this crate writes and reads.
        expected: u8,
        /// The version found.
        found: u8,
    },
    /// A stored bundle is malformed.
    #[error("stored bundle is corrupt: {0}")]
    CorruptStorage(nipee_codec::Error),
    /// A stored private key does not match its public key.
    #[error("stored {field} private key does not match the public key")]
    StorageKeyMismatch {
        /// Which key.
        field: &'static str,
    },

    // ---- internal --------------------------------------------------------
    /// A bug in this crate.
    #[error("internal error: {0}")]
    Internal(&'static str),
}

/// A stable, coarse classification of [`Error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The input does not follow the encoding rules.
    Malformed,
    /// Well-formed, but a version, suite or type this crate does not implement.
    Unsupported,
    /// A policy or cryptographic check failed.
    Invalid,
    /// The caller asked for something impossible.
    Misuse,
    /// Stored data cannot be loaded.
    Storage,
    /// A bug.
    Internal,
}

impl ErrorKind {
    /// The stable string code of this kind.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Malformed => "malformed",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Invalid => "invalid",
            ErrorKind::Misuse => "misuse",
            ErrorKind::Storage => "storage",
            ErrorKind::Internal => "internal",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Error {
    /// The stable classification of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Codec(e) => match e.kind() {
                nipee_codec::ErrorKind::Malformed => ErrorKind::Malformed,
                nipee_codec::ErrorKind::Misuse => ErrorKind::Misuse,
                _ => ErrorKind::Internal,
            },
            Error::UnexpectedWireFormat { .. } => ErrorKind::Malformed,
            Error::UnsupportedCipherSuite(_)
            | Error::UnsupportedProtocolVersion(_)
            | Error::UnsupportedCredentialType(_) => ErrorKind::Unsupported,
            Error::CipherSuiteMismatch { .. }
            | Error::MessageVersionMismatch { .. }
            | Error::InvalidLeafNodeSignature
            | Error::InvalidKeyPackageSignature
            | Error::InvalidSignature { .. }
            | Error::InvalidSignatureKey
            | Error::InitKeyEqualsEncryptionKey
            | Error::LifetimeExpired { .. }
            | Error::LifetimeNotYetValid { .. }
            | Error::LifetimeInverted { .. }
            | Error::LifetimeTooLong { .. }
            | Error::WrongLeafNodeSource { .. }
            | Error::CredentialNotInCapabilities(_)
            | Error::VersionNotInCapabilities(_)
            | Error::CipherSuiteNotInCapabilities(_)
            | Error::ExtensionNotInCapabilities { .. }
            | Error::DuplicateExtension { .. } => ErrorKind::Invalid,
            Error::TooLargeToEncode { .. }
            | Error::SignerKeyMismatch
            | Error::InvalidOptions(_) => ErrorKind::Misuse,
            Error::StorageVersion { .. }
            | Error::CorruptStorage(_)
            | Error::StorageKeyMismatch { .. } => ErrorKind::Storage,
            Error::RandomnessUnavailable | Error::Internal(_) => ErrorKind::Internal,
        }
    }
}
