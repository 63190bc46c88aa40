//! Unix timestamps in seconds.

use core::fmt;

/// Unix time in seconds. Time is always a parameter in this crate: it never reads a clock.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct Timestamp(u64);

impl Timestamp {
    /// From seconds since the Unix epoch.
    pub const fn from_secs(secs: u64) -> Self {
        Timestamp(secs)
    }

    /// Seconds since the Unix epoch.
    pub const fn as_u64(&self) -> u64 {
        self.0
    }

    /// `self - secs`, saturating at zero.
    pub const fn saturating_sub(&self, secs: u64) -> Self {
        Timestamp(self.0.saturating_sub(secs))
    }

    /// `self + secs`, saturating at `u64::MAX`.
    pub const fn saturating_add(&self, secs: u64) -> Self {
        Timestamp(self.0.saturating_add(secs))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}
