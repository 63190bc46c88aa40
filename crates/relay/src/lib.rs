//! A multi-relay Nostr client for nipee on tokio and tokio-tungstenite (TLS through
//! rustls): publish with per-relay `OK` tracking, subscriptions whose events are verified
//! and de-duplicated across relays, reconnects with backoff and gap-free re-subscription,
//! and NIP-42 AUTH.
//!
//! ```
//! use std::time::Duration;
//! use nipee_nostr::{EventBuilder, Filter, Keys, Kind, Timestamp};
//! use nipee_relay::{Pool, PoolConfig};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), nipee_relay::Error> {
//! let mut config = PoolConfig::default();
//! config.ok_timeout = Duration::from_millis(300);
//! config.connect_timeout = Duration::from_millis(300);
//! // Nothing listens on this port: the publish reports a timeout for that relay
//! // instead of hanging, and the subscription simply stays open.
//! let pool = Pool::connect(config, ["ws://127.0.0.1:9"])?;
//! let mut sub = pool.subscribe(vec![Filter::new().kind(Kind::TEXT_NOTE)])?;
//!
//! let keys = Keys::generate(&mut rand::rng());
//! let note = EventBuilder::text_note("hello").sign(&keys, Timestamp::from_secs(1_700_000_000))?;
//! let outcome = pool.publish(&note).await;
//! assert_eq!(outcome.accepted(), 0);
//! assert!(matches!(outcome.results[0].1, Err(nipee_relay::Error::Timeout { .. })));
//! assert!(pool.publish_until_accepted(&note, 1).await.is_err());
//!
//! // With a live relay, `sub.next_event().await` yields verified, de-duplicated events.
//! assert!(tokio::time::timeout(Duration::from_millis(50), sub.next_event()).await.is_err());
//! # Ok(())
//! # }
//! ```
//!
//! Reads that say what they know: [`Pool::fetch`] returns a [`FetchReport`] that tells,
//! per relay asked, whether it finished with `EOSE`, so "no relay answered" and "every
//! relay answered and none has it" differ. Publishing reports each relay's answer with
//! its URL and can target a subset ([`Pool::publish_to`],
//! [`Pool::publish_until_accepted_to`]). [`discovery::fetch_from`] reads from relays
//! other users named, on filtered, temporary connections.
//!
//! Module map: [`message`] (NIP-01/NIP-42 wire format, sans-IO), [`backoff`] (reconnect
//! delays), [`signer`] (NIP-42 AUTH through [`nipee_nostr::Signer`]), [`discovery`]
//! (temporary connections to other users' relays), the pool ([`Pool`], [`Subscription`])
//! with one tokio task per relay, and with the `test-relay` feature, `test_relay` (a real
//! nostr-rs-relay child process for tests).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod backoff;
mod config;
mod connection;
mod dedup;
pub mod discovery;
mod error;
mod fetch;
pub mod message;
mod outcome;
mod pool;
mod publish;
mod relay_sub;
mod shared;
pub mod signer;
mod stats;
#[cfg(feature = "test-relay")]
pub mod test_relay;
mod url;
mod url_policy;

pub use backoff::Backoff;
pub use config::{FetchOptions, GIFT_WRAP_MARGIN, PoolConfig, SubscribeOptions};
pub use error::{Error, ErrorKind, Result};
pub use message::{Prefix, Reason};
pub use outcome::{
    FetchReport, FetchStatus, Notification, OkStatus, PublishOutcome, RefusedUrl, SubscriptionItem,
};
pub use pool::{Pool, Subscription};
pub use signer::AuthSigner;
pub use stats::{PoolStats, RelayStats};
pub use url::RelayUrl;
pub use url_policy::UrlRefusal;
