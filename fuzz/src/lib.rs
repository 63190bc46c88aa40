//! Fixtures shared by the fuzz targets: one small group built once per process with real
//! cryptography (through the in-process relay of `nipee-test-support`), and the genuine
//! messages the structured modes of the targets mutate.

use std::sync::OnceLock;

use nipee::storage::{MemoryStorage, Storage, Table};
use nipee::{Client, GroupEventKey, GroupId};
use nipee_keypackage::{KeyPackage, KeyPackageBundle, SignatureSecretKey};
use nipee_mls::HpkePrivateKey;
use nipee_mls::group::JoinKeys;
use nipee_nostr::{Event, EventId, Keys, Tag};
use nipee_test_support::mem::{Net, stored_rows};
use zeroize::Zeroizing;

/// The clock of every target.
pub const T: u64 = 1_800_000_000;

/// Carol's KeyPackage and private keys, kept decoded so that a run does not spend its time
/// deriving their public halves again.
pub struct CarolKeys {
    key_package: KeyPackage,
    init_secret: Zeroizing<[u8; 32]>,
    encryption_secret: Zeroizing<[u8; 32]>,
    signature_secret: SignatureSecretKey,
}

pub use nipee_test_support::mem::Rows;

/// What the targets start from.
pub struct Fixture {
    /// The group.
    pub gid: GroupId,
    /// Bob's stored state: a member at the group's current epoch, with an unused
    /// KeyPackage.
    pub bob_rows: Rows,
    /// Alice's and bob's keys.
    pub alice: Keys,
    /// Bob's keys.
    pub bob: Keys,
    /// The current epoch's group-event key (derived once, not per run).
    pub event_key: GroupEventKey,
    /// The tags of a group event (the `h` tag).
    pub group_tags: Vec<Tag>,
    /// MLS bytes of an application message of the current epoch bob has not processed.
    pub app_message: Vec<u8>,
    /// MLS bytes of a commit for the current epoch bob has not processed.
    pub commit: Vec<u8>,
    /// Bob's unused KeyPackage event.
    pub spare_key_package: EventId,
    /// Carol's KeyPackage and its private keys, decoded once from their storage bytes
    /// (see [`carol_join_keys`]), and a Welcome made for them.
    pub carol: CarolKeys,
    /// The Welcome (MLS bytes) for carol.
    pub welcome: Vec<u8>,
}

fn mls_of(ev: &Event, exporter: &[u8; 32]) -> Vec<u8> {
    let key = GroupEventKey::from_exporter_secret(exporter).unwrap_or_else(|e| panic!("{e}"));
    key.decrypt(ev.content()).unwrap_or_else(|e| panic!("{e}"))
}

fn build() -> Fixture {
    let mut net = Net::new(1);
    let a = net.add("alice");
    let b = net.add("bob");
    let c = net.add("carol");
    let gid = net.group(a, &[b]);
    // Carol's Welcome, kept for the join target (carol never processes it).
    let kp = net.key_package(c, false);
    let now = net.now;
    let p = net.members[a]
        .client
        .invite(&gid, &[kp.clone()], now, &mut net.rng)
        .unwrap_or_else(|e| panic!("{e}"));
    let e = net.publish(a, &p.outgoing, true);
    let wrap = e
        .publish
        .first()
        .map(|o| o.event.clone())
        .unwrap_or_else(|| panic!("no Welcome"));
    let carol_keys = net.members[c].client.keys().clone();
    let opened = nipee::open_welcome(&carol_keys, &wrap).unwrap_or_else(|e| panic!("{e}"));
    let carol_bundle = net.members[c]
        .client
        .storage()
        .get(Table::KeyPackage, kp.id().as_bytes())
        .unwrap_or_else(|e| panic!("{e}"))
        .map(|v| v[1..].to_vec())
        .unwrap_or_else(|| panic!("carol's KeyPackage"));
    let (key_package, init, enc, signature_secret) =
        KeyPackageBundle::from_storage_bytes(&carol_bundle)
            .unwrap_or_else(|e| panic!("{e}"))
            .into_parts();
    let carol = CarolKeys {
        key_package,
        init_secret: Zeroizing::new(*init.expose_secret()),
        encryption_secret: Zeroizing::new(*enc.expose_secret()),
        signature_secret,
    };
    net.members[c].cursor = usize::MAX / 2;
    net.sync(b);
    let spare = net.key_package(b, false);
    let exporter = *net.members[b]
        .client
        .exporter_secret(&gid)
        .unwrap_or_else(|e| panic!("{e}"));
    let bob_rows = stored_rows(net.members[b].client.storage());
    // A message and a commit of this epoch that bob has not seen.
    let now = net.now;
    let inner =
        nipee::inner::chat_message(net.pk(a), "hello", nipee_nostr::Timestamp::from_secs(now));
    let out = net.members[a]
        .client
        .send(&gid, &inner, now, &mut net.rng)
        .unwrap_or_else(|e| panic!("{e}"));
    let app_message = mls_of(&out.event, &exporter);
    let p = net.members[a]
        .client
        .rotate(&gid, now, &mut net.rng)
        .unwrap_or_else(|e| panic!("{e}"));
    let commit = mls_of(&p.outgoing.event, &exporter);
    Fixture {
        gid,
        bob_rows,
        alice: net.members[a].client.keys().clone(),
        bob: net.members[b].client.keys().clone(),
        event_key: GroupEventKey::from_exporter_secret(&exporter).unwrap_or_else(|e| panic!("{e}")),
        group_tags: out.event.tags().iter().cloned().collect(),
        app_message,
        commit,
        spare_key_package: spare.id(),
        carol,
        welcome: opened.rumor.mls_message,
    }
}

/// The fixture, built on first use.
pub fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(build)
}

/// Carol's keys for a join, as the client hands them to the MLS engine.
pub fn carol_join_keys() -> JoinKeys {
    let c = &fixture().carol;
    JoinKeys {
        key_package: c.key_package.clone(),
        init_secret: HpkePrivateKey::from_slice(&c.init_secret[..]),
        encryption_secret: HpkePrivateKey::from_slice(&c.encryption_secret[..]),
        signature_secret: c.signature_secret.clone(),
    }
}

/// Bob's client, loaded from the fixture's rows (every run starts from the same state).
pub fn bob() -> Client<MemoryStorage> {
    let f = fixture();
    Client::open(
        MemoryStorage::from_rows(f.bob_rows.clone(), false),
        Net::config(),
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

/// `base` with byte flips: each pair of `patches` is (position, xor), the position taken
/// modulo the length; a trailing odd byte truncates `base` to that many 256ths.
pub fn patched(base: &[u8], patches: &[u8]) -> Vec<u8> {
    let mut out = base.to_vec();
    if out.is_empty() {
        return out;
    }
    let mut chunks = patches.chunks_exact(2);
    for p in &mut chunks {
        let n = out.len();
        out[usize::from(p[0]) * n / 256] ^= p[1];
    }
    if let [cut] = chunks.remainder() {
        let keep = out.len() * usize::from(*cut) / 256;
        out.truncate(keep.max(1));
    }
    out
}
