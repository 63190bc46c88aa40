//! Soak: members exchange messages through a real nostr-rs-relay on live subscriptions,
//! with a rotation every so many messages; every message reaches every other member once,
//! everyone ends on one epoch authenticator, and the resident memory of the process is
//! sampled every thousand messages. Small by default (a few seconds); the reliability
//! campaign's run is `NIPEE_SOAK_MEMBERS=20 NIPEE_SOAK_MESSAGES=10000 NIPEE_SOAK_ROTATE=500
//! cargo test --release -p nipee-test-support --test soak -- --nocapture`.
//!
//! `NIPEE_SOAK_STORE=sqlite` gives every member a `nipee-sqlite` database file (in a fresh
//! directory under the system's temporary directory, removed at the end) instead of the
//! in-memory store; `NIPEE_SOAK_PRUNE=1` makes every member drop its processed-event marks
//! at each sample (`Client::prune_processed` with the current time as cutoff);
//! `NIPEE_SOAK_DEDUP=N` sets each pool's `dedup_capacity` (the relay layer remembers that
//! many event ids per subscription, 100 000 by default, to drop repeats). The test's
//! own record of what each member received is one preallocated counter per (member,
//! message), so it does not grow while the members do.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use nipee::storage::{MemoryStorage, Storage, Table};
use nipee::{Client, ClientConfig, GroupId, Outcome};
use nipee_driver::{CommitResult, Driver, unix_now};
use nipee_nostr::{Keys, PublicKey};
use nipee_relay::test_relay::TestRelay;
use nipee_relay::{Pool, PoolConfig, Subscription};

fn param(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// Resident memory of this process (kB), from /proc.
fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

/// What the members' stores hold: (bytes of keys and values in kB, rows of processed-event
/// marks). The marks are kept for `processed_retention_secs` (30 days), so they grow with
/// every event a member reads; a long-lived client prunes them (`Client::prune_processed`).
fn stored<S: Storage>(ds: &[Driver<S>]) -> (u64, u64) {
    let mut bytes = 0u64;
    let mut processed = 0u64;
    for d in ds {
        for table in Table::ALL {
            for (k, v) in d.client().storage().scan(table, &[]).unwrap() {
                bytes += (k.len() + v.len()) as u64;
                if table == Table::Processed {
                    processed += 1;
                }
            }
        }
    }
    (bytes / 1024, processed)
}

async fn driver<S: Storage>(url: &str, keys: Keys, storage: S) -> Driver<S> {
    let client = Client::new(keys, storage, ClientConfig::with_relays([url])).unwrap();
    let mut pc = PoolConfig::default();
    // Generous: on a loaded machine at the lowest priority the relay once took more than
    // 10 s to answer and a send failed as not published (NotPublished), which is the
    // machine's load, not a lost message.
    pc.ok_timeout = Duration::from_secs(60);
    pc.dedup_capacity = param("NIPEE_SOAK_DEDUP", pc.dedup_capacity);
    let pool = Pool::connect(pc, [url]).unwrap();
    pool.wait_connected(1, Duration::from_secs(10))
        .await
        .unwrap();
    let mut d = Driver::new(client, pool);
    d.fetch_timeout = Duration::from_secs(30);
    d.allow_private_relays();
    d
}

/// Hands member `d` every event its subscription has ready, until it is quiet for `quiet`;
/// counts each message `s<n>` it reads in `got[n]` (any other text is a failure).
async fn drain<S: Storage>(
    d: &mut Driver<S>,
    sub: &mut Subscription,
    got: &mut [u8],
    quiet: Duration,
) {
    while let Ok(Some((_, ev))) = tokio::time::timeout(quiet, sub.next_event()).await {
        for o in d.handle_event(&ev).await.unwrap() {
            if let Outcome::Message { event, .. } = o {
                let n: usize = event
                    .content
                    .strip_prefix('s')
                    .and_then(|n| n.parse().ok())
                    .unwrap_or_else(|| panic!("unexpected message {:?}", event.content));
                got[n] = got[n].saturating_add(1);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_exchange_messages_with_rotations_and_nothing_is_lost_or_repeated() {
    let members = param("NIPEE_SOAK_MEMBERS", 4).max(2);
    let prune = param("NIPEE_SOAK_PRUNE", 0) != 0;
    match std::env::var("NIPEE_SOAK_STORE").as_deref() {
        Ok("sqlite") => {
            let dir = std::env::temp_dir().join(format!("nipee-soak-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let stores = (0..members)
                .map(|i| nipee_sqlite::SqliteStorage::open(dir.join(format!("m{i}.db"))).unwrap())
                .collect();
            soak("sqlite", stores, prune).await;
            std::fs::remove_dir_all(&dir).unwrap();
        }
        Ok("memory") | Err(_) => {
            soak(
                "memory",
                (0..members).map(|_| MemoryStorage::new()).collect(),
                prune,
            )
            .await;
        }
        Ok(other) => panic!("NIPEE_SOAK_STORE={other}: expected memory or sqlite"),
    }
}

async fn soak<S: Storage>(store_name: &str, stores: Vec<S>, prune: bool) {
    let members = stores.len();
    let messages = param("NIPEE_SOAK_MESSAGES", 120);
    let rotate_every = param("NIPEE_SOAK_ROTATE", 40).max(1);
    let relay = TestRelay::start_async().await.unwrap();
    let url = relay.url();
    let keys: Vec<Keys> = (0..members)
        .map(|_| Keys::generate(&mut rand::rng()))
        .collect();
    let mut ds = Vec::new();
    for (k, storage) in keys.iter().zip(stores) {
        ds.push(driver(&url, k.clone(), storage).await);
    }
    for d in &mut ds[1..] {
        d.publish_key_package(false).await.unwrap();
    }
    let invitees: Vec<PublicKey> = keys[1..].iter().map(Keys::public_key).collect();
    let gid: GroupId = ds[0].create_group("soak", "", &invitees).await.unwrap();
    for d in &mut ds[1..] {
        d.sync().await.unwrap();
    }
    let mut subs = Vec::new();
    for d in &ds {
        let spec = d
            .client()
            .subscriptions()
            .into_iter()
            .find(|s| s.key.starts_with("group:"))
            .unwrap();
        subs.push(d.pool().subscribe(vec![spec.filter]).unwrap());
    }
    let mut got: Vec<Vec<u8>> = vec![vec![0; messages]; members];
    let mut rss = vec![(0, rss_kb())];
    let mut store = vec![(0, stored(&ds))];
    let started = Instant::now();
    let mut rotations = 0;
    for m in 0..messages {
        if m > 0 && m % rotate_every == 0 {
            let r = (m / rotate_every) % members;
            drain(
                &mut ds[r],
                &mut subs[r],
                &mut got[r],
                Duration::from_millis(50),
            )
            .await;
            let result = ds[r].rotate(&gid).await.unwrap();
            assert!(
                matches!(result, CommitResult::Confirmed { .. }),
                "{result:?}"
            );
            rotations += 1;
        }
        let sender = m % members;
        ds[sender].send_text(&gid, &format!("s{m}")).await.unwrap();
        if m % 50 == 49 {
            for i in 0..members {
                drain(
                    &mut ds[i],
                    &mut subs[i],
                    &mut got[i],
                    Duration::from_millis(5),
                )
                .await;
            }
        }
        if m % 1000 == 999 {
            if prune {
                let cutoff = unix_now();
                for d in &mut ds {
                    d.client_mut().prune_processed(cutoff).unwrap();
                }
            }
            rss.push((m + 1, rss_kb()));
            store.push((m + 1, stored(&ds)));
        }
    }
    for _ in 0..3 {
        for i in 0..members {
            drain(
                &mut ds[i],
                &mut subs[i],
                &mut got[i],
                Duration::from_millis(200),
            )
            .await;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    rss.push((messages, rss_kb()));
    store.push((messages, stored(&ds)));

    let reference = ds[0].client().epoch_authenticator(&gid).unwrap();
    for (i, d) in ds.iter().enumerate() {
        assert_eq!(
            d.client().epoch_authenticator(&gid).unwrap(),
            reference,
            "member {i} diverged"
        );
    }
    let mut delivered = 0u64;
    for m in 0..messages {
        for (i, g) in got.iter().enumerate() {
            let n = g[m];
            if i == m % members {
                assert_eq!(n, 0, "member {i} received its own s{m}");
            } else {
                assert_eq!(n, 1, "member {i} received s{m} {n} times");
                delivered += 1;
            }
        }
    }
    let expected = (messages * (members - 1)) as u64;
    eprintln!(
        "soak ({store_name} stores, pruning {prune}): {members} members, {messages} messages, \
         {rotations} rotations: {delivered} of {expected} deliveries in {seconds:.0} s ({:.0} messages/s sent, {:.0} deliveries/s); \
         resident memory (messages sent, kB): {rss:?}; the members' stores (messages sent, \
         (kB of keys and values, processed-event marks)): {store:?}",
        messages as f64 / seconds,
        delivered as f64 / seconds
    );
    assert_eq!(delivered, expected);
}
