//! The CLI shows every message once it printed it: a message its client read while another
//! command synced (here `send`) waits in the inbox and is shown by the next `sync`, and
//! only by that one.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{new_identity, nipee, ok, tmp};
use nipee_relay::test_relay::TestRelay;

fn messages(lines: &[serde_json::Value]) -> Vec<String> {
    lines
        .iter()
        .filter(|v| v["type"] == "message")
        .map(|v| v["content"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_message_read_while_sending_is_shown_by_the_next_sync_once() {
    let relay = TestRelay::start().unwrap_or_else(|e| panic!("{e}"));
    let url = relay.url();
    let (a, b) = (tmp("alice"), tmp("bob"));
    let (_na, nb) = (new_identity(&a, &url), new_identity(&b, &url));
    ok(nipee(&b, &url, &["keypackage", "publish"]));
    let created = ok(nipee(
        &a,
        &url,
        &["group", "create", "inbox", "--invite", &nb],
    ));
    let gid = created[0]["group"].as_str().unwrap().to_owned();
    let joined = ok(nipee(&b, &url, &["sync"]));
    assert!(joined.iter().any(|v| v["type"] == "joined"), "{joined:?}");

    ok(nipee(&a, &url, &["send", &gid, "first"]));
    // Bob's `send` syncs first: his client reads "first" there but shows nothing.
    let sent = ok(nipee(&b, &url, &["send", &gid, "reply"]));
    assert!(messages(&sent).is_empty(), "{sent:?}");
    let shown = ok(nipee(&b, &url, &["sync"]));
    assert_eq!(messages(&shown), ["first"]);
    let again = ok(nipee(&b, &url, &["sync"]));
    assert!(messages(&again).is_empty(), "{again:?}");
    let got = ok(nipee(&a, &url, &["sync"]));
    assert_eq!(messages(&got), ["reply"]);
}
