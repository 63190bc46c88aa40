//! The replay runner on the shared nostr-mls v0.43 file.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

const FILE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/vectors/nip-ee/nostr-mls-basic.json"
);

#[test]
fn nostr_mls_basic_replays_as_every_member() {
    let json = std::fs::read_to_string(FILE).unwrap();
    let report = nipee::replay::replay(&json).unwrap();
    for f in report.failures() {
        eprintln!(
            "step {} as {} ({}): {:?}",
            f.step, f.member, f.expect, f.failure
        );
    }
    println!("{} passed, {} failed", report.passed(), report.failed());
    // KeyPackage parsing (3) and every step of carol's replay pass.
    assert!(
        report
            .results
            .iter()
            .filter(|r| r.member != "bob")
            .all(|r| r.failure.is_none())
    );
    assert_eq!(
        report.results.iter().filter(|r| r.member == "any").count(),
        3
    );
    assert_eq!(
        report
            .results
            .iter()
            .filter(|r| r.member == "carol")
            .count(),
        15
    );
    // bob passes every step up to his own commit (step 13). Replaying a commit that
    // nostr-mls created as bob's own needs an API nipee-mls does not have (applying a
    // commit with recorded committer_secrets), so step 13 fails, and the steps after it
    // fail for lack of the epoch-3 keys (step 15, his own message, is skippable). This
    // is a known gap, reported; the assertions pin it so that any other regression fails.
    let bob_failures: Vec<(usize, &str)> = report
        .failures()
        .filter(|r| r.member == "bob")
        .map(|r| (r.step, r.expect.as_str()))
        .collect();
    assert_eq!(
        bob_failures,
        vec![
            (13, "own_commit"),
            (14, "application"),
            (16, "application"),
            (17, "commit"),
            (18, "application")
        ]
    );
    let bob_passed: Vec<usize> = report
        .results
        .iter()
        .filter(|r| r.member == "bob" && r.failure.is_none())
        .map(|r| r.step)
        .collect();
    assert_eq!(bob_passed, vec![4, 5, 6, 7, 8, 9, 10, 11, 12, 15]);
}

#[test]
fn the_runner_rejects_files_of_another_schema() {
    assert!(nipee::replay::replay("{}").is_err());
    assert!(nipee::replay::replay("not json").is_err());
    assert!(nipee::replay::replay(r#"{"format":"nipee-interop-vectors/1"}"#).is_err());
}

#[test]
fn the_runner_reports_tampered_expectations_as_failures() {
    let json = std::fs::read_to_string(FILE).unwrap();
    let mut d: serde_json::Value = serde_json::from_str(&json).unwrap();
    // Expect different application data at step 11, a different epoch after step 9, and
    // claim carol can read step 18.
    d["steps"][11]["application_data"] = "tampered".into();
    d["steps"][9]["epoch_authenticator_after"] = "00".repeat(32).into();
    d["steps"][18]["expect"]["carol"] = "application".into();
    let report = nipee::replay::replay(&d.to_string()).unwrap();
    let failed: Vec<(usize, String)> = report
        .failures()
        .filter(|r| r.step < 13 || r.member == "carol")
        .map(|r| (r.step, r.member.clone()))
        .collect();
    assert!(failed.contains(&(11, "bob".into())), "{failed:?}");
    assert!(failed.contains(&(11, "carol".into())), "{failed:?}");
    assert!(failed.contains(&(9, "bob".into())), "{failed:?}");
    assert!(failed.contains(&(18, "carol".into())), "{failed:?}");
}
