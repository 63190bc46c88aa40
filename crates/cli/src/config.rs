//! The data directory and its small config file.
//!
//! The directory holds `nipee.db` (identity and groups, through the client core) and
//! `config.json` (remembered relays and petnames). The directory is created 0700 and both
//! files 0600 from the start, so no other user can ever read them.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use nipee_sqlite::{Journal, SqliteOptions, SqliteStorage};
use serde::{Deserialize, Serialize};

use crate::output::Fail;

/// The database file inside the data directory.
pub const DB_FILE: &str = "nipee.db";
/// The config file inside the data directory.
pub const CONFIG_FILE: &str = "config.json";

/// What is remembered between runs (besides the database).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    /// Our relays.
    #[serde(default)]
    pub relays: Vec<String>,
    /// Petname → hex public key.
    #[serde(default)]
    pub petnames: BTreeMap<String, String>,
    /// The profile of new groups and KeyPackages (`nip-ee` when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// Our invitations send the ratchet tree out of band (off when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tree_out_of_band: Option<bool>,
    /// The database's journal mode: `wal` (when absent) or `delete`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journal: Option<String>,
}

impl Config {
    /// The journal mode this config asks for.
    ///
    /// # Errors
    /// A name other than `wal` and `delete`.
    pub fn journal(&self) -> Result<Journal, Fail> {
        match self.journal.as_deref() {
            None | Some("wal") => Ok(Journal::Wal),
            Some("delete") => Ok(Journal::Delete),
            Some(other) => Err(Fail::storage(format!(
                "config.json names the journal mode {other:?}; the modes are wal and delete (fix or delete it)"
            ))),
        }
    }
}

/// The data directory in use.
#[derive(Debug, Clone)]
pub struct DataDir {
    pub path: PathBuf,
}

impl DataDir {
    /// `--data-dir` / `NIPEE_DATA_DIR` (clap reads both), else the platform's data dir.
    pub fn resolve(given: Option<PathBuf>) -> Result<DataDir, Fail> {
        let path = match given {
            Some(p) => p,
            None => directories::ProjectDirs::from("", "", "nipee")
                .map(|d| d.data_dir().to_path_buf())
                .ok_or_else(|| {
                    Fail::usage(
                        "no home directory to put the data in: pass --data-dir DIR or set NIPEE_DATA_DIR",
                    )
                })?,
        };
        Ok(DataDir { path })
    }

    pub fn db(&self) -> PathBuf {
        self.path.join(DB_FILE)
    }

    fn config_file(&self) -> PathBuf {
        self.path.join(CONFIG_FILE)
    }

    /// Whether a database exists here.
    pub fn has_db(&self) -> bool {
        self.db().exists()
    }

    /// Creates the directory (and missing parents) with mode 0700.
    pub fn create(&self) -> Result<(), Fail> {
        let mut b = std::fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            b.mode(0o700);
        }
        b.create(&self.path)
            .map_err(|e| Fail::storage(format!("creating {}: {e}", self.path.display())))
    }

    /// A warning when the directory is readable by others (an existing one we did not
    /// create).
    pub fn loose_permissions(&self) -> Option<String> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&self.path).ok()?.permissions().mode();
            if mode & 0o077 != 0 {
                return Some(format!(
                    "warning: {} is accessible to other users (mode {:o}); run `chmod 700 {}`",
                    self.path.display(),
                    mode & 0o777,
                    self.path.display()
                ));
            }
        }
        None
    }

    /// Opens the database in `journal` mode, creating the directory and the file when
    /// `create` is set.
    pub fn open_storage(&self, create: bool, journal: Journal) -> Result<SqliteStorage, Fail> {
        if !create && !self.has_db() {
            return Err(no_identity(&self.path));
        }
        if create {
            self.create()?;
        }
        SqliteStorage::open_with(self.db(), SqliteOptions::default().journal(journal))
            .map_err(|e| Fail::storage(e.to_string()))
    }

    /// The config (default when the file does not exist).
    pub fn load_config(&self) -> Result<Config, Fail> {
        let path = self.config_file();
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                Fail::storage(format!(
                    "{} is not valid: {e} (fix or delete it)",
                    path.display()
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
            Err(e) => Err(Fail::storage(format!("reading {}: {e}", path.display()))),
        }
    }

    /// Writes the config (0600, replaced atomically).
    pub fn save_config(&self, config: &Config) -> Result<(), Fail> {
        self.create()?;
        let path = self.config_file();
        let tmp = self.path.join(format!("{CONFIG_FILE}.tmp"));
        let err = |e: std::io::Error| Fail::storage(format!("writing {}: {e}", path.display()));
        let text = serde_json::to_vec_pretty(config)
            .map_err(|e| Fail::storage(format!("encoding the config: {e}")))?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut f = options.open(&tmp).map_err(err)?;
        f.write_all(&text).map_err(err)?;
        f.write_all(b"\n").map_err(err)?;
        f.sync_all().map_err(err)?;
        std::fs::rename(&tmp, &path).map_err(err)
    }
}

/// The error for a directory without an identity.
pub fn no_identity(dir: &Path) -> Fail {
    Fail::input(format!(
        "no identity in {}: create one with `nipee identity new`, or `nipee identity import < key.txt`",
        dir.display()
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn tmp() -> DataDir {
        let path = std::env::temp_dir().join(format!(
            "nipee-cli-config-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        DataDir {
            path: path.join("nested").join("data"),
        }
    }

    #[test]
    fn the_config_round_trips_and_a_missing_file_is_the_default() {
        let d = tmp();
        assert_eq!(d.load_config().unwrap(), Config::default());
        let mut c = Config::default();
        c.relays.push("wss://relay.example".into());
        c.petnames.insert("bob".into(), "ab".repeat(32));
        d.save_config(&c).unwrap();
        assert_eq!(d.load_config().unwrap(), c);
        std::fs::remove_dir_all(d.path.parent().unwrap().parent().unwrap()).unwrap();
    }

    #[test]
    fn a_broken_config_is_a_storage_failure_that_names_the_file() {
        let d = tmp();
        d.create().unwrap();
        std::fs::write(d.path.join(CONFIG_FILE), "{ not json").unwrap();
        let e = d.load_config().unwrap_err();
        assert_eq!(e.code, crate::output::EXIT_STORAGE);
        assert!(e.message.contains(CONFIG_FILE), "{}", e.message);
        std::fs::remove_dir_all(d.path.parent().unwrap().parent().unwrap()).unwrap();
    }

    #[test]
    fn opening_without_create_does_not_make_the_directory() {
        let d = tmp();
        let e = d.open_storage(false, Journal::Wal).unwrap_err();
        assert!(e.message.contains("identity new"), "{}", e.message);
        assert!(!d.path.exists());
    }

    #[cfg(unix)]
    #[test]
    fn the_directory_is_0700_and_the_config_0600() {
        use std::os::unix::fs::PermissionsExt;
        let d = tmp();
        d.save_config(&Config::default()).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&d.path), 0o700);
        assert_eq!(mode(&d.path.join(CONFIG_FILE)), 0o600);
        assert!(d.loose_permissions().is_none());
        std::fs::remove_dir_all(d.path.parent().unwrap().parent().unwrap()).unwrap();
    }
}
