//! An in-memory [`Storage`] (tests, wasm, ephemeral clients).

use std::collections::BTreeMap;

use zeroize::Zeroizing;

use super::{Entry, Storage, Table, Write, WriteBatch};
use crate::error::Result;

/// A [`Storage`] in a `BTreeMap`. Batches are applied to a copy-free staging step that
/// cannot fail, so they are trivially atomic. Values are zeroized when dropped.
///
/// For hosts whose durable store is elsewhere (IndexedDB in a browser), a `MemoryStorage`
/// can keep the batches it applied ([`MemoryStorage::recording`]); the host takes them with
/// [`MemoryStorage::take_batches`] after each client operation and persists them, then
/// rebuilds the store from its rows with [`MemoryStorage::from_rows`] after a restart.
#[derive(Default)]
pub struct MemoryStorage {
    map: BTreeMap<(Table, Vec<u8>), Zeroizing<Vec<u8>>>,
    log: Option<Vec<WriteBatch>>,
}

impl core::fmt::Debug for MemoryStorage {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MemoryStorage")
            .field("entries", &self.map.len())
            .finish()
    }
}

impl MemoryStorage {
    /// An empty store.
    pub fn new() -> Self {
        MemoryStorage::default()
    }

    /// An empty store that keeps every applied batch until [`MemoryStorage::take_batches`].
    pub fn recording() -> Self {
        MemoryStorage {
            map: BTreeMap::new(),
            log: Some(Vec::new()),
        }
    }

    /// A store holding `rows` (table, key, value), e.g. loaded back from a host's durable
    /// store; `recording` as in [`MemoryStorage::recording`].
    pub fn from_rows<I>(rows: I, recording: bool) -> Self
    where
        I: IntoIterator<Item = (Table, Vec<u8>, Zeroizing<Vec<u8>>)>,
    {
        MemoryStorage {
            map: rows.into_iter().map(|(t, k, v)| ((t, k), v)).collect(),
            log: recording.then(Vec::new),
        }
    }

    /// The batches applied since the last call (empty unless recording), in order.
    pub fn take_batches(&mut self) -> Vec<WriteBatch> {
        self.log.as_mut().map(core::mem::take).unwrap_or_default()
    }

    /// Every stored row (table, key, value), in table and key order.
    pub fn rows(&self) -> impl Iterator<Item = (Table, &[u8], &[u8])> {
        self.map
            .iter()
            .map(|((t, k), v)| (*t, k.as_slice(), v.as_slice()))
    }

    /// Number of stored values.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

impl Storage for MemoryStorage {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Zeroizing<Vec<u8>>>> {
        Ok(self.map.get(&(table, key.to_vec())).cloned())
    }

    fn scan(&self, table: Table, prefix: &[u8]) -> Result<Vec<Entry>> {
        Ok(self
            .map
            .range((table, prefix.to_vec())..)
            .take_while(|((t, k), _)| *t == table && k.starts_with(prefix))
            .map(|((_, k), v)| (k.clone(), v.clone()))
            .collect())
    }

    fn apply(&mut self, batch: WriteBatch) -> Result<()> {
        if let Some(log) = &mut self.log {
            log.push(batch.clone());
        }
        // Nothing below can fail, so the batch lands whole.
        for w in batch.writes {
            match w {
                Write::Put { table, key, value } => {
                    self.map.insert((table, key), value);
                }
                Write::Delete { table, key } => {
                    self.map.remove(&(table, key));
                }
                Write::DeletePrefix { table, prefix } => {
                    self.map
                        .retain(|(t, k), _| !(*t == table && k.starts_with(&prefix)));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn memory_storage_passes_the_conformance_suite() {
        crate::storage::conformance::run(&mut MemoryStorage::new());
    }

    #[test]
    fn a_recording_store_hands_out_its_batches_and_rebuilds_from_rows() {
        let mut s = MemoryStorage::recording();
        let mut b = WriteBatch::new();
        b.put(Table::Meta, b"a".to_vec(), Zeroizing::new(b"1".to_vec()));
        s.apply(b).unwrap();
        let mut b = WriteBatch::new();
        b.delete(Table::Meta, b"a".to_vec());
        b.put(Table::Outbox, b"k".to_vec(), Zeroizing::new(b"2".to_vec()));
        s.apply(b).unwrap();
        let batches = s.take_batches();
        assert_eq!(batches.len(), 2);
        assert_eq!(batches[1].writes().len(), 2);
        assert!(s.take_batches().is_empty());
        let rows: Vec<_> = s
            .rows()
            .map(|(t, k, v)| (t, k.to_vec(), Zeroizing::new(v.to_vec())))
            .collect();
        let copy = MemoryStorage::from_rows(rows, false);
        assert_eq!(
            copy.get(Table::Outbox, b"k").unwrap().unwrap().as_slice(),
            b"2"
        );
        assert_eq!(copy.get(Table::Meta, b"a").unwrap(), None);
    }
}
