//! Building for wasm32-unknown-unknown, by rustup's target or Debian's route.

use crate::setup::{WasmRoute, wasm_bindgen_bin};
use crate::tools::wasm_c_tools;
use crate::util::{cargo, output, run};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Library crates that must build for wasm32 (the relay client and the CLI do
/// IO natively and are exempt). Only those present in the workspace are built.
const WASM_LIBS: &[&str] = &[
    "nipee-codec",
    "nipee-keypackage",
    "nipee-mls",
    "nipee-nostr",
    "nipee",
    "nipee-wasm",
];

const TARGET: &str = "wasm32-unknown-unknown";

/// The folder the packaged facade is written to: `target/wasm-pkg/{web,nodejs}`.
pub fn pkg_dir(root: &Path) -> PathBuf {
    root.join("target/wasm-pkg")
}

fn target_dir(root: &Path, route: WasmRoute) -> PathBuf {
    match route {
        WasmRoute::Rustup => root.join("target/wasm32-rustup"),
        WasmRoute::Debian => root.join("target/wasm32-debian"),
    }
}

/// A cargo command set up for the route, in its own target dir so native
/// builds are not invalidated. The C compiler and archiver for wasm32 are found by
/// [`wasm_c_tools`] and passed explicitly, so the build does not depend on what the
/// caller's environment happens to set.
fn wasm_cargo(root: &Path, route: WasmRoute) -> Result<Command, String> {
    let tools = wasm_c_tools(route).ok_or(
        "no C compiler for wasm32 (clang) with an llvm-ar: run `cargo xtask setup`, which \
         installs them (apt-get install clang llvm)",
    )?;
    let mut c = match route {
        WasmRoute::Rustup => Command::new(cargo()),
        WasmRoute::Debian => {
            let mut c = Command::new("/usr/bin/cargo");
            c.env("RUSTC", "/usr/bin/rustc")
                .env("RUSTC_BOOTSTRAP", "1")
                .env("CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER", "wasm-ld-16")
                .env_remove("RUSTUP_TOOLCHAIN")
                .env_remove("RUSTDOC");
            c
        }
    };
    c.current_dir(root)
        .env("CC_wasm32_unknown_unknown", &tools.cc)
        .env("AR_wasm32_unknown_unknown", &tools.ar)
        // secp256k1-sys 0.11 calls memmove without a declaration on wasm32; clang 16 and
        // newer make that an error by default.
        .env(
            "CFLAGS_wasm32_unknown_unknown",
            "-Wno-error=implicit-function-declaration",
        )
        .env("CARGO_TARGET_DIR", target_dir(root, route))
        // getrandom 0.3 (pulled by some dependencies) needs this cfg on wasm32;
        // the facade turns on the matching feature.
        .env("RUSTFLAGS", "--cfg getrandom_backend=\"wasm_js\"")
        .env_remove("RUSTC_WRAPPER")
        .env_remove("RUSTC_WORKSPACE_WRAPPER");
    c.args(["build", "--profile", "wasm", "--target", TARGET]);
    if route == WasmRoute::Debian {
        c.arg("-Zbuild-std=std,panic_abort");
    }
    Ok(c)
}

/// The version of secp256k1-sys the library crates use (dev-dependencies pull another,
/// so the bare name is ambiguous to `cargo build -p`).
fn c_dependency_spec(root: &Path) -> Result<String, String> {
    let tree = output(
        Command::new(cargo())
            .args([
                "tree",
                "-p",
                "nipee-nostr",
                "-e",
                "normal",
                "--prefix",
                "none",
            ])
            .args(["--format", "{p}"])
            .current_dir(root),
    )
    .ok_or("cargo tree -p nipee-nostr failed")?;
    tree.lines()
        .find_map(|l| l.strip_prefix("secp256k1-sys v"))
        .map(|v| format!("secp256k1-sys@{}", v.split_whitespace().next().unwrap_or(v)))
        .ok_or_else(|| "nipee-nostr no longer depends on secp256k1-sys".to_string())
}

/// Compiles the wasm32 build's C dependency (secp256k1-sys) alone, in the wasm target
/// dir: proves that the C toolchain works for wasm32, and leaves the result for the full
/// build to reuse.
pub fn build_c_dependency(root: &Path, route: WasmRoute) -> Result<(), String> {
    let spec = c_dependency_spec(root)?;
    let mut c = wasm_cargo(root, route)?;
    c.args(["-p", &spec]);
    run(&mut c).map_err(|e| format!("the C dependency does not build for wasm32: {e}"))
}

fn workspace_packages(root: &Path) -> Vec<String> {
    let Some(json) = output(
        Command::new(cargo())
            .args(["metadata", "--format-version", "1", "--no-deps"])
            .current_dir(root),
    ) else {
        return Vec::new();
    };
    let Ok(meta) = serde_json::from_str::<serde_json::Value>(&json) else {
        return Vec::new();
    };
    meta["packages"]
        .as_array()
        .map(|ps| {
            ps.iter()
                .filter_map(|p| p["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Builds every library crate for wasm32 (release), including the facade.
pub fn build_libs(root: &Path, route: WasmRoute) -> Result<(), String> {
    let present = workspace_packages(root);
    let mut c = wasm_cargo(root, route)?;
    c.arg("--lib");
    let mut any = false;
    for lib in WASM_LIBS.iter().filter(|l| present.iter().any(|p| p == *l)) {
        c.args(["-p", lib]);
        any = true;
    }
    if !any {
        return Err("no library crate found for the wasm build".into());
    }
    run(&mut c)
}

/// Packages the facade with wasm-bindgen for `--target web` and `--target
/// nodejs` into [`pkg_dir`].
pub fn package(root: &Path, route: WasmRoute) -> Result<(), String> {
    let wasm = target_dir(root, route)
        .join(TARGET)
        .join("wasm/nipee_wasm.wasm");
    if !wasm.exists() {
        return Err(format!("{} was not built", wasm.display()));
    }
    for target in ["web", "nodejs"] {
        let out = pkg_dir(root).join(target);
        run(Command::new(wasm_bindgen_bin())
            .args(["--target", target, "--out-dir"])
            .arg(&out)
            .arg(&wasm))?;
    }
    eprintln!(
        "wasm: packages written to {}/{{web,nodejs}}",
        pkg_dir(root).display()
    );
    Ok(())
}
