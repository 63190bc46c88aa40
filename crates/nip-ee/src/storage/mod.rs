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
#[cfg(all(feature = "sqlite", not(target_arch = "wasm32")))]
mod sqlite;

pub use memory::MemoryStorage;
#[cfg(all(feature = "sqlite", not(target_arch = "wasm32")))]
pub use sqlite::SqliteStorage;

use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// The logical tables of the client state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Table {
    /// Client-wide values (identity, settings). Key: a name.
    Meta,
    /// The current state of each group. Key: the MLS group id.
    GroupState,
    /// Past epoch states kept for commit races and late messages. Key: group id ‖ epoch
    /// (u64 big-endian), so a prefix scan lists a group's epochs in order.
    EpochState,
    /// Own commits published but not yet acknowledged. Key: the MLS group id.
    PendingCommit,
    /// KeyPackage private keys. Key: the KeyPackage event id (32 bytes).
    KeyPackage,
    /// Ids of processed events, for deduplication. Key: the event id (32 bytes).
    ProcessedEvent,
}

impl Table {
    /// Every table.
    pub const ALL: [Table; 6] = [
        Table::Meta,
        Table::GroupState,
        Table::EpochState,
        Table::PendingCommit,
        Table::KeyPackage,
        Table::ProcessedEvent,
    ];

    /// A stable number (the on-disk table id).
    pub fn id(self) -> u8 {
        match self {
            Table::Meta => 0,
            Table::GroupState => 1,
            Table::EpochState => 2,
            Table::PendingCommit => 3,
            Table::KeyPackage => 4,
            Table::ProcessedEvent => 5,
        }
    }

    /// The table with a stable number.
    pub fn from_id(id: u8) -> Option<Table> {
        Table::ALL.into_iter().find(|t| t.id() == id)
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

/// The key of a retained epoch: `group_id ‖ epoch` (big-endian, so keys sort by epoch).
pub fn epoch_key(group_id: &[u8], epoch: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(group_id.len() + 9);
    k.push(u8::try_from(group_id.len()).unwrap_or(u8::MAX));
    k.extend_from_slice(group_id);
    k.extend_from_slice(&epoch.to_be_bytes());
    k
}

/// The prefix of every retained epoch of a group.
pub fn epoch_prefix(group_id: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(group_id.len() + 1);
    k.push(u8::try_from(group_id.len()).unwrap_or(u8::MAX));
    k.extend_from_slice(group_id);
    k
}

/// Adds to `batch` the deletes that keep only the newest `keep` retained epochs of a group,
/// given the epochs currently stored (after the batch's own puts are counted by the
/// caller).
pub fn prune_epochs(batch: &mut WriteBatch, group_id: &[u8], mut epochs: Vec<u64>, keep: usize) {
    epochs.sort_unstable();
    epochs.dedup();
    let excess = epochs.len().saturating_sub(keep);
    for e in epochs.into_iter().take(excess) {
        batch.delete(Table::EpochState, epoch_key(group_id, e));
    }
}

/// Whether an event id was processed.
///
/// # Errors
/// [`Error::Storage`].
pub fn is_processed<S: Storage + ?Sized>(storage: &S, event_id: &[u8; 32]) -> Result<bool> {
    Ok(storage.get(Table::ProcessedEvent, event_id)?.is_some())
}

/// Adds the mark of a processed event (value: the unix time it was seen, for pruning).
pub fn mark_processed(batch: &mut WriteBatch, event_id: &[u8; 32], seen_at: u64) {
    batch.put(
        Table::ProcessedEvent,
        event_id.to_vec(),
        Blob::encode(1, &seen_at.to_be_bytes()),
    );
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
pub(crate) mod conformance {
    //! Tests every implementation must pass.
    use super::*;

    fn v(b: &[u8]) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(b.to_vec())
    }

    pub fn run<S: Storage>(s: &mut S) {
        assert_eq!(s.get(Table::Meta, b"x").unwrap(), None);
        let mut b = WriteBatch::new();
        b.put(Table::Meta, b"x".to_vec(), v(b"1"));
        b.put(Table::GroupState, b"g".to_vec(), v(b"state"));
        for e in 0..8u64 {
            b.put(Table::EpochState, epoch_key(b"g", e), v(&e.to_be_bytes()));
        }
        b.put(Table::EpochState, epoch_key(b"h", 1), v(b"other"));
        s.apply(b).unwrap();
        assert_eq!(s.get(Table::Meta, b"x").unwrap().unwrap().as_slice(), b"1");
        // Tables are separate namespaces.
        assert_eq!(s.get(Table::GroupState, b"x").unwrap(), None);
        let epochs = s.scan(Table::EpochState, &epoch_prefix(b"g")).unwrap();
        assert_eq!(epochs.len(), 8);
        assert!(epochs.windows(2).all(|w| w[0].0 < w[1].0));

        let mut b = WriteBatch::new();
        prune_epochs(&mut b, b"g", (0..8).collect(), 5);
        b.put(Table::Meta, b"x".to_vec(), v(b"2"));
        s.apply(b).unwrap();
        let left: Vec<u64> = s
            .scan(Table::EpochState, &epoch_prefix(b"g"))
            .unwrap()
            .into_iter()
            .map(|(_, v)| u64::from_be_bytes(v.as_slice().try_into().unwrap()))
            .collect();
        assert_eq!(left, vec![3, 4, 5, 6, 7]);
        assert_eq!(
            s.scan(Table::EpochState, &epoch_prefix(b"h"))
                .unwrap()
                .len(),
            1
        );
        assert_eq!(s.get(Table::Meta, b"x").unwrap().unwrap().as_slice(), b"2");

        let mut b = WriteBatch::new();
        b.delete_prefix(Table::EpochState, epoch_prefix(b"g"));
        b.delete(Table::GroupState, b"g".to_vec());
        b.delete(Table::GroupState, b"absent".to_vec());
        s.apply(b).unwrap();
        assert!(
            s.scan(Table::EpochState, &epoch_prefix(b"g"))
                .unwrap()
                .is_empty()
        );
        assert_eq!(s.get(Table::GroupState, b"g").unwrap(), None);

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

        // Empty prefix scans the whole table.
        assert_eq!(s.scan(Table::Meta, b"").unwrap().len(), 2);
    }
}
