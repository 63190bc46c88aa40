//! Reconnect delays: exponential backoff with jitter, computed from an attempt number and
//! a random word so that it can be tested without a clock or an RNG.

use std::time::Duration;

/// Exponential backoff with "equal jitter": attempt `n` waits a random time in
/// `[d/2, d]` where `d = min(initial * 2^n, max)`.
///
/// The jitter spreads the reconnects of many clients after a relay restart, so they do
/// not all arrive in the same instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The (pre-jitter) delay before the first retry.
    pub initial: Duration,
    /// The largest (pre-jitter) delay.
    pub max: Duration,
}

impl Backoff {
    /// 500 ms doubling up to 60 s.
    pub const DEFAULT: Backoff = Backoff {
        initial: Duration::from_millis(500),
        max: Duration::from_secs(60),
    };

    /// The delay before retry number `attempt` (0-based), with jitter drawn from `random`.
    pub fn delay(&self, attempt: u32, random: u64) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
        let base = self
            .initial
            .checked_mul(factor)
            .unwrap_or(self.max)
            .min(self.max);
        let base_ms = u64::try_from(base.as_millis()).unwrap_or(u64::MAX);
        let half = base_ms / 2;
        let jitter = random % (base_ms - half + 1);
        Duration::from_millis(half + jitter)
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// A random word from the operating system for jitter; a fixed value if the RNG fails
/// (jitter is a courtesy, not a security property).
pub(crate) fn jitter_word() -> u64 {
    getrandom::u64().unwrap_or(0x9e37_79b9_7f4a_7c15)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_exponentially_within_jitter_bounds_and_caps() {
        let b = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(2),
        };
        for (attempt, base) in [
            (0, 100u64),
            (1, 200),
            (2, 400),
            (3, 800),
            (4, 1600),
            (5, 2000),
            (40, 2000),
        ] {
            for r in [0u64, 1, 77, u64::MAX, 123_456_789] {
                let d = b.delay(attempt, r).as_millis() as u64;
                assert!(
                    d >= base / 2 && d <= base,
                    "attempt {attempt} r {r}: {d} vs {base}"
                );
            }
        }
        assert_eq!(b.delay(0, 0), Duration::from_millis(50));
        assert_eq!(b.delay(0, 50), Duration::from_millis(100));
    }

    #[test]
    fn jitter_varies() {
        let b = Backoff::DEFAULT;
        let ds: std::collections::HashSet<_> = (0..20).map(|_| b.delay(3, jitter_word())).collect();
        assert!(ds.len() > 1);
    }
}
