//! An in-memory [`Storage`] (tests, wasm, ephemeral clients).

use std::collections::BTreeMap;

use zeroize::Zeroizing;

use super::{Entry, Storage, Table, Write, WriteBatch};
use crate::error::Result;

/// A [`Storage`] in a `BTreeMap`. Batches are applied to a copy-free staging step that
/// cannot fail, so they are trivially atomic. Values are zeroized when dropped.
#[derive(Default)]
pub struct MemoryStorage {
    map: BTreeMap<(Table, Vec<u8>), Zeroizing<Vec<u8>>>,
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
        super::super::conformance::run(&mut MemoryStorage::new());
    }
}
