//! Helpers shared by the integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nipee_nostr::{Event, EventBuilder, Keys, Kind, Tag, Timestamp};
use nipee_relay::{Backoff, PoolConfig, Subscription, SubscriptionItem};

/// A config with short timeouts so that every test is bounded to a few seconds.
pub fn fast_config() -> PoolConfig {
    let mut c = PoolConfig::default();
    c.connect_timeout = Duration::from_secs(2);
    c.ok_timeout = Duration::from_secs(3);
    c.write_timeout = Duration::from_secs(2);
    c.backoff = Backoff {
        initial: Duration::from_millis(200),
        max: Duration::from_secs(1),
    };
    c
}

pub fn now() -> Timestamp {
    Timestamp::from_secs(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
}

pub fn keys() -> Keys {
    Keys::generate(&mut rand::rng())
}

/// A kind-445 group message with an `h` tag, signed by `keys`.
pub fn group_event(keys: &Keys, group: &str, content: &str, at: Timestamp) -> Event {
    EventBuilder::new(Kind::MLS_GROUP_MESSAGE, content)
        .tag(Tag::group(group))
        .sign(keys, at)
        .unwrap()
}

/// `n` random hex characters (unique group ids per test run).
pub fn random_hex(n: usize) -> String {
    use rand::RngExt as _;
    let mut rng = rand::rng();
    (0..n)
        .map(|_| char::from_digit(rng.random_range(0..16u32), 16).unwrap())
        .collect()
}

/// The next item within `secs` seconds, or a panic naming `what`.
pub async fn next_item(sub: &mut Subscription, secs: u64, what: &str) -> SubscriptionItem {
    match tokio::time::timeout(Duration::from_secs(secs), sub.next_item()).await {
        Ok(Some(item)) => item,
        Ok(None) => panic!("subscription ended while waiting for {what}"),
        Err(_) => panic!("timed out after {secs}s waiting for {what}"),
    }
}

/// The next event within `secs` seconds.
pub async fn next_event(sub: &mut Subscription, secs: u64, what: &str) -> Event {
    match tokio::time::timeout(Duration::from_secs(secs), sub.next_event()).await {
        Ok(Some((_, ev))) => ev,
        Ok(None) => panic!("subscription ended while waiting for {what}"),
        Err(_) => panic!("timed out after {secs}s waiting for {what}"),
    }
}

/// Asserts that nothing arrives for `millis`.
pub async fn assert_quiet(sub: &mut Subscription, millis: u64) {
    if let Ok(Some(item)) =
        tokio::time::timeout(Duration::from_millis(millis), sub.next_item()).await
    {
        panic!("unexpected item: {item:?}");
    }
}
