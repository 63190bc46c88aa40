//! Streams verified, de-duplicated events from one or more relays as JSON lines.
//!
//! ```text
//! cargo run -p nipee-relay --example tail -- ws://127.0.0.1:7777 --kind 1
//! cargo run -p nipee-relay --example tail -- wss://relay.example.com ws://127.0.0.1:7777 \
//!     --kind 445 --tag h=<group id hex> --limit 20 --max 100
//! ```
//!
//! Options: `--kind N` (repeatable), `--author HEX`, `--tag X=VALUE` (single-letter tag,
//! repeatable), `--limit N` (stored events to ask for), `--max N` (exit after N events),
//! `--quiet-secs N` (exit when nothing arrives for N seconds). Connection changes and
//! notices go to stderr.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::ExitCode;
use std::time::Duration;

use nipee_nostr::{Filter, Kind, PublicKey};
use nipee_relay::{Notification, Pool, PoolConfig, SubscriptionItem};

struct Args {
    relays: Vec<String>,
    filter: Filter,
    max: Option<u64>,
    quiet: Option<Duration>,
}

fn usage() -> ExitCode {
    eprintln!(
        "usage: tail <ws://...>... [--kind N]... [--author HEX] [--tag X=VALUE]... \
         [--limit N] [--max N] [--quiet-secs N]"
    );
    ExitCode::from(2)
}

fn parse_args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let mut relays = Vec::new();
    let mut filter = Filter::new();
    let mut max = None;
    let mut quiet = None;
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--kind" => {
                let k: u16 = value("--kind")?
                    .parse()
                    .map_err(|e| format!("--kind: {e}"))?;
                filter = filter.kind(Kind::new(k));
            }
            "--author" => {
                let pk = PublicKey::parse(&value("--author")?).map_err(|e| e.to_string())?;
                filter = filter.author(pk);
            }
            "--tag" => {
                let v = value("--tag")?;
                let (letter, val) = v.split_once('=').ok_or("--tag wants X=VALUE")?;
                let mut chars = letter.chars();
                let (Some(c), None) = (chars.next(), chars.next()) else {
                    return Err("--tag wants a single letter".into());
                };
                filter = filter.tag(c, [val]).map_err(|e| e.to_string())?;
            }
            "--limit" => {
                filter = filter.limit(
                    value("--limit")?
                        .parse()
                        .map_err(|e| format!("--limit: {e}"))?,
                );
            }
            "--max" => max = Some(value("--max")?.parse().map_err(|e| format!("--max: {e}"))?),
            "--quiet-secs" => {
                let s: u64 = value("--quiet-secs")?
                    .parse()
                    .map_err(|e| format!("--quiet-secs: {e}"))?;
                quiet = Some(Duration::from_secs(s));
            }
            url if !url.starts_with("--") => relays.push(url.to_owned()),
            other => return Err(format!("unknown option {other}")),
        }
    }
    if relays.is_empty() {
        return Err("name at least one relay".into());
    }
    Ok(Args {
        relays,
        filter,
        max,
        quiet,
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("tail: {e}");
            return usage();
        }
    };
    let pool = match Pool::connect(PoolConfig::default(), &args.relays) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("tail: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut notes = pool.notifications();
    tokio::spawn(async move {
        while let Ok(n) = notes.recv().await {
            match n {
                Notification::Connected { relay } => eprintln!("# connected {relay}"),
                Notification::Disconnected { relay, reason } => {
                    eprintln!("# disconnected {relay}: {reason}")
                }
                Notification::ConnectFailed { relay, reason } => {
                    eprintln!("# connect failed {relay}: {reason}")
                }
                Notification::Notice { relay, message } => eprintln!("# notice {relay}: {message}"),
                other => eprintln!("# {other:?}"),
            }
        }
    });
    let mut sub = match pool.subscribe(vec![args.filter]) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("tail: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut count = 0u64;
    loop {
        let item = match args.quiet {
            Some(q) => match tokio::time::timeout(q, sub.next_item()).await {
                Ok(i) => i,
                Err(_) => break,
            },
            None => sub.next_item().await,
        };
        match item {
            Some(SubscriptionItem::Event { event, .. }) => {
                println!("{}", event.to_json());
                count += 1;
                if args.max.is_some_and(|m| count >= m) {
                    break;
                }
            }
            Some(SubscriptionItem::Eose { relay }) => {
                eprintln!("# end of stored events from {relay}")
            }
            Some(SubscriptionItem::Closed { relay, reason }) => {
                eprintln!("# closed by {relay}: {reason}")
            }
            Some(other) => eprintln!("# {other:?}"),
            None => break,
        }
    }
    let s = pool.stats();
    eprintln!(
        "# {count} events; {} duplicates and {} invalid events dropped",
        s.duplicates(),
        s.invalid_events()
    );
    ExitCode::SUCCESS
}
