//! Runs a Nostr known-answer vector file:
//! `cargo run -p nipee-nostr --release --example nostr-vectors -- <nip44|bip340|nip01|nip59> FILE`
//!
//! Prints one line per failed case, informational notes, then `N passed, M failed`; exits
//! non-zero on any failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/support/vectors.rs"]
mod vectors;

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (suite, file) = match args.as_slice() {
        [suite, file] => (suite.as_str(), PathBuf::from(file)),
        _ => {
            eprintln!("usage: nostr-vectors <nip44|bip340|nip01|nip59> FILE");
            return ExitCode::from(2);
        }
    };
    match vectors::run(suite, &file) {
        Ok(outcome) => {
            for note in &outcome.notes {
                println!("note: {note}");
            }
            for f in &outcome.failures {
                println!("FAIL {f}");
            }
            println!("{}", outcome.summary());
            if outcome.failures.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            println!("0 passed, 1 failed");
            ExitCode::FAILURE
        }
    }
}
