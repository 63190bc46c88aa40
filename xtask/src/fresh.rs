//! `cargo xtask fresh-check`: the checks a new user's first run depends on, done the way
//! that user would meet them: in a fresh `git clone` of HEAD (nothing beside it, nothing
//! untracked), with a clean environment (no `CC`, no `RUSTFLAGS`, a plain `PATH`).
//!
//! It catches the class of fault where a developer's machine hides a missing install step
//! or a file outside the repository: in the clone it runs the tidy check (no path leaves
//! the repository) and builds the wasm32 build's C dependency from scratch in a target
//! dir of its own, so the C compiler is found by xtask itself, not inherited.

use crate::tools::clean_path;
use crate::util::run;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Environment variables a fresh login shell of this user would also have.
const KEEP: &[&str] = &[
    "HOME",
    "USER",
    "LANG",
    "TERM",
    "RUSTUP_HOME",
    "CARGO_HOME",
    "NIPEE_TOOLS_DIR",
];

fn clean_env(cmd: &mut Command) -> &mut Command {
    cmd.env_clear();
    for k in KEEP {
        if let Some(v) = std::env::var_os(k) {
            cmd.env(k, v);
        }
    }
    cmd.env("PATH", clean_path())
}

fn fresh_dir() -> PathBuf {
    std::env::temp_dir().join(format!("nipee-fresh-clone-{}", std::process::id()))
}

/// Runs the fresh-clone checks.
///
/// # Errors
/// The first failing step, named.
pub fn fresh_check(root: &Path) -> Result<(), String> {
    let dirty = Command::new("git")
        .args(["status", "--porcelain"])
        .current_dir(root)
        .output()
        .map(|o| !o.stdout.is_empty())
        .unwrap_or(false);
    if dirty {
        eprintln!(
            "fresh-check: the working tree has uncommitted changes; the clone holds HEAD only"
        );
    }
    let dir = fresh_dir();
    let _ = std::fs::remove_dir_all(&dir);
    run(Command::new("git")
        .args(["clone", "--quiet", "--no-hardlinks"])
        .arg(root)
        .arg(&dir))?;
    let result = (|| {
        run(clean_env(&mut Command::new("cargo"))
            .args(["run", "--quiet", "--package", "xtask", "--", "tidy"])
            .current_dir(&dir))
        .map_err(|e| format!("tidy in a fresh clone: {e}"))?;
        run(clean_env(&mut Command::new("cargo"))
            .args(["run", "--quiet", "--package", "xtask", "--", "wasm-c-check"])
            .current_dir(&dir))
        .map_err(|e| format!("wasm32 C build in a fresh clone with a clean environment: {e}"))
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result?;
    eprintln!("fresh-check: a fresh clone with a clean environment passes");
    Ok(())
}
