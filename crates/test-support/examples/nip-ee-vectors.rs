//! Replays a NIP-EE interop file (`nipee-interop-vectors/1`) as each replayable member.
//!
//! `cargo run -p nipee --release --example nip-ee-vectors -- FILE…`
//!
//! Prints one line per failing check and the closing line `N passed, M failed`; exits 1 when
//! a check failed and 2 when a file could not be read or does not follow the schema.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::ExitCode;

fn main() -> ExitCode {
    let files: Vec<String> = std::env::args().skip(1).collect();
    if files.is_empty() {
        eprintln!("usage: nip-ee-vectors FILE…");
        return ExitCode::from(2);
    }
    let (mut passed, mut failed) = (0, 0);
    for file in &files {
        let json = match std::fs::read_to_string(file) {
            Ok(j) => j,
            Err(e) => {
                eprintln!("{file}: {e}");
                return ExitCode::from(2);
            }
        };
        let report = match nipee_test_support::replay::replay(&json) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("{file}: {e}");
                return ExitCode::from(2);
            }
        };
        for f in report.failures() {
            println!(
                "FAIL {file} step {} as {} (expect {}): {}",
                f.step,
                f.member,
                f.expect,
                f.failure.as_deref().unwrap_or_default()
            );
        }
        passed += report.passed();
        failed += report.failed();
    }
    println!("{passed} passed, {failed} failed");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
