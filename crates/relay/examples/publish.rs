//! Publishes one event to one or more relays and prints each relay's `OK`.
//!
//! ```text
//! cargo run -p nipee-relay --example publish -- ws://127.0.0.1:7777 --kind 1 "hello"
//! ```
//!
//! Signs with `--nsec <hex or nsec>` or a fresh random key. `--tag X=VALUE` adds a
//! single-letter tag (repeatable). Exits non-zero unless at least one relay accepted.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use nipee_nostr::{EventBuilder, Keys, Kind, Tag, Timestamp};
use nipee_relay::{Pool, PoolConfig};

#[tokio::main]
async fn main() -> ExitCode {
    let mut relays = Vec::new();
    let mut kind = Kind::TEXT_NOTE;
    let mut keys = None;
    let mut tags = Vec::new();
    let mut content = None;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--kind" => kind = Kind::new(it.next().and_then(|k| k.parse().ok()).unwrap_or(1)),
            "--nsec" => {
                keys = Some(Keys::parse(&it.next().unwrap_or_default()).expect("secret key"))
            }
            "--tag" => {
                let v = it.next().unwrap_or_default();
                let (name, value) = v.split_once('=').expect("--tag wants X=VALUE");
                tags.push(Tag::new([name, value]));
            }
            s if s.starts_with("ws://") || s.starts_with("wss://") => relays.push(s.to_owned()),
            s => content = Some(s.to_owned()),
        }
    }
    if relays.is_empty() {
        eprintln!(
            "usage: publish <ws://...>... [--kind N] [--nsec KEY] [--tag X=VALUE]... <content>"
        );
        return ExitCode::from(2);
    }
    let keys = keys.unwrap_or_else(|| Keys::generate(&mut rand::rng()));
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let event = EventBuilder::new(kind, content.unwrap_or_default())
        .tags(tags)
        .sign(&keys, Timestamp::from_secs(now))
        .expect("signing");
    let pool = Pool::connect(PoolConfig::default(), &relays).expect("relay URLs");
    let outcome = pool.publish(&event).await;
    println!("{}", event.to_json());
    for (relay, result) in &outcome.results {
        match result {
            Ok(s) => eprintln!("{relay}: accepted={} {:?}", s.accepted, s.reason.message()),
            Err(e) => eprintln!("{relay}: {e}"),
        }
    }
    if outcome.accepted() > 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
