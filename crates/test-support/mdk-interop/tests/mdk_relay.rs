//! Scenario (b) through a real relay (nostr-rs-relay, nipee-relay's `test-relay` harness):
//! the `nipee` command with `--profile marmot` on one side, MDK users in this test process
//! on the other, every event going through the relay. The `nipee` binary is the one the
//! main workspace built (`cargo build -p nipee-cli`; `cargo xtask test-all` builds it
//! first), found beside this test's own executable or named by `NIPEE_BIN`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use mdk_core::prelude::MessageProcessingResult;
use nipee_mdk_interop::{MdkUser, mdk_gid, nipee_gid};
use nipee_nostr::{Event, EventId, Filter, Kind};
use nipee_relay::test_relay::TestRelay;
use nipee_relay::{FetchOptions, Pool, PoolConfig};
use tokio::runtime::Runtime;

fn nipee_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("NIPEE_BIN") {
        return PathBuf::from(p);
    }
    // target/debug/deps/<this test> → target/debug/nipee
    let exe = std::env::current_exe().unwrap();
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join(format!("nipee{}", std::env::consts::EXE_SUFFIX)))
        .unwrap();
    assert!(
        bin.exists(),
        "{} is missing: build it with `cargo build -p nipee-cli` in the main workspace, or name it with NIPEE_BIN",
        bin.display()
    );
    bin
}

/// `nipee --data-dir DIR --relay URL --json ARGS…`; the JSON lines of a run that must
/// succeed.
fn nipee(dir: &Path, relay: &str, args: &[&str]) -> Vec<serde_json::Value> {
    let out = Command::new(nipee_bin())
        .arg("--data-dir")
        .arg(dir)
        .args(["--relay", relay, "--json"])
        .args(args)
        .env_remove("NIPEE_DATA_DIR")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "nipee {args:?}: {}\nstdout: {stdout}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// The relay as the MDK side uses it: publish, and fetch what is new for it.
struct Wire {
    rt: Runtime,
    pool: Pool,
    seen: BTreeSet<EventId>,
}

impl Wire {
    fn new(url: &str) -> Wire {
        let rt = Runtime::new().unwrap();
        let pool = rt.block_on(async {
            let pool = Pool::connect(PoolConfig::default(), [url]).unwrap();
            pool.wait_connected(1, Duration::from_secs(10))
                .await
                .unwrap();
            pool
        });
        Wire {
            rt,
            pool,
            seen: BTreeSet::new(),
        }
    }

    fn publish(&mut self, e: &Event) {
        self.seen.insert(e.id());
        let outcome = self.rt.block_on(self.pool.publish(e));
        assert_eq!(
            outcome.accepted(),
            1,
            "the relay refused {}: {outcome:?}",
            e.id()
        );
    }

    /// Events matching `filter` not seen before, oldest first.
    fn fetch_new(&mut self, filter: Filter) -> Vec<Event> {
        let report = self
            .rt
            .block_on(
                self.pool
                    .fetch(vec![filter], FetchOptions::new(Duration::from_secs(5))),
            )
            .unwrap();
        let mut events: Vec<Event> = report
            .events
            .into_iter()
            .filter(|e| self.seen.insert(e.id()))
            .collect();
        events.sort_by_key(|e| (e.created_at(), e.id()));
        events
    }

    fn gift_wraps_for(&mut self, who: &MdkUser) -> Vec<Event> {
        self.fetch_new(
            Filter::new()
                .kind(Kind::GIFT_WRAP)
                .pubkey_tags([who.pubkey()]),
        )
    }

    fn group_events(&mut self, h: &[u8; 32]) -> Vec<Event> {
        self.fetch_new(
            Filter::new()
                .kind(Kind::MLS_GROUP_MESSAGE)
                .group(hex::encode(h)),
        )
    }
}

fn tmp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "nipee-mdk-relay-{}-{}-{name}",
        std::process::id(),
        rand::random::<u32>()
    ))
}

/// The nipee side's epoch and members of `gid` (from `groups --json` and `members`).
fn cli_view(dir: &Path, url: &str, gid: &str) -> (u64, BTreeSet<String>) {
    let groups = nipee(dir, url, &["groups"]);
    let g = groups
        .iter()
        .find(|g| g["group"] == gid)
        .unwrap_or_else(|| panic!("no group {gid} in {groups:?}"));
    assert_eq!(g["profile"], "marmot");
    let members = nipee(dir, url, &["members", gid])
        .iter()
        .map(|m| m["pubkey"].as_str().unwrap().to_owned())
        .collect();
    (g["epoch"].as_u64().unwrap(), members)
}

fn mdk_view(mdk: &MdkUser, gid: &nipee::GroupId) -> (u64, BTreeSet<String>) {
    (
        mdk.epoch(gid),
        mdk.members(gid).iter().map(|p| p.to_hex()).collect(),
    )
}

#[test]
fn the_nipee_command_with_profile_marmot_and_mdk_share_a_group_through_a_relay() {
    let relay = TestRelay::start().unwrap_or_else(|e| panic!("{e}"));
    let url = relay.url();
    let mut wire = Wire::new(&url);
    let alice = tmp("alice");
    let bob = MdkUser::with_relay(&url);
    let carol = MdkUser::with_relay(&url);

    // Alice on the command line, Marmot for her new groups.
    let id = nipee(&alice, &url, &["--profile", "marmot", "identity", "new"]);
    let alice_pk = id[0]["pubkey"].as_str().unwrap().to_owned();
    let status = nipee(&alice, &url, &["status", "--offline"]);
    assert_eq!(status[0]["profile"], "marmot");

    // Bob publishes his KeyPackage both ways MDK hands it out (30443 and legacy 443).
    wire.publish(&bob.key_package_event(false));
    wire.publish(&bob.key_package_event(true));
    let created = nipee(
        &alice,
        &url,
        &[
            "group",
            "create",
            "through-a-relay",
            "--invite",
            &bob.pubkey().to_hex(),
        ],
    );
    let gid_hex = created[0]["group"].as_str().unwrap().to_owned();
    let wraps = wire.gift_wraps_for(&bob);
    assert_eq!(wraps.len(), 1, "one Welcome for bob");
    let gid = bob.join(&wraps[0]).unwrap();
    assert_eq!(gid.to_hex(), gid_hex);
    let (_, _, h) = bob.group_data(&gid);
    assert_eq!(cli_view(&alice, &url, &gid_hex), mdk_view(&bob, &gid));

    // Messages both ways.
    nipee(
        &alice,
        &url,
        &["send", &gid_hex, "hello", "from", "the", "command", "line"],
    );
    let got: Vec<String> = wire.group_events(&h).iter().map(|e| bob.hears(e)).collect();
    assert_eq!(got, ["hello from the command line"]);
    wire.publish(&bob.send(&gid, "hello from MDK"));
    let heard = nipee(&alice, &url, &["listen", "--count", "1", "--timeout", "20"]);
    let m = heard.iter().find(|v| v["type"] == "message").unwrap();
    assert_eq!(m["content"], "hello from MDK");
    assert_eq!(m["author"], bob.pubkey().to_hex());

    // Alice adds carol (MDK) and removes her again.
    // Carol has only the addressable kind 30443, as White Noise publishes it.
    wire.publish(&carol.key_package_event(false));
    let invited = nipee(
        &alice,
        &url,
        &["group", "invite", &gid_hex, &carol.pubkey().to_hex()],
    );
    assert_eq!(invited[0]["result"], "confirmed");
    for e in wire.group_events(&h) {
        bob.applies(&e);
    }
    let wraps = wire.gift_wraps_for(&carol);
    assert_eq!(carol.join(&wraps[0]).unwrap(), gid);
    assert_eq!(cli_view(&alice, &url, &gid_hex), mdk_view(&bob, &gid));
    assert_eq!(mdk_view(&carol, &gid), mdk_view(&bob, &gid));
    let removed = nipee(
        &alice,
        &url,
        &["group", "remove", &gid_hex, &carol.pubkey().to_hex()],
    );
    assert_eq!(removed[0]["result"], "confirmed");
    for e in wire.group_events(&h) {
        bob.applies(&e);
        carol.applies(&e);
    }
    let state = carol.mdk.get_group(&mdk_gid(&gid)).unwrap().unwrap().state;
    assert_eq!(format!("{state:?}"), "Inactive");
    assert_eq!(cli_view(&alice, &url, &gid_hex), mdk_view(&bob, &gid));

    // Bob (MDK) rotates; alice syncs.
    let update = bob.mdk.self_update(&mdk_gid(&gid)).unwrap().evolution_event;
    bob.mdk.merge_pending_commit(&mdk_gid(&gid)).unwrap();
    wire.publish(&nipee_mdk_interop::to_nipee(&update));
    nipee(&alice, &url, &["sync"]);
    assert_eq!(cli_view(&alice, &url, &gid_hex), mdk_view(&bob, &gid));

    // Bob leaves: his request reaches alice on sync, and she commits it.
    let leave = bob.mdk.leave_group(&mdk_gid(&gid)).unwrap().evolution_event;
    wire.publish(&nipee_mdk_interop::to_nipee(&leave));
    nipee(&alice, &url, &["sync"]);
    let committed = nipee(&alice, &url, &["group", "commit-proposals", &gid_hex]);
    assert_eq!(committed[0]["result"], "confirmed");
    let events = wire.group_events(&h);
    assert_eq!(events.len(), 1, "the commit of bob's removal");
    assert!(matches!(
        bob.receive(&events[0]),
        Ok(MessageProcessingResult::Commit { .. })
    ));
    let state = bob.mdk.get_group(&mdk_gid(&gid)).unwrap().unwrap().state;
    assert_eq!(format!("{state:?}"), "Inactive");
    let (_, members) = cli_view(&alice, &url, &gid_hex);
    assert_eq!(members, BTreeSet::from([alice_pk]));
    assert_eq!(nipee_gid(&mdk_gid(&gid)), gid);
    std::fs::remove_dir_all(&alice).ok();
}
