//! A real relay for tests: nostr-rs-relay 0.8.12 as a child process on 127.0.0.1.
//!
//! The binary is `$NIPEE_RELAY_BIN` if set, else `$HOME/.cache/nipee/tools/bin/nostr-rs-relay`
//! (installed by `cargo xtask setup`). Each [`TestRelay`] gets a free port, its own
//! temporary data directory and config, and is killed (and its directory removed) on
//! drop, so tests can run in parallel. [`TestRelay::stop`] and [`TestRelay::restart`]
//! keep the port and the database, for reconnect tests.
//!
//! The config sets [`TestRelayOptions::DEFAULT_MAX_BYTES`] = 256 KiB for events, WebSocket
//! messages and frames: nostr-rs-relay 0.8.12's own default when its config sets none
//! (`2 << 17`; its sample config's comments say 128 KB, the value a copied config that
//! uncomments them gets). Large-group Welcomes need more: raise
//! [`TestRelayOptions::max_bytes`] (see docs/PERFORMANCE.md). It listens on
//! 127.0.0.1 only (the relay's default is 0.0.0.0:8080) and refuses events more than
//! 30 minutes in the future.
//!
//! The API is blocking (it spawns and polls a process); from async code use
//! [`TestRelay::start_async`] / [`TestRelay::restart_async`], which run it on tokio's
//! blocking pool.

use std::fs::{self, File};
use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};

/// Environment variable naming the nostr-rs-relay binary.
pub const RELAY_BIN_ENV: &str = "NIPEE_RELAY_BIN";

/// Settings of a [`TestRelay`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TestRelayOptions {
    /// Send a NIP-42 AUTH challenge on connect (`[authorization] nip42_auth`).
    pub nip42_auth: bool,
    /// `max_event_bytes`, `max_ws_message_bytes` and `max_ws_frame_bytes`.
    pub max_bytes: usize,
    /// How long to wait for the relay to accept connections.
    pub startup_timeout: Duration,
}

impl TestRelayOptions {
    /// 256 KiB, nostr-rs-relay 0.8.12's own default (`2 << 17`): gift-wrapped Welcomes of
    /// groups up to 228 members (`nip-ee`) or 393 (Marmot) fit, with the ratchet tree in
    /// the Welcome.
    pub const DEFAULT_MAX_BYTES: usize = 262_144;
}

impl Default for TestRelayOptions {
    fn default() -> Self {
        TestRelayOptions {
            nip42_auth: false,
            max_bytes: Self::DEFAULT_MAX_BYTES,
            startup_timeout: Duration::from_secs(20),
        }
    }
}

/// A running (or stopped) nostr-rs-relay child process. See the module docs.
#[derive(Debug)]
pub struct TestRelay {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    bin: PathBuf,
    options: TestRelayOptions,
}

fn fail(reason: impl Into<String>) -> Error {
    Error::TestRelay {
        reason: reason.into(),
    }
}

/// Where the nostr-rs-relay binary is expected: `$NIPEE_RELAY_BIN`, else
/// `$HOME/.cache/nipee/tools/bin/nostr-rs-relay`.
///
/// # Errors
/// [`Error::TestRelay`] with instructions if no binary is there.
pub fn relay_binary() -> Result<PathBuf> {
    relay_binary_from(std::env::var_os(RELAY_BIN_ENV), std::env::var_os("HOME"))
}

fn relay_binary_from(
    env: Option<std::ffi::OsString>,
    home: Option<std::ffi::OsString>,
) -> Result<PathBuf> {
    let path = match env {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => {
            let home =
                home.ok_or_else(|| fail("HOME is not set; set NIPEE_RELAY_BIN to nostr-rs-relay"))?;
            PathBuf::from(home).join(".cache/nipee/tools/bin/nostr-rs-relay")
        }
    };
    if !path.is_file() {
        return Err(fail(format!(
            "nostr-rs-relay 0.8.12 not found at {}: run `cargo xtask setup` to install it \
             (or point {RELAY_BIN_ENV} at the binary)",
            path.display()
        )));
    }
    Ok(path)
}

fn free_port() -> Result<u16> {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .map_err(|e| fail(format!("cannot find a free port: {e}")))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| fail(format!("cannot find a free port: {e}")))
}

fn temp_dir() -> Result<PathBuf> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let dir = std::env::temp_dir().join(format!(
        "nipee-test-relay-{}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        nanos
    ));
    fs::create_dir_all(&dir).map_err(|e| fail(format!("cannot create {}: {e}", dir.display())))?;
    Ok(dir)
}

/// The config file written for the relay (see the module docs for the choices).
pub fn config_toml(port: u16, data_dir: &Path, options: &TestRelayOptions) -> String {
    format!(
        r#"# Written by nipee-relay's test harness.
[info]
relay_url = "ws://127.0.0.1:{port}/"
name = "nipee test relay"
description = "nostr-rs-relay for nipee tests"

[database]
engine = "sqlite"
data_directory = "{dir}"

[network]
# Loopback only: the relay's default is 0.0.0.0.
address = "127.0.0.1"
port = {port}

[options]
reject_future_seconds = 1800

[limits]
# 262144 is the relay's own default; large-group Welcomes need more.
max_event_bytes = {max}
max_ws_message_bytes = {max}
max_ws_frame_bytes = {max}

[authorization]
nip42_auth = {auth}
"#,
        dir = data_dir
            .display()
            .to_string()
            .replace('\\', "\\\\")
            .replace('"', "\\\""),
        max = options.max_bytes,
        auth = options.nip42_auth,
    )
}

impl TestRelay {
    /// Starts a relay with default options and waits until it accepts connections.
    ///
    /// # Errors
    /// [`Error::TestRelay`] if the binary is missing (the message says to run
    /// `cargo xtask setup`), cannot be started, exits, or does not listen in time.
    pub fn start() -> Result<TestRelay> {
        Self::start_with(TestRelayOptions::default())
    }

    /// Starts a relay with `options`.
    ///
    /// # Errors
    /// As [`TestRelay::start`].
    pub fn start_with(options: TestRelayOptions) -> Result<TestRelay> {
        let bin = relay_binary()?;
        let dir = temp_dir()?;
        let port = free_port()?;
        let config = config_toml(port, &dir, &options);
        fs::write(dir.join("config.toml"), config)
            .map_err(|e| fail(format!("cannot write config: {e}")))?;
        let mut relay = TestRelay {
            child: None,
            port,
            dir,
            bin,
            options,
        };
        relay.spawn()?;
        Ok(relay)
    }

    /// [`TestRelay::start`] on tokio's blocking pool.
    ///
    /// # Errors
    /// As [`TestRelay::start`].
    pub async fn start_async() -> Result<TestRelay> {
        Self::start_with_async(TestRelayOptions::default()).await
    }

    /// [`TestRelay::start_with`] on tokio's blocking pool.
    ///
    /// # Errors
    /// As [`TestRelay::start`].
    pub async fn start_with_async(options: TestRelayOptions) -> Result<TestRelay> {
        tokio::task::spawn_blocking(move || Self::start_with(options))
            .await
            .map_err(|e| fail(format!("start task failed: {e}")))?
    }

    fn spawn(&mut self) -> Result<()> {
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.log_path())
            .map_err(|e| fail(format!("cannot open log: {e}")))?;
        let log2 = log
            .try_clone()
            .map_err(|e| fail(format!("cannot open log: {e}")))?;
        let child = Command::new(&self.bin)
            .arg("--config")
            .arg(self.dir.join("config.toml"))
            .arg("--db")
            .arg(&self.dir)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .map_err(|e| fail(format!("cannot start {}: {e}", self.bin.display())))?;
        self.child = Some(child);
        self.wait_ready()
    }

    fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + self.options.startup_timeout;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                return Err(fail(format!(
                    "nostr-rs-relay exited during startup ({status}); log:\n{}",
                    self.log()
                )));
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                self.kill();
                return Err(fail(format!(
                    "nostr-rs-relay did not listen on {addr} within {:?}; log:\n{}",
                    self.options.startup_timeout,
                    self.log()
                )));
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// `ws://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.port)
    }

    /// The TCP port (kept across [`TestRelay::restart`]).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The data directory (database, config, log).
    pub fn data_dir(&self) -> &Path {
        &self.dir
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("relay.log")
    }

    /// The last 4 KiB of the relay's output (for failure messages).
    pub fn log(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = File::open(self.log_path()) {
            let _ = f.read_to_string(&mut s);
        }
        let start = s.len().saturating_sub(4096);
        let start = (start..s.len())
            .find(|&i| s.is_char_boundary(i))
            .unwrap_or(s.len());
        s.get(start..).unwrap_or_default().to_owned()
    }

    /// Whether the process is running.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Kills the relay (like a crash: connections drop without a close frame). The port
    /// and database are kept for [`TestRelay::restart`].
    pub fn stop(&mut self) {
        self.kill();
    }

    /// Starts the relay again on the same port with the same database.
    ///
    /// # Errors
    /// As [`TestRelay::start`].
    pub fn restart(&mut self) -> Result<()> {
        self.kill();
        self.spawn()
    }

    /// [`TestRelay::restart`] without blocking the async runtime's worker for long: the
    /// readiness wait runs on tokio's blocking pool.
    ///
    /// # Errors
    /// As [`TestRelay::start`].
    pub async fn restart_async(&mut self) -> Result<()> {
        self.kill();
        // Move the process bookkeeping to the blocking pool and back.
        let mut me = TestRelay {
            child: None,
            port: self.port,
            dir: self.dir.clone(),
            bin: self.bin.clone(),
            options: self.options.clone(),
        };
        let (me, r) = tokio::task::spawn_blocking(move || {
            let r = me.spawn();
            (me, r)
        })
        .await
        .map_err(|e| fail(format!("restart task failed: {e}")))?;
        let mut me = me;
        self.child = me.child.take();
        // `me` owns the same directory: do not let its Drop remove it.
        me.dir = PathBuf::new();
        r
    }
}

impl Drop for TestRelay {
    fn drop(&mut self) {
        self.kill();
        if !self.dir.as_os_str().is_empty() {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_is_loopback_with_raised_limits() {
        let c = config_toml(4242, Path::new("/tmp/x"), &TestRelayOptions::default());
        assert!(c.contains("address = \"127.0.0.1\""));
        assert!(c.contains("port = 4242"));
        assert!(c.contains("max_event_bytes = 262144"));
        assert!(c.contains("max_ws_message_bytes = 262144"));
        assert!(c.contains("nip42_auth = false"));
        assert!(c.contains("data_directory = \"/tmp/x\""));
    }

    #[test]
    fn missing_binary_is_a_clear_error() {
        let e = relay_binary_from(Some("/nonexistent/nostr-rs-relay".into()), None).unwrap_err();
        assert!(e.to_string().contains("cargo xtask setup"), "{e}");
        assert!(e.to_string().contains("/nonexistent/nostr-rs-relay"), "{e}");
        let e = relay_binary_from(None, Some("/nonexistent-home".into())).unwrap_err();
        assert!(
            e.to_string()
                .contains("/nonexistent-home/.cache/nipee/tools/bin/nostr-rs-relay"),
            "{e}"
        );
        assert!(relay_binary_from(None, None).is_err());
    }
}
