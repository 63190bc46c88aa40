//! Running the `nipee` binary as a separate process, the way people and scripts do.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// A `nipee` command for data directory `dir` (no relay, no JSON).
pub fn command(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_nipee"));
    c.arg("--data-dir").arg(dir).env_remove("NIPEE_DATA_DIR");
    c
}

pub fn run_with_input(mut c: Command, input: Option<&str>) -> Run {
    c.stdin(if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    if let Some(text) = input {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `nipee --data-dir DIR --relay RELAY --json ARGS…`
pub fn nipee(dir: &Path, relay: &str, args: &[&str]) -> Run {
    let mut c = command(dir);
    c.args(["--relay", relay, "--json"]).args(args);
    run_with_input(c, None)
}

/// The JSON lines of a run that must succeed.
pub fn ok(r: Run) -> Vec<serde_json::Value> {
    assert_eq!(r.code, 0, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    r.stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// A fresh directory name under the temp dir (not created).
pub fn tmp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "nipee-cli-{}-{}-{name}",
        std::process::id(),
        rand::random::<u32>()
    ))
}

/// Creates an identity in `dir` and returns its npub.
pub fn new_identity(dir: &Path, relay: &str) -> String {
    ok(nipee(dir, relay, &["identity", "new"]))[0]["npub"]
        .as_str()
        .unwrap()
        .to_owned()
}
