//! The tools each stage of `test-all` needs, found on this machine or named as missing.
//!
//! `cargo xtask setup` installs them; [`missing_for`] is asked before a stage runs, so a
//! missing tool is named in one line ("clang for wasm32: not found; ...") instead of
//! surfacing as an error deep inside a build.

use crate::setup::{self, WasmRoute};
use crate::util::{cargo, have, output, tools_dir};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A C compiler and an archiver that produce wasm32 objects and archives.
///
/// `secp256k1-sys` compiles C for wasm32. rustup's wasm32 target brings a linker
/// (rust-lld) but no C compiler, so a plain machine has none: cc-rs then fails with
/// "failed to find tool clang". GNU `ar` cannot index wasm objects, hence an LLVM archiver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WasmCTools {
    /// The C compiler (a clang that accepts `--target=wasm32-unknown-unknown`).
    pub cc: String,
    /// The archiver (`llvm-ar`).
    pub ar: String,
}

/// Clang names to try, newest first, then the unversioned one.
const CLANGS: &[&str] = &[
    "clang", "clang-20", "clang-19", "clang-18", "clang-17", "clang-16", "clang-15", "clang-14",
];

/// The Debian packages that provide [`WasmCTools`] on the rustup route (Debian 12: clang 14;
/// `llvm` brings the unversioned `llvm-ar`).
pub const WASM_C_PACKAGES: &[&str] = &["clang", "llvm"];

/// The archiver that belongs to a clang: `clang-16` → `llvm-ar-16`, `clang` → `llvm-ar`.
fn archiver_for(clang: &str) -> String {
    match clang.strip_prefix("clang") {
        Some(suffix) => format!("llvm-ar{suffix}"),
        None => "llvm-ar".to_string(),
    }
}

/// Whether `cc` compiles a C file for wasm32 (some clang builds lack the target).
fn compiles_for_wasm32(cc: &str) -> bool {
    let dir = std::env::temp_dir().join(format!("nipee-cc-probe-{}", std::process::id()));
    if std::fs::create_dir_all(&dir).is_err() {
        return false;
    }
    let src = dir.join("probe.c");
    let obj = dir.join("probe.o");
    let ok = std::fs::write(&src, "int nipee_probe(int x) { return x + 1; }\n").is_ok()
        && Command::new(cc)
            .args(["--target=wasm32-unknown-unknown", "-O2", "-c"])
            .arg(&src)
            .arg("-o")
            .arg(&obj)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
    let _ = std::fs::remove_dir_all(&dir);
    ok
}

/// Finds a C compiler and archiver for wasm32 among the programs `have` reports, for
/// `route`. The Debian route installs clang-16 and llvm-ar-16 with its compiler.
pub fn find_wasm_c_tools(
    route: WasmRoute,
    have: &dyn Fn(&str) -> bool,
    compiles: &dyn Fn(&str) -> bool,
) -> Option<WasmCTools> {
    let candidates: &[&str] = match route {
        WasmRoute::Debian => &["clang-16"],
        WasmRoute::Rustup => CLANGS,
    };
    for cc in candidates {
        if !have(cc) {
            continue;
        }
        // Prefer the archiver of the same LLVM, then the unversioned one.
        let ar = [archiver_for(cc), "llvm-ar".to_string()]
            .into_iter()
            .find(|a| have(a));
        if let Some(ar) = ar
            && compiles(cc)
        {
            return Some(WasmCTools {
                cc: (*cc).to_string(),
                ar,
            });
        }
    }
    None
}

/// [`find_wasm_c_tools`] on this machine.
pub fn wasm_c_tools(route: WasmRoute) -> Option<WasmCTools> {
    find_wasm_c_tools(route, &have, &compiles_for_wasm32)
}

/// One thing a stage needs.
#[derive(Debug, Clone)]
pub struct Missing {
    /// What is missing, e.g. "clang for wasm32".
    pub what: String,
    /// How to get it.
    pub fix: String,
}

impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "missing {}: {}", self.what, self.fix)
    }
}

/// The stages of `test-all` that need tools beyond cargo itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// `cargo fmt`.
    Fmt,
    /// `cargo clippy`.
    Clippy,
    /// The test suite: the relay binary for the integration tests.
    Tests,
    /// The wasm32 build: a wasm32 standard library and a C compiler for it.
    WasmBuild,
    /// The wasm package: wasm-bindgen-cli at the Cargo.lock version.
    WasmPackage,
    /// Node tests: node and the npm packages of `wasm-tests/`.
    Node,
    /// Browser tests: additionally Chromium.
    Browser,
}

fn cargo_subcommand_works(sub: &str) -> bool {
    Command::new(cargo())
        .args([sub, "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn setup_fix(detail: &str) -> String {
    format!("run `cargo xtask setup` ({detail})")
}

/// What `needs` lacks on this machine (empty when everything is there).
pub fn missing_for(root: &Path, needs: Needs, route: Option<WasmRoute>) -> Vec<Missing> {
    let mut out = Vec::new();
    let mut miss = |what: &str, fix: String| {
        out.push(Missing {
            what: what.to_string(),
            fix,
        })
    };
    match needs {
        Needs::Fmt => {
            if !cargo_subcommand_works("fmt") {
                miss("rustfmt", "rustup component add rustfmt".into());
            }
        }
        Needs::Clippy => {
            if !cargo_subcommand_works("clippy") {
                miss("clippy", "rustup component add clippy".into());
            }
        }
        Needs::Tests => {
            let bin = setup::relay_bin();
            if !bin.is_file() {
                miss(
                    "nostr-rs-relay 0.8.12 (the relay of the integration tests)",
                    setup_fix(&format!("it builds it into {}", bin.display())),
                );
            }
        }
        Needs::WasmBuild => match route {
            None => miss(
                "a wasm32 standard library",
                setup_fix("rustup target add wasm32-unknown-unknown, or Debian's rustc-web"),
            ),
            Some(route) => {
                if wasm_c_tools(route).is_none() {
                    miss(
                        "a C compiler for wasm32 (clang) and an LLVM archiver (llvm-ar)",
                        setup_fix(&format!("apt-get install {}", WASM_C_PACKAGES.join(" "))),
                    );
                }
            }
        },
        Needs::WasmPackage => {
            let version = setup::wasm_bindgen_version(root).unwrap_or_default();
            let have_version = output(Command::new(setup::wasm_bindgen_bin()).arg("--version"))
                .is_some_and(|s| s.split_whitespace().nth(1) == Some(version.as_str()));
            if !have_version {
                miss(
                    &format!("wasm-bindgen-cli {version}"),
                    setup_fix(&format!("cargo install into {}", tools_dir().display())),
                );
            }
        }
        Needs::Node | Needs::Browser => {
            if !have("node") {
                miss(
                    "node (Node.js 20 or newer)",
                    "install Node.js and npm".into(),
                );
            }
            if !root
                .join("wasm-tests/node_modules/playwright-core")
                .exists()
            {
                miss(
                    "the npm packages of wasm-tests/",
                    setup_fix("npm ci in wasm-tests/"),
                );
            }
            if needs == Needs::Browser && !Path::new("/usr/bin/chromium").exists() {
                miss("Chromium", setup_fix("apt-get install chromium"));
            }
        }
    }
    out
}

/// The `PATH` a new shell of this user would have, without anything a developer added:
/// rustup's bin directory, then the system directories.
pub fn clean_path() -> String {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/root"));
    let cargo_bin = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| home.join(".cargo"))
        .join("bin");
    format!(
        "{}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        cargo_bin.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_machine_without_clang_has_no_wasm_c_tools() {
        // The machine of the bug report: rustup's wasm32 target, gcc, GNU ar, no clang.
        let have = |p: &str| matches!(p, "gcc" | "cc" | "ar");
        assert_eq!(find_wasm_c_tools(WasmRoute::Rustup, &have, &|_| true), None);
    }

    #[test]
    fn clang_without_an_llvm_archiver_is_not_enough() {
        let have = |p: &str| matches!(p, "clang" | "ar");
        assert_eq!(find_wasm_c_tools(WasmRoute::Rustup, &have, &|_| true), None);
    }

    #[test]
    fn a_clang_that_cannot_target_wasm32_is_skipped() {
        let have = |p: &str| matches!(p, "clang" | "llvm-ar" | "clang-14" | "llvm-ar-14");
        let found = find_wasm_c_tools(WasmRoute::Rustup, &have, &|cc| cc == "clang-14");
        assert_eq!(
            found,
            Some(WasmCTools {
                cc: "clang-14".into(),
                ar: "llvm-ar-14".into()
            })
        );
    }

    #[test]
    fn debian_route_uses_its_own_clang_16() {
        let have = |p: &str| matches!(p, "clang" | "llvm-ar" | "clang-16" | "llvm-ar-16");
        let found = find_wasm_c_tools(WasmRoute::Debian, &have, &|_| true);
        assert_eq!(found.map(|t| t.cc), Some("clang-16".to_string()));
    }

    #[test]
    fn versioned_clang_falls_back_to_the_unversioned_archiver() {
        let have = |p: &str| matches!(p, "clang-15" | "llvm-ar");
        let found = find_wasm_c_tools(WasmRoute::Rustup, &have, &|_| true);
        assert_eq!(
            found,
            Some(WasmCTools {
                cc: "clang-15".into(),
                ar: "llvm-ar".into()
            })
        );
    }

    #[test]
    fn the_clean_path_starts_with_cargo_bin_and_has_no_developer_dirs() {
        let p = clean_path();
        assert!(
            p.split(':')
                .next()
                .is_some_and(|d| d.ends_with(".cargo/bin"))
        );
        assert!(p.ends_with(":/bin"));
    }
}
