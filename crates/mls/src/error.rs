//! The crate's single error type.

use thiserror::Error;

/// A stable, coarse classification of an [`Error`](enum@Error), for callers (and the WASM facade) that
/// branch on the cause rather than on the message.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The input could not be decoded.
    Malformed,
    /// The input decoded but failed a cryptographic or protocol check.
    Invalid,
    /// The API was used incorrectly.
    Misuse,
    /// The requested algorithm or feature is not supported.
    Unsupported,
    /// A bug or an unexpected failure inside a dependency.
    Internal,
    /// Stored state cannot be loaded (e.g. another format version).
    Storage,
}

impl ErrorKind {
    /// A stable lower-case code for this kind.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Malformed => "malformed",
            ErrorKind::Invalid => "invalid",
            ErrorKind::Misuse => "misuse",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Internal => "internal",
            ErrorKind::Storage => "storage",
        }
    }
}

/// Everything that can go wrong in `nipee-mls`.
#[non_exhaustive]
#[derive(Debug, Error)]
pub enum Error {
    // ----- malformed input -----
    /// The bytes do not decode as the expected structure.
    #[error("malformed input: {0}")]
    Malformed(#[from] nipee_codec::Error),
    /// A LeafNode, KeyPackage, credential or extension failed to decode or validate.
    #[error("key package / leaf node: {0}")]
    KeyPackage(#[from] nipee_keypackage::Error),
    /// A value has the wrong length.
    #[error("{field}: expected {expected} bytes, found {found}")]
    BadLength {
        /// The field.
        field: &'static str,
        /// The expected length.
        expected: usize,
        /// The length found.
        found: usize,
    },
    /// An enumerated value is not one this implementation knows.
    #[error("{field}: unknown value {value}")]
    UnknownValue {
        /// The field.
        field: &'static str,
        /// The value found.
        value: u64,
    },
    /// A structure decoded but its contents contradict the format (for example, padding that is
    /// not all zero).
    #[error("malformed {field}: {reason}")]
    MalformedField {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },

    // ----- invalid input: a check failed -----
    /// A signature did not verify.
    #[error("invalid signature on {what}")]
    BadSignature {
        /// What was signed.
        what: &'static str,
    },
    /// A public key is not a valid point / encoding.
    #[error("invalid public key in {field}")]
    BadPublicKey {
        /// The field.
        field: &'static str,
    },
    /// AEAD decryption failed (wrong key, tampered ciphertext or associated data).
    #[error("AEAD decryption of {what} failed")]
    DecryptionFailed {
        /// What was being decrypted.
        what: &'static str,
    },
    /// HPKE decryption failed.
    #[error("HPKE decryption failed")]
    HpkeDecryptionFailed,
    /// The membership tag of a PublicMessage is wrong.
    #[error("invalid membership tag")]
    BadMembershipTag,
    /// The confirmation tag of a commit is wrong.
    #[error("invalid confirmation tag")]
    BadConfirmationTag,
    /// A message belongs to another group.
    #[error("message is for another group")]
    WrongGroup,
    /// A message belongs to another epoch.
    #[error("wrong epoch: expected {expected}, found {found}")]
    WrongEpoch {
        /// Our epoch.
        expected: u64,
        /// The message's epoch.
        found: u64,
    },
    /// The key for this generation was already used or deleted (a replay, or too old).
    #[error("generation {generation} of leaf {leaf} was already consumed or is too old")]
    GenerationConsumed {
        /// The sender's leaf.
        leaf: u32,
        /// The generation.
        generation: u32,
    },
    /// The generation is further ahead than the out-of-order window allows.
    #[error("generation {generation} is too far ahead (current {current}, window {window})")]
    GenerationTooFarAhead {
        /// The requested generation.
        generation: u32,
        /// The ratchet's current generation.
        current: u32,
        /// The maximum forward distance.
        window: u32,
    },
    /// A leaf index lies outside the tree.
    #[error("leaf index {index} is outside a tree of {leaves} leaves")]
    LeafOutOfRange {
        /// The index.
        index: u32,
        /// The tree's width in leaves.
        leaves: u32,
    },
    /// The sender is not a member or has the wrong type for this operation.
    #[error("invalid sender: {reason}")]
    InvalidSender {
        /// Why.
        reason: &'static str,
    },
    /// The content type is not allowed here (e.g. an application message as a PublicMessage).
    #[error("content not allowed: {reason}")]
    ContentNotAllowed {
        /// Why.
        reason: &'static str,
    },
    /// A parent-hash or tree-hash check of the ratchet tree failed.
    #[error("invalid ratchet tree: {reason}")]
    InvalidTree {
        /// Why.
        reason: &'static str,
    },
    /// A transcript or key-schedule input is inconsistent.
    #[error("invalid state: {reason}")]
    InvalidState {
        /// Why.
        reason: &'static str,
    },

    /// A member's leaf lacks a capability the group requires.
    #[error("capability missing: {what}")]
    CapabilityMissing {
        /// What is missing.
        what: &'static str,
    },
    /// A proposal, or a commit's proposal list, is invalid (§12.1, §12.2).
    #[error("invalid proposal: {reason}")]
    InvalidProposal {
        /// Why.
        reason: &'static str,
    },
    /// A commit references a proposal we do not have.
    #[error("a commit references an unknown proposal")]
    UnknownProposalRef,
    /// A PSK named by a proposal or a Welcome is not available.
    #[error("pre-shared key not found")]
    PskNotFound,
    /// The committer's secrets given for one of our own commits (see
    /// `Group::stage_own_commit_with_secrets`) do not match that commit.
    #[error("the given secret does not match our own commit: {what}")]
    OwnCommitMismatch {
        /// Which secret: "leaf encryption private key", "signature private key" or
        /// "path secret".
        what: &'static str,
    },

    // ----- misuse -----
    /// A requested output length cannot be produced.
    #[error("requested length {requested} for {what} exceeds the maximum {max}")]
    LengthTooLarge {
        /// The output.
        what: &'static str,
        /// The requested length.
        requested: usize,
        /// The maximum.
        max: usize,
    },
    /// The API was called in a way that cannot work.
    #[error("misuse: {0}")]
    Misuse(&'static str),
    /// A staged message, commit or proposal was merged into a group state other than the
    /// one it was staged on (stage it again on the current state).
    #[error("stale staged result: {reason}")]
    StaleStaged {
        /// Why it no longer fits ("the group changed since it was staged", ...).
        reason: &'static str,
    },
    /// `Group::resume_snapshot` cannot combine the two groups it was given.
    #[error("cannot resume the snapshot: {reason}")]
    CannotResume {
        /// Why.
        reason: &'static str,
    },

    // ----- storage -----
    /// Stored group state of another format version.
    #[error("stored group state has format version {found}, this build reads version {expected}")]
    StateVersion {
        /// The version this build reads.
        expected: u16,
        /// The version found.
        found: u16,
    },

    // ----- unsupported -----
    /// The cipher suite is not implemented.
    #[error("unsupported cipher suite 0x{0:04x}")]
    UnsupportedCipherSuite(u16),
    /// The group uses something this client does not support: a GroupContext extension, a
    /// type its `required_capabilities` names, or a credential type a member uses, that our
    /// own capabilities do not list once their GREASE values are taken out (RFC 9420 §7.3,
    /// §12.4.3.1, §13: "A client joining a group MUST verify that it supports every
    /// extension in the GroupContext"; §13.5: "representations of a client's own
    /// capabilities MUST NOT contain GREASE values"). A GREASE value there is refused this
    /// way: it is never supported.
    #[error("this client does not support the {what} 0x{value:04x} the group uses")]
    NotSupportedByUs {
        /// What kind of value: "GroupContext extension", "required extension type",
        /// "required proposal type", "required credential type" or "credential type in
        /// use".
        what: &'static str,
        /// The value.
        value: u16,
    },

    // ----- internal -----
    /// A dependency failed unexpectedly (e.g. the randomness source).
    #[error("internal error: {0}")]
    Internal(&'static str),
}

impl Error {
    /// The stable classification of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::KeyPackage(e) => match e.kind() {
                nipee_keypackage::ErrorKind::Malformed => ErrorKind::Malformed,
                nipee_keypackage::ErrorKind::Unsupported => ErrorKind::Unsupported,
                nipee_keypackage::ErrorKind::Misuse => ErrorKind::Misuse,
                nipee_keypackage::ErrorKind::Internal => ErrorKind::Internal,
                nipee_keypackage::ErrorKind::Storage => ErrorKind::Storage,
                _ => ErrorKind::Invalid,
            },
            Error::Malformed(_)
            | Error::BadLength { .. }
            | Error::UnknownValue { .. }
            | Error::MalformedField { .. } => ErrorKind::Malformed,
            Error::BadSignature { .. }
            | Error::BadPublicKey { .. }
            | Error::DecryptionFailed { .. }
            | Error::HpkeDecryptionFailed
            | Error::BadMembershipTag
            | Error::BadConfirmationTag
            | Error::WrongGroup
            | Error::WrongEpoch { .. }
            | Error::GenerationConsumed { .. }
            | Error::GenerationTooFarAhead { .. }
            | Error::LeafOutOfRange { .. }
            | Error::InvalidSender { .. }
            | Error::ContentNotAllowed { .. }
            | Error::InvalidTree { .. }
            | Error::InvalidState { .. }
            | Error::CapabilityMissing { .. }
            | Error::InvalidProposal { .. }
            | Error::UnknownProposalRef
            | Error::PskNotFound
            | Error::OwnCommitMismatch { .. } => ErrorKind::Invalid,
            Error::StateVersion { .. } => ErrorKind::Storage,
            Error::LengthTooLarge { .. }
            | Error::Misuse(_)
            | Error::StaleStaged { .. }
            | Error::CannotResume { .. } => ErrorKind::Misuse,
            Error::UnsupportedCipherSuite(_) | Error::NotSupportedByUs { .. } => {
                ErrorKind::Unsupported
            }
            Error::Internal(_) => ErrorKind::Internal,
        }
    }
}

/// Result alias.
pub type Result<T> = core::result::Result<T, Error>;
