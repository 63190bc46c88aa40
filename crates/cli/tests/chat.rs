//! `nipee chat` driven through a pseudo-terminal, two users against a real relay.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;

use common::{command, new_identity, nipee, ok, tmp};
use nipee_relay::test_relay::TestRelay;
use rexpect::session::{PtySession, spawn_command};

/// How long one expectation may wait (relay round trips, process start-up).
const WAIT_MS: u64 = 30_000;

fn chat(dir: &Path, group: &str) -> PtySession {
    let mut c = command(dir);
    c.args(["chat", group]).env("TERM", "xterm");
    spawn_command(c, Some(WAIT_MS)).unwrap()
}

#[test]
fn two_users_chat_and_each_sees_the_others_lines() {
    let relay = TestRelay::start().unwrap_or_else(|e| panic!("{e}"));
    let url = relay.url();
    let (a, b) = (tmp("chat-alice"), tmp("chat-bob"));
    let (na, nb) = (new_identity(&a, &url), new_identity(&b, &url));
    ok(nipee(&a, &url, &["petname", "set", "bob", &nb]));
    ok(nipee(&b, &url, &["petname", "set", "alice", &na]));
    ok(nipee(&b, &url, &["keypackage", "publish"]));
    ok(nipee(
        &a,
        &url,
        &["group", "create", "pals", "--invite", "bob"],
    ));
    ok(nipee(&b, &url, &["sync"]));

    let mut alice = chat(&a, "pals");
    alice.exp_string("chatting in pals (2 members)").unwrap();
    let mut bob = chat(&b, "pals");
    bob.exp_string("chatting in pals (2 members)").unwrap();

    alice.send_line("hello from alice").unwrap();
    bob.exp_string("alice: hello from alice").unwrap();
    bob.send_line("hi alice, bob here").unwrap();
    alice.exp_string("bob: hi alice, bob here").unwrap();

    // Chat commands: the member list names bob by his petname; a key rotation is seen
    // by the other side; an unknown command says what to type.
    alice.send_line("/members").unwrap();
    alice.exp_string("bob  npub1").unwrap();
    bob.send_line("/rotate").unwrap();
    bob.exp_string("rotate: done").unwrap();
    alice.exp_string("bob rotated keys").unwrap();
    alice.send_line("/frob").unwrap();
    alice.exp_string("type /help").unwrap();
    // Messages still flow after the new epoch.
    alice.send_line("still here").unwrap();
    bob.exp_string("alice: still here").unwrap();

    alice.send_line("/quit").unwrap();
    alice.exp_eof().unwrap();
    bob.send_control('d').unwrap();
    bob.exp_eof().unwrap();
    for d in [a, b] {
        std::fs::remove_dir_all(d).unwrap();
    }
}
