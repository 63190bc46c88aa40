//! The official (and derived) Nostr vectors as tests, through the same runner as the
//! `nostr-vectors` example.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/vectors.rs"]
mod vectors;

fn run(suite: &str, file: &str, min_cases: usize) {
    let path = vectors::vectors_dir().join(file);
    let o = vectors::run(suite, &path).unwrap();
    for n in &o.notes {
        println!("note: {n}");
    }
    assert!(o.failures.is_empty(), "{suite}: {:#?}", o.failures);
    assert!(
        o.passed >= min_cases,
        "{suite}: only {} cases ran",
        o.passed
    );
    println!("{suite}: {}", o.summary());
}

#[test]
fn nip44_all_valid_and_invalid_cases_and_extended_prefix_pass() {
    // 35 + 32 + 24 + 10 + 3 valid, 4 + 3 message lengths, 8 + 12 invalid, 3 extended.
    run("nip44", "nip44.vectors.json", 134);
}

#[test]
fn bip340_all_19_rows_pass() {
    run("bip340", "bip340-test-vectors.csv", 19);
}

#[test]
fn nip01_all_12_id_vectors_pass() {
    run("nip01", "nip01.derived-vectors.json", 12);
}

#[test]
fn nip59_worked_example_passes() {
    run("nip59", "nip59.example.json", 16);
}
