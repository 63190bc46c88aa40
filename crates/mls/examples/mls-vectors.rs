//! Runs an official MLS test-vector file: `mls-vectors <type> <file.json>`.
//!
//! Prints one line per failing case, then `N passed, M failed, K skipped`; exits non-zero on
//! any failure or when the type is not implemented.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (Some(kind), Some(path)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: mls-vectors <type> <file.json>");
        eprintln!("types: {}", nipee_mls::test_vectors::KINDS.join(", "));
        return ExitCode::from(2);
    };
    let json = match std::fs::read_to_string(path) {
        Ok(j) => j,
        Err(e) => {
            eprintln!("cannot read {path}: {e}");
            return ExitCode::from(2);
        }
    };
    match nipee_mls::test_vectors::run(kind, &json) {
        Ok(outcome) => {
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
            ExitCode::FAILURE
        }
    }
}
