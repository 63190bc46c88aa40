//! nipee's client against MDK (`mdk-core` 0.8.0), back to back in one run, both in the
//! Marmot profile and both on SQLite files in the temporary directory:
//!
//! * nipee: `nipee::Client` with `Profile::Marmot` on `nipee-sqlite` (WAL,
//!   `synchronous=FULL`, `secure_delete=ON`, not encrypted);
//! * MDK: `MDK` on `mdk-sqlite-storage` opened with `new_with_key` (SQLCipher with a 32-byte
//!   key, as White Noise opens it; SQLite's default rollback journal and
//!   `synchronous=FULL`).
//!
//! Switches: `NIPEE_BENCH_MDK_DB=plain` opens MDK's files without encryption
//! (`new_unencrypted`, MDK's `test-utils` feature); `NIPEE_BENCH_NIPEE_JOURNAL=delete` puts
//! the measured nipee members on `nipee-sqlite` with SQLite's rollback journal
//! (`Journal::Delete`, MDK's durability: the same `synchronous=FULL`, no WAL);
//! `NIPEE_BENCH_DB=memory` puts the measured members of both sides on in-memory SQLite (no disk, no SQLCipher; startup still uses files);
//! `NIPEE_BENCH_SIZES=16,1024,4096` chooses the group sizes (default 16 and 1 024);
//! `NIPEE_BENCH_PROBE=<members>` runs every operation 10 times per side between markers on
//! stderr instead of benchmarking, to count disk syncs under `strace`.
//!
//! Both sides are members of the same group. MDK creates it (its SQLite storage refuses to
//! store a Welcome event over 100 KiB, so it could not join a large group) with a third
//! member (a nipee client in memory, not measured), the measured nipee member and members
//! whose clients never join; the two nipee clients join from MDK's Welcome. Every event the
//! third member sends is processed by both measured members (the other side's copy outside
//! the timed region), so both see the same stream of messages and commits. Per group size
//! and side:
//!
//! * `receive_message`: a kind-445 application message with a 100-byte kind-9 chat message
//!   from the third member, from the event's JSON to the stored result. nipee:
//!   `Event::from_json` (id and Schnorr signature checked) and `Client::process`. MDK:
//!   rust-nostr's `Event::from_json`, `Event::verify` (a client on nostr-sdk has relay events
//!   verified before it sees them; `process_message` does not check the signature) and
//!   `process_message`, which also stores the message text in its messages table;
//! * `send_message`: one 100-byte chat message: the rumor, then `Client::send` /
//!   `create_message`;
//! * `receive_commit`: the third member's self-update commit (kind 445), from JSON as above;
//! * `create_commit`: a self-update commit of the measured member, created and merged:
//!   nipee `Client::rotate` then `Client::published` with the relay's OK (the two-phase
//!   path); MDK `self_update` then `merge_pending_commit`;
//! * `join`: from the kind-1059 gift wrap's JSON to the stored group, in a fresh client on
//!   a fresh database, a new group (built by a nipee creator) per iteration: nipee
//!   `Event::from_json` and `Client::process`; MDK `Event::from_json`, `Event::verify`,
//!   rust-nostr's NIP-59 `UnwrappedGift::from_gift_wrap` (the seal's signature and two
//!   NIP-44 decryptions), `process_welcome` and `accept_welcome`. When the wrap is larger
//!   than rust-nostr's NIP-44 can decrypt (65 535 bytes), the bench measures
//!   `join_from_rumor` for MDK (from the kind-444 rumor, unwrapped outside the timed region);
//!   when MDK cannot join at all (its storage's Welcome limit), it measures nothing for MDK
//!   and prints why;
//! * `startup`, once, with 100 stored groups of 16 members: open the database and the
//!   client and list the groups (nipee `SqliteStorage::open` and `Client::open`, which loads
//!   every group; MDK `new_with_key`, `MDK::new` and `get_groups`, which loads no MLS
//!   group), and `startup_then_receive`: the same, then one application message in one of
//!   the groups (MDK then loads that group's MLS state).
//!
//! Before the timings it prints the size of each side's self-update commit, the database
//! size per group (the file after the client is closed, less the file before) and the
//! resident memory per loaded group (fresh child processes, `NIPEE_BENCH_RSS_CHILD`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{BatchSize, Criterion, SamplingMode};
use mdk_core::prelude::{GroupId as MdkGroupId, MDK, MessageProcessingResult};
use mdk_sqlite_storage::{EncryptionConfig, MdkSqliteStorage};
use nipee::storage::MemoryStorage;
use nipee::{Client, ClientConfig, GroupId, NewGroup, Outcome, Profile, RelayAnswer};
use nipee_mdk_interop::{block_on, now, pk_to_nipee};
use nipee_sqlite::{Journal, SqliteOptions, SqliteStorage};
use nostr::JsonUtil;
use rand::SeedableRng;
use rand::rngs::StdRng;

const RELAY: &str = "wss://relay.bench";
const TEXT: &str = "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789";
/// The SQLCipher key of MDK's databases (a fixed test key).
const MDK_KEY: [u8; 32] = [7; 32];
/// Groups in the startup databases, and their size.
const STORED_GROUPS: usize = 100;
const STORED_GROUP_SIZE: usize = 16;

type Mdk = MDK<MdkSqliteStorage>;

fn config() -> ClientConfig {
    let mut c = ClientConfig::with_relays([RELAY]);
    c.profile = Profile::Marmot;
    c
}

fn mdk_encrypted() -> bool {
    std::env::var("NIPEE_BENCH_MDK_DB").as_deref() != Ok("plain")
}

/// `NIPEE_BENCH_DB=memory`: the measured members of the group and the joiners on in-memory
/// SQLite (both sides), which leaves out the disk; startup always uses files.
fn in_memory() -> bool {
    std::env::var("NIPEE_BENCH_DB").as_deref() == Ok("memory")
}

fn mdk_open(path: &Path, memory: bool) -> Mdk {
    let storage = if memory {
        MdkSqliteStorage::new_in_memory().unwrap()
    } else if mdk_encrypted() {
        MdkSqliteStorage::new_with_key(path, EncryptionConfig::new(MDK_KEY)).unwrap()
    } else {
        MdkSqliteStorage::new_unencrypted(path).unwrap()
    };
    MDK::new(storage)
}

fn nipee_open(path: &Path) -> Client<SqliteStorage> {
    Client::open(SqliteStorage::open(path).unwrap(), config()).unwrap()
}

/// A directory removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(what: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "nipee-bench-mdk-{what}-{}-{}",
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

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Bytes of a database with its journal files (after the client closed it: WAL
/// checkpointed into the file).
fn db_bytes(path: &Path) -> u64 {
    ["", "-wal", "-journal"]
        .iter()
        .filter_map(|s| std::fs::metadata(format!("{}{s}", path.display())).ok())
        .map(|m| m.len())
        .sum()
}

/// An MDK person: keys in both Nostr libraries (the same secret key).
struct MdkPerson {
    keys: nostr::Keys,
    nipee_keys: nipee_nostr::Keys,
    mdk: Mdk,
}

impl MdkPerson {
    fn new(path: &Path, memory: bool, rng: &mut StdRng) -> Self {
        let mut secret = [0u8; 32];
        rand::Rng::fill_bytes(rng, &mut secret);
        MdkPerson {
            keys: nostr::Keys::new(nostr::SecretKey::from_slice(&secret).unwrap()),
            nipee_keys: nipee_nostr::Keys::new(
                nipee_nostr::SecretKey::from_bytes(&secret).unwrap(),
            ),
            mdk: mdk_open(path, memory),
        }
    }

    fn pubkey(&self) -> nipee_nostr::PublicKey {
        pk_to_nipee(&self.keys.public_key())
    }

    /// A kind-30443 KeyPackage event, as White Noise publishes it.
    fn key_package(&self) -> nipee_nostr::Event {
        let data = self
            .mdk
            .create_key_package_for_event(
                &self.keys.public_key(),
                [nostr::RelayUrl::parse(RELAY).unwrap()],
            )
            .unwrap();
        let e = nostr::EventBuilder::new(nostr::Kind::Custom(30443), data.content)
            .tags(data.tags_30443)
            .sign_with_keys(&self.keys)
            .unwrap();
        nipee_nostr::Event::from_json(&e.as_json()).unwrap()
    }

    /// The kind-444 rumor of a gift wrap, unwrapped with nipee's NIP-59 (which reads
    /// NIP-44's extended length prefix), as a rust-nostr rumor.
    fn rumor_of(&self, wrap: &nipee_nostr::Event) -> nostr::UnsignedEvent {
        let u = nipee_nostr::nip59::unwrap_gift_wrap(&self.nipee_keys, wrap).unwrap();
        nostr::UnsignedEvent::from_json(u.rumor.to_json()).unwrap()
    }

    /// MDK's whole join from a gift wrap's JSON: parse, verify, NIP-59 with rust-nostr,
    /// `process_welcome`, `accept_welcome`.
    fn join_from_wrap(&self, json: &str) -> Result<MdkGroupId, String> {
        let wrap = nostr::Event::from_json(json).map_err(|e| e.to_string())?;
        wrap.verify().map_err(|e| e.to_string())?;
        let gift = block_on(nostr::nips::nip59::UnwrappedGift::from_gift_wrap(
            &self.keys, &wrap,
        ))
        .map_err(|e| e.to_string())?;
        self.join_from_rumor(&wrap.id, &gift.rumor)
    }

    fn join_from_rumor(
        &self,
        wrap_id: &nostr::EventId,
        rumor: &nostr::UnsignedEvent,
    ) -> Result<MdkGroupId, String> {
        let welcome = self
            .mdk
            .process_welcome(wrap_id, rumor)
            .map_err(|e| e.to_string())?;
        self.mdk
            .accept_welcome(&welcome)
            .map_err(|e| e.to_string())?;
        Ok(welcome.mls_group_id)
    }

    /// Processes a kind-445 event's JSON as the app would: parse, verify, `process_message`.
    fn receive(&self, json: &str) -> MessageProcessingResult {
        let e = nostr::Event::from_json(json).unwrap();
        e.verify().unwrap();
        self.mdk.process_message(&e).unwrap()
    }
}

/// `NIPEE_BENCH_NIPEE_JOURNAL=delete`: the measured nipee members of the group and the
/// joins on `nipee-sqlite` with SQLite's rollback journal (`Journal::Delete`, MDK's
/// durability) instead of its default WAL.
fn nipee_journal() -> Journal {
    if std::env::var("NIPEE_BENCH_NIPEE_JOURNAL").as_deref() == Ok("delete") {
        Journal::Delete
    } else {
        Journal::Wal
    }
}

/// A nipee client on a fresh `nipee-sqlite` database (a file in the journal mode of
/// [`nipee_journal`], or in memory), with its identity stored.
fn nipee_person(path: &Path, memory: bool, rng: &mut StdRng) -> Client<SqliteStorage> {
    let db = if memory {
        SqliteStorage::open_in_memory().unwrap()
    } else {
        SqliteStorage::open_with(path, SqliteOptions::default().journal(nipee_journal())).unwrap()
    };
    Client::new(nipee_nostr::Keys::generate(rng), db, config()).unwrap()
}

/// KeyPackages of members whose clients never join.
fn others(n: usize, rng: &mut StdRng) -> Vec<nipee_nostr::Event> {
    (0..n)
        .map(|_| {
            let mut c = Client::new(
                nipee_nostr::Keys::generate(rng),
                MemoryStorage::new(),
                config(),
            )
            .unwrap();
            c.create_key_package(false, now(), rng).unwrap().event
        })
        .collect()
}

fn gift_wrap_to(effects: &nipee::Effects, to: &nipee_nostr::PublicKey) -> nipee_nostr::Event {
    effects
        .publish
        .iter()
        .map(|o| &o.event)
        .find(|e| {
            e.kind() == nipee_nostr::Kind::GIFT_WRAP
                && e.tags()
                    .as_slice()
                    .iter()
                    .any(|t| t.name() == Some("p") && t.value() == Some(to.to_hex().as_str()))
        })
        .expect("a gift wrap for the invitee")
        .clone()
}

fn assert_joined(effects: &nipee::Effects) -> GroupId {
    match effects.outcome() {
        Outcome::Joined { group_id, .. } => group_id,
        other => panic!("expected a join, got {other:?}"),
    }
}

fn relay_ok() -> [RelayAnswer; 1] {
    [RelayAnswer::Accepted {
        relay: RELAY.to_owned(),
    }]
}

/// The group both measured members are in.
struct Fixture {
    /// The third member, who sends what is received (in memory, not measured).
    alice: Client<MemoryStorage>,
    /// nipee, measured.
    bob: Client<SqliteStorage>,
    /// MDK, measured.
    carol: MdkPerson,
    gid: GroupId,
    rng: StdRng,
    /// A commit of one measured member, still to be delivered to the others.
    pending: Option<(Side, String)>,
    _dir: TempDir,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Nipee,
    Mdk,
}

impl Fixture {
    /// MDK creates the group (its SQLite storage refuses to store a Welcome event over
    /// 100 KiB, so it could not join a large group), with the third member, the nipee
    /// member and members whose clients never join; the two nipee clients join from MDK's
    /// Welcome rumors, gift-wrapped with nipee's NIP-59 (rust-nostr's stops at 65 535 bytes).
    fn build(n: usize) -> Self {
        let mut rng = StdRng::seed_from_u64(n as u64);
        let dir = TempDir::new(&format!("group-{n}"));
        let mut alice = Client::new(
            nipee_nostr::Keys::generate(&mut rng),
            MemoryStorage::new(),
            config(),
        )
        .unwrap();
        let mut bob = nipee_person(&dir.path("nipee.db"), in_memory(), &mut rng);
        let carol = MdkPerson::new(&dir.path("mdk.db"), in_memory(), &mut rng);
        let mut kps = vec![
            alice
                .create_key_package(false, now(), &mut rng)
                .unwrap()
                .event,
            bob.create_key_package(false, now(), &mut rng)
                .unwrap()
                .event,
        ];
        kps.extend(others(n - 3, &mut rng));
        let group_config = mdk_core::prelude::NostrGroupConfigData::new(
            "bench".to_owned(),
            String::new(),
            None,
            None,
            None,
            vec![nostr::RelayUrl::parse(RELAY).unwrap()],
            vec![carol.keys.public_key()],
        );
        let created = carol
            .mdk
            .create_group(
                &carol.keys.public_key(),
                kps.iter()
                    .map(|e| nostr::Event::from_json(e.to_json()).unwrap())
                    .collect(),
                group_config,
            )
            .unwrap();
        let mdk_gid = created.group.mls_group_id.clone();
        carol.mdk.merge_pending_commit(&mdk_gid).unwrap();
        let gid = GroupId::new(mdk_gid.to_vec());
        let rumors = created.welcome_rumors;
        let wrap = |i: usize, to: &nipee_nostr::PublicKey, rng: &mut StdRng| {
            let rumor = nipee_nostr::UnsignedEvent::from_json(&rumors[i].as_json()).unwrap();
            nipee_nostr::nip59::gift_wrap(
                &carol.nipee_keys,
                to,
                &rumor,
                nipee_nostr::Timestamp::from_secs(now()),
                rng,
            )
            .unwrap()
        };
        let w = wrap(0, &alice.public_key(), &mut rng);
        assert_eq!(
            assert_joined(&alice.process(&w, now(), &mut rng).unwrap()),
            gid
        );
        let w = wrap(1, &bob.public_key(), &mut rng);
        assert_eq!(
            assert_joined(&bob.process(&w, now(), &mut rng).unwrap()),
            gid
        );
        drop(rumors);
        assert_eq!(bob.members(&gid).unwrap().len(), n);
        assert_eq!(alice.members(&gid).unwrap().len(), n);
        assert_eq!(carol.mdk.get_members(&mdk_gid).unwrap().len(), n);
        Fixture {
            alice,
            bob,
            carol,
            gid,
            rng,
            pending: None,
            _dir: dir,
        }
    }

    fn mdk_gid(&self) -> MdkGroupId {
        MdkGroupId::from_slice(self.gid.as_bytes())
    }

    /// The third member's next chat message, as JSON.
    fn alice_message(&mut self) -> String {
        let t = now();
        let inner = nipee::inner::chat_message(
            self.alice.public_key(),
            TEXT,
            nipee_nostr::Timestamp::from_secs(t),
        );
        self.alice
            .send(&self.gid, &inner, t, &mut self.rng)
            .unwrap()
            .event
            .to_json()
    }

    /// The third member's self-update commit, confirmed on its side, as JSON.
    fn alice_commit(&mut self) -> String {
        self.deliver_pending();
        let p = self.alice.rotate(&self.gid, now(), &mut self.rng).unwrap();
        let confirmed = self
            .alice
            .published(&p.outgoing.event.id(), &relay_ok(), now(), &mut self.rng)
            .unwrap();
        assert!(matches!(
            confirmed.outcome(),
            Outcome::OwnCommitConfirmed(_)
        ));
        p.outgoing.event.to_json()
    }

    /// nipee's whole receive: parse (id and signature checked) and process.
    fn bob_receive(&mut self, json: &str) -> Outcome {
        let e = nipee_nostr::Event::from_json(json).unwrap();
        self.bob
            .process(&e, now(), &mut self.rng)
            .unwrap()
            .outcome()
    }

    fn bob_send(&mut self) -> nipee_nostr::Event {
        let t = now();
        let inner = nipee::inner::chat_message(
            self.bob.public_key(),
            TEXT,
            nipee_nostr::Timestamp::from_secs(t),
        );
        self.bob
            .send(&self.gid, &inner, t, &mut self.rng)
            .unwrap()
            .event
    }

    fn carol_send(&self) -> nostr::Event {
        let rumor = nostr::EventBuilder::new(nostr::Kind::Custom(9), TEXT)
            .build(self.carol.keys.public_key());
        self.carol
            .mdk
            .create_message(&self.mdk_gid(), rumor, None)
            .unwrap()
    }

    /// nipee's self-update, both phases: stage it, then the relay's OK merges it.
    fn bob_commit(&mut self) -> String {
        let p = self.bob.rotate(&self.gid, now(), &mut self.rng).unwrap();
        let confirmed = self
            .bob
            .published(&p.outgoing.event.id(), &relay_ok(), now(), &mut self.rng)
            .unwrap();
        debug_assert!(matches!(
            confirmed.outcome(),
            Outcome::OwnCommitConfirmed(_)
        ));
        p.outgoing.event.to_json()
    }

    /// MDK's self-update, created and merged.
    fn carol_commit(&self) -> String {
        let gid = self.mdk_gid();
        let r = self.carol.mdk.self_update(&gid).unwrap();
        self.carol.mdk.merge_pending_commit(&gid).unwrap();
        r.evolution_event.as_json()
    }

    /// Hands a measured member's commit to the other two.
    fn deliver_pending(&mut self) {
        if let Some((from, json)) = self.pending.take() {
            let e = nipee_nostr::Event::from_json(&json).unwrap();
            let a = self.alice.process(&e, now(), &mut self.rng).unwrap();
            assert!(
                matches!(a.outcome(), Outcome::Commit(_)),
                "{:?}",
                a.outcome()
            );
            match from {
                Side::Nipee => {
                    assert!(matches!(
                        self.carol.receive(&json),
                        MessageProcessingResult::Commit { .. }
                    ));
                }
                Side::Mdk => {
                    assert!(matches!(self.bob_receive(&json), Outcome::Commit(_)));
                }
            }
        }
    }

    /// Everything the benches time, once, checked: the same message and commit reach
    /// both sides, each side's own commit reaches the others, both end in the same epoch.
    fn check(&mut self) {
        let m = self.alice_message();
        match self.bob_receive(&m) {
            Outcome::Message { event, .. } => assert_eq!(event.content, TEXT),
            other => panic!("nipee: expected a message, got {other:?}"),
        }
        match self.carol.receive(&m) {
            MessageProcessingResult::ApplicationMessage(msg) => assert_eq!(msg.content, TEXT),
            other => panic!("MDK: expected a message, got {other:?}"),
        }
        let sent = self.bob_send().to_json();
        assert!(matches!(
            self.alice
                .process(
                    &nipee_nostr::Event::from_json(&sent).unwrap(),
                    now(),
                    &mut self.rng
                )
                .unwrap()
                .outcome(),
            Outcome::Message { .. }
        ));
        let sent = self.carol_send().as_json();
        assert!(matches!(
            self.alice
                .process(
                    &nipee_nostr::Event::from_json(&sent).unwrap(),
                    now(),
                    &mut self.rng
                )
                .unwrap()
                .outcome(),
            Outcome::Message { .. }
        ));
        let epoch = self.bob.epoch(&self.gid).unwrap();
        let c = self.alice_commit();
        assert!(matches!(self.bob_receive(&c), Outcome::Commit(_)));
        assert!(matches!(
            self.carol.receive(&c),
            MessageProcessingResult::Commit { .. }
        ));
        let c = self.bob_commit();
        let nipee_len = c.len();
        self.pending = Some((Side::Nipee, c));
        self.deliver_pending();
        let c = self.carol_commit();
        let mdk_len = c.len();
        self.pending = Some((Side::Mdk, c));
        self.deliver_pending();
        println!(
            "client_vs_mdk/{}: a self-update commit is {nipee_len} bytes of event JSON from \
             nipee, {mdk_len} from MDK",
            self.bob.members(&self.gid).unwrap().len()
        );
        let e = self.bob.epoch(&self.gid).unwrap();
        assert_eq!(e, epoch + 3);
        assert_eq!(self.alice.epoch(&self.gid).unwrap(), e);
        let mls = self
            .carol
            .mdk
            .load_mls_group(&self.mdk_gid())
            .unwrap()
            .unwrap();
        assert_eq!(mls.epoch().as_u64(), e);
    }
}

/// The join fixture: the KeyPackages of the members who never join; every iteration a
/// fresh creator (nipee, in memory) builds a new group of `n` for one fresh joiner on a
/// fresh database file.
struct Joins {
    others: Vec<nipee_nostr::Event>,
    rng: StdRng,
    dir: TempDir,
    count: usize,
    /// Bytes of a database with an identity and no group: (nipee, MDK).
    empty: (u64, u64),
}

impl Joins {
    fn new(n: usize) -> Self {
        let mut rng = StdRng::seed_from_u64(1000 + n as u64);
        let others = others(n - 2, &mut rng);
        let dir = TempDir::new(&format!("join-{n}"));
        let (a, b) = (dir.path("empty-nipee.db"), dir.path("empty-mdk.db"));
        drop(nipee_person(&a, false, &mut rng));
        drop(MdkPerson::new(&b, false, &mut rng));
        let empty = (db_bytes(&a), db_bytes(&b));
        Joins {
            others,
            rng,
            dir,
            count: 0,
            empty,
        }
    }

    fn last_path(&self, what: &str) -> PathBuf {
        self.dir.path(&format!("{what}-{}.db", self.count))
    }

    /// The next joiner's database; the previous iteration's files are removed.
    fn next_path(&mut self, what: &str) -> PathBuf {
        for s in ["", "-wal", "-shm", "-journal"] {
            let _ = std::fs::remove_file(format!("{}{s}", self.last_path(what).display()));
        }
        self.count += 1;
        self.last_path(what)
    }

    /// A new group of `n`: the joiner (by its KeyPackage) and the others; the wrap for the
    /// joiner.
    fn group_for(
        &mut self,
        kp: nipee_nostr::Event,
        to: &nipee_nostr::PublicKey,
    ) -> nipee_nostr::Event {
        let mut creator = Client::new(
            nipee_nostr::Keys::generate(&mut self.rng),
            MemoryStorage::new(),
            config(),
        )
        .unwrap();
        let mut kps = vec![kp];
        kps.extend(self.others.iter().cloned());
        let (_, created) = creator
            .create_group_welcoming_only(NewGroup::new("bench", kps), &[*to], now(), &mut self.rng)
            .unwrap();
        gift_wrap_to(&created, to)
    }

    fn nipee_input(&mut self) -> (Client<SqliteStorage>, String) {
        let path = self.next_path("nipee");
        let mut joiner = nipee_person(&path, in_memory(), &mut self.rng);
        let kp = joiner
            .create_key_package(false, now(), &mut self.rng)
            .unwrap()
            .event;
        let wrap = self.group_for(kp, &joiner.public_key());
        (joiner, wrap.to_json())
    }

    fn mdk_input(&mut self) -> (MdkPerson, nipee_nostr::Event) {
        let path = self.next_path("mdk");
        let joiner = MdkPerson::new(&path, in_memory(), &mut self.rng);
        let kp = joiner.key_package();
        let wrap = self.group_for(kp, &joiner.pubkey());
        (joiner, wrap)
    }
}

/// 100 groups of 16 members stored by each side, built once.
struct Stored {
    nipee_db: PathBuf,
    mdk_db: PathBuf,
    alice: Client<MemoryStorage>,
    gids: Vec<GroupId>,
    rng: StdRng,
    next: usize,
    /// Database bytes per group: (nipee, MDK).
    per_group: (u64, u64),
    /// Copies of both databases before any group was stored.
    empty_dbs: (PathBuf, PathBuf),
    _dir: TempDir,
}

impl Stored {
    fn build() -> Self {
        let mut rng = StdRng::seed_from_u64(7);
        let dir = TempDir::new("startup");
        let (nipee_db, mdk_db) = (dir.path("nipee.db"), dir.path("mdk.db"));
        let mut alice = Client::new(
            nipee_nostr::Keys::generate(&mut rng),
            MemoryStorage::new(),
            config(),
        )
        .unwrap();
        // Always nipee-sqlite: startup measures it.
        let bob = Client::new(
            nipee_nostr::Keys::generate(&mut rng),
            SqliteStorage::open(&nipee_db).unwrap(),
            config(),
        )
        .unwrap();
        let carol = MdkPerson::new(&mdk_db, false, &mut rng);
        let others = others(STORED_GROUP_SIZE - 3, &mut rng);
        // The empty databases (identity only, MDK's schema).
        let p = bob.public_key();
        drop(bob);
        let carol_keys = (carol.keys.clone(), carol.nipee_keys.clone());
        drop(carol);
        let empty = (db_bytes(&nipee_db), db_bytes(&mdk_db));
        let empty_dbs = (dir.path("empty-nipee.db"), dir.path("empty-mdk.db"));
        std::fs::copy(&nipee_db, &empty_dbs.0).unwrap();
        std::fs::copy(&mdk_db, &empty_dbs.1).unwrap();
        let mut bob = nipee_open(&nipee_db);
        assert_eq!(bob.public_key(), p);
        let carol = MdkPerson {
            keys: carol_keys.0,
            nipee_keys: carol_keys.1,
            mdk: mdk_open(&mdk_db, false),
        };
        let mut gids = Vec::new();
        for _ in 0..STORED_GROUPS {
            let mut kps = vec![
                bob.create_key_package(false, now(), &mut rng)
                    .unwrap()
                    .event,
                carol.key_package(),
            ];
            kps.extend(others.iter().cloned());
            let (gid, created) = alice
                .create_group_welcoming_only(
                    NewGroup::new("bench", kps),
                    &[bob.public_key(), carol.pubkey()],
                    now(),
                    &mut rng,
                )
                .unwrap();
            let wrap = gift_wrap_to(&created, &bob.public_key());
            assert_eq!(
                assert_joined(&bob.process(&wrap, now(), &mut rng).unwrap()),
                gid
            );
            let wrap = gift_wrap_to(&created, &carol.pubkey());
            carol.join_from_wrap(&wrap.to_json()).unwrap();
            gids.push(gid);
        }
        drop(bob);
        drop(carol);
        let per_group = (
            (db_bytes(&nipee_db) - empty.0) / STORED_GROUPS as u64,
            (db_bytes(&mdk_db) - empty.1) / STORED_GROUPS as u64,
        );
        Stored {
            nipee_db,
            mdk_db,
            alice,
            gids,
            rng,
            next: 0,
            per_group,
            empty_dbs,
            _dir: dir,
        }
    }

    /// The third member's next message, round robin over the groups.
    fn message(&mut self) -> String {
        let gid = self.gids[self.next % self.gids.len()].clone();
        self.next += 1;
        let t = now();
        let inner = nipee::inner::chat_message(
            self.alice.public_key(),
            TEXT,
            nipee_nostr::Timestamp::from_secs(t),
        );
        self.alice
            .send(&gid, &inner, t, &mut self.rng)
            .unwrap()
            .event
            .to_json()
    }
}

fn nipee_startup(path: &Path) -> Client<SqliteStorage> {
    let c = nipee_open(path);
    assert_eq!(c.groups().len(), STORED_GROUPS);
    c
}

fn mdk_startup(path: &Path) -> Mdk {
    let mdk = mdk_open(path, false);
    assert_eq!(mdk.get_groups().unwrap().len(), STORED_GROUPS);
    mdk
}

/// Resident memory (VmRSS, bytes) of this process.
fn rss() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// In a child process (a fresh heap): the resident memory a client adds when it opens a
/// database (nipee: every group loaded; MDK: after `get_groups`, then with every group's
/// MLS state loaded, as it loads one per operation). Prints `rss <bytes>...`.
fn rss_child(side: &str, path: &Path) {
    let before = rss();
    if side == "nipee" {
        let c = nipee_open(path);
        let after = rss();
        println!("rss {} {}", after - before, c.groups().len());
    } else {
        let mdk = mdk_open(path, false);
        let n = mdk.get_groups().unwrap().len();
        let after = rss();
        let groups: Vec<_> = mdk
            .get_groups()
            .unwrap()
            .iter()
            .map(|g| mdk.load_mls_group(&g.mls_group_id).unwrap().unwrap())
            .collect();
        let loaded = rss();
        println!(
            "rss {} {} {n} {}",
            after - before,
            loaded - before,
            groups.len()
        );
    }
}

fn rss_of(side: &str, path: &Path) -> Vec<u64> {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .env(
            "NIPEE_BENCH_RSS_CHILD",
            format!("{side}:{}", path.display()),
        )
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
        .map(|l| l.split(' ').filter_map(|x| x.parse().ok()).collect())
        .unwrap()
}

fn sizes() -> Vec<usize> {
    std::env::var("NIPEE_BENCH_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![16, 1024])
}

fn group_benches(c: &mut Criterion, n: usize) {
    let t = std::time::Instant::now();
    let mut f = Fixture::build(n);
    let built = t.elapsed();
    f.check();
    println!("client_vs_mdk/{n}: group built and checked in {built:.1?}");
    let f = RefCell::new(f);
    let mut g = c.benchmark_group(format!("client_vs_mdk/{n}"));
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));

    // Each message and commit of the third member reaches both sides; the other side's
    // copy is processed in the setup, outside the timed region.
    g.bench_function("nipee/receive_message", |b| {
        b.iter_batched(
            || {
                let mut f = f.borrow_mut();
                let m = f.alice_message();
                f.carol.receive(&m);
                m
            },
            |m| f.borrow_mut().bob_receive(&m),
            BatchSize::PerIteration,
        );
    });
    g.bench_function("mdk/receive_message", |b| {
        b.iter_batched(
            || {
                let mut f = f.borrow_mut();
                let m = f.alice_message();
                f.bob_receive(&m);
                m
            },
            |m| f.borrow().carol.receive(&m),
            BatchSize::PerIteration,
        );
    });
    g.bench_function("nipee/send_message", |b| {
        b.iter(|| f.borrow_mut().bob_send());
    });
    g.bench_function("mdk/send_message", |b| b.iter(|| f.borrow().carol_send()));
    g.bench_function("nipee/receive_commit", |b| {
        b.iter_batched(
            || {
                let mut f = f.borrow_mut();
                let c = f.alice_commit();
                f.carol.receive(&c);
                c
            },
            |c| f.borrow_mut().bob_receive(&c),
            BatchSize::PerIteration,
        );
    });
    g.bench_function("mdk/receive_commit", |b| {
        b.iter_batched(
            || {
                let mut f = f.borrow_mut();
                let c = f.alice_commit();
                f.bob_receive(&c);
                c
            },
            |c| f.borrow().carol.receive(&c),
            BatchSize::PerIteration,
        );
    });
    // A measured member's own commit goes to the other two before the next iteration.
    g.bench_function("nipee/create_commit", |b| {
        b.iter_batched(
            || f.borrow_mut().deliver_pending(),
            |()| {
                let mut f = f.borrow_mut();
                let c = f.bob_commit();
                f.pending = Some((Side::Nipee, c));
            },
            BatchSize::PerIteration,
        );
    });
    g.bench_function("mdk/create_commit", |b| {
        b.iter_batched(
            || f.borrow_mut().deliver_pending(),
            |()| {
                let mut f = f.borrow_mut();
                let c = f.carol_commit();
                f.pending = Some((Side::Mdk, c));
            },
            BatchSize::PerIteration,
        );
    });
    f.borrow_mut().deliver_pending();
    g.finish();
}

/// Joins at `n` members: one fresh joiner per iteration, checked once first, with the
/// database size of the joined group.
fn join_benches(c: &mut Criterion, n: usize) {
    let mut j = Joins::new(n);

    let (mut joiner, wrap) = j.nipee_input();
    let path = j.last_path("nipee");
    let gid = assert_joined(
        &joiner
            .process(
                &nipee_nostr::Event::from_json(&wrap).unwrap(),
                now(),
                &mut j.rng,
            )
            .unwrap(),
    );
    assert_eq!(joiner.members(&gid).unwrap().len(), n);
    drop(joiner);
    // (In memory there is no file: the sizes are of the files of a join on disk.)
    let nipee_db = db_bytes(&path).saturating_sub(j.empty.0);

    let (joiner, wrap) = j.mdk_input();
    let path = j.last_path("mdk");
    let wrap_json = wrap.to_json();
    let unwrapped = block_on(nostr::nips::nip59::UnwrappedGift::from_gift_wrap(
        &joiner.keys,
        &nostr::Event::from_json(&wrap_json).unwrap(),
    ));
    let from_wrap = unwrapped.is_ok();
    let joined = if from_wrap {
        joiner.join_from_wrap(&wrap_json)
    } else {
        joiner.join_from_rumor(&mdk_event_id(&wrap), &joiner.rumor_of(&wrap))
    };
    let mdk_joins = match &joined {
        Ok(mdk_gid) => {
            assert_eq!(joiner.mdk.get_members(mdk_gid).unwrap().len(), n);
            Ok(())
        }
        Err(e) => Err(e.clone()),
    };
    drop(joiner);
    let mdk_db = db_bytes(&path).saturating_sub(j.empty.1);
    println!(
        "client_vs_mdk/{n}: the Welcome gift wrap is {} bytes; {}; {}; database growth by the \
         joined group: nipee {}, MDK {}",
        wrap_json.len(),
        match &unwrapped {
            Ok(_) => "rust-nostr's NIP-59 opens it".to_owned(),
            Err(e) => format!(
                "rust-nostr's NIP-59 cannot open it ({e}): MDK's join is measured from the rumor"
            ),
        },
        match &mdk_joins {
            Ok(()) => "MDK joins".to_owned(),
            Err(e) => format!("MDK cannot join ({e}): no MDK join measured"),
        },
        if in_memory() {
            "- (in memory)".to_owned()
        } else {
            format!("{nipee_db} B")
        },
        if in_memory() {
            "- (in memory)".to_owned()
        } else if mdk_joins.is_ok() {
            format!("{mdk_db} B")
        } else {
            "-".to_owned()
        }
    );

    let mut g = c.benchmark_group(format!("client_vs_mdk/{n}"));
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(100))
        .measurement_time(Duration::from_millis(500));
    g.bench_function("nipee/join", |b| {
        b.iter_batched(
            || j.nipee_input(),
            |(mut joiner, wrap)| {
                let e = nipee_nostr::Event::from_json(&wrap).unwrap();
                let fx = joiner.process(&e, now(), &mut rand::rng()).unwrap();
                (joiner, fx)
            },
            BatchSize::PerIteration,
        );
    });
    if mdk_joins.is_ok() && from_wrap {
        g.bench_function("mdk/join", |b| {
            b.iter_batched(
                || {
                    let (joiner, wrap) = j.mdk_input();
                    (joiner, wrap.to_json())
                },
                |(joiner, wrap)| {
                    let gid = joiner.join_from_wrap(&wrap).unwrap();
                    (joiner, gid)
                },
                BatchSize::PerIteration,
            );
        });
    } else if mdk_joins.is_ok() {
        g.bench_function("mdk/join_from_rumor", |b| {
            b.iter_batched(
                || {
                    let (joiner, wrap) = j.mdk_input();
                    let rumor = joiner.rumor_of(&wrap);
                    (joiner, mdk_event_id(&wrap), rumor)
                },
                |(joiner, id, rumor)| {
                    let gid = joiner.join_from_rumor(&id, &rumor).unwrap();
                    (joiner, gid)
                },
                BatchSize::PerIteration,
            );
        });
    }
    g.finish();
}

fn mdk_event_id(e: &nipee_nostr::Event) -> nostr::EventId {
    nostr::EventId::from_slice(e.id().as_bytes()).unwrap()
}

/// Startup with 100 stored groups of 16, database size per group, resident memory.
fn startup_benches(c: &mut Criterion) {
    let t = std::time::Instant::now();
    let s = Stored::build();
    println!(
        "client_vs_mdk/startup: {STORED_GROUPS} groups of {STORED_GROUP_SIZE} stored by each \
         side in {:.1?}; database bytes per group: nipee {}, MDK {}",
        t.elapsed(),
        s.per_group.0,
        s.per_group.1
    );
    // Resident memory, each in a fresh process: with no group and with 100 groups.
    let (n0, n) = (
        rss_of("nipee", &s.empty_dbs.0),
        rss_of("nipee", &s.nipee_db),
    );
    let (m0, m) = (rss_of("mdk", &s.empty_dbs.1), rss_of("mdk", &s.mdk_db));
    assert_eq!((n0[1], n[1], m0[2], m[2], m[3]), (0, 100, 0, 100, 100));
    let per = |a: u64, b: u64| (a.saturating_sub(b)) / STORED_GROUPS as u64;
    println!(
        "client_vs_mdk/startup: resident memory added by opening the client (fresh process), \
         with no group / with {STORED_GROUPS}: nipee {} / {} KiB ({} B per group, every group \
         loaded); MDK after get_groups {} / {} KiB ({} B per group), with every group's MLS \
         state loaded {} / {} KiB ({} B per group)",
        n0[0] / 1024,
        n[0] / 1024,
        per(n[0], n0[0]),
        m0[0] / 1024,
        m[0] / 1024,
        per(m[0], m0[0]),
        m0[1] / 1024,
        m[1] / 1024,
        per(m[1], m0[1]),
    );
    // Checked once: both open, list 100 groups and read a message.
    let s = RefCell::new(s);
    {
        let mut s = s.borrow_mut();
        let msg = s.message();
        let mut c = nipee_startup(&s.nipee_db);
        match c
            .process(
                &nipee_nostr::Event::from_json(&msg).unwrap(),
                now(),
                &mut rand::rng(),
            )
            .unwrap()
            .outcome()
        {
            Outcome::Message { event, .. } => assert_eq!(event.content, TEXT),
            other => panic!("nipee: expected a message, got {other:?}"),
        }
        drop(c);
        let m = mdk_startup(&s.mdk_db);
        let e = nostr::Event::from_json(&msg).unwrap();
        match m.process_message(&e).unwrap() {
            MessageProcessingResult::ApplicationMessage(msg) => assert_eq!(msg.content, TEXT),
            other => panic!("MDK: expected a message, got {other:?}"),
        }
    }

    let mut g = c.benchmark_group("client_vs_mdk/100_groups_of_16");
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    let (nipee_db, mdk_db) = {
        let s = s.borrow();
        (s.nipee_db.clone(), s.mdk_db.clone())
    };
    g.bench_function("nipee/startup", |b| {
        b.iter_batched(
            || (),
            |()| nipee_startup(&nipee_db),
            BatchSize::PerIteration,
        );
    });
    g.bench_function("mdk/startup", |b| {
        b.iter_batched(|| (), |()| mdk_startup(&mdk_db), BatchSize::PerIteration);
    });
    g.bench_function("nipee/startup_then_receive", |b| {
        b.iter_batched(
            || s.borrow_mut().message(),
            |m| {
                let mut c = nipee_startup(&nipee_db);
                let e = nipee_nostr::Event::from_json(&m).unwrap();
                let fx = c.process(&e, now(), &mut rand::rng()).unwrap();
                (c, fx)
            },
            BatchSize::PerIteration,
        );
    });
    g.bench_function("mdk/startup_then_receive", |b| {
        b.iter_batched(
            || s.borrow_mut().message(),
            |m| {
                let mdk = mdk_startup(&mdk_db);
                let e = nostr::Event::from_json(&m).unwrap();
                e.verify().unwrap();
                let r = mdk.process_message(&e).unwrap();
                (mdk, r)
            },
            BatchSize::PerIteration,
        );
    });
    g.finish();
}

/// One marker line on stderr in a single `write` (found again in a syscall trace).
fn mark(what: &str) {
    use std::io::Write;
    let line = format!("probe {what}\n");
    std::io::stderr().write_all(line.as_bytes()).unwrap();
}

/// `NIPEE_BENCH_PROBE=<members>`: each timed operation 10 times per side, each between a
/// `probe begin <side>/<operation>` and a `probe end` marker on stderr, everything else
/// outside them. Run under `strace -f -e trace=fsync,fdatasync,write` to count the disk
/// syncs each operation costs.
fn probe(n: usize) {
    const K: usize = 10;
    let mut f = Fixture::build(n);
    f.check();
    let ms: Vec<String> = (0..K).map(|_| f.alice_message()).collect();
    mark("begin nipee/receive_message");
    for m in &ms {
        f.bob_receive(m);
    }
    mark("end");
    mark("begin mdk/receive_message");
    for m in &ms {
        f.carol.receive(m);
    }
    mark("end");
    mark("begin nipee/send_message");
    for _ in 0..K {
        f.bob_send();
    }
    mark("end");
    mark("begin mdk/send_message");
    for _ in 0..K {
        f.carol_send();
    }
    mark("end");
    for _ in 0..K {
        let c = f.alice_commit();
        mark("begin nipee/receive_commit");
        f.bob_receive(&c);
        mark("end");
        mark("begin mdk/receive_commit");
        f.carol.receive(&c);
        mark("end");
    }
    for _ in 0..K {
        f.deliver_pending();
        mark("begin nipee/create_commit");
        let c = f.bob_commit();
        mark("end");
        f.pending = Some((Side::Nipee, c));
    }
    for _ in 0..K {
        f.deliver_pending();
        mark("begin mdk/create_commit");
        let c = f.carol_commit();
        mark("end");
        f.pending = Some((Side::Mdk, c));
    }
    f.deliver_pending();
    let mut j = Joins::new(n);
    for _ in 0..K {
        let (mut joiner, wrap) = j.nipee_input();
        mark("begin nipee/join");
        let e = nipee_nostr::Event::from_json(&wrap).unwrap();
        assert_joined(&joiner.process(&e, now(), &mut rand::rng()).unwrap());
        mark("end");
    }
    for _ in 0..K {
        let (joiner, wrap) = j.mdk_input();
        let json = wrap.to_json();
        let from_wrap = wrap.to_json().len() < 60_000;
        let rumor = joiner.rumor_of(&wrap);
        mark("begin mdk/join");
        let joined = if from_wrap {
            joiner.join_from_wrap(&json)
        } else {
            joiner.join_from_rumor(&mdk_event_id(&wrap), &rumor)
        };
        mark("end");
        if let Err(e) = joined {
            mark(&format!("MDK cannot join: {e}"));
            break;
        }
    }
}

fn benches(c: &mut Criterion) {
    for n in sizes() {
        group_benches(c, n);
        join_benches(c, n);
    }
    startup_benches(c);
}

fn main() {
    if let Ok(arg) = std::env::var("NIPEE_BENCH_RSS_CHILD") {
        let (side, path) = arg.split_once(':').unwrap();
        rss_child(side, Path::new(path));
        return;
    }
    if let Ok(n) = std::env::var("NIPEE_BENCH_PROBE") {
        probe(n.parse().unwrap());
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    benches(&mut c);
    c.final_summary();
}
