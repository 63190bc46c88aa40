//! `--profile marmot` end to end: remembered in config.json, KeyPackages and groups in the
//! Marmot formats between two `nipee` processes through a real relay, the default still
//! `nip-ee`. (The same against MDK: `crates/test-support/mdk-interop`.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{new_identity, nipee, ok, tmp};
use nipee_relay::test_relay::TestRelay;

#[test]
fn two_users_talk_in_a_marmot_group_and_the_profile_is_remembered() {
    let relay = TestRelay::start().unwrap_or_else(|e| panic!("{e}"));
    let url = relay.url();
    let (a, b, c) = (tmp("alice"), tmp("bob"), tmp("carol"));
    new_identity(&a, &url);
    let nb = ok(nipee(&b, &url, &["--profile", "marmot", "identity", "new"]))[0]["npub"]
        .as_str()
        .unwrap()
        .to_owned();
    new_identity(&c, &url);

    // The choice lands in config.json; a directory without it stays nip-ee.
    let config = std::fs::read_to_string(b.join("config.json")).unwrap();
    assert!(config.contains("\"profile\": \"marmot\""), "{config}");
    assert!(
        !std::fs::read_to_string(c.join("config.json"))
            .unwrap()
            .contains("profile")
    );
    assert_eq!(
        ok(nipee(&c, &url, &["status", "--offline"]))[0]["profile"],
        "nip-ee"
    );

    ok(nipee(&b, &url, &["keypackage", "publish"]));
    let created = ok(nipee(
        &a,
        &url,
        &[
            "--profile",
            "marmot",
            "group",
            "create",
            "marmot-cli",
            "--invite",
            &nb,
        ],
    ));
    let gid = created[0]["group"].as_str().unwrap().to_owned();
    ok(nipee(&b, &url, &["sync"]));
    for dir in [&a, &b] {
        let groups = ok(nipee(dir, &url, &["groups"]));
        let g = groups.iter().find(|g| g["group"] == gid.as_str()).unwrap();
        assert_eq!(g["profile"], "marmot");
    }
    ok(nipee(&a, &url, &["send", &gid, "hello", "in", "marmot"]));
    let got = ok(nipee(
        &b,
        &url,
        &["listen", "--count", "1", "--timeout", "20"],
    ));
    let msg = got.iter().find(|v| v["type"] == "message").unwrap();
    assert_eq!(msg["content"], "hello in marmot");
    let rotated = ok(nipee(&b, &url, &["group", "rotate", &gid]));
    assert_eq!(rotated[0]["result"], "confirmed");
    let members = ok(nipee(&a, &url, &["members", &gid, "--sync"]));
    assert_eq!(members.len(), 2);

    // A bad profile in config.json is a storage failure that says how to fix it.
    std::fs::write(c.join("config.json"), "{\"profile\": \"mls\"}").unwrap();
    let r = nipee(&c, &url, &["groups"]);
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert!(r.stderr.contains("nip-ee and marmot"), "{}", r.stderr);
    for d in [a, b, c] {
        std::fs::remove_dir_all(d).ok();
    }
}

/// `--tree-out-of-band on`: remembered in config.json; the invitee's `sync` fetches the
/// tree's chunks from the relay and joins; `off` goes back.
#[test]
fn an_invitation_with_the_tree_out_of_band_is_joined_through_the_relay() {
    let relay = TestRelay::start().unwrap_or_else(|e| panic!("{e}"));
    let url = relay.url();
    let (a, b) = (tmp("alice-oob"), tmp("bob-oob"));
    new_identity(&a, &url);
    let nb = new_identity(&b, &url);
    ok(nipee(&b, &url, &["keypackage", "publish"]));
    let created = ok(nipee(
        &a,
        &url,
        &[
            "--tree-out-of-band",
            "on",
            "group",
            "create",
            "oob",
            "--invite",
            &nb,
        ],
    ));
    let config = std::fs::read_to_string(a.join("config.json")).unwrap();
    assert!(config.contains("\"tree_out_of_band\": true"), "{config}");
    let gid = created[0]["group"].as_str().unwrap().to_owned();
    ok(nipee(&b, &url, &["sync"]));
    assert!(
        ok(nipee(&b, &url, &["groups"]))
            .iter()
            .any(|g| g["group"] == gid.as_str()),
        "bob joined"
    );
    ok(nipee(
        &a,
        &url,
        &["send", &gid, "tree", "out", "of", "band"],
    ));
    let got = ok(nipee(
        &b,
        &url,
        &["listen", "--count", "1", "--timeout", "20"],
    ));
    let msg = got.iter().find(|v| v["type"] == "message").unwrap();
    assert_eq!(msg["content"], "tree out of band");
    ok(nipee(&a, &url, &["--tree-out-of-band", "off", "groups"]));
    let config = std::fs::read_to_string(a.join("config.json")).unwrap();
    assert!(config.contains("\"tree_out_of_band\": false"), "{config}");
    for d in [a, b] {
        std::fs::remove_dir_all(d).ok();
    }
}

/// `--journal delete`: remembered in config.json, SQLite reports it, the database stays one
/// file between commands, and the identity and a published KeyPackage are still there
/// after going back to `wal`.
#[test]
fn the_journal_mode_is_remembered_and_the_database_survives_a_change() {
    let relay = TestRelay::start().unwrap_or_else(|e| panic!("{e}"));
    let url = relay.url();
    let a = tmp("alice-journal");
    let npub = ok(nipee(&a, &url, &["--journal", "delete", "identity", "new"]))[0]["npub"]
        .as_str()
        .unwrap()
        .to_owned();
    let config = std::fs::read_to_string(a.join("config.json")).unwrap();
    assert!(config.contains("\"journal\": \"delete\""), "{config}");
    ok(nipee(&a, &url, &["keypackage", "publish"]));
    let status = ok(nipee(&a, &url, &["status", "--offline"]));
    assert_eq!(status[0]["journal"], "delete");
    assert!(
        !a.join("nipee.db-wal").exists(),
        "one file between commands"
    );
    let status = ok(nipee(
        &a,
        &url,
        &["--journal", "wal", "status", "--offline"],
    ));
    assert_eq!(status[0]["journal"], "wal");
    assert_eq!(status[0]["npub"], npub.as_str());
    let config = std::fs::read_to_string(a.join("config.json")).unwrap();
    assert!(config.contains("\"journal\": \"wal\""), "{config}");
    // A name the CLI does not know is refused with a clear error.
    std::fs::write(
        a.join("config.json"),
        config.replace("\"wal\"", "\"truncate\""),
    )
    .unwrap();
    let out = nipee(&a, &url, &["status", "--offline"]);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("journal mode"), "{}", out.stderr);
    std::fs::remove_dir_all(a).ok();
}
