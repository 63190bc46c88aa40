//! `cargo xtask wasm-bench`: the facade's speed in headless Chromium against native nipee
//! (one thread) and against nostr-tools in the same page, on the same inputs.
//!
//! 1. builds the package (`cargo xtask wasm`) and the native example
//!    `crates/wasm/examples/wasm-bench` (release);
//! 2. the example writes the inputs (`fixtures`) and times the operations natively with
//!    `RAYON_NUM_THREADS=1` (`native`);
//! 3. `wasm-tests/bench.mjs` times the same operations, and nostr-tools' equivalents, in
//!    headless Chromium on the same file;
//! 4. prints a Markdown table with the ratios, also written to
//!    `target/wasm-bench/table.md`.
//!
//! The native and the browser runs alternate `--runs N` times (default 2) and each row keeps
//! its fastest median per side: on a shared machine that is the run least disturbed by
//! other work, so the ratios compare like with like.

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::util::{cargo, run};

/// The rows of the table: id (shared by the native and the browser run), label.
const ROWS: &[(&str, &str)] = &[
    ("join128", "join from the Welcome gift wrap (n = 128)"),
    ("join1024", "join from the Welcome gift wrap (n = 1024)"),
    ("update1024", "process a self-update commit (n = 1024)"),
    ("msgEncrypt", "application message 100 B, send (n = 16)"),
    ("msgDecrypt", "application message 100 B, process (n = 16)"),
    ("sign", "event sign"),
    ("verify", "event verify"),
    ("nip44Encrypt", "NIP-44 encrypt 1 KiB (with key derivation)"),
    ("nip44Decrypt", "NIP-44 decrypt 1 KiB (with key derivation)"),
    (
        "nip44EncryptCachedKey",
        "NIP-44 encrypt 1 KiB, key derived once",
    ),
    (
        "nip44DecryptCachedKey",
        "NIP-44 decrypt 1 KiB, key derived once",
    ),
    ("giftWrap", "gift wrap (1 KiB rumor)"),
    ("unwrap", "gift unwrap (1 KiB rumor)"),
];

/// Runs the whole benchmark and prints the table.
///
/// # Errors
/// A step that fails, or results that do not parse.
pub fn command(root: &Path, args: &[String]) -> Result<(), String> {
    let runs = match args {
        [] => 2,
        [flag, n] if flag == "--runs" => n
            .parse::<usize>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or("--runs takes a positive number")?,
        _ => return Err("usage: cargo xtask wasm-bench [--runs N]".into()),
    };
    let route = crate::setup::wasm_route().ok_or("no wasm32 toolchain: run `cargo xtask setup`")?;
    crate::wasm::build_libs(root, route)?;
    crate::wasm::package(root, route)?;
    let out = crate::wasm::pkg_dir(root).with_file_name("wasm-bench");
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let fixtures = out.join("fixtures.json");
    let example = |mode: &str| {
        let mut c = Command::new(cargo());
        c.current_dir(root)
            .args(["run", "--quiet", "--release", "-p", "nipee-wasm"])
            .args(["--example", "wasm-bench", "--", mode])
            .arg(&fixtures)
            .env("RAYON_NUM_THREADS", "1");
        c
    };
    run(&mut example("fixtures"))?;
    let (mut natives, mut browsers) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        natives.push(json_stdout(&mut example("native"))?);
        browsers.push(json_stdout(
            Command::new("node")
                .arg("bench.mjs")
                .arg(&fixtures)
                .current_dir(root.join("wasm-tests"))
                .env("NIPEE_WASM_PKG", crate::wasm::pkg_dir(root)),
        )?);
    }
    let (native, browser) = fastest(&natives, &browsers);
    let table = table(&native, &browser)?;
    println!("{table}");
    let file = out.join("table.md");
    std::fs::write(&file, &table).map_err(|e| format!("{}: {e}", file.display()))?;
    eprintln!("wasm-bench: table written to {}", file.display());
    Ok(())
}

/// Runs `cmd` (stderr passed through) and parses its stdout as JSON.
fn json_stdout(cmd: &mut Command) -> Result<Value, String> {
    eprintln!("$ {cmd:?}");
    let out = cmd
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("{cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!("{cmd:?} failed with {}", out.status));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("{cmd:?} printed no JSON: {e}"))
}

/// The fastest median of each row over several runs: native `{ id: secs }`, browser
/// `{ ..., results: { id: { nipee, nostrTools } } }` (the first run's other fields).
fn fastest(natives: &[Value], browsers: &[Value]) -> (Value, Value) {
    let min = |vals: Vec<Option<f64>>| {
        vals.into_iter()
            .flatten()
            .min_by(f64::total_cmp)
            .map_or(Value::Null, Value::from)
    };
    let mut native = serde_json::Map::new();
    let mut browser = browsers.first().cloned().unwrap_or(Value::Null);
    for (id, _) in ROWS {
        native.insert(
            (*id).to_owned(),
            min(natives.iter().map(|n| n[id].as_f64()).collect()),
        );
        for side in ["nipee", "nostrTools"] {
            browser["results"][id][side] = min(browsers
                .iter()
                .map(|b| b["results"][id][side].as_f64())
                .collect());
        }
    }
    (Value::Object(native), browser)
}

/// A duration in seconds, in the unit that suits it.
fn show(secs: f64) -> String {
    if secs >= 1e-3 {
        format!("{:.2} ms", secs * 1e3)
    } else {
        format!("{:.1} µs", secs * 1e6)
    }
}

/// The Markdown table: native, browser, browser ÷ native (goal ≤ 3), nostr-tools,
/// nostr-tools ÷ nipee in the browser (goal > 1).
pub fn table(native: &Value, browser: &Value) -> Result<String, String> {
    let results = &browser["results"];
    let mut t = format!(
        "Chromium {}, nostr-tools {}, cross-origin isolated: {}\n\n\
         | operation | native (1 thread) | wasm in Chromium | wasm ÷ native | nostr-tools in Chromium | nostr-tools ÷ wasm |\n\
         | --- | ---: | ---: | ---: | ---: | ---: |\n",
        browser["chromium"].as_str().unwrap_or("?"),
        browser["nostrTools"].as_str().unwrap_or("?"),
        browser["crossOriginIsolated"],
    );
    for (id, label) in ROWS {
        let n = native[id].as_f64();
        let w = results[id]["nipee"].as_f64();
        let nt = results[id]["nostrTools"].as_f64();
        if n.is_none() && w.is_none() && nt.is_none() {
            return Err(format!("no result for {id}"));
        }
        let cell = |v: Option<f64>| v.map_or("—".to_string(), show);
        let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
            _ => "—".to_string(),
        };
        let _ = writeln!(
            t,
            "| {label} | {} | {} | {} | {} | {} |",
            cell(n),
            cell(w),
            ratio(w, n),
            cell(nt),
            ratio(nt, w),
        );
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_table_gives_both_ratios_and_dashes_where_a_side_is_missing() {
        let mut native = json!({});
        let mut results = json!({});
        for (id, _) in ROWS {
            native[id] = json!(0.001);
            results[id] = json!({ "nipee": 0.002, "nostrTools": 0.004 });
        }
        results["nip44EncryptCachedKey"] = json!({ "nipee": null, "nostrTools": 0.000_05 });
        native["nip44EncryptCachedKey"] = Value::Null;
        let browser = json!({ "chromium": "1.0", "nostrTools": "2", "crossOriginIsolated": true, "results": results });
        let t = table(&native, &browser).unwrap();
        assert!(
            t.contains("| event sign | 1.00 ms | 2.00 ms | 2.00 | 4.00 ms | 2.00 |"),
            "{t}"
        );
        assert!(t.contains("| — | — | — | 50.0 µs | — |"), "{t}");
        // The header, the rule and one line per row.
        assert_eq!(
            t.lines().filter(|l| l.starts_with("| ")).count(),
            ROWS.len() + 2
        );
    }

    #[test]
    fn each_row_keeps_its_fastest_run() {
        let n1 = json!({ "sign": 2.0, "verify": 1.0 });
        let n2 = json!({ "sign": 1.0, "verify": 3.0 });
        let b1 =
            json!({ "chromium": "x", "results": { "sign": { "nipee": 5.0, "nostrTools": 4.0 } } });
        let b2 = json!({ "results": { "sign": { "nipee": 6.0, "nostrTools": 3.0 } } });
        let (n, b) = fastest(&[n1, n2], &[b1, b2]);
        assert_eq!(
            (n["sign"].as_f64(), n["verify"].as_f64()),
            (Some(1.0), Some(1.0))
        );
        assert_eq!(
            b["results"]["sign"],
            json!({ "nipee": 5.0, "nostrTools": 3.0 })
        );
        assert_eq!(b["chromium"], "x");
        assert!(n["unwrap"].is_null());
    }

    #[test]
    fn a_missing_row_is_an_error() {
        let browser = json!({ "results": {} });
        assert!(table(&json!({}), &browser).is_err());
    }
}
