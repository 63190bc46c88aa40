//! The `nipee` binary as separate processes against a real nostr-rs-relay.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;

use common::{new_identity, nipee, ok, tmp};
use nipee_relay::test_relay::TestRelay;

fn group_named<'a>(groups: &'a [serde_json::Value], gid: &str) -> &'a serde_json::Value {
    groups
        .iter()
        .find(|g| g["group"] == gid)
        .unwrap_or_else(|| panic!("no group {gid} in {groups:?}"))
}

#[test]
fn three_users_chat_and_manage_a_group_through_the_cli() {
    let relay = TestRelay::start().unwrap_or_else(|e| panic!("{e}"));
    let url = relay.url();
    let (a, b, c) = (tmp("alice"), tmp("bob"), tmp("carol"));
    let (_na, nb, nc) = (
        new_identity(&a, &url),
        new_identity(&b, &url),
        new_identity(&c, &url),
    );
    // A second identity in the same directory is refused.
    let again = nipee(&a, &url, &["identity", "new"]);
    assert_eq!(again.code, 1);
    assert!(again.stderr.contains("already holds"), "{}", again.stderr);
    ok(nipee(&b, &url, &["keypackage", "publish"]));
    ok(nipee(&c, &url, &["keypackage", "publish", "--last-resort"]));

    let created = ok(nipee(
        &a,
        &url,
        &["group", "create", "cli-test", "--invite", &nb],
    ));
    let gid = created[0]["group"].as_str().unwrap().to_owned();
    // Bob joins from the Welcome on sync; `groups` then lists the group.
    let joined = ok(nipee(&b, &url, &["sync"]));
    assert!(joined.iter().any(|v| v["type"] == "joined"), "{joined:?}");
    let groups = ok(nipee(&b, &url, &["groups"]));
    assert_eq!(group_named(&groups, &gid)["name"], "cli-test");

    let sent = ok(nipee(&a, &url, &["send", &gid[..8], "hello", "bob"]));
    let hello_id = sent[0]["id"].as_str().unwrap().to_owned();
    let got = ok(nipee(
        &b,
        &url,
        &["listen", "--count", "1", "--timeout", "20"],
    ));
    let msg = got.iter().find(|v| v["type"] == "message").unwrap();
    assert_eq!(msg["content"], "hello bob");
    assert_eq!(msg["id"].as_str().unwrap(), hello_id);

    ok(nipee(&b, &url, &["react", "cli-test", &hello_id, "+"]));
    let got = ok(nipee(
        &a,
        &url,
        &["listen", "--count", "1", "--timeout", "20"],
    ));
    let r = got.iter().find(|v| v["type"] == "message").unwrap();
    assert_eq!(r["kind"], 7);

    let invited = ok(nipee(&a, &url, &["group", "invite", &gid, &nc]));
    assert_eq!(invited[0]["result"], "confirmed");
    ok(nipee(&c, &url, &["sync"]));
    let rotated = ok(nipee(&b, &url, &["group", "rotate", &gid]));
    assert_eq!(rotated[0]["result"], "confirmed");
    let members = ok(nipee(&a, &url, &["members", &gid, "--sync"]));
    assert_eq!(members.len(), 3);
    assert_eq!(members.iter().filter(|m| m["admin"] == true).count(), 1);

    // Group data: a rename, and bob made admin, who may then change the description.
    let renamed = ok(nipee(&a, &url, &["group", "rename", &gid, "renamed"]));
    assert_eq!(renamed[0]["result"], "confirmed");
    let relays = ok(nipee(&a, &url, &["group", "relays", &gid, &url]));
    assert_eq!(relays[0]["result"], "confirmed");
    let r = nipee(&b, &url, &["group", "describe", &gid, "by bob"]);
    assert_eq!(r.code, 1, "a non-admin's change is refused: {}", r.stderr);
    ok(nipee(&a, &url, &["group", "admins", "add", "renamed", &nb]));
    ok(nipee(&b, &url, &["sync"]));
    let groups = ok(nipee(&b, &url, &["groups"]));
    assert_eq!(group_named(&groups, &gid)["name"], "renamed");
    assert_eq!(group_named(&groups, &gid)["admin"], true);
    ok(nipee(&b, &url, &["group", "describe", "renamed", "by bob"]));
    let members = ok(nipee(&a, &url, &["members", &gid, "--sync"]));
    assert_eq!(members.iter().filter(|m| m["admin"] == true).count(), 2);

    ok(nipee(&a, &url, &["group", "remove", &gid, &nc]));
    ok(nipee(&a, &url, &["send", &gid, "after carol"]));
    let got = ok(nipee(
        &b,
        &url,
        &["listen", "--count", "1", "--timeout", "20"],
    ));
    assert!(got.iter().any(|v| v["content"] == "after carol"), "{got:?}");
    // Carol learns she was removed and cannot read the message; waiting for it times out.
    let r = nipee(&c, &url, &["listen", "--count", "1", "--timeout", "3"]);
    assert_eq!(r.code, 3, "{} {}", r.stdout, r.stderr);
    assert!(!r.stdout.contains("after carol"));
    assert!(r.stdout.contains("\"removed\""), "{}", r.stdout);

    // Bob asks to leave; an admin commits the proposal.
    ok(nipee(&b, &url, &["group", "leave", &gid]));
    let committed = ok(nipee(&a, &url, &["group", "commit-proposals", &gid]));
    assert_eq!(committed[0]["result"], "confirmed");
    let got = ok(nipee(&b, &url, &["listen", "--timeout", "3"]));
    assert!(got.iter().any(|v| v["type"] == "removed"), "{got:?}");

    // Status lists the relay as connected and the group with its epoch.
    let status = ok(nipee(&a, &url, &["status"]));
    let relay_line = status.iter().find(|v| v["type"] == "relay").unwrap();
    assert_eq!(relay_line["connected"], true, "{status:?}");
    let g = status.iter().find(|v| v["type"] == "group").unwrap();
    assert_eq!(
        (g["name"].as_str(), g["members"].as_u64()),
        (Some("renamed"), Some(1))
    );

    // Exit codes that mean something.
    assert_eq!(nipee(&a, &url, &["frobnicate"]).code, 2);
    let r = nipee(&a, &url, &["members", "no-such-group"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("nipee groups"), "{}", r.stderr);
    let r = nipee(&c, &url, &["group", "remove", &gid, &nb]);
    assert_eq!(
        r.code, 1,
        "a removed member's remove is refused: {}",
        r.stderr
    );
    for d in [a, b, c] {
        std::fs::remove_dir_all(d).unwrap();
    }
}

#[test]
fn an_unreachable_relay_is_exit_code_3() {
    let dir = tmp("nobody");
    // A port that nothing listens on: bind one, then let it go.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("ws://127.0.0.1:{port}");
    new_identity(&dir, &url);
    let r = nipee(&dir, &url, &["keypackage", "publish"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("no relay answered"), "{}", r.stderr);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn commands_without_an_identity_say_how_to_create_one() {
    let dir = tmp("empty");
    let r = nipee(&dir, "ws://127.0.0.1:1", &["groups"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("nipee identity new"), "{}", r.stderr);
    assert!(!Path::new(&dir).join("nipee.db").exists());
    let _ = std::fs::remove_dir_all(&dir);
}
