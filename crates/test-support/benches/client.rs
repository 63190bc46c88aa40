//! The client as a user runs it: a `nipee::Client` on SQLite (a database file in the
//! temporary directory, synchronous writes; `NIPEE_BENCH_DB=memory` for an in-memory SQLite
//! database, which leaves out the disk's flush), in groups of 16, 1 024 and 4 096 members
//! (`NIPEE_BENCH_SIZES=16,1024` to choose). Per size:
//!
//! * `receive_message`: one kind-445 application message of 100 bytes from another member,
//!   the whole path (outer event, NIP-44/ChaCha decryption, MLS, inner-event checks, the
//!   SQLite write);
//! * `send_message`: one application message of 100 bytes (MLS, encryption, signing, write);
//! * `receive_commit`: another member's self-update commit (new epoch, fork row, write).
//!
//! Before the timings, the bytes handed to storage (keys and values put) and read back
//! for one received message, one sent message and one received commit are printed.
//!
//! The group is built once per size: the creator adds every member from its KeyPackage
//! at once and wraps the Welcome only for the measured member (the others never join).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use nipee::storage::{Entry, MemoryStorage, Storage, Table, Write, WriteBatch};
use nipee::{Client, ClientConfig, GroupId, NewGroup, Outcome, RelayAnswer};
use nipee_nostr::{Event, Keys, Kind, Timestamp};
use nipee_sqlite::SqliteStorage;
use rand::SeedableRng;
use rand::rngs::StdRng;
use zeroize::Zeroizing;

const RELAY: &str = "wss://relay.bench";
const T0: u64 = 1_800_000_000;
const TEXT: &str = "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789";

/// Bytes handed to and read from a storage.
#[derive(Default)]
struct Counters {
    written: Cell<u64>,
    read: Cell<u64>,
}

/// A storage that counts what passes through it.
struct Counting<S> {
    inner: S,
    counters: Rc<Counters>,
}

impl<S: Storage> Storage for Counting<S> {
    fn get(&self, table: Table, key: &[u8]) -> nipee::Result<Option<Zeroizing<Vec<u8>>>> {
        let v = self.inner.get(table, key)?;
        let n = v.as_ref().map_or(0, |v| v.len());
        self.counters.read.set(self.counters.read.get() + n as u64);
        Ok(v)
    }

    fn scan(&self, table: Table, prefix: &[u8]) -> nipee::Result<Vec<Entry>> {
        let v = self.inner.scan(table, prefix)?;
        let n: usize = v.iter().map(|(k, v)| k.len() + v.len()).sum();
        self.counters.read.set(self.counters.read.get() + n as u64);
        Ok(v)
    }

    fn apply(&mut self, batch: WriteBatch) -> nipee::Result<()> {
        let n: usize = batch
            .writes()
            .iter()
            .map(|w| match w {
                Write::Put { key, value, .. } => key.len() + value.len(),
                Write::Delete { key, .. } => key.len(),
                Write::DeletePrefix { prefix, .. } => prefix.len(),
                _ => 0,
            })
            .sum();
        self.counters
            .written
            .set(self.counters.written.get() + n as u64);
        self.inner.apply(batch)
    }
}

struct Fixture {
    /// The member who sends what is received (in memory: not measured).
    alice: Client<MemoryStorage>,
    /// The measured member, on SQLite.
    bob: Client<Counting<SqliteStorage>>,
    counters: Rc<Counters>,
    gid: GroupId,
    rng: StdRng,
    now: u64,
    _dir: TempDir,
}

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn config() -> ClientConfig {
    ClientConfig::with_relays([RELAY])
}

fn build(n: usize) -> Fixture {
    let mut rng = StdRng::seed_from_u64(n as u64);
    let dir = std::env::temp_dir().join(format!(
        "nipee-bench-client-{}-{n}-{}",
        std::process::id(),
        rand::random::<u64>()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let counters = Rc::new(Counters::default());
    let db = Counting {
        inner: if std::env::var("NIPEE_BENCH_DB").as_deref() == Ok("memory") {
            SqliteStorage::open_in_memory().unwrap()
        } else {
            SqliteStorage::open(dir.join("bob.db")).unwrap()
        },
        counters: counters.clone(),
    };
    let mut alice = Client::new(Keys::generate(&mut rng), MemoryStorage::new(), config()).unwrap();
    let mut bob = Client::new(Keys::generate(&mut rng), db, config()).unwrap();
    let mut kps = vec![bob.create_key_package(false, T0, &mut rng).unwrap().event];
    for _ in 2..n {
        let mut other =
            Client::new(Keys::generate(&mut rng), MemoryStorage::new(), config()).unwrap();
        kps.push(other.create_key_package(false, T0, &mut rng).unwrap().event);
    }
    let (gid, effects) = alice
        .create_group_welcoming_only(
            NewGroup::new("bench", kps),
            &[bob.public_key()],
            T0,
            &mut rng,
        )
        .unwrap();
    let wrap = effects
        .publish
        .iter()
        .find(|o| o.event.kind() == Kind::GIFT_WRAP)
        .unwrap()
        .event
        .clone();
    let joined = bob.process(&wrap, T0, &mut rng).unwrap();
    assert!(
        joined
            .outcomes
            .iter()
            .any(|o| matches!(o, Outcome::Joined { .. }))
    );
    assert_eq!(bob.members(&gid).unwrap().len(), n);
    Fixture {
        alice,
        bob,
        counters,
        gid,
        rng,
        now: T0 + 1,
        _dir: TempDir(dir),
    }
}

impl Fixture {
    fn alice_message(&mut self) -> Event {
        let inner = nipee::inner::chat_message(
            self.alice.public_key(),
            TEXT,
            Timestamp::from_secs(self.now),
        );
        self.alice
            .send(&self.gid, &inner, self.now, &mut self.rng)
            .unwrap()
            .event
    }

    fn receive(&mut self, event: &Event) {
        let e = self.bob.process(event, self.now, &mut self.rng).unwrap();
        assert!(
            e.outcomes
                .iter()
                .any(|o| matches!(o, Outcome::Message { .. } | Outcome::Commit(_))),
            "{:?}",
            e.outcomes
        );
    }

    fn send(&mut self) {
        let inner =
            nipee::inner::chat_message(self.bob.public_key(), TEXT, Timestamp::from_secs(self.now));
        self.bob
            .send(&self.gid, &inner, self.now, &mut self.rng)
            .unwrap();
    }

    /// Alice's self-update commit, confirmed by the relay on her side.
    fn alice_commit(&mut self) -> Event {
        let p = self
            .alice
            .rotate(&self.gid, self.now, &mut self.rng)
            .unwrap();
        let answer = RelayAnswer::Accepted {
            relay: RELAY.to_owned(),
        };
        let confirmed = self
            .alice
            .published(&p.outgoing.event.id(), &[answer], self.now, &mut self.rng)
            .unwrap();
        assert!(
            confirmed
                .outcomes
                .iter()
                .any(|o| matches!(o, Outcome::OwnCommitConfirmed(_)))
        );
        p.outgoing.event
    }

    /// (written, read) bytes of `f`.
    fn count(&mut self, f: impl FnOnce(&mut Self)) -> (u64, u64) {
        let (w, r) = (self.counters.written.get(), self.counters.read.get());
        f(self);
        (
            self.counters.written.get() - w,
            self.counters.read.get() - r,
        )
    }
}

fn sizes() -> Vec<usize> {
    std::env::var("NIPEE_BENCH_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![16, 1024, 4096])
}

fn client(c: &mut Criterion) {
    for n in sizes() {
        let t = std::time::Instant::now();
        let mut f = build(n);
        let setup = t.elapsed();
        // The sender's first message of the epoch (its ratchets are split out of the
        // tree: O(log n) node secrets), then its next one (what the timings measure).
        let ev = f.alice_message();
        let first = f.count(|f| f.receive(&ev));
        let ev = f.alice_message();
        let recv = f.count(|f| f.receive(&ev));
        f.send();
        let send = f.count(Fixture::send);
        let commit = f.alice_commit();
        let rc = f.count(|f| f.receive(&commit));
        println!(
            "client/{n} members (built in {setup:.1?}): storage bytes written/read: \
             receive message {}/{} (the sender's first of the epoch: {}/{}), \
             send message {}/{}, receive commit {}/{}",
            recv.0, recv.1, first.0, first.1, send.0, send.1, rc.0, rc.1
        );

        let f = std::cell::RefCell::new(f);
        let mut g = c.benchmark_group(format!("client/{n}"));
        g.sample_size(10)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3));
        g.bench_function("receive_message", |b| {
            b.iter_batched(
                || f.borrow_mut().alice_message(),
                |ev| f.borrow_mut().receive(&ev),
                BatchSize::PerIteration,
            );
        });
        g.bench_function("send_message", |b| b.iter(|| f.borrow_mut().send()));
        g.bench_function("receive_commit", |b| {
            b.iter_batched(
                || f.borrow_mut().alice_commit(),
                |ev| f.borrow_mut().receive(&ev),
                BatchSize::PerIteration,
            );
        });
        g.finish();
    }
}

criterion_group!(benches, client);
criterion_main!(benches);
