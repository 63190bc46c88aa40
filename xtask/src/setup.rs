//! `cargo xtask setup`: installs what the tests need, only what is missing.

use crate::tools::{self, WASM_C_PACKAGES};
use crate::util::{cargo, have, output, run, tools_dir};
use std::path::{Path, PathBuf};
use std::process::Command;

/// How the wasm32 standard library is obtained on this machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WasmRoute {
    /// rustup's `wasm32-unknown-unknown` target (an ordinary developer machine).
    Rustup,
    /// Debian's `rustc-web` with `rust-web-src`, building std with `-Zbuild-std`
    /// (machines where rustup cannot download targets).
    Debian,
}

/// The Debian packages of the wasm route (see `docs/ARCHITECTURE.md`).
const DEBIAN_WASM_PACKAGES: &[&str] = &[
    "rustc-web",
    "cargo-web",
    "rust-web-src",
    "lld-16",
    "clang-16",
    "llvm-16",
];

/// The version of nostr-rs-relay the relay tests run against.
pub const RELAY_VERSION: &str = "0.8.12";

/// Detects an installed wasm route, preferring rustup's target.
pub fn wasm_route() -> Option<WasmRoute> {
    let installed = output(Command::new("rustup").args(["target", "list", "--installed"]));
    if installed.is_some_and(|s| s.lines().any(|l| l.trim() == "wasm32-unknown-unknown")) {
        return Some(WasmRoute::Rustup);
    }
    let debian_ok = Path::new("/usr/bin/rustc").exists()
        && Path::new("/usr/bin/cargo").exists()
        && Path::new("/usr/lib/rustlib/src/rust/library").exists()
        && have("wasm-ld-16");
    debian_ok.then_some(WasmRoute::Debian)
}

/// The exact `wasm-bindgen` version pinned in Cargo.lock.
pub fn wasm_bindgen_version(root: &Path) -> Result<String, String> {
    let lock = std::fs::read_to_string(root.join("Cargo.lock"))
        .map_err(|e| format!("reading Cargo.lock: {e}"))?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == "name = \"wasm-bindgen\""
            && let Some(v) = lines
                .next()
                .and_then(|l| l.trim().strip_prefix("version = \""))
        {
            return Ok(v.trim_end_matches('"').to_string());
        }
    }
    Err("Cargo.lock has no wasm-bindgen entry (is nipee-wasm in the workspace?)".into())
}

/// The wasm-bindgen CLI binary xtask uses.
pub fn wasm_bindgen_bin() -> PathBuf {
    tools_dir().join("bin/wasm-bindgen")
}

/// The nostr-rs-relay binary the relay tests start.
pub fn relay_bin() -> PathBuf {
    tools_dir().join("bin/nostr-rs-relay")
}

fn is_root() -> bool {
    output(Command::new("id").arg("-u")).is_some_and(|s| s.trim() == "0")
}

fn apt_install(packages: &[&str], why: &str) -> Result<(), String> {
    if !have("apt-get") {
        return Err(format!(
            "{why}: apt-get is not available; install these packages by hand: {}",
            packages.join(" ")
        ));
    }
    let mut prefix: Vec<&str> = Vec::new();
    if !is_root() {
        if have("sudo") {
            prefix.push("sudo");
        } else {
            return Err(format!(
                "{why}: need root for apt-get; run: apt-get install -y {}",
                packages.join(" ")
            ));
        }
    }
    eprintln!("setup: {why}: installing {}", packages.join(" "));
    let apt = |args: &[&str]| {
        let mut all = prefix.clone();
        all.push("apt-get");
        all.extend_from_slice(args);
        let mut c = Command::new(all[0]);
        c.args(&all[1..]).env("DEBIAN_FRONTEND", "noninteractive");
        c
    };
    run(&mut apt(&["update", "-qq"]))?;
    let mut args = vec!["install", "-y", "-qq", "--no-install-recommends"];
    args.extend_from_slice(packages);
    run(&mut apt(&args)).map_err(|e| format!("{why}: {e}"))
}

/// The candidate version of a Debian package, if apt knows it.
fn apt_candidate(package: &str) -> Option<String> {
    let out = output(Command::new("apt-cache").args(["policy", package]))?;
    let v = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("Candidate: "))?
        .trim()
        .to_string();
    (v != "(none)").then_some(v)
}

fn ensure_wasm_std() -> Result<WasmRoute, String> {
    if let Some(route) = wasm_route() {
        eprintln!("setup: wasm32 standard library: {route:?} route present");
        return Ok(route);
    }
    // An ordinary machine: rustup can download the target. Bounded, since on
    // machines without access to rustup's host the download hangs.
    if have("rustup") {
        eprintln!("setup: trying `rustup target add wasm32-unknown-unknown` (60 s limit)");
        let ok = Command::new("timeout")
            .args(["60", "rustup", "target", "add", "wasm32-unknown-unknown"])
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return Ok(WasmRoute::Rustup);
        }
        eprintln!("setup: rustup could not add the target; using Debian's rustc-web route");
    }
    // Debian route: rustc-web and rust-web-src must be the same version.
    if have("apt-get") && !have("apt-cache") {
        return Err("apt-cache missing".into());
    }
    let _ = run(Command::new("apt-get").args(["update", "-qq"]));
    let version = apt_candidate("rustc-web").ok_or(
        "no wasm32 standard library: neither `rustup target add wasm32-unknown-unknown` nor \
         Debian's rustc-web package is available; install one of them by hand",
    )?;
    let pinned: Vec<String> = DEBIAN_WASM_PACKAGES
        .iter()
        .map(|p| {
            if p.starts_with("rust") || p.starts_with("cargo") {
                format!("{p}={version}")
            } else {
                (*p).to_string()
            }
        })
        .collect();
    let refs: Vec<&str> = pinned.iter().map(String::as_str).collect();
    apt_install(&refs, "wasm32 toolchain (Debian rustc-web route)")?;
    wasm_route().ok_or_else(|| "the Debian wasm route is still incomplete after install".into())
}

/// A C compiler and archiver for wasm32 (secp256k1-sys builds C). The Debian route brings
/// clang-16 with its compiler; on the rustup route a fresh machine has no clang at all, so
/// it is installed here, then checked by compiling a C file for wasm32.
fn ensure_wasm_c_tools(route: WasmRoute) -> Result<(), String> {
    if let Some(t) = tools::wasm_c_tools(route) {
        eprintln!("setup: C compiler for wasm32: {} with {}", t.cc, t.ar);
        return Ok(());
    }
    let packages: &[&str] = match route {
        WasmRoute::Rustup => WASM_C_PACKAGES,
        WasmRoute::Debian => &["clang-16", "llvm-16"],
    };
    apt_install(
        packages,
        "a C compiler for wasm32 (secp256k1-sys compiles C)",
    )?;
    match tools::wasm_c_tools(route) {
        Some(t) => {
            eprintln!("setup: C compiler for wasm32: {} with {}", t.cc, t.ar);
            Ok(())
        }
        None => Err(format!(
            "installed {} but found no clang that compiles for wasm32-unknown-unknown together \
             with an llvm-ar; install a clang with the WebAssembly target by hand",
            packages.join(" ")
        )),
    }
}

fn ensure_wasm_bindgen(root: &Path) -> Result<(), String> {
    let version = wasm_bindgen_version(root)?;
    let bin = wasm_bindgen_bin();
    let current = output(Command::new(&bin).arg("--version"));
    if current
        .as_deref()
        .is_some_and(|s| s.split_whitespace().nth(1) == Some(version.as_str()))
    {
        eprintln!("setup: wasm-bindgen-cli {version} present");
        return Ok(());
    }
    eprintln!("setup: installing wasm-bindgen-cli {version} (about 3 minutes)");
    run(Command::new(cargo()).args([
        "install",
        "wasm-bindgen-cli",
        "--version",
        &version,
        "--root",
        &tools_dir().to_string_lossy(),
    ]))
}

fn ensure_chromium() -> Result<(), String> {
    if have("/usr/bin/chromium") && have("/usr/bin/chromedriver") {
        eprintln!("setup: chromium and chromedriver present");
        return Ok(());
    }
    apt_install(&["chromium", "chromium-driver"], "headless browser tests")
}

fn ensure_npm(root: &Path) -> Result<(), String> {
    let dir = root.join("wasm-tests");
    if ["playwright-core", "nostr-tools"]
        .iter()
        .all(|p| dir.join("node_modules").join(p).exists())
    {
        eprintln!("setup: wasm-tests npm packages present");
        return Ok(());
    }
    if !have("npm") {
        return Err("npm is missing: install Node.js 20+ and npm by hand".into());
    }
    run(Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(&dir))
}

/// Installs nostr-rs-relay for the relay and NIP-EE integration tests.
fn ensure_relay() -> Result<(), String> {
    let bin = relay_bin();
    if bin.exists() {
        eprintln!("setup: nostr-rs-relay present at {}", bin.display());
        return Ok(());
    }
    if !have("protoc") {
        apt_install(
            &["protobuf-compiler"],
            "nostr-rs-relay build (needs protoc)",
        )?;
    }
    eprintln!("setup: building nostr-rs-relay {RELAY_VERSION} (about 6.5 minutes, then cached)");
    // Not --locked: its lockfile pins a `time` that does not compile on current Rust.
    run(Command::new(cargo()).args([
        "install",
        &format!("nostr-rs-relay@{RELAY_VERSION}"),
        "--root",
        &tools_dir().to_string_lossy(),
    ]))
}

/// Everything `test-all` needs, installing only what is missing.
pub fn setup(root: &Path) -> Result<WasmRoute, String> {
    let route = ensure_wasm_std()?;
    ensure_wasm_c_tools(route)?;
    // The C dependency of the wasm32 build, compiled now: a toolchain that cannot build it
    // is reported here, by setup, not twenty minutes later inside the wasm stage.
    crate::wasm::build_c_dependency(root, route)?;
    ensure_wasm_bindgen(root)?;
    ensure_chromium()?;
    ensure_npm(root)?;
    if root.join("crates/relay").exists() {
        ensure_relay()?;
    }
    // The fuzz smoke stage of test-all (and `cargo xtask fuzz`).
    if root.join("fuzz").exists() {
        crate::fuzz::ensure_tools()?;
    }
    Ok(route)
}
