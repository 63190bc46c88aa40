//! Persistent client state as opaque, versioned blobs.
//!
//! The client owns the meaning of every value; a [`Storage`] only keeps bytes under a
//! ([`Table`], key) pair and applies each [`WriteBatch`] atomically: either every write of
//! one client operation lands or none does. A crash between two operations therefore
//! leaves the state of one or the other, never a mixture (for instance a group state of
//! epoch n+1 without the processed-event mark of the commit that led there).
//!
//! Every value starts with a one-byte format version ([`Blob`]), so a newer build can
//! recognise and migrate what an older one wrote, and an older build refuses what it
//! cannot read instead of misreading it.

mod memory;

pub use memory::MemoryStorage;

use nipee_mls::TreeSlot;
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// The logical tables of the client state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Table {
    /// Client-wide values (identity, settings). Key: a name.
    Meta,
    /// The state of each group (the MLS group and what the client keeps beside it), or the
    /// tombstone of a group we left. Key: [`group_key`] of the MLS group id.
    Group,
    /// The group as it was before each recent commit, to resolve a commit race by resuming
    /// an earlier epoch. Key: [`fork_key`] (group ‖ epoch, so a prefix scan lists a group's
    /// epochs in order).
    Fork,
    /// KeyPackage private keys. Key: the KeyPackage event id (32 bytes).
    KeyPackage,
    /// Ids of processed events, for deduplication. Key: the event id (32 bytes).
    Processed,
    /// Events to publish that no relay has taken yet (republished after a restart). Key:
    /// the event id.
    Outbox,
    /// Group events waiting for a later epoch, or held while our own commit's fate is
    /// unknown. Key: [`buffer_key`] (group ‖ event id).
    Buffer,
    /// The secret trees of each active group's current and retained epochs, stored apart
    /// from its [`Table::Group`] row piece by piece (a node secret, or one leaf's
    /// ratchets), so that an application message rewrites only the pieces it changed.
    /// Key: [`ratchet_key`] (group ‖ epoch ‖ piece).
    Ratchet,
    /// Welcomes waiting for their ratchet tree, sent out of band
    /// ([`crate::tree_transfer`]): the gift wrap until the tree's chunks arrive. Key: the
    /// gift wrap's event id.
    Welcome,
    /// Welcomes of a confirmed commit still to be handed out (they are produced a batch
    /// at a time): a head (how far it got; key `0` ‖ [`fork_key`] of the group and the
    /// epoch the commit created) and a body written once (the Welcome, the invitees; key
    /// `1` ‖ the same).
    Invite,
    /// Outcomes the application must see (decrypted messages among them, in plaintext),
    /// kept from the batch that produced them until the host acknowledges them. Key: the
    /// entry's number, 8 bytes big-endian (so a scan lists them in order).
    Inbox,
}

impl Table {
    /// Every table.
    pub const ALL: [Table; 11] = [
        Table::Meta,
        Table::Group,
        Table::Fork,
        Table::KeyPackage,
        Table::Processed,
        Table::Outbox,
        Table::Buffer,
        Table::Ratchet,
        Table::Welcome,
        Table::Invite,
        Table::Inbox,
    ];

    /// A stable number (the on-disk table id).
    pub fn id(self) -> u8 {
        match self {
            Table::Meta => 0,
            Table::Group => 1,
            Table::Fork => 2,
            Table::KeyPackage => 4,
            Table::Processed => 5,
            Table::Outbox => 6,
            Table::Buffer => 7,
            Table::Ratchet => 8,
            Table::Welcome => 9,
            Table::Invite => 10,
            Table::Inbox => 11,
        }
    }

    /// The table with a stable number.
    pub fn from_id(id: u8) -> Option<Table> {
        Table::ALL.into_iter().find(|t| t.id() == id)
    }

    /// A stable name (for hosts that keep one object store per table).
    pub fn name(self) -> &'static str {
        match self {
            Table::Meta => "meta",
            Table::Group => "group",
            Table::Fork => "fork",
            Table::KeyPackage => "key_package",
            Table::Processed => "processed",
            Table::Outbox => "outbox",
            Table::Buffer => "buffer",
            Table::Ratchet => "ratchet",
            Table::Welcome => "welcome",
            Table::Invite => "invite",
            Table::Inbox => "inbox",
        }
    }
}

/// One write of a batch.
#[derive(Clone)]
#[non_exhaustive]
pub enum Write {
    /// Insert or replace a value.
    Put {
        /// Table.
        table: Table,
        /// Key.
        key: Vec<u8>,
        /// Value (may hold secrets: zeroized when dropped).
        value: Zeroizing<Vec<u8>>,
    },
    /// Delete a value (no error when absent).
    Delete {
        /// Table.
        table: Table,
        /// Key.
        key: Vec<u8>,
    },
    /// Delete every key that starts with `prefix`.
    DeletePrefix {
        /// Table.
        table: Table,
        /// Prefix.
        prefix: Vec<u8>,
    },
}

impl core::fmt::Debug for Write {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Write::Put { table, key, value } => f
                .debug_struct("Put")
                .field("table", table)
                .field("key", &hex::encode(key))
                .field("value_len", &value.len())
                .finish(),
            Write::Delete { table, key } => f
                .debug_struct("Delete")
                .field("table", table)
                .field("key", &hex::encode(key))
                .finish(),
            Write::DeletePrefix { table, prefix } => f
                .debug_struct("DeletePrefix")
                .field("table", table)
                .field("prefix", &hex::encode(prefix))
                .finish(),
        }
    }
}

/// The writes of one client operation, applied atomically by [`Storage::apply`].
#[derive(Debug, Clone, Default)]
#[must_use = "a WriteBatch does nothing until it is applied"]
pub struct WriteBatch {
    writes: Vec<Write>,
}

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> Self {
        WriteBatch::default()
    }

    /// Adds a put.
    pub fn put(&mut self, table: Table, key: impl Into<Vec<u8>>, value: Zeroizing<Vec<u8>>) {
        self.writes.push(Write::Put {
            table,
            key: key.into(),
            value,
        });
    }

    /// Adds a delete.
    pub fn delete(&mut self, table: Table, key: impl Into<Vec<u8>>) {
        self.writes.push(Write::Delete {
            table,
            key: key.into(),
        });
    }

    /// Adds a prefix delete.
    pub fn delete_prefix(&mut self, table: Table, prefix: impl Into<Vec<u8>>) {
        self.writes.push(Write::DeletePrefix {
            table,
            prefix: prefix.into(),
        });
    }

    /// The writes in order.
    pub fn writes(&self) -> &[Write] {
        &self.writes
    }

    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }

    /// Appends another batch's writes.
    pub fn extend(&mut self, other: WriteBatch) {
        self.writes.extend(other.writes);
    }
}

/// A (key, value) pair returned by [`Storage::scan`].
pub type Entry = (Vec<u8>, Zeroizing<Vec<u8>>);

/// A key-value store of opaque blobs with atomic batches.
///
/// Implementations must apply a batch's writes in order and all-or-nothing, durably by
/// the time `apply` returns `Ok` (as far as the medium allows).
pub trait Storage {
    /// Reads one value.
    ///
    /// # Errors
    /// [`Error::Storage`] when the backend fails.
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Zeroizing<Vec<u8>>>>;

    /// Lists the (key, value) pairs whose key starts with `prefix`, in key order.
    ///
    /// # Errors
    /// [`Error::Storage`] when the backend fails.
    fn scan(&self, table: Table, prefix: &[u8]) -> Result<Vec<Entry>>;

    /// Applies every write of `batch` atomically.
    ///
    /// # Errors
    /// [`Error::Storage`] when the backend fails; then nothing was written.
    fn apply(&mut self, batch: WriteBatch) -> Result<()>;
}

/// A versioned blob: one version byte, then the payload.
pub struct Blob;

impl Blob {
    /// Prefixes `payload` with `version`.
    pub fn encode(version: u8, payload: &[u8]) -> Zeroizing<Vec<u8>> {
        let mut v = Zeroizing::new(Vec::with_capacity(payload.len() + 1));
        v.push(version);
        v.extend_from_slice(payload);
        v
    }

    /// Splits a blob, requiring `expected` as its version.
    ///
    /// # Errors
    /// [`Error::Storage`] for an empty blob or another version.
    pub fn decode(expected: u8, blob: &[u8]) -> Result<&[u8]> {
        match blob.split_first() {
            Some((v, payload)) if *v == expected => Ok(payload),
            Some((v, _)) => Err(Error::Storage {
                reason: format!("stored blob has format version {v}, this build reads {expected}"),
            }),
            None => Err(Error::Storage {
                reason: "stored blob is empty".to_owned(),
            }),
        }
    }
}

/// The key of a group's rows: its MLS group id, prefixed by its length (so one group's
/// prefix is never the prefix of another's).
pub fn group_key(group_id: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(group_id.len() + 1);
    k.push(u8::try_from(group_id.len()).unwrap_or(u8::MAX));
    k.extend_from_slice(group_id);
    k
}

/// The key of a fork row: [`group_key`] ‖ epoch (big-endian, so keys sort by epoch).
pub fn fork_key(group_id: &[u8], epoch: u64) -> Vec<u8> {
    let mut k = group_key(group_id);
    k.extend_from_slice(&epoch.to_be_bytes());
    k
}

/// The epoch of a [`fork_key`].
pub fn fork_key_epoch(key: &[u8]) -> Option<u64> {
    let tail: [u8; 8] = key.get(key.len().checked_sub(8)?..)?.try_into().ok()?;
    Some(u64::from_be_bytes(tail))
}

/// The key of a buffered event: [`group_key`] ‖ event id.
pub fn buffer_key(group_id: &[u8], event_id: &[u8; 32]) -> Vec<u8> {
    let mut k = group_key(group_id);
    k.extend_from_slice(event_id);
    k
}

/// The key of a secret-tree piece: [`group_key`] ‖ epoch (big-endian) ‖ 0 and a node
/// index, or 1 and a leaf index (big-endian `u32`).
pub fn ratchet_key(group_id: &[u8], epoch: u64, slot: TreeSlot) -> Vec<u8> {
    let mut k = group_key(group_id);
    k.extend_from_slice(&epoch.to_be_bytes());
    let (tag, index) = match slot {
        TreeSlot::Node(i) => (0u8, i),
        TreeSlot::Leaf(i) => (1u8, i),
    };
    k.push(tag);
    k.extend_from_slice(&index.to_be_bytes());
    k
}

/// The epoch and piece of a [`ratchet_key`].
pub fn ratchet_key_parts(key: &[u8]) -> Option<(u64, TreeSlot)> {
    let tail = key.get(key.len().checked_sub(13)?..)?;
    let epoch = u64::from_be_bytes(tail.get(..8)?.try_into().ok()?);
    let index = u32::from_be_bytes(tail.get(9..)?.try_into().ok()?);
    match tail.get(8)? {
        0 => Some((epoch, TreeSlot::Node(index))),
        1 => Some((epoch, TreeSlot::Leaf(index))),
        _ => None,
    }
}

/// Whether an event id was processed.
///
/// # Errors
/// [`Error::Storage`].
pub fn is_processed<S: Storage + ?Sized>(storage: &S, event_id: &[u8; 32]) -> Result<bool> {
    Ok(storage.get(Table::Processed, event_id)?.is_some())
}

/// Adds the mark of a processed event (value: the unix time it was seen, for pruning).
pub fn mark_processed(batch: &mut WriteBatch, event_id: &[u8; 32], seen_at: u64) {
    batch.put(
        Table::Processed,
        event_id.to_vec(),
        Blob::encode(1, &seen_at.to_be_bytes()),
    );
}

/// The behaviour every [`Storage`] must have, as a test any implementation can run
/// (feature `test-utils`; `nipee-sqlite` runs it on SQLite).
#[cfg(any(test, feature = "test-utils"))]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]
pub mod conformance {
    use super::*;

    fn v(b: &[u8]) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(b.to_vec())
    }

    pub fn run<S: Storage>(s: &mut S) {
        assert_eq!(s.get(Table::Meta, b"x").unwrap(), None);
        let mut b = WriteBatch::new();
        b.put(Table::Meta, b"x".to_vec(), v(b"1"));
        b.put(Table::Group, group_key(b"g"), v(b"state"));
        for e in 0..8u64 {
            b.put(Table::Fork, fork_key(b"g", e), v(&e.to_be_bytes()));
        }
        b.put(Table::Fork, fork_key(b"h", 1), v(b"other"));
        s.apply(b).unwrap();
        assert_eq!(s.get(Table::Meta, b"x").unwrap().unwrap().as_slice(), b"1");
        // Tables are separate namespaces.
        assert_eq!(s.get(Table::Group, b"x").unwrap(), None);
        let epochs = s.scan(Table::Fork, &group_key(b"g")).unwrap();
        assert_eq!(epochs.len(), 8);
        assert!(epochs.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(fork_key_epoch(&epochs[3].0), Some(3));

        let mut b = WriteBatch::new();
        for e in 0..3u64 {
            b.delete(Table::Fork, fork_key(b"g", e));
        }
        b.put(Table::Meta, b"x".to_vec(), v(b"2"));
        s.apply(b).unwrap();
        let left: Vec<u64> = s
            .scan(Table::Fork, &group_key(b"g"))
            .unwrap()
            .into_iter()
            .map(|(_, v)| u64::from_be_bytes(v.as_slice().try_into().unwrap()))
            .collect();
        assert_eq!(left, vec![3, 4, 5, 6, 7]);
        assert_eq!(s.scan(Table::Fork, &group_key(b"h")).unwrap().len(), 1);
        assert_eq!(s.get(Table::Meta, b"x").unwrap().unwrap().as_slice(), b"2");

        let mut b = WriteBatch::new();
        b.delete_prefix(Table::Fork, group_key(b"g"));
        b.delete(Table::Group, group_key(b"g"));
        b.delete(Table::Group, b"absent".to_vec());
        s.apply(b).unwrap();
        assert!(s.scan(Table::Fork, &group_key(b"g")).unwrap().is_empty());
        assert_eq!(s.get(Table::Group, &group_key(b"g")).unwrap(), None);

        let id = [7u8; 32];
        assert!(!is_processed(s, &id).unwrap());
        let mut b = WriteBatch::new();
        mark_processed(&mut b, &id, 5);
        s.apply(b).unwrap();
        assert!(is_processed(s, &id).unwrap());

        // Later writes of a batch win over earlier ones.
        let mut b = WriteBatch::new();
        b.put(Table::Meta, b"y".to_vec(), v(b"a"));
        b.delete(Table::Meta, b"y".to_vec());
        b.put(Table::Meta, b"z".to_vec(), v(b"a"));
        b.put(Table::Meta, b"z".to_vec(), v(b"b"));
        s.apply(b).unwrap();
        assert_eq!(s.get(Table::Meta, b"y").unwrap(), None);
        assert_eq!(s.get(Table::Meta, b"z").unwrap().unwrap().as_slice(), b"b");

        // Secret-tree pieces of one group list under its prefix, by epoch then piece.
        let mut b = WriteBatch::new();
        for (e, slot) in [
            (2, TreeSlot::Leaf(1)),
            (1, TreeSlot::Node(7)),
            (2, TreeSlot::Node(3)),
        ] {
            b.put(Table::Ratchet, ratchet_key(b"g", e, slot), v(b"piece"));
        }
        b.put(
            Table::Ratchet,
            ratchet_key(b"gg", 1, TreeSlot::Leaf(0)),
            v(b"other"),
        );
        s.apply(b).unwrap();
        let listed: Vec<_> = s
            .scan(Table::Ratchet, &group_key(b"g"))
            .unwrap()
            .into_iter()
            .map(|(k, _)| ratchet_key_parts(&k).unwrap())
            .collect();
        assert_eq!(
            listed,
            vec![
                (1, TreeSlot::Node(7)),
                (2, TreeSlot::Node(3)),
                (2, TreeSlot::Leaf(1))
            ]
        );
        let mut b = WriteBatch::new();
        b.delete_prefix(Table::Ratchet, group_key(b"g"));
        s.apply(b).unwrap();
        assert!(s.scan(Table::Ratchet, &group_key(b"g")).unwrap().is_empty());
        assert_eq!(s.scan(Table::Ratchet, &group_key(b"gg")).unwrap().len(), 1);

        // Empty prefix scans the whole table.
        assert_eq!(s.scan(Table::Meta, b"").unwrap().len(), 2);
    }
}
