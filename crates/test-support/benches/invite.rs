//! Inviting a whole group at once, as a messenger's "new group with these people" does: a
//! `nipee::Client` (in-memory storage) creates a group and adds n − 1 members from their
//! KeyPackage events in one commit, then hands out every invitee's Welcome gift wrap — the
//! host's loop without a relay: each event handed out is reported (`Client::published`, no
//! answer), which hands out the next batch. Measured per size (`NIPEE_BENCH_SIZES`, default
//! 16 and 1 024 members) with the ratchet tree in every Welcome and out of band
//! (`ClientConfig::ratchet_tree_out_of_band`). Before the timings, the events and bytes
//! handed out in all are printed.
//!
//! The same through nostr-rs-relay, with joins: `measure_creating_whole_groups` in
//! `tests/large_welcome_relay.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::collections::VecDeque;
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use nipee::storage::MemoryStorage;
use nipee::{Client, ClientConfig, NewGroup, Outgoing, RelayAnswer};
use nipee_nostr::{Event, Keys, Kind};
use rand::SeedableRng;
use rand::rngs::StdRng;

const RELAY: &str = "wss://relay.bench";
const T0: u64 = 1_800_000_000;

fn sizes() -> Vec<usize> {
    std::env::var("NIPEE_BENCH_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![16, 1024])
}

fn key_packages(n: usize, rng: &mut StdRng) -> Vec<Event> {
    (0..n)
        .map(|_| {
            let mut c = Client::new(
                Keys::generate(rng),
                MemoryStorage::new(),
                ClientConfig::with_relays([RELAY]),
            )
            .unwrap();
            c.create_key_package(false, T0, rng).unwrap().event
        })
        .collect()
}

/// Creates the group and hands out everything; returns (events, bytes, wraps).
fn invite_all(kps: Vec<Event>, out_of_band: bool, rng: &mut StdRng) -> (usize, usize, usize) {
    let mut config = ClientConfig::with_relays([RELAY]);
    config.ratchet_tree_out_of_band = out_of_band;
    let mut alice = Client::new(Keys::generate(rng), MemoryStorage::new(), config).unwrap();
    let (_, effects) = alice
        .create_group(NewGroup::new("bench", kps), T0, rng)
        .unwrap();
    let mut queue: VecDeque<Outgoing> = effects.publish.into();
    let (mut events, mut bytes, mut wraps) = (0, 0, 0);
    let none = [RelayAnswer::NoAnswer {
        relay: RELAY.to_owned(),
    }];
    while let Some(o) = queue.pop_front() {
        events += 1;
        bytes += o.event.content().len();
        wraps += usize::from(o.event.kind() == Kind::GIFT_WRAP);
        queue.extend(
            alice
                .published(&o.event.id(), &none, T0, rng)
                .unwrap()
                .publish,
        );
    }
    (events, bytes, wraps)
}

fn bench(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(22);
    for n in sizes() {
        let kps = key_packages(n - 1, &mut rng);
        for (label, out_of_band) in [("tree_in_welcome", false), ("tree_out_of_band", true)] {
            let (events, bytes, wraps) = invite_all(kps.clone(), out_of_band, &mut rng);
            assert_eq!(wraps, n - 1, "every invitee gets a wrap");
            println!(
                "invite {n} members, {label}: {events} events, {bytes} bytes of content in all"
            );
            let mut g = c.benchmark_group(format!("invite_{n}"));
            g.sample_size(10);
            if n > 256 {
                g.measurement_time(Duration::from_secs(20));
            }
            g.bench_function(label, |b| {
                b.iter_batched(
                    || kps.clone(),
                    |kps| invite_all(kps, out_of_band, &mut rng),
                    BatchSize::LargeInput,
                );
            });
            g.finish();
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
