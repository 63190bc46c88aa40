//! Discovery: fetching other users' KeyPackages (kind 443) and relay lists (kinds 10002,
//! 10051) from relays THEY named, on short-lived connections that never join the
//! caller's pool.
//!
//! A relay list is written by whoever published it, so its URLs are untrusted input:
//! [`fetch_from`] applies a URL policy first (only `ws://`/`wss://`; no `localhost`,
//! `*.localhost` or other local names; no IP literals in loopback, private (RFC 1918),
//! link-local, unique-local, carrier-grade NAT, unspecified, multicast, broadcast or
//! reserved ranges, unless [`DiscoveryConfig::allow_private`]), merges duplicates, and
//! contacts at most [`DiscoveryConfig::max_relays`] relays.
//!
//! Not caught: a DNS name that resolves to a private address (this layer has no
//! resolver of its own). Run discovery where such connections do no harm, or add a
//! resolver-level check, if that matters.
//!
//! ```
//! use nipee_nostr::{Filter, Kind};
//! use nipee_relay::UrlRefusal;
//! use nipee_relay::discovery::{DiscoveryConfig, fetch_from};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), nipee_relay::Error> {
//! let their_relays = ["ws://127.0.0.1:7777", "ws://192.168.1.10"];
//! let filters = vec![Filter::new().kind(Kind::MLS_KEY_PACKAGE)];
//! let report = fetch_from(&their_relays, filters, &DiscoveryConfig::default()).await?;
//! // Both are refused by default; nothing was contacted.
//! assert_eq!(report.refused[0].reason, UrlRefusal::Loopback);
//! assert_eq!(report.refused[1].reason, UrlRefusal::Private);
//! assert!(report.relays.is_empty() && !report.is_complete());
//! # Ok(())
//! # }
//! ```

use std::time::Duration;

use nipee_nostr::Filter;

pub use crate::url_policy::check_relay_url;

use crate::config::{FetchOptions, PoolConfig};
use crate::error::Result;
use crate::outcome::{FetchReport, RefusedUrl};
use crate::pool::Pool;
use crate::url_policy::select_urls;

/// Settings of [`fetch_from`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DiscoveryConfig {
    /// At most this many distinct relays are contacted; further URLs are refused
    /// ([`crate::UrlRefusal::OverLimit`]). Default 8.
    pub max_relays: usize,
    /// The whole fetch (connect, handshake, `EOSE` from every relay) ends after this.
    /// Default 10 s.
    pub timeout: Duration,
    /// Allow local names and special-purpose IP literals (for tests against a relay on
    /// 127.0.0.1, or a deliberately local deployment). Default `false`.
    pub allow_private: bool,
    /// The most events kept. Default 1 000.
    pub max_events: usize,
    /// Settings of the temporary connections (queue bounds, message size, ...). Its
    /// `connect_timeout` is lowered to [`DiscoveryConfig::timeout`] when larger.
    pub pool: PoolConfig,
}

impl Default for DiscoveryConfig {
    fn default() -> Self {
        // Stored events only; small queues suffice and bound memory per relay.
        let pool = PoolConfig {
            subscription_queue: 256,
            max_message_bytes: 1 << 20,
            ..PoolConfig::default()
        };
        DiscoveryConfig {
            max_relays: 8,
            timeout: Duration::from_secs(10),
            allow_private: false,
            max_events: 1_000,
            pool,
        }
    }
}

/// Fetches the stored events matching `filters` from `urls` (relays another user named),
/// on temporary connections: the URL policy is applied (see the [module docs](self)),
/// at most `config.max_relays` relays are connected, the fetch is bounded by
/// `config.timeout`, and every connection is closed before this returns. Nothing is
/// added to any pool of the caller.
///
/// The report lists the refused URLs with their reasons and, per relay contacted,
/// whether it finished with `EOSE`; see [`FetchReport::is_complete`].
///
/// # Errors
/// [`crate::Error::Misuse`] for an empty filter list or outside a tokio runtime;
/// [`crate::Error::Internal`] if the TLS configuration cannot be built.
pub async fn fetch_from<S: AsRef<str>>(
    urls: &[S],
    filters: Vec<Filter>,
    config: &DiscoveryConfig,
) -> Result<FetchReport> {
    if filters.is_empty() {
        return Err(crate::Error::Misuse {
            field: "filters",
            reason: "a fetch needs at least one filter",
        });
    }
    let (chosen, refused) = select_urls(urls, config.allow_private, config.max_relays);
    let refused: Vec<RefusedUrl> = refused
        .into_iter()
        .map(|(url, reason)| RefusedUrl { url, reason })
        .collect();
    if chosen.is_empty() {
        return Ok(FetchReport {
            refused,
            ..FetchReport::default()
        });
    }
    let mut pool_config = config.pool.clone();
    pool_config.connect_timeout = pool_config.connect_timeout.min(config.timeout);
    let pool = Pool::new(pool_config)?;
    for url in &chosen {
        pool.add_relay(url.as_str())?;
    }
    let mut options = FetchOptions::new(config.timeout);
    options.max_events = config.max_events;
    let fetched = pool.fetch(filters, options).await;
    pool.close().await;
    let mut report = fetched?;
    report.refused = refused;
    Ok(report)
}
