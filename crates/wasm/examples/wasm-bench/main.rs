//! The native half of `cargo xtask wasm-bench`:
//!
//! * `wasm-bench fixtures OUT.json`: writes the benchmark's inputs (groups of 128 and
//!   1024 members, a self-update commit, application messages, Nostr events), made through
//!   the facade's native API.
//! * `wasm-bench native FIXTURES.json`: times the same operations natively on those inputs
//!   and prints `{ id: seconds per operation }` as JSON. Single-threaded, like the browser:
//!   it refuses to run unless `RAYON_NUM_THREADS=1`.
//!
//! `wasm-tests/bench.mjs` times the operations in headless Chromium on the same file.

mod fixtures;
mod native;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match (args.first().map(String::as_str), args.get(1)) {
        (Some("fixtures"), Some(out)) => fixtures::make().and_then(|fx| {
            std::fs::write(out, fx.to_string()).map_err(|e| format!("writing {out}: {e}"))
        }),
        (Some("native"), Some(path)) => {
            if std::env::var("RAYON_NUM_THREADS").as_deref() != Ok("1") {
                eprintln!(
                    "wasm-bench: run with RAYON_NUM_THREADS=1 (one thread, as in the browser)"
                );
                return ExitCode::FAILURE;
            }
            std::fs::read_to_string(path)
                .map_err(|e| format!("reading {path}: {e}"))
                .and_then(|s| serde_json::from_str(&s).map_err(|e| e.to_string()))
                .and_then(|fx| native::run(&fx))
                .map(|v| println!("{v}"))
        }
        _ => Err("usage: wasm-bench fixtures OUT.json | wasm-bench native FIXTURES.json".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wasm-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
