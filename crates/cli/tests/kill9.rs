//! `kill -9` at random moments: alice and bob run `send`, `group rotate` and `sync` as
//! separate `nipee` processes against a real relay (SQLite storage), each killed after a
//! random delay, in a loop (`NIPEE_KILL_RUNS`, default 8; the reliability campaign runs 50;
//! `NIPEE_KILL_SEED` replays one). Then everyone syncs and the state is checked: every
//! member active at one epoch with nothing pending or queued, every message whose `send`
//! finished received by every other member (carol only syncs; what alice's and bob's `send`
//! and `group` commands read waits in the inbox for their next `sync`), no text received
//! as two different messages, and a last message from each side read by everyone.
//!
//! Delivery is at least once: a `sync` killed after printing a message and before
//! acknowledging it prints it again next time, under the same inner event id, which is how
//! a reader recognises it (counted and reported).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{command, new_identity, nipee, ok, tmp};
use nipee_relay::test_relay::TestRelay;
use rand::{Rng, RngExt, SeedableRng};

fn lines(stdout: &str) -> Vec<serde_json::Value> {
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// What a member's runs printed: each message text with the inner event ids it was
/// printed under (one, unless the same text came as two messages) and how many times.
type Got = BTreeMap<String, (BTreeSet<String>, usize)>;

fn record(into: &mut Got, out: &[serde_json::Value]) {
    for v in out {
        if v["type"] == "message" {
            let (ids, n) = into
                .entry(v["content"].as_str().unwrap_or_default().to_owned())
                .or_default();
            ids.insert(v["id"].as_str().unwrap_or_default().to_owned());
            *n += 1;
        }
    }
}

fn has(got: &Got, text: &str) -> bool {
    got.get(text).is_some_and(|(ids, _)| ids.len() == 1)
}

/// Starts `nipee ARGS` and kills it with SIGKILL after `after`, unless it ended first.
/// Returns the exit code (None when killed) and what it printed.
fn run_and_kill(dir: &Path, relay: &str, args: &[&str], after: Duration) -> (Option<i32>, String) {
    let mut c = command(dir);
    c.args(["--relay", relay, "--json"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = c.spawn().unwrap();
    let start = Instant::now();
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        if start.elapsed() >= after {
            child.kill().unwrap();
            child.wait().unwrap();
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let mut out = String::new();
    if let Some(mut s) = child.stdout.take() {
        use std::io::Read;
        let _ = s.read_to_string(&mut out);
    }
    (code, out)
}

fn groups(dir: &Path, relay: &str) -> serde_json::Value {
    let g = ok(nipee(dir, relay, &["groups"]));
    g.into_iter().next().unwrap_or_default()
}

#[test]
fn members_killed_at_random_moments_end_on_one_epoch_with_nothing_lost() {
    let runs: usize = std::env::var("NIPEE_KILL_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(8);
    let seed: u64 = std::env::var("NIPEE_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::rng().random());
    eprintln!("kill -9 loop: {runs} runs, seed {seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let relay = TestRelay::start().unwrap_or_else(|e| panic!("{e}"));
    let url = relay.url();
    let dirs = [tmp("alice"), tmp("bob"), tmp("carol")];
    let npubs: Vec<String> = dirs.iter().map(|d| new_identity(d, &url)).collect();
    ok(nipee(&dirs[1], &url, &["keypackage", "publish"]));
    ok(nipee(&dirs[2], &url, &["keypackage", "publish"]));
    let created = ok(nipee(
        &dirs[0],
        &url,
        &[
            "group", "create", "kill", "--invite", &npubs[1], "--invite", &npubs[2],
        ],
    ));
    let gid = created[0]["group"].as_str().unwrap().to_owned();
    ok(nipee(&dirs[1], &url, &["sync"]));
    ok(nipee(&dirs[2], &url, &["sync"]));

    let mut received: Vec<Got> = vec![Got::new(); 3];
    let mut finished: Vec<(usize, String)> = Vec::new();
    let mut killed = 0;
    for i in 0..runs {
        let who = rng.random_range(0..2usize);
        let text = format!("k{i} from {who}");
        let args: Vec<&str> = match rng.random_range(0..3u32) {
            0 => vec!["send", &gid, &text],
            1 => vec!["group", "rotate", &gid],
            _ => vec!["sync"],
        };
        let after = Duration::from_millis(rng.random_range(0..250));
        let (code, out) = run_and_kill(&dirs[who], &url, &args, after);
        record(&mut received[who], &lines(&out));
        match code {
            None => killed += 1,
            Some(0) if args[0] == "send" => finished.push((who, text.clone())),
            // A rotation can end as pending (3) or discarded (1): the next sync settles it.
            Some(_) => {}
        }
        eprintln!("run {i}: member {who} {args:?} after {after:?}: {code:?}");
    }
    eprintln!("kill -9 loop: {killed} of {runs} processes killed");

    // Everyone syncs until nothing changes; the CLI republishes what was queued.
    for _ in 0..3 {
        for (who, d) in dirs.iter().enumerate() {
            let r = nipee(d, &url, &["sync"]);
            assert_eq!(r.code, 0, "{}", r.stderr);
            record(&mut received[who], &lines(&r.stdout));
        }
    }
    let states: Vec<serde_json::Value> = dirs.iter().map(|d| groups(d, &url)).collect();
    for (who, g) in states.iter().enumerate() {
        assert_eq!(g["active"], true, "member {who}: {g}");
        assert_eq!(g["pending_commit"], false, "member {who}: {g}");
        assert_eq!(
            g["epoch"], states[0]["epoch"],
            "member {who} on another epoch: {g}"
        );
        let status = ok(nipee(&dirs[who], &url, &["status", "--offline"]));
        let queued = status.iter().find(|v| v["type"] == "outbox").unwrap();
        assert_eq!(
            queued["queued"], 0,
            "member {who} still has events to publish"
        );
    }
    for (sender, text) in &finished {
        for who in (0..3).filter(|w| w != sender) {
            assert!(has(&received[who], text), "member {who} and {text:?}");
        }
    }
    let mut repeats = 0;
    for (r, got) in received.iter().enumerate() {
        for (text, (ids, n)) in got {
            assert_eq!(ids.len(), 1, "member {r} received {text:?} as {ids:?}");
            repeats += n - 1;
        }
    }
    eprintln!("kill -9 loop: {repeats} message(s) printed again after a killed run (same id)");
    // One branch: what each side says now, everyone reads.
    ok(nipee(&dirs[0], &url, &["send", &gid, "last from alice"]));
    for who in [1, 2] {
        let r = ok(nipee(&dirs[who], &url, &["sync"]));
        record(&mut received[who], &r);
    }
    ok(nipee(&dirs[1], &url, &["send", &gid, "last from bob"]));
    for who in [0, 2] {
        let r = ok(nipee(&dirs[who], &url, &["sync"]));
        record(&mut received[who], &r);
    }
    assert!(has(&received[1], "last from alice"));
    assert!(has(&received[2], "last from alice"));
    assert!(has(&received[0], "last from bob"));
    assert!(has(&received[2], "last from bob"));
    for d in dirs {
        let _ = std::fs::remove_dir_all(d);
    }
    let _ = rng.next_u32();
}
