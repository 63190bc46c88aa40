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

/// The wasm32 build's own target dir, inside cargo's ([`crate::util::target_dir`]), so
/// native builds are not invalidated by the other toolchain or flags.
fn target_dir(root: &Path, route: WasmRoute) -> PathBuf {
    let cargo_target = crate::util::target_dir(root);
    match route {
        WasmRoute::Rustup => cargo_target.join("wasm32-rustup"),
        WasmRoute::Debian => cargo_target.join("wasm32-debian"),
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

/// The JavaScript shipped beside the generated bindings (`crates/wasm/js/`).
const JS_FILES: &[&str] = &["host.js", "storage.js"];

/// Packages the facade with wasm-bindgen for `--target web` and `--target nodejs` into
/// [`pkg_dir`], with the package's own JavaScript (relay host, stores), its TypeScript
/// types, an entry point and a `package.json`, then prints the size of the `.wasm`.
pub fn package(root: &Path, route: WasmRoute) -> Result<(), String> {
    let wasm = target_dir(root, route)
        .join(TARGET)
        .join("wasm/nipee_wasm.wasm");
    if !wasm.exists() {
        return Err(format!("{} was not built", wasm.display()));
    }
    let js = root.join("crates/wasm/js");
    let version = env!("CARGO_PKG_VERSION");
    for target in ["web", "nodejs"] {
        let out = pkg_dir(root).join(target);
        // The name and producers sections are removed here (not by `strip`, which would
        // also remove the `target_features` section wasm-bindgen reads).
        run(Command::new(wasm_bindgen_bin())
            .args(["--remove-name-section", "--remove-producers-section"])
            .args(["--target", target, "--out-dir"])
            .arg(&out)
            .arg(&wasm))?;
        // In the Node package the bindings are CommonJS; the package's own modules are
        // ES modules, so they get the .mjs extension there.
        let ext = if target == "web" { "js" } else { "mjs" };
        for f in JS_FILES {
            let stem = f.trim_end_matches(".js");
            copy(&js.join(f), &out.join(format!("{stem}.{ext}")))?;
        }
        copy(&js.join("nipee.d.ts"), &out.join("nipee.d.ts"))?;
        copy(&root.join("crates/wasm/README.md"), &out.join("README.md"))?;
        let default = if target == "web" {
            "export { default } from \"./nipee_wasm.js\";\n"
        } else {
            ""
        };
        let index = format!(
            "// The nipee package: the generated bindings and the package's own modules.\n\
             export * from \"./nipee_wasm.js\";\n{default}\
             export * from \"./host.{ext}\";\nexport * from \"./storage.{ext}\";\n"
        );
        write(&out.join(format!("index.{ext}")), &index)?;
        let kind = if target == "web" {
            "\"type\": \"module\",\n  "
        } else {
            ""
        };
        let manifest = format!(
            "{{\n  \"name\": \"nipee\",\n  \"version\": \"{version}\",\n  \
             \"description\": \"NIP-EE group messaging over MLS, in WebAssembly\",\n  \
             {kind}\"main\": \"index.{ext}\",\n  \"types\": \"nipee.d.ts\",\n  \
             \"license\": \"MIT OR Apache-2.0\"\n}}\n"
        );
        write(&out.join("package.json"), &manifest)?;
    }
    let (raw, gz) = size_of(&pkg_dir(root).join("web/nipee_wasm_bg.wasm"))?;
    eprintln!(
        "wasm: packages written to {}/{{web,nodejs}}; nipee_wasm_bg.wasm is {raw} bytes, {gz} gzipped",
        pkg_dir(root).display()
    );
    Ok(())
}

fn copy(from: &Path, to: &Path) -> Result<(), String> {
    std::fs::copy(from, to)
        .map(|_| ())
        .map_err(|e| format!("copying {} to {}: {e}", from.display(), to.display()))
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("writing {}: {e}", path.display()))
}

/// The size of a file, raw and gzipped (level 9), in bytes.
pub fn size_of(path: &Path) -> Result<(u64, u64), String> {
    use std::io::Write;
    let bytes = std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(&bytes).map_err(|e| e.to_string())?;
    let gz = enc.finish().map_err(|e| e.to_string())?;
    Ok((bytes.len() as u64, gz.len() as u64))
}

/// The recorded size of the package (`crates/wasm/size-budget.json`).
const BUDGET_FILE: &str = "crates/wasm/size-budget.json";

/// Fails when the packaged `.wasm` is more than 10 % larger (raw or gzipped) than the
/// recorded figure.
pub fn check_size_budget(root: &Path) -> Result<(), String> {
    let (raw, gz) = size_of(&pkg_dir(root).join("web/nipee_wasm_bg.wasm"))?;
    let text = std::fs::read_to_string(root.join(BUDGET_FILE))
        .map_err(|e| format!("reading {BUDGET_FILE}: {e}"))?;
    let budget: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{BUDGET_FILE}: {e}"))?;
    let field = |name: &str| {
        budget[name]
            .as_u64()
            .ok_or_else(|| format!("{BUDGET_FILE} has no number {name:?}"))
    };
    let (b_raw, b_gz) = (field("raw")?, field("gzip")?);
    eprintln!("wasm size: {raw} bytes ({b_raw} recorded), {gz} gzipped ({b_gz} recorded)");
    let over = |now: u64, recorded: u64| now * 10 > recorded * 11;
    if over(raw, b_raw) || over(gz, b_gz) {
        return Err(format!(
            "nipee_wasm_bg.wasm grew more than 10 %: {raw} bytes ({gz} gzipped) against \
             {b_raw} ({b_gz}) recorded in {BUDGET_FILE}; shrink it, or record the new size \
             there with the reason in the commit"
        ));
    }
    Ok(())
}
