//! The client as a user runs it: a `nipee::Client` on SQLite (a database file in the
//! temporary directory, synchronous writes; `NIPEE_BENCH_DB=memory` for an in-memory SQLite
//! database, which leaves out the disk's flush), in groups of 16, 1 024 and 4 096 members
//! (`NIPEE_BENCH_SIZES=16,1024,10000` to choose; 10 000 works but is not in the default set:
//! building each 10 000-member group for the join takes seconds). Per size:
//!
//! * `receive_message`: one kind-445 application message of 100 bytes from another member,
//!   from the event's JSON (`Event::from_json`: id and Schnorr signature) through
//!   `Client::process` (NIP-44/ChaCha decryption, MLS, inner-event checks, the SQLite write);
//! * `send_message`: one application message of 100 bytes (MLS, encryption, signing, write);
//! * `receive_commit`: another member's self-update commit, from its JSON (new epoch, fork
//!   row, write);
//! * `create_commit`: a self-update commit of the measured member, both phases: `rotate`
//!   (staged and stored as pending) and `published` with the relay's OK (merged, stored);
//! * `join`: from a kind-1059 gift wrap's JSON to the stored group (`Client::process`), in a
//!   fresh client on a fresh database; each iteration a fresh creator builds a new group.
//!
//! Once, after the sizes: `startup` with 100 stored groups of 16 members (`SqliteStorage::open`
//! and `Client::open`, which loads every group, until it can process; always a file).
//!
//! Before the timings, the bytes handed to storage (keys and values put) and read back
//! for each operation are printed, with the database growth per joined group and the
//! resident memory per loaded group (opening the 100-group database in a child process,
//! `NIPEE_BENCH_RSS_CHILD`).
//!
//! The group is built once per size: the creator adds every member from its KeyPackage
//! at once and wraps the Welcome only for the measured member (the others never join).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use std::path::{Path, PathBuf};

use criterion::{BatchSize, Criterion, SamplingMode};
use nipee::storage::{Entry, MemoryStorage, Storage, Table, Write, WriteBatch};
use nipee::{Client, ClientConfig, Effects, GroupId, NewGroup, Outcome, RelayAnswer};
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
    /// The measured member's last commit, still to reach the sender.
    pending: Option<Event>,
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

impl TempDir {
    fn new(what: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "nipee-bench-client-{what}-{}-{}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

fn in_memory() -> bool {
    std::env::var("NIPEE_BENCH_DB").as_deref() == Ok("memory")
}

/// The measured storage: SQLite at `path` (or in memory), counted.
fn counted(path: &Path, counters: &Rc<Counters>) -> Counting<SqliteStorage> {
    Counting {
        inner: if in_memory() {
            SqliteStorage::open_in_memory().unwrap()
        } else {
            SqliteStorage::open(path).unwrap()
        },
        counters: counters.clone(),
    }
}

/// Bytes of a database file with its WAL (after the client closed it: checkpointed).
fn db_bytes(path: &Path) -> u64 {
    ["", "-wal"]
        .iter()
        .filter_map(|s| std::fs::metadata(format!("{}{s}", path.display())).ok())
        .map(|m| m.len())
        .sum()
}

/// KeyPackages of members whose clients never join.
fn others(n: usize, rng: &mut StdRng) -> Vec<Event> {
    (0..n)
        .map(|_| {
            let mut other =
                Client::new(Keys::generate(rng), MemoryStorage::new(), config()).unwrap();
            other.create_key_package(false, T0, rng).unwrap().event
        })
        .collect()
}

/// A fresh creator's new group of `others` and the invitee of `kp`; the invitee's wrap.
fn new_group(kp: Event, others: &[Event], to: nipee_nostr::PublicKey, rng: &mut StdRng) -> Event {
    let mut creator = Client::new(Keys::generate(rng), MemoryStorage::new(), config()).unwrap();
    let mut kps = vec![kp];
    kps.extend(others.iter().cloned());
    let (_, effects) = creator
        .create_group_welcoming_only(NewGroup::new("bench", kps), &[to], T0, rng)
        .unwrap();
    effects
        .publish
        .iter()
        .find(|o| o.event.kind() == Kind::GIFT_WRAP)
        .unwrap()
        .event
        .clone()
}

fn joined(e: &Effects) -> GroupId {
    match e.outcome() {
        Outcome::Joined { group_id, .. } => group_id,
        other => panic!("expected a join, got {other:?}"),
    }
}

fn build(n: usize) -> Fixture {
    let mut rng = StdRng::seed_from_u64(n as u64);
    let dir = TempDir::new(&n.to_string());
    let counters = Rc::new(Counters::default());
    let db = counted(&dir.path("bob.db"), &counters);
    let mut alice = Client::new(Keys::generate(&mut rng), MemoryStorage::new(), config()).unwrap();
    let mut bob = Client::new(Keys::generate(&mut rng), db, config()).unwrap();
    let mut kps = vec![bob.create_key_package(false, T0, &mut rng).unwrap().event];
    kps.extend(others(n - 2, &mut rng));
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
    assert_eq!(joined(&bob.process(&wrap, T0, &mut rng).unwrap()), gid);
    assert_eq!(bob.members(&gid).unwrap().len(), n);
    Fixture {
        alice,
        bob,
        counters,
        gid,
        rng,
        now: T0 + 1,
        pending: None,
        _dir: dir,
    }
}

impl Fixture {
    /// The other member's next message, as JSON.
    fn alice_message(&mut self) -> String {
        let inner = nipee::inner::chat_message(
            self.alice.public_key(),
            TEXT,
            Timestamp::from_secs(self.now),
        );
        self.alice
            .send(&self.gid, &inner, self.now, &mut self.rng)
            .unwrap()
            .event
            .to_json()
    }

    /// The whole receive: the event parsed from JSON (id and signature checked), processed.
    fn receive(&mut self, json: &str) -> Outcome {
        let event = Event::from_json(json).unwrap();
        let e = self.bob.process(&event, self.now, &mut self.rng).unwrap();
        let o = e.outcome();
        assert!(
            matches!(o, Outcome::Message { .. } | Outcome::Commit(_)),
            "{o:?}"
        );
        o
    }

    fn send(&mut self) {
        let inner =
            nipee::inner::chat_message(self.bob.public_key(), TEXT, Timestamp::from_secs(self.now));
        self.bob
            .send(&self.gid, &inner, self.now, &mut self.rng)
            .unwrap();
    }

    /// Alice's self-update commit, confirmed by the relay on her side, as JSON.
    fn alice_commit(&mut self) -> String {
        self.deliver_pending();
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
        p.outgoing.event.to_json()
    }

    /// The measured member's self-update, both phases: staged, then merged on the relay's
    /// OK. The commit goes to the other member before the next operation.
    fn bob_commit(&mut self) {
        let p = self.bob.rotate(&self.gid, self.now, &mut self.rng).unwrap();
        let answer = RelayAnswer::Accepted {
            relay: RELAY.to_owned(),
        };
        let confirmed = self
            .bob
            .published(&p.outgoing.event.id(), &[answer], self.now, &mut self.rng)
            .unwrap();
        assert!(matches!(
            confirmed.outcome(),
            Outcome::OwnCommitConfirmed(_)
        ));
        self.pending = Some(p.outgoing.event);
    }

    fn deliver_pending(&mut self) {
        if let Some(e) = self.pending.take() {
            let fx = self.alice.process(&e, self.now, &mut self.rng).unwrap();
            assert!(
                matches!(fx.outcome(), Outcome::Commit(_)),
                "{:?}",
                fx.outcome()
            );
        }
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

/// Joins at `n` members: every iteration a fresh joiner (its own counted database) and a
/// fresh creator's new group.
struct Joins {
    others: Vec<Event>,
    rng: StdRng,
    dir: TempDir,
    count: usize,
    counters: Rc<Counters>,
}

impl Joins {
    fn new(n: usize) -> Self {
        let mut rng = StdRng::seed_from_u64(1000 + n as u64);
        Joins {
            others: others(n - 2, &mut rng),
            rng,
            dir: TempDir::new(&format!("join-{n}")),
            count: 0,
            counters: Rc::new(Counters::default()),
        }
    }

    fn path(&self) -> PathBuf {
        self.dir.path(&format!("joiner-{}.db", self.count))
    }

    /// A fresh joiner (the previous one's files removed) and the JSON of its gift wrap.
    fn input(&mut self) -> (Client<Counting<SqliteStorage>>, String) {
        for s in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{s}", self.path().display()));
        }
        self.count += 1;
        let db = counted(&self.path(), &self.counters);
        let mut joiner = Client::new(Keys::generate(&mut self.rng), db, config()).unwrap();
        let kp = joiner
            .create_key_package(false, T0, &mut self.rng)
            .unwrap()
            .event;
        let wrap = new_group(kp, &self.others, joiner.public_key(), &mut self.rng);
        (joiner, wrap.to_json())
    }
}

fn join(joiner: &mut Client<Counting<SqliteStorage>>, wrap: &str) -> Effects {
    let e = Event::from_json(wrap).unwrap();
    joiner.process(&e, T0, &mut rand::rng()).unwrap()
}

fn client(c: &mut Criterion) {
    for n in sizes() {
        let t = std::time::Instant::now();
        let mut f = build(n);
        let setup = t.elapsed();
        // The sender's first message of the epoch (its ratchets are split out of the
        // tree: O(log n) node secrets), then its next one (what the timings measure).
        let ev = f.alice_message();
        let first = f.count(|f| {
            f.receive(&ev);
        });
        let ev = f.alice_message();
        let recv = f.count(|f| match f.receive(&ev) {
            Outcome::Message { event, .. } => assert_eq!(event.content, TEXT),
            other => panic!("expected a message, got {other:?}"),
        });
        f.send();
        let send = f.count(Fixture::send);
        let epoch = f.bob.epoch(&f.gid).unwrap();
        let commit = f.alice_commit();
        let rc = f.count(|f| {
            assert!(matches!(f.receive(&commit), Outcome::Commit(_)));
        });
        let cc = f.count(Fixture::bob_commit);
        f.deliver_pending();
        assert_eq!(f.bob.epoch(&f.gid).unwrap(), epoch + 2);
        assert_eq!(f.alice.epoch(&f.gid).unwrap(), epoch + 2);

        // One join, checked, with its bytes and the database it leaves.
        let mut j = Joins::new(n);
        let empty = {
            let (joiner, _) = j.input();
            drop(joiner);
            db_bytes(&j.path())
        };
        let (mut joiner, wrap) = j.input();
        let (w, r) = (j.counters.written.get(), j.counters.read.get());
        let gid = joined(&join(&mut joiner, &wrap));
        let jb = (j.counters.written.get() - w, j.counters.read.get() - r);
        assert_eq!(joiner.members(&gid).unwrap().len(), n);
        drop(joiner);
        let db = db_bytes(&j.path()).saturating_sub(empty);
        println!(
            "client/{n} members (built in {setup:.1?}): storage bytes written/read: \
             receive message {}/{} (the sender's first of the epoch: {}/{}), \
             send message {}/{}, receive commit {}/{}, create commit {}/{}, join {}/{}; \
             the Welcome gift wrap is {} B; the joined group adds {db} B to the database file{}",
            recv.0,
            recv.1,
            first.0,
            first.1,
            send.0,
            send.1,
            rc.0,
            rc.1,
            cc.0,
            cc.1,
            jb.0,
            jb.1,
            wrap.len(),
            if in_memory() { " (in memory: 0)" } else { "" }
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
        g.bench_function("create_commit", |b| {
            b.iter_batched(
                || f.borrow_mut().deliver_pending(),
                |()| f.borrow_mut().bob_commit(),
                BatchSize::PerIteration,
            );
        });
        f.borrow_mut().deliver_pending();
        // Each iteration builds a new group of n: few, short samples.
        g.sampling_mode(SamplingMode::Flat)
            .warm_up_time(Duration::from_millis(100))
            .measurement_time(Duration::from_millis(500));
        g.bench_function("join", |b| {
            b.iter_batched(
                || j.input(),
                |(mut joiner, wrap)| {
                    let fx = join(&mut joiner, &wrap);
                    (joiner, fx)
                },
                BatchSize::PerIteration,
            );
        });
        g.finish();
    }
    startup(c);
}

const STORED_GROUPS: usize = 100;
const STORED_GROUP_SIZE: usize = 16;

fn open_stored(path: &Path) -> Client<SqliteStorage> {
    let c = Client::open(SqliteStorage::open(path).unwrap(), config()).unwrap();
    assert_eq!(c.groups().len(), STORED_GROUPS);
    c
}

/// Startup with 100 stored groups of 16 members, the database per group and the resident
/// memory per loaded group.
fn startup(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(100);
    let dir = TempDir::new("startup");
    let path = dir.path("stored.db");
    let others = others(STORED_GROUP_SIZE - 2, &mut rng);
    let me = Client::new(
        Keys::generate(&mut rng),
        SqliteStorage::open(&path).unwrap(),
        config(),
    )
    .unwrap();
    let p = me.public_key();
    drop(me);
    let empty = db_bytes(&path);
    let empty_copy = dir.path("empty.db");
    std::fs::copy(&path, &empty_copy).unwrap();
    let mut me = Client::open(SqliteStorage::open(&path).unwrap(), config()).unwrap();
    assert_eq!(me.public_key(), p);
    for _ in 0..STORED_GROUPS {
        let kp = me.create_key_package(false, T0, &mut rng).unwrap().event;
        let wrap = new_group(kp, &others, p, &mut rng);
        joined(&me.process(&wrap, T0, &mut rng).unwrap());
    }
    drop(me);
    let per_group = (db_bytes(&path) - empty) / STORED_GROUPS as u64;
    let (rss0, rss) = (rss_of(&empty_copy), rss_of(&path));
    println!(
        "client/startup: {STORED_GROUPS} groups of {STORED_GROUP_SIZE} members: {per_group} B of \
         database per group; opening the client adds {} KiB of resident memory with no group, \
         {} KiB with {STORED_GROUPS}: {} B per group (fresh child processes)",
        rss0 / 1024,
        rss / 1024,
        rss.saturating_sub(rss0) / STORED_GROUPS as u64
    );
    let mut g = c.benchmark_group("client/100_groups_of_16");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    g.bench_function("startup", |b| {
        b.iter_batched(|| (), |()| open_stored(&path), BatchSize::PerIteration);
    });
    g.finish();
}

/// Resident memory (VmRSS, bytes) of this process.
fn rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// The resident memory that opening the client on `path` adds, in a fresh process.
fn rss_of(path: &Path) -> u64 {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .env("NIPEE_BENCH_RSS_CHILD", path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("rss "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap()
}

fn main() {
    if let Some(path) = std::env::var_os("NIPEE_BENCH_RSS_CHILD") {
        let before = rss();
        let c = Client::open(SqliteStorage::open(&path).unwrap(), config()).unwrap();
        println!("rss {}", rss() - before);
        assert!(matches!(c.groups().len(), 0 | STORED_GROUPS));
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    client(&mut c);
    c.final_summary();
}
