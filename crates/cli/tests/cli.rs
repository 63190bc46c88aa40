//! The `nipee` binary as separate processes against a real nostr-rs-relay.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

use nipee_relay::test_relay::TestRelay;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn nipee(dir: &Path, relay: &str, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_nipee"))
        .arg("--data-dir")
        .arg(dir)
        .args(["--relay", relay, "--json"])
        .args(args)
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn ok(r: Run) -> Vec<serde_json::Value> {
    assert_eq!(r.code, 0, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    r.stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "nipee-cli-{}-{}-{name}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn three_users_chat_through_the_cli() {
    let relay = TestRelay::start().unwrap_or_else(|e| panic!("{e}"));
    let url = relay.url();
    let (a, b, c) = (tmp("alice"), tmp("bob"), tmp("carol"));
    let npub = |d: &Path| {
        ok(nipee(d, &url, &["identity", "new"]))[0]["npub"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (_na, nb, nc) = (npub(&a), npub(&b), npub(&c));
    // A second identity in the same directory is refused.
    assert_eq!(nipee(&a, &url, &["identity", "new"]).code, 1);
    ok(nipee(&b, &url, &["keypackage", "publish"]));
    ok(nipee(&c, &url, &["keypackage", "publish", "--last-resort"]));

    let created = ok(nipee(
        &a,
        &url,
        &["group", "create", "cli-test", "--invite", &nb],
    ));
    let gid = created[0]["group"].as_str().unwrap().to_owned();
    let groups = ok(nipee(&b, &url, &["groups"]));
    assert_eq!(groups[0]["group"].as_str().unwrap(), gid);
    assert_eq!(groups[0]["name"], "cli-test");

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

    ok(nipee(&a, &url, &["group", "invite", &gid, &nc]));
    ok(nipee(&c, &url, &["groups"]));
    ok(nipee(&b, &url, &["group", "rotate", &gid]));
    let members = ok(nipee(&a, &url, &["members", &gid]));
    assert_eq!(members.len(), 3);
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

    // Exit codes that mean something.
    assert_eq!(nipee(&a, &url, &["frobnicate"]).code, 2);
    assert_eq!(nipee(&a, &url, &["members", "no-such-group"]).code, 1);
    let r = nipee(&b, &url, &["group", "remove", &gid, &nc]);
    assert_eq!(r.code, 1, "a non-admin's remove is refused");
    for d in [a, b, c] {
        std::fs::remove_dir_all(d).unwrap();
    }
}
