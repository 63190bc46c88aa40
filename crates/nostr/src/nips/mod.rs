//! Typed builders and parsers for the smaller NIPs nipee uses.
//!
//! NIP-40 (expiration) and NIP-70 (protected `["-"]`) are plain tags: see
//! [`Tag::expiration`](crate::Tag::expiration), [`Tags::expiration`](crate::Tags::expiration),
//! [`Event::is_expired`](crate::Event::is_expired), [`Tag::protected`](crate::Tag::protected)
//! and [`Event::is_protected`](crate::Event::is_protected).

pub mod nip09;
pub mod nip65;
pub mod nipee_relays;

use crate::error::{Error, Result};

/// Validates a relay URL: `ws://` or `wss://`, a non-empty host, no whitespace or control
/// characters, at most 2048 bytes.
///
/// # Errors
/// [`Error::InvalidEvent`] naming the problem.
pub fn validate_relay_url(url: &str) -> Result<()> {
    let bad = |reason: &str| Error::InvalidEvent {
        what: "relay URL",
        reason: format!("{reason}: {url:?}"),
    };
    if url.len() > 2048 {
        return Err(bad("longer than 2048 bytes"));
    }
    let rest = url
        .strip_prefix("wss://")
        .or_else(|| url.strip_prefix("ws://"))
        .ok_or_else(|| bad("scheme must be ws:// or wss://"))?;
    if rest.is_empty() || rest.starts_with('/') {
        return Err(bad("missing host"));
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("contains whitespace or control characters"));
    }
    Ok(())
}
