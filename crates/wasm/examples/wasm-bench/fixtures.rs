//! The inputs of the browser benchmark, produced natively through the facade's own API so
//! that the browser and the native run measure the same operations on the same bytes.
//!
//! The groups of 128 and 1024 members are built the way `Client::create_group` builds one
//! (the same extensions, the same MLS calls), except that only the two members the
//! benchmark needs receive a gift-wrapped Welcome: wrapping a Welcome of a 1024-member group
//! (about 1.3 MB per wrap) for all 1023 invitees would cost gigabytes for nothing measured.
//! The joiner under test then joins through the facade's `process`, a real join.

use nipee::group_data::NostrGroupData;
use nipee::key_package_event::NewKeyPackage;
use nipee::{GroupId, Profile, WelcomeRumor};
use nipee_keypackage::{ExtensionType, ValidationPolicy};
use nipee_mls::RustCryptoSuite1;
use nipee_mls::group::{Group, GroupConfig, RequiredCapabilities};
use nipee_nostr::{Event, Keys, Timestamp};
use nipee_wasm::{
    Identity, NipeeClient, gift_wrap_native, nip44_encrypt_native, sign_event_native,
};
use rand::RngExt as _;
use serde_json::{Value, json};

/// Seconds since 1970 used for every operation (the core never reads a clock).
pub const NOW: u64 = 1_800_000_000;
/// The relay the benchmark's clients are configured with (never contacted).
pub const RELAY: &str = "wss://relay.bench.invalid";
/// Application messages pre-made for the decrypt benchmark.
pub const MESSAGES: usize = 420;
/// Members of the group the application messages are measured in.
pub const MESSAGE_GROUP: usize = 16;

pub fn config() -> Value {
    json!({ "relays": [RELAY] })
}

fn now() -> f64 {
    NOW as f64
}

type Res<T> = Result<T, String>;

fn err(e: impl core::fmt::Display) -> String {
    e.to_string()
}

fn new_client() -> Res<NipeeClient> {
    NipeeClient::create_native(&Identity::generate(), &json!([]), &config()).map_err(err)
}

fn key_package_event(c: &mut NipeeClient) -> Res<Value> {
    Ok(c.create_key_package_native(false, now()).map_err(err)?["value"].clone())
}

fn event_of(v: &Value) -> Res<Event> {
    Event::from_json(&v.to_string()).map_err(err)
}

/// The outcome types of an operation's result.
pub fn outcome_types(result: &Value) -> Vec<String> {
    result["outcomes"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|o| o["type"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn expect_outcome(result: &Value, ty: &str, what: &str) -> Res<()> {
    if outcome_types(result).iter().any(|t| t == ty) {
        Ok(())
    } else {
        Err(format!("{what}: expected a {ty:?} outcome, got {result}"))
    }
}

/// A group of `n` members built as `Client::create_group` builds one, with the Welcome
/// gift-wrapped only to `receivers` (KeyPackage events of real clients, first in the tree
/// after the creator). Returns one wrap per receiver.
fn big_group_welcomes(n: usize, receivers: &[Value]) -> Res<Vec<Value>> {
    let mut rng = rand::rng();
    let creator = Keys::generate(&mut rng);
    let first = event_of(&receivers[0])?;
    let profile = Profile::of_key_package_event(&first);
    let policy = ValidationPolicy::at(NOW);
    let mut kps = Vec::with_capacity(n - 1);
    let mut kp_events = Vec::new();
    for r in receivers {
        let parsed = profile
            .parse_key_package_event(&event_of(r)?, &policy)
            .map_err(err)?;
        kp_events.push((parsed.event_id, parsed.author));
        kps.push(parsed.key_package);
    }
    let options = NewKeyPackage {
        now: NOW,
        last_resort: false,
    };
    while kps.len() < n - 1 {
        let member = Keys::generate(&mut rng).public_key();
        let bundle = profile
            .generate_key_package(&member, &options, &mut rng)
            .map_err(err)?;
        kps.push(bundle.key_package().clone());
    }
    let mut nostr_group_id = [0u8; 32];
    rng.fill(&mut nostr_group_id[..]);
    let mut mls_group_id = vec![0u8; 32];
    rng.fill(&mut mls_group_id[..]);
    let relays = vec![RELAY.to_owned()];
    let data = NostrGroupData::new(
        nostr_group_id,
        "bench",
        "",
        vec![creator.public_key()],
        relays.clone(),
    );
    let required = RequiredCapabilities {
        extension_types: vec![ExtensionType::NOSTR_GROUP_DATA],
        proposal_types: vec![],
        credential_types: vec![],
    };
    let extensions = vec![
        required.to_extension().map_err(err)?,
        profile.group_data_extension(&data).map_err(err)?,
    ];
    let bundle = profile
        .generate_key_package(&creator.public_key(), &options, &mut rng)
        .map_err(err)?;
    let mut config = GroupConfig::new(NOW);
    config.max_resumption_psks = 0;
    let mut group = Group::create(
        RustCryptoSuite1::new(),
        config,
        GroupId::new(mls_group_id),
        bundle,
        extensions,
    )
    .map_err(err)?;
    let out = group.add_members(kps).map_err(err)?;
    group.merge_pending_commit().map_err(err)?;
    let welcome = out.welcome.ok_or("adding members made no Welcome")?;
    kp_events
        .iter()
        .map(|(event_id, author)| {
            let rumor = WelcomeRumor {
                mls_message: welcome.clone(),
                key_package_event_id: *event_id,
                relays: relays.clone(),
                ratchet_tree: None,
            };
            let wrap = profile
                .wrap_welcome(
                    &rumor,
                    None,
                    &creator,
                    author,
                    Timestamp::from_secs(NOW),
                    nipee_nostr::nip44::LengthPrefix::Extended,
                    &mut rng,
                )
                .map_err(err)?;
            serde_json::from_str(&wrap.to_json()).map_err(err)
        })
        .collect()
}

/// Join at `n` members: the joiner's rows before the join and its gift-wrapped Welcome;
/// with `update`, also its rows after the join and a self-update commit of another member.
fn join_and_update(n: usize, update: bool) -> Res<(Value, Option<Value>)> {
    let mut joiner = new_client()?;
    let mut committer = new_client()?;
    let kp_j = key_package_event(&mut joiner)?;
    let kp_c = key_package_event(&mut committer)?;
    let rows_before = joiner.rows_native();
    let wraps = big_group_welcomes(n, &[kp_j, kp_c])?;
    let joined = joiner.process_native(&wraps[0], now()).map_err(err)?;
    expect_outcome(&joined, "joined", "joiner")?;
    let join = json!({ "members": n, "rows": rows_before, "wrap": wraps[0] });
    if !update {
        return Ok((join, None));
    }
    let c = committer.process_native(&wraps[1], now()).map_err(err)?;
    expect_outcome(&c, "joined", "committer")?;
    let gid = joiner.groups_native()[0]["groupId"]
        .as_str()
        .ok_or("no group")?
        .to_owned();
    let rotated = committer.rotate_native(&gid, now()).map_err(err)?;
    let commit = rotated["publish"][0]["event"].clone();
    let upd = json!({ "members": n, "rows": joiner.rows_native(), "commit": commit });
    // The commit must apply for the benchmark to measure anything.
    let applied = joiner.process_native(&commit, now()).map_err(err)?;
    expect_outcome(&applied, "commit", "self-update")?;
    Ok((join, Some(upd)))
}

/// A group of [`MESSAGE_GROUP`] real clients' sizes: the sender's rows, the receiver's rows
/// and [`MESSAGES`] application messages (100-byte chat messages) from the sender.
fn messages() -> Res<Value> {
    let mut sender = new_client()?;
    let mut receiver = new_client()?;
    let mut invitees = vec![key_package_event(&mut receiver)?];
    for _ in 2..MESSAGE_GROUP {
        invitees.push(key_package_event(&mut new_client()?)?);
    }
    let created = sender
        .create_group_native(&json!({ "name": "bench", "invitees": invitees }), now())
        .map_err(err)?;
    let gid = created["value"]["groupId"].as_str().ok_or("no group id")?;
    let wrap = created["publish"]
        .as_array()
        .and_then(|p| {
            p.iter().find(|o| {
                o["purpose"]["invitee"].as_str() == Some(&receiver.inner().public_key().to_hex())
            })
        })
        .ok_or("no Welcome for the receiver")?["event"]
        .clone();
    expect_outcome(
        &receiver.process_native(&wrap, now()).map_err(err)?,
        "joined",
        "receiver",
    )?;
    let sender_rows = sender.rows_native();
    let receiver_rows = receiver.rows_native();
    let text = "m".repeat(100);
    let mut events = Vec::with_capacity(MESSAGES);
    for _ in 0..MESSAGES {
        let sent = sender.send_message_native(gid, &text, now()).map_err(err)?;
        events.push(sent["publish"][0]["event"].clone());
    }
    Ok(json!({
        "members": MESSAGE_GROUP,
        "group": gid,
        "text": text,
        "senderRows": sender_rows,
        "receiverRows": receiver_rows,
        "events": events,
    }))
}

/// The Nostr inputs: keys, a text note, a 1 KiB NIP-44 plaintext and a rumor with 1 KiB of
/// content, each also in its signed, encrypted or wrapped form.
fn nostr() -> Res<Value> {
    let mut rng = rand::rng();
    let sender = Keys::generate(&mut rng);
    let peer = Keys::generate(&mut rng);
    let secret = sender.secret_key().to_secret_hex().to_string();
    let peer_secret = peer.secret_key().to_secret_hex().to_string();
    let (pk, peer_pk) = (sender.public_key().to_hex(), peer.public_key().to_hex());
    let unsigned = json!({
        "pubkey": pk, "created_at": NOW, "kind": 1,
        "tags": [["t", "nipee"]], "content": "hello from the benchmark, ".repeat(4),
    });
    let signed = sign_event_native(&unsigned, &secret).map_err(err)?;
    let plaintext = "p".repeat(1024);
    let payload = nip44_encrypt_native(&secret, &peer_pk, &plaintext).map_err(err)?;
    let rumor = json!({
        "pubkey": pk, "created_at": NOW, "kind": 14,
        "tags": [["p", peer_pk]], "content": "r".repeat(1024),
    });
    let wrap = gift_wrap_native(&rumor, &secret, &peer_pk, NOW).map_err(err)?;
    Ok(json!({
        "secret": secret, "pubkey": pk, "peerSecret": peer_secret, "peerPubkey": peer_pk,
        "unsigned": unsigned, "signed": signed, "plaintext": plaintext, "payload": payload,
        "rumor": rumor, "wrap": wrap,
    }))
}

/// Every input of the benchmark, as one JSON document.
pub fn make() -> Res<Value> {
    let (join128, _) = join_and_update(128, false)?;
    let (join1024, update1024) = join_and_update(1024, true)?;
    Ok(json!({
        "now": NOW,
        "config": config(),
        "join128": join128,
        "join1024": join1024,
        "update1024": update1024,
        "messages": messages()?,
        "nostr": nostr()?,
    }))
}
