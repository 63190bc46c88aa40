//! Large-group Welcomes through a real nostr-rs-relay 0.8.12 (the `test-relay` harness):
//! one invitee fetches the gift-wrapped Welcome of a large group, joins and reads a
//! message. The group's other members are KeyPackages of clients that never join
//! (`Client::create_group_welcoming_only`), so only the measured member's wrap is built.
//!
//! The figures in docs/PERFORMANCE.md ("Large groups through a relay") come from the two
//! ignored `measure_*` tests (run them with `cargo test -p nipee-test-support --test
//! large_welcome_relay measure -- --ignored --nocapture --test-threads 1`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

#[path = "support/latency.rs"]
mod latency;

use nipee::storage::MemoryStorage;
use nipee::{
    Client, ClientConfig, NewGroup, Outcome, Profile, Purpose, RelayAnswer, tree_transfer,
};
use nipee_driver::{Driver, unix_now};
use nipee_nostr::{Filter, Keys, Kind};
use nipee_relay::test_relay::{TestRelay, TestRelayOptions};
use nipee_relay::{FetchOptions, Pool, PoolConfig};
use rand::SeedableRng;
use rand::rngs::StdRng;

/// nostr-rs-relay 0.8.12's own limits when its config sets none (`2 << 17` bytes for
/// events, WebSocket messages and frames; its sample config's comments say 128 KB).
const RELAY_DEFAULT_MAX_BYTES: usize = 2 << 17;
/// The raised limit: 16 MiB on the relay and on our connections.
const RAISED_MAX_BYTES: usize = 16 << 20;

fn config(url: &str, profile: Profile) -> ClientConfig {
    let mut c = ClientConfig::with_relays([url]);
    c.profile = profile;
    c
}

/// How the Welcome carries the ratchet tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tree {
    /// In the GroupInfo (the standard `ratchet_tree` extension).
    InWelcome,
    /// Sent out of band (`ClientConfig::ratchet_tree_out_of_band`).
    OutOfBand,
}

async fn pool(url: &str, max_message_bytes: usize) -> Pool {
    let mut pc = PoolConfig::default();
    pc.ok_timeout = Duration::from_secs(10);
    pc.max_message_bytes = max_message_bytes.max(PoolConfig::default().max_message_bytes);
    let pool = Pool::connect(pc, [url]).unwrap();
    pool.wait_connected(1, Duration::from_secs(5))
        .await
        .unwrap();
    pool
}

/// What happened to one attempt.
#[derive(Debug)]
struct Attempt {
    /// The gift wrap's JSON size in bytes.
    wrap_bytes: usize,
    /// The JSON size of the tree's chunk events (out of band), in bytes.
    tree_bytes: usize,
    /// The relay stored the wrap (`OK true`).
    stored: bool,
    /// The invitee joined from it and read a message through the relay.
    joined: bool,
    /// Wall time of the whole attempt.
    took: Duration,
}

/// A group of `members` (creator and invitee included) in `profile`; its Welcome wrap to
/// one invitee goes through a relay limited to `max_bytes`.
async fn attempt(profile: Profile, members: usize, max_bytes: usize) -> Attempt {
    attempt_with(profile, Tree::InWelcome, members, max_bytes).await
}

async fn attempt_with(profile: Profile, tree: Tree, members: usize, max_bytes: usize) -> Attempt {
    let start = Instant::now();
    let mut options = TestRelayOptions::default();
    options.max_bytes = max_bytes;
    let relay = TestRelay::start_with_async(options)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let url = relay.url();
    let mut rng = StdRng::seed_from_u64(members as u64);
    let now = unix_now();

    let mut bob = Client::new(
        Keys::generate(&mut rng),
        MemoryStorage::new(),
        config(&url, profile),
    )
    .unwrap();
    let mut kps = vec![bob.create_key_package(false, now, &mut rng).unwrap().event];
    for _ in 2..members {
        let mut other = Client::new(
            Keys::generate(&mut rng),
            MemoryStorage::new(),
            config(&url, profile),
        )
        .unwrap();
        kps.push(
            other
                .create_key_package(false, now, &mut rng)
                .unwrap()
                .event,
        );
    }
    let mut alice_config = config(&url, profile);
    alice_config.ratchet_tree_out_of_band = tree == Tree::OutOfBand;
    let mut alice =
        Client::new(Keys::generate(&mut rng), MemoryStorage::new(), alice_config).unwrap();
    let (gid, effects) = alice
        .create_group_welcoming_only(
            NewGroup::new("large", kps),
            &[bob.public_key()],
            now,
            &mut rng,
        )
        .unwrap();
    assert_eq!(alice.members(&gid).unwrap().len(), members);
    let wrap = effects
        .publish
        .iter()
        .find(|o| o.event.kind() == Kind::GIFT_WRAP)
        .unwrap()
        .event
        .clone();
    let wrap_bytes = wrap.to_json().len();
    let chunks: Vec<_> = effects
        .publish
        .iter()
        .filter(|o| matches!(o.purpose, Purpose::RatchetTree { .. }))
        .map(|o| o.event.clone())
        .collect();
    assert_eq!(chunks.is_empty(), tree == Tree::InWelcome);
    let tree_bytes = chunks.iter().map(|c| c.to_json().len()).sum();

    let publisher = pool(&url, max_bytes).await;
    let mut stored = true;
    for c in &chunks {
        stored &= publisher.publish(c).await.accepted() == 1;
    }
    stored &= publisher.publish(&wrap).await.accepted() == 1;
    publisher.close().await;

    let mut bob = Driver::new(bob, pool(&url, max_bytes).await);
    bob.fetch_timeout = Duration::from_secs(10);
    bob.allow_private_relays();
    let got = bob.sync().await.unwrap();
    let mut joined = got.iter().any(|o| matches!(o, Outcome::Joined { .. }));
    if joined {
        assert_eq!(bob.client().members(&gid).unwrap().len(), members);
        let mut alice = Driver::new(alice, pool(&url, max_bytes).await);
        alice.allow_private_relays();
        alice.send_text(&gid, "hello, large group").await.unwrap();
        let got = bob.sync().await.unwrap();
        joined = got.iter().any(|o| {
            matches!(o, Outcome::Message { event, .. } if event.content == "hello, large group")
        });
    }
    Attempt {
        wrap_bytes,
        tree_bytes,
        stored,
        joined,
        took: start.elapsed(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_1024_member_group_is_joined_through_a_relay_with_raised_limits_in_both_profiles() {
    for profile in [Profile::NipEe, Profile::Marmot] {
        let a = attempt(profile, 1024, RAISED_MAX_BYTES).await;
        assert!(a.stored && a.joined, "{profile:?}: {a:?}");
        println!(
            "{profile:?}, 1024 members: wrap of {} bytes, joined in {:?}",
            a.wrap_bytes, a.took
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_1024_member_group_is_joined_through_a_relay_with_its_default_limits_when_the_tree_is_sent_out_of_band()
 {
    for profile in [Profile::NipEe, Profile::Marmot] {
        let a = attempt_with(profile, Tree::OutOfBand, 1024, RELAY_DEFAULT_MAX_BYTES).await;
        assert!(a.stored && a.joined, "{profile:?}: {a:?}");
        // The wrap no longer grows with the tree.
        assert!(a.wrap_bytes < 16_000, "{profile:?}: {a:?}");
        println!(
            "{profile:?}, 1024 members, tree out of band: wrap of {} bytes, tree chunks of {} bytes, joined in {:?}",
            a.wrap_bytes, a.tree_bytes, a.took
        );
    }
}

/// The largest group size in `lo..hi` (lo known to work, hi known to fail), to within
/// `step` members, whose invitee joins through a relay limited to `max_bytes`.
async fn largest(
    profile: Profile,
    max_bytes: usize,
    mut lo: usize,
    mut hi: usize,
    step: usize,
) -> usize {
    for (n, works) in [(lo, true), (hi, false)] {
        let a = attempt(profile, n, max_bytes).await;
        println!("  {profile:?} limit {max_bytes}: {n} members -> {a:?}");
        assert_eq!(a.joined, works, "{profile:?} {n}: {a:?}");
    }
    while hi - lo > step {
        let mid = (lo + hi) / 2;
        let a = attempt(profile, mid, max_bytes).await;
        println!("  {profile:?} limit {max_bytes}: {mid} members -> {a:?}");
        if a.joined {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    println!("{profile:?}, limit {max_bytes} bytes: {lo} members join, {hi} do not");
    lo
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement (about a minute): the largest group joined through the relay"]
async fn measure_the_largest_group_joined_through_the_relay_with_its_default_limits() {
    largest(Profile::NipEe, RELAY_DEFAULT_MAX_BYTES, 16, 1024, 1).await;
    largest(Profile::Marmot, RELAY_DEFAULT_MAX_BYTES, 16, 1024, 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement (many minutes): the largest group joined with raised limits"]
async fn measure_the_largest_group_joined_through_the_relay_with_raised_limits() {
    largest(Profile::NipEe, RAISED_MAX_BYTES, 9_400, 10_600, 50).await;
    largest(Profile::Marmot, RAISED_MAX_BYTES, 15_600, 17_200, 50).await;
}

/// Who publishes what the creator's client hands out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Host {
    /// Nobody: the events are only counted (no relay's answer reported).
    Count,
    /// The test's own loop: one event after the other, each `OK` awaited.
    OneAtATime,
    /// `Driver::run`, with this many events in flight (`Driver::publish_in_flight`).
    Driver(usize),
}

/// What creating a whole group through the relay cost.
struct Creation {
    /// `Client::create_group` (the commit, every Welcome wrap and tree chunk).
    create: Duration,
    /// Publishing everything it returned through the relay.
    publish: Option<Duration>,
    /// Events to publish and their JSON bytes in all; the largest event.
    events: usize,
    bytes: usize,
    largest: usize,
    /// Wall time for three invitees to fetch their Welcome (and the tree) and join.
    joins: Option<Duration>,
}

impl core::fmt::Display for Creation {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "create {:?}, publish {:?}, {} events of {} bytes (largest {}), three joins {:?}",
            self.create, self.publish, self.events, self.bytes, self.largest, self.joins
        )
    }
}

/// The test's own host loop: publish what the client hands out and report each answer; the
/// report on a batch's last wrap hands out the next batch.
async fn one_at_a_time(
    alice: &mut Client<MemoryStorage>,
    effects: nipee::Effects,
    url: &str,
    c: &mut Creation,
    rng: &mut StdRng,
) {
    let batch = alice.config().welcome_batch;
    let publisher = pool(url, 0).await;
    let start = Instant::now();
    let mut queue: std::collections::VecDeque<nipee::Outgoing> = effects.publish.into();
    let mut most_at_once = queue.len();
    while let Some(o) = queue.pop_front() {
        let n = o.event.to_json().len();
        c.events += 1;
        c.bytes += n;
        c.largest = c.largest.max(n);
        assert_eq!(
            publisher.publish(&o.event).await.accepted(),
            1,
            "the relay took it"
        );
        let next = alice
            .published(
                &o.event.id(),
                &[RelayAnswer::Accepted {
                    relay: url.to_owned(),
                }],
                unix_now(),
                rng,
            )
            .unwrap();
        queue.extend(next.publish);
        most_at_once = most_at_once.max(queue.len());
    }
    c.publish = Some(start.elapsed());
    publisher.close().await;
    assert!(
        most_at_once <= batch + tree_transfer::MAX_CHUNKS as usize,
        "never more than a batch at once: {most_at_once}"
    );
}

/// `alice` creates a group of `members` in `profile`, inviting everyone else at once; unless
/// `host` only counts, everything goes through a relay with its default limits and three
/// invitees (first, middle, last) join and read a message. The events and bytes are
/// counted by the hosts that see each event (not by the driver). Everyone reaches the relay
/// through a proxy that delays what it forwards by `one_way` each way.
async fn create_whole_group(
    profile: Profile,
    tree: Tree,
    members: usize,
    host: Host,
    one_way: Duration,
) -> Creation {
    let relay = TestRelay::start_async()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let proxy = latency::LatencyProxy::start(([127, 0, 0, 1], relay.port()).into(), one_way)
        .await
        .unwrap();
    let url = format!("ws://{}", proxy.addr());
    let mut rng = StdRng::seed_from_u64(members as u64 + 7);
    let now = unix_now();
    let mut invitees = Vec::with_capacity(members - 1);
    let mut kps = Vec::with_capacity(members - 1);
    for _ in 1..members {
        let mut c = Client::new(
            Keys::generate(&mut rng),
            MemoryStorage::new(),
            config(&url, profile),
        )
        .unwrap();
        kps.push(c.create_key_package(false, now, &mut rng).unwrap().event);
        invitees.push(Some(c));
    }
    let mut alice_config = config(&url, profile);
    alice_config.ratchet_tree_out_of_band = tree == Tree::OutOfBand;
    let mut alice =
        Client::new(Keys::generate(&mut rng), MemoryStorage::new(), alice_config).unwrap();
    let start = Instant::now();
    let (gid, effects) = alice
        .create_group(NewGroup::new("whole", kps), now, &mut rng)
        .unwrap();
    let create = start.elapsed();
    let mut c = Creation {
        create,
        publish: None,
        events: 0,
        bytes: 0,
        largest: 0,
        joins: None,
    };
    let count = |o: &nipee::Outgoing, c: &mut Creation| {
        let n = o.event.to_json().len();
        c.events += 1;
        c.bytes += n;
        c.largest = c.largest.max(n);
    };
    if host == Host::Count {
        // Only what it weighs: hand every batch out, reporting no relay's answer.
        let mut queue: std::collections::VecDeque<nipee::Outgoing> = effects.publish.into();
        while let Some(o) = queue.pop_front() {
            count(&o, &mut c);
            let next = alice
                .published(
                    &o.event.id(),
                    &[RelayAnswer::NoAnswer { relay: url.clone() }],
                    now,
                    &mut rng,
                )
                .unwrap();
            queue.extend(next.publish);
        }
        return c;
    }
    let mut alice = match host {
        Host::Driver(in_flight) => {
            let mut d = Driver::new(alice, pool(&url, 0).await);
            d.allow_private_relays();
            d.publish_in_flight = in_flight;
            let start = Instant::now();
            let outcomes = d.run(effects).await.unwrap();
            c.publish = Some(start.elapsed());
            // Every event reported published (the bytes are not counted here).
            c.events = outcomes
                .iter()
                .filter(|o| matches!(o, Outcome::Published { .. }))
                .count();
            assert_eq!(c.events, outcomes.len(), "{outcomes:?}");
            d
        }
        _ => {
            one_at_a_time(&mut alice, effects, &url, &mut c, &mut rng).await;
            let mut d = Driver::new(alice, pool(&url, 0).await);
            d.allow_private_relays();
            d
        }
    };
    assert!(alice.client().outbox().unwrap().is_empty());
    // Every invitee's wrap is on the relay.
    let mut options = FetchOptions::default();
    options.max_events = members * 2;
    let wraps = alice
        .pool()
        .fetch(vec![Filter::new().kind(Kind::GIFT_WRAP)], options)
        .await
        .unwrap()
        .events
        .len();
    assert_eq!(wraps, members - 1, "every invitee got a wrap");
    let start = Instant::now();
    let mut joined = Vec::new();
    for i in [0, (members - 1) / 2, members - 2] {
        let client = invitees[i].take().unwrap();
        let mut d = Driver::new(client, pool(&url, 0).await);
        d.allow_private_relays();
        let got = d.sync().await.unwrap();
        assert!(
            got.iter().any(|o| matches!(o, Outcome::Joined { .. })),
            "invitee {i}: {got:?}"
        );
        assert_eq!(d.client().members(&gid).unwrap().len(), members);
        joined.push(d);
    }
    c.joins = Some(start.elapsed());
    alice.send_text(&gid, "welcome, everyone").await.unwrap();
    for d in &mut joined {
        let got = d.sync().await.unwrap();
        assert!(got.iter().any(|o| {
            matches!(o, Outcome::Message { event, .. } if event.content == "welcome, everyone")
        }));
    }
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_1024_member_group_reaches_every_invitee_through_a_relay_with_its_default_limits() {
    let c = create_whole_group(
        Profile::NipEe,
        Tree::OutOfBand,
        1024,
        Host::OneAtATime,
        Duration::ZERO,
    )
    .await;
    println!("1024 members, tree out of band, whole group through the relay: {c}");
    // O(n) bytes: a few kilobytes per invitee plus one tree.
    assert!(c.bytes < 1024 * 8_000 + 400_000, "{c}");
    assert!(c.largest < RELAY_DEFAULT_MAX_BYTES, "{c}");
}

/// The driver publishes the same group's events several at a time (the tree's chunks
/// before the wraps that point to them): every invitee gets its wrap, three join.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_driver_publishes_a_new_1024_member_groups_welcomes_several_in_flight() {
    let c = create_whole_group(
        Profile::NipEe,
        Tree::OutOfBand,
        1024,
        Host::Driver(16),
        Duration::ZERO,
    )
    .await;
    println!("1024 members, tree out of band, published by the driver, 16 in flight: {c}");
    assert!(c.joins.is_some(), "{c}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement (minutes, release build advised): creating whole groups"]
async fn measure_creating_whole_groups() {
    for profile in [Profile::NipEe, Profile::Marmot] {
        let c =
            create_whole_group(profile, Tree::InWelcome, 1024, Host::Count, Duration::ZERO).await;
        println!("{profile:?} 1024 members, tree in every Welcome (not published): {c}");
        for members in [1024, 10_000] {
            for host in [Host::OneAtATime, Host::Driver(16)] {
                let c = create_whole_group(profile, Tree::OutOfBand, members, host, Duration::ZERO)
                    .await;
                println!(
                    "{profile:?} {members} members, tree out of band, through the relay, \
                     {host:?}: {c}"
                );
            }
        }
    }
}

/// Publishing a new group's events through a relay 25 ms away (50 ms from a request to its
/// answer, through the proxy): the driver one event at a time against several in flight.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement (about a minute): publishing at a distance"]
async fn measure_publishing_a_new_groups_welcomes_at_a_distance() {
    let one_way = Duration::from_millis(25);
    for host in [
        Host::Driver(1),
        Host::Driver(4),
        Host::Driver(16),
        Host::Driver(64),
    ] {
        let c = create_whole_group(Profile::NipEe, Tree::OutOfBand, 256, host, one_way).await;
        println!("256 members, tree out of band, relay 25 ms away, {host:?}: {c}");
    }
}
