//! The passive-client vectors (suite 1), run through the same code as `mls-vectors
//! passive-client FILE`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use nipee_mls::test_vectors;

/// Runs every suite-1 case of `file`: (passed, failures).
fn run(file: &str) -> (usize, Vec<String>) {
    let path = format!("{}/../../vectors/mls/{file}", env!("CARGO_MANIFEST_DIR"));
    let json = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let outcome = test_vectors::run("passive-client", &json).unwrap();
    (outcome.passed, outcome.failures)
}

#[test]
fn passive_client_welcome_vectors_pass() {
    let (passed, failures) = run("passive-client-welcome.json");
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(passed > 0);
}

#[test]
fn passive_client_handling_commit_vectors_pass() {
    let (passed, failures) = run("passive-client-handling-commit.json");
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(passed > 0);
}

#[test]
fn passive_client_random_vectors_pass() {
    let (passed, failures) = run("passive-client-random.json");
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(passed > 0);
}
