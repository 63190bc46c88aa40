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

/// Repository hygiene: no two modules of this crate import each other (`use crate::`).
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tidy {
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::Path;

    fn module_of(src: &Path, file: &Path) -> String {
        let rel = file.strip_prefix(src).unwrap_or(file).with_extension("");
        let parts: Vec<String> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .filter(|p| p != "mod")
            .collect();
        parts.join("::")
    }

    fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    #[test]
    fn no_two_modules_import_each_other() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut all = Vec::new();
        files(&src, &mut all);
        let mut imports: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for file in &all {
            let this = module_of(&src, file);
            let text = std::fs::read_to_string(file).unwrap_or_default();
            // Test modules may reach anywhere; only library code counts.
            let code = text.split("#[cfg(test)]").next().unwrap_or("");
            for line in code.lines().map(str::trim) {
                let Some(path) = line
                    .strip_prefix("use crate::")
                    .or_else(|| line.strip_prefix("pub use crate::"))
                else {
                    continue;
                };
                let segs: Vec<&str> = path
                    .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                    .next()
                    .unwrap_or("")
                    .split("::")
                    .collect();
                // The longest prefix of the path that names a module file.
                let mut target = String::new();
                for i in (1..=segs.len()).rev() {
                    let candidate = segs[..i].join("::");
                    if all.iter().any(|f| module_of(&src, f) == candidate) {
                        target = candidate;
                        break;
                    }
                }
                if !target.is_empty() && target != this {
                    imports.entry(this.clone()).or_default().insert(target);
                }
            }
        }
        let mut circles = Vec::new();
        for (a, targets) in &imports {
            for b in targets {
                if a < b && imports.get(b).is_some_and(|t| t.contains(a)) {
                    circles.push(format!("{a} <-> {b}"));
                }
            }
        }
        assert!(imports.len() > 3, "the scan found the modules: {imports:?}");
        assert!(
            circles.is_empty(),
            "modules importing each other: {circles:?}"
        );
    }
}
