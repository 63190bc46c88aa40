//! Validation policy shared by LeafNode (RFC 9420 §7.3) and KeyPackage
//! (§10.1) validation.

use crate::types::CredentialType;

/// The longest total lifetime accepted by default: 12 weeks plus one hour,
/// the range OpenMLS generates and accepts (`not_before` one hour in the
/// past, `not_after` twelve weeks ahead).
pub const DEFAULT_MAX_LIFETIME_SECS: u64 = 12 * 7 * 24 * 3600 + 3600;

/// How the lifetime of a KeyPackage LeafNode is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LifetimeCheck {
    /// Check that `not_before <= now <= not_after`, `now` in seconds since
    /// the Unix epoch (the caller owns the clock).
    At(u64),
    /// Do not compare the lifetime with a clock. Meant for fixed test
    /// vectors whose lifetimes have long passed, and for the one place RFC
    /// 9420 §7.3 makes the check optional: LeafNodes *received* in a ratchet
    /// tree or a Commit (they may have expired in transit). A KeyPackage about
    /// to be used is always checked.
    Skip,
}

/// What validation accepts beyond the fixed rules of RFC 9420.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationPolicy {
    /// How to check lifetimes.
    pub lifetime: LifetimeCheck,
    /// The longest acceptable `not_after - not_before` (RFC 9420 §7.2 asks
    /// every application to define one); `None` accepts any length. Checked
    /// even with [`LifetimeCheck::Skip`].
    pub max_lifetime_secs: Option<u64>,
    /// The credential types the application can authenticate. NIP-EE uses
    /// `basic` only, the default.
    pub credential_types: Vec<CredentialType>,
}

impl ValidationPolicy {
    /// The default policy, checking lifetimes at `now` (seconds since the
    /// Unix epoch).
    pub fn at(now: u64) -> Self {
        ValidationPolicy {
            lifetime: LifetimeCheck::At(now),
            max_lifetime_secs: Some(DEFAULT_MAX_LIFETIME_SECS),
            credential_types: vec![CredentialType::BASIC],
        }
    }

    /// The default policy without any lifetime check (neither the clock nor
    /// the maximum length): for fixed test vectors only.
    pub fn for_fixed_vectors() -> Self {
        ValidationPolicy {
            lifetime: LifetimeCheck::Skip,
            max_lifetime_secs: None,
            credential_types: vec![CredentialType::BASIC],
        }
    }
}
