//! SQLite storage for the nipee NIP-EE client (rusqlite with bundled SQLite): one table of
//! blobs, one transaction per client operation, `secure_delete` on so deleted secrets are
//! overwritten in the file, and on Unix a database file that is private to its owner from
//! the moment it exists.
//!
//! ```
//! use nipee::storage::{Storage, Table, WriteBatch};
//! use nipee_sqlite::SqliteStorage;
//! use zeroize::Zeroizing;
//!
//! let mut db = SqliteStorage::open_in_memory()?;
//! let mut batch = WriteBatch::new();
//! batch.put(Table::Meta, b"greeting".to_vec(), Zeroizing::new(b"hello".to_vec()));
//! db.apply(batch)?; // all writes of a batch land together, or none does
//! assert_eq!(db.get(Table::Meta, b"greeting")?.as_deref().map(Vec::as_slice), Some(&b"hello"[..]));
//! # Ok::<(), nipee::Error>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::path::Path;

use nipee::storage::{Entry, Storage, Table, Write, WriteBatch};
use nipee::{Error, Result};
use rusqlite::{Connection, OptionalExtension, params};
use zeroize::Zeroizing;

/// The schema version written to `PRAGMA user_version`.
pub const SCHEMA_VERSION: i64 = 1;

fn db_err(e: rusqlite::Error) -> Error {
    Error::Storage {
        reason: e.to_string(),
    }
}

/// How SQLite keeps a transaction recoverable until it is complete. Either way
/// `synchronous=FULL`: a batch that [`Storage::apply`] returned from survives a power loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Journal {
    /// Write-ahead log (the default): a commit appends to `<file>-wal` and syncs once;
    /// readers do not wait for writers. Two more files beside the database, same mode.
    #[default]
    Wal,
    /// SQLite's rollback journal (`journal_mode=DELETE`, what MDK's SQLCipher storage
    /// keeps): the database stays one file between transactions, and filesystems without
    /// shared memory for the WAL index work; each commit costs more syncs.
    Delete,
}

/// Options of [`SqliteStorage::open_with`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SqliteOptions {
    /// The journal mode (default [`Journal::Wal`]).
    pub journal: Journal,
}

impl SqliteOptions {
    /// These options with `journal`.
    pub fn journal(mut self, journal: Journal) -> Self {
        self.journal = journal;
        self
    }
}

/// A [`Storage`] in an SQLite database file.
pub struct SqliteStorage {
    conn: Connection,
}

impl core::fmt::Debug for SqliteStorage {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SqliteStorage")
            .field("path", &self.conn.path())
            .finish()
    }
}

/// The smallest byte string greater than every string starting with `prefix`, or `None`
/// when there is none (all 0xFF).
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

impl SqliteStorage {
    /// Opens (creating when absent) the database at `path`. On Unix a new file is created
    /// with mode 0600 before SQLite opens it, so it is never readable by others, not even
    /// for a moment; SQLite gives its WAL and shared-memory files the same mode.
    ///
    /// # Errors
    /// [`Error::Storage`] when the file cannot be created or opened or has a newer schema.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(path, SqliteOptions::default())
    }

    /// [`SqliteStorage::open`] with `options` (the journal mode). A database keeps the mode
    /// it was last opened with until it is opened with another; changing it needs no other
    /// connection open.
    ///
    /// # Errors
    /// As [`SqliteStorage::open`]; [`Error::Storage`] when SQLite does not take the mode.
    pub fn open_with(path: impl AsRef<Path>, options: SqliteOptions) -> Result<Self> {
        let path = path.as_ref();
        create_private(path)?;
        let conn = Connection::open(path).map_err(db_err)?;
        Self::init(conn, options.journal)
    }

    /// The journal mode SQLite reports for the open database (`wal`, `delete`, or `memory`
    /// for an in-memory database).
    ///
    /// # Errors
    /// [`Error::Storage`].
    pub fn journal_mode(&self) -> Result<String> {
        self.conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .map_err(db_err)
    }

    /// An in-memory SQLite database (tests).
    ///
    /// # Errors
    /// [`Error::Storage`].
    pub fn open_in_memory() -> Result<Self> {
        Self::init(
            Connection::open_in_memory().map_err(db_err)?,
            Journal::default(),
        )
    }

    fn init(conn: Connection, journal: Journal) -> Result<Self> {
        conn.pragma_update(None, "secure_delete", "ON")
            .map_err(db_err)?;
        // The mode asked for; an in-memory database keeps "memory" whatever is asked.
        let asked = match journal {
            Journal::Wal => "wal",
            Journal::Delete => "delete",
        };
        let mode: String = conn
            .query_row(&format!("PRAGMA journal_mode={asked}"), [], |r| r.get(0))
            .map_err(db_err)?;
        if mode != asked && mode != "memory" {
            return Err(Error::Storage {
                reason: format!("SQLite kept journal mode {mode}, not {asked}"),
            });
        }
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(db_err)?;
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(db_err)?;
        if version > SCHEMA_VERSION {
            return Err(Error::Storage {
                reason: format!(
                    "database schema version {version} is newer than this build ({SCHEMA_VERSION})"
                ),
            });
        }
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS blobs (
                 tbl INTEGER NOT NULL,
                 key BLOB NOT NULL,
                 value BLOB NOT NULL,
                 PRIMARY KEY (tbl, key)
             ) WITHOUT ROWID;",
        )
        .map_err(db_err)?;
        conn.pragma_update(None, "user_version", SCHEMA_VERSION)
            .map_err(db_err)?;
        Ok(SqliteStorage { conn })
    }
}

/// Creates `path` as an empty file readable and writable by its owner only, if it does not
/// exist yet (an existing file keeps its mode).
fn create_private(path: &Path) -> Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(Error::Storage {
            reason: format!("creating {}: {e}", path.display()),
        }),
    }
}

impl Storage for SqliteStorage {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Zeroizing<Vec<u8>>>> {
        self.conn
            .query_row(
                "SELECT value FROM blobs WHERE tbl = ?1 AND key = ?2",
                params![table.id(), key],
                |r| r.get::<_, Vec<u8>>(0),
            )
            .optional()
            .map(|o| o.map(Zeroizing::new))
            .map_err(db_err)
    }

    fn scan(&self, table: Table, prefix: &[u8]) -> Result<Vec<Entry>> {
        let mut out = Vec::new();
        let mut push = |r: &rusqlite::Row<'_>| -> rusqlite::Result<()> {
            out.push((
                r.get::<_, Vec<u8>>(0)?,
                Zeroizing::new(r.get::<_, Vec<u8>>(1)?),
            ));
            Ok(())
        };
        match prefix_end(prefix) {
            Some(end) => {
                let mut st = self
                    .conn
                    .prepare_cached(
                        "SELECT key, value FROM blobs WHERE tbl = ?1 AND key >= ?2 AND key < ?3 ORDER BY key",
                    )
                    .map_err(db_err)?;
                let mut rows = st.query(params![table.id(), prefix, end]).map_err(db_err)?;
                while let Some(r) = rows.next().map_err(db_err)? {
                    push(r).map_err(db_err)?;
                }
            }
            None => {
                let mut st = self
                    .conn
                    .prepare_cached(
                        "SELECT key, value FROM blobs WHERE tbl = ?1 AND key >= ?2 ORDER BY key",
                    )
                    .map_err(db_err)?;
                let mut rows = st.query(params![table.id(), prefix]).map_err(db_err)?;
                while let Some(r) = rows.next().map_err(db_err)? {
                    push(r).map_err(db_err)?;
                }
            }
        }
        Ok(out)
    }

    fn apply(&mut self, batch: WriteBatch) -> Result<()> {
        let tx = self.conn.transaction().map_err(db_err)?;
        for w in batch.writes() {
            match w {
                Write::Put { table, key, value } => {
                    tx.prepare_cached(
                        "INSERT OR REPLACE INTO blobs (tbl, key, value) VALUES (?1, ?2, ?3)",
                    )
                    .and_then(|mut st| st.execute(params![table.id(), key, value.as_slice()]))
                    .map_err(db_err)?;
                }
                Write::Delete { table, key } => {
                    tx.prepare_cached("DELETE FROM blobs WHERE tbl = ?1 AND key = ?2")
                        .and_then(|mut st| st.execute(params![table.id(), key]))
                        .map_err(db_err)?;
                }
                Write::DeletePrefix { table, prefix } => match prefix_end(prefix) {
                    Some(end) => {
                        tx.prepare_cached(
                            "DELETE FROM blobs WHERE tbl = ?1 AND key >= ?2 AND key < ?3",
                        )
                        .and_then(|mut st| st.execute(params![table.id(), prefix, end]))
                        .map_err(db_err)?;
                    }
                    None => {
                        tx.prepare_cached("DELETE FROM blobs WHERE tbl = ?1 AND key >= ?2")
                            .and_then(|mut st| st.execute(params![table.id(), prefix]))
                            .map_err(db_err)?;
                    }
                },
                _ => {
                    return Err(Error::Storage {
                        reason: "a write of a kind this storage does not know".to_owned(),
                    });
                }
            }
        }
        // Dropping `tx` on an error above rolls everything back.
        tx.commit().map_err(db_err)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    /// A fresh directory in the system's temporary directory.
    fn temp_dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "{name}-{}-{}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn sqlite_storage_passes_the_conformance_suite() {
        nipee::storage::conformance::run(&mut SqliteStorage::open_in_memory().unwrap());
    }

    #[test]
    fn the_journal_mode_is_wal_unless_asked_otherwise_and_data_survives_a_change() {
        let dir = temp_dir("nipee-sqlite-journal");
        let path = dir.join("state.db");
        {
            let mut s = SqliteStorage::open(&path).unwrap();
            assert_eq!(s.journal_mode().unwrap(), "wal");
            let mut b = WriteBatch::new();
            b.put(Table::Meta, b"k".to_vec(), Zeroizing::new(b"v".to_vec()));
            s.apply(b).unwrap();
        }
        {
            let opts = SqliteOptions::default().journal(Journal::Delete);
            let mut s = SqliteStorage::open_with(&path, opts).unwrap();
            assert_eq!(s.journal_mode().unwrap(), "delete");
            assert_eq!(s.get(Table::Meta, b"k").unwrap().unwrap().as_slice(), b"v");
            let mut b = WriteBatch::new();
            b.delete(Table::Meta, b"k".to_vec());
            s.apply(b).unwrap();
            // An empty store in this mode keeps the storage contract.
            nipee::storage::conformance::run(&mut s);
            let mut b = WriteBatch::new();
            b.put(Table::Meta, b"k".to_vec(), Zeroizing::new(b"v".to_vec()));
            s.apply(b).unwrap();
        }
        // The rollback journal leaves one file between transactions.
        assert!(!dir.join("state.db-wal").exists());
        let s = SqliteStorage::open(&path).unwrap();
        assert_eq!(s.journal_mode().unwrap(), "wal");
        assert_eq!(s.get(Table::Meta, b"k").unwrap().unwrap().as_slice(), b"v");
        drop(s);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn prefix_end_handles_carries() {
        assert_eq!(prefix_end(b""), None);
        assert_eq!(prefix_end(&[1, 2]), Some(vec![1, 3]));
        assert_eq!(prefix_end(&[1, 0xff]), Some(vec![2]));
        assert_eq!(prefix_end(&[0xff, 0xff]), None);
    }

    #[test]
    fn sqlite_state_survives_reopen_and_failed_batches_change_nothing() {
        let dir = temp_dir("nipee-sqlite");
        let path = dir.join("state.db");
        {
            let mut s = SqliteStorage::open(&path).unwrap();
            let mut b = WriteBatch::new();
            b.put(Table::Group, b"g".to_vec(), Zeroizing::new(b"v1".to_vec()));
            s.apply(b).unwrap();
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(
                mode & 0o077,
                0,
                "the database must not be group/world readable"
            );
        }
        let mut s = SqliteStorage::open(&path).unwrap();
        assert_eq!(
            s.get(Table::Group, b"g").unwrap().unwrap().as_slice(),
            b"v1"
        );
        // A batch that fails midway (the table is dropped under it) leaves nothing behind.
        s.conn
            .execute_batch("CREATE TRIGGER boom BEFORE INSERT ON blobs WHEN NEW.key = x'ff' BEGIN SELECT RAISE(ABORT, 'boom'); END;")
            .unwrap();
        let mut b = WriteBatch::new();
        b.put(Table::Group, b"g".to_vec(), Zeroizing::new(b"v2".to_vec()));
        b.put(Table::Group, vec![0xff], Zeroizing::new(b"x".to_vec()));
        let err = s.apply(b).unwrap_err();
        assert_eq!(err.kind().as_str(), "storage");
        assert_eq!(
            s.get(Table::Group, b"g").unwrap().unwrap().as_slice(),
            b"v1"
        );
        drop(s);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
