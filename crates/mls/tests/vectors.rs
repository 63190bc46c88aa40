//! Every official MLS test-vector file this crate implements, run as tests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use nipee_mls::test_vectors;

fn run(kind: &str, file: &str) {
    let path = format!("{}/../../vectors/mls/{file}", env!("CARGO_MANIFEST_DIR"));
    let json = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let outcome = test_vectors::run(kind, &json).unwrap();
    assert!(
        outcome.failures.is_empty(),
        "{file}: {:#?}\n{}",
        outcome.failures,
        outcome.summary()
    );
    assert!(outcome.passed > 0, "{file}: no case ran");
}

#[test]
fn tree_math_vectors_pass() {
    run("tree-math", "tree-math.json");
}

#[test]
fn crypto_basics_vectors_pass() {
    run("crypto-basics", "crypto-basics.json");
}

#[test]
fn key_schedule_vectors_pass() {
    run("key-schedule", "key-schedule.json");
}

#[test]
fn psk_secret_vectors_pass() {
    run("psk_secret", "psk_secret.json");
}

#[test]
fn secret_tree_vectors_pass() {
    run("secret-tree", "secret-tree.json");
}

#[test]
fn transcript_hashes_vectors_pass() {
    run("transcript-hashes", "transcript-hashes.json");
}

#[test]
fn message_protection_vectors_pass() {
    run("message-protection", "message-protection.json");
}

#[test]
fn welcome_vectors_pass() {
    run("welcome", "welcome.json");
}

#[test]
fn deserialization_vectors_pass() {
    run("deserialization", "deserialization.json");
}

#[test]
fn tree_validation_vectors_pass() {
    run("tree-validation", "tree-validation.json");
}

#[test]
fn tree_operations_vectors_pass() {
    run("tree-operations", "tree-operations.json");
}

#[test]
fn treekem_vectors_pass() {
    run("treekem", "treekem.json");
}

#[test]
fn messages_vectors_pass() {
    run("messages", "messages.json");
}
