//! The replay runner on the shared nostr-mls v0.43 file.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

const FILE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../vectors/nip-ee/nostr-mls-basic.json"
);

#[test]
fn nostr_mls_basic_replays_as_every_member() {
    let json = std::fs::read_to_string(FILE).unwrap();
    let report = nipee_test_support::replay::replay(&json).unwrap();
    for f in report.failures() {
        eprintln!(
            "step {} as {} ({}): {:?}",
            f.step, f.member, f.expect, f.failure
        );
    }
    println!("{} passed, {} failed", report.passed(), report.failed());
    // Every check passes: KeyPackage parsing (3), carol's replay (15 steps) and bob's (15
    // steps, including his own commit at step 13, applied from the recorded
    // committer_secrets with the own-commit-recovery feature, and the epoch-3 and epoch-4
    // steps after it, each checked against the recorded epoch values).
    assert_eq!(report.failed(), 0);
    assert_eq!(report.passed(), 33);
    let steps = |member: &str| -> Vec<(usize, &str)> {
        report
            .results
            .iter()
            .filter(|r| r.member == member)
            .map(|r| (r.step, r.expect.as_str()))
            .collect()
    };
    assert_eq!(steps("any").len(), 3);
    assert_eq!(steps("carol").len(), 15);
    assert_eq!(
        steps("bob"),
        vec![
            (4, "join"),
            (5, "application"),
            (6, "application"),
            (7, "own_application"),
            (8, "own_application"),
            (9, "commit"),
            (10, "ignore_not_addressed"),
            (11, "application"),
            (12, "application"),
            (13, "own_commit"),
            (14, "application"),
            (15, "own_application"),
            (16, "application"),
            (17, "commit"),
            (18, "application"),
        ]
    );
}

#[test]
fn bobs_own_commit_fails_with_a_wrong_committer_secret_and_the_rest_of_his_replay_with_it() {
    let json = std::fs::read_to_string(FILE).unwrap();
    let mut d: serde_json::Value = serde_json::from_str(&json).unwrap();
    // Flip one bit of the recorded path secret: the derived path keys no longer match the
    // UpdatePath, so the own commit is rejected and bob stays in epoch 2.
    let ps = d["steps"][13]["committer_secrets"]["update_path"][0]["path_secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let flipped = format!(
        "{}{}",
        if ps.starts_with('0') { "1" } else { "0" },
        &ps[1..]
    );
    d["steps"][13]["committer_secrets"]["update_path"][0]["path_secret"] = flipped.into();
    let report = nipee_test_support::replay::replay(&d.to_string()).unwrap();
    let bob_failures: Vec<(usize, String)> = report
        .failures()
        .filter(|r| r.member == "bob")
        .map(|r| (r.step, r.failure.clone().unwrap_or_default()))
        .collect();
    assert_eq!(
        bob_failures.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        vec![13, 14, 16, 17, 18],
        "{bob_failures:?}"
    );
    assert!(
        bob_failures[0].1.contains("path secret"),
        "{bob_failures:?}"
    );
    assert!(report.failures().all(|r| r.member == "bob"));
}

#[test]
fn the_runner_rejects_files_of_another_schema() {
    assert!(nipee_test_support::replay::replay("{}").is_err());
    assert!(nipee_test_support::replay::replay("not json").is_err());
    assert!(nipee_test_support::replay::replay(r#"{"format":"nipee-interop-vectors/1"}"#).is_err());
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
    let report = nipee_test_support::replay::replay(&d.to_string()).unwrap();
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
