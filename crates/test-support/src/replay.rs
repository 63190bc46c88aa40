//! The replay runner for NIP-EE interop files (`nipee-interop-vectors/1`, schema in
//! `vectors/nip-ee/README.md`): parses every KeyPackage event, then replays the
//! scenario as each replayable member through a [`Client`] over in-memory storage and
//! checks what `expect` says at every step.
//!
//! Pure: the caller reads the file. One [`StepResult`] per (member, step) check.

use nipee::storage::MemoryStorage;
use nipee::{
    Client, ClientConfig, GroupId, NostrGroupData, NostrGroupId, Outcome, parse_key_package_event,
};
use nipee_codec::Writer;
use nipee_keypackage::{KeyPackage, KeyPackageBundle, ValidationPolicy};
use nipee_nostr::{Event, EventId, Keys, SecretKey};
use serde_json::Value;

/// Why a file could not be replayed at all (a failing check is a [`StepResult`] instead).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(pub String);

impl Error {
    fn malformed(field: &str, reason: impl Into<String>) -> Self {
        Error(format!("malformed {field}: {}", reason.into()))
    }
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

macro_rules! from_err {
    ($($t:ty),*) => {$(
        impl From<$t> for Error {
            fn from(e: $t) -> Self {
                Error(e.to_string())
            }
        }
    )*};
}
from_err!(
    nipee::Error,
    nipee_nostr::Error,
    nipee_keypackage::Error,
    nipee_codec::Error
);

/// `Result` of the runner.
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// The MLS group a member holds under the file's `nostr_group_id`.
fn mls_gid(client: &Client<MemoryStorage>, h: &[u8; 32]) -> core::result::Result<GroupId, String> {
    client
        .groups_by_nostr_id(&NostrGroupId::from_bytes(*h))
        .into_iter()
        .next()
        .ok_or_else(|| "the member holds no group with that nostr_group_id".to_owned())
}

/// The result of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepResult {
    /// The member replayed (`"any"` for KeyPackage parsing).
    pub member: String,
    /// The step index.
    pub step: usize,
    /// The expectation.
    pub expect: String,
    /// `None` when the check passed, else what went wrong.
    pub failure: Option<String>,
}

/// All results of a file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayReport {
    /// Every check in order.
    pub results: Vec<StepResult>,
}

impl ReplayReport {
    /// Number of checks that passed.
    pub fn passed(&self) -> usize {
        self.results.iter().filter(|r| r.failure.is_none()).count()
    }

    /// Number of checks that failed.
    pub fn failed(&self) -> usize {
        self.results.len() - self.passed()
    }

    /// The failing checks.
    pub fn failures(&self) -> impl Iterator<Item = &StepResult> {
        self.results.iter().filter(|r| r.failure.is_some())
    }
}

fn field<'a>(v: &'a Value, name: &'static str) -> Result<&'a Value> {
    v.get(name)
        .filter(|x| !x.is_null())
        .ok_or_else(|| Error::malformed("vector file", format!("missing field {name}")))
}

fn text<'a>(v: &'a Value, name: &'static str) -> Result<&'a str> {
    field(v, name)?
        .as_str()
        .ok_or_else(|| Error::malformed("vector file", format!("{name} is not a string")))
}

fn number(v: &Value, name: &'static str) -> Result<u64> {
    field(v, name)?
        .as_u64()
        .ok_or_else(|| Error::malformed("vector file", format!("{name} is not a number")))
}

fn hexf(v: &Value, name: &'static str) -> Result<Vec<u8>> {
    hex::decode(text(v, name)?).map_err(|e| Error::malformed(name, e.to_string()))
}

fn hex32(v: &Value, name: &'static str) -> Result<[u8; 32]> {
    hexf(v, name)?
        .try_into()
        .map_err(|_| Error::malformed(name, "expected 32 bytes"))
}

fn ensure(ok: bool, what: impl FnOnce() -> String) -> core::result::Result<(), String> {
    if ok { Ok(()) } else { Err(what()) }
}

/// Replays a whole file.
///
/// # Errors
/// An [`Error`] when the file does not follow the schema (a failing check is not an
/// error: it is a [`StepResult`] with a failure).
pub fn replay(json: &str) -> Result<ReplayReport> {
    let d: Value =
        serde_json::from_str(json).map_err(|e| Error::malformed("vector file", e.to_string()))?;
    if d.get("format").and_then(Value::as_str) != Some("nipee-interop-vectors/1") {
        return Err(Error::malformed(
            "vector file",
            "format is not nipee-interop-vectors/1",
        ));
    }
    let now = number(field(&d, "generator")?, "generated_at")?;
    let steps = field(&d, "steps")?
        .as_array()
        .ok_or_else(|| Error::malformed("vector file", "steps is not an array"))?;
    let mut report = ReplayReport::default();
    let policy = ValidationPolicy::at(now);
    for (i, step) in steps.iter().enumerate() {
        if step.get("action").and_then(Value::as_str) == Some("publish_key_package") {
            let r = field(step, "event")
                .and_then(|e| Ok(Event::from_value(e)?))
                .and_then(|e| Ok(parse_key_package_event(&e, &policy)?));
            report.results.push(StepResult {
                member: "any".into(),
                step: i,
                expect: "parse_key_package".into(),
                failure: r.err().map(|e| e.to_string()),
            });
        }
    }
    let members = field(&d, "replay")?
        .as_object()
        .ok_or_else(|| Error::malformed("vector file", "replay is not an object"))?;
    for (name, info) in members {
        replay_member(&d, steps, name, info, now, &mut report)?;
    }
    Ok(report)
}

fn bundle_from_vectors(kp: &Value) -> Result<(EventId, KeyPackageBundle)> {
    let event = Event::from_value(field(kp, "event")?)?;
    let key_package = KeyPackage::from_bytes(
        &hex::decode(event.content())
            .map_err(|e| Error::malformed("key package content", e.to_string()))?,
    )?;
    // The storage format of nipee-keypackage (documented on `to_storage_bytes`).
    let mut w = Writer::new();
    w.u8(nipee_keypackage::STORAGE_VERSION);
    w.vl_bytes("key_package", &nipee_codec::Encode::to_bytes(&key_package)?)?;
    w.bytes(&hex32(kp, "init_private_key")?);
    w.bytes(&hex32(kp, "encryption_private_key")?);
    w.bytes(&hex32(kp, "signature_private_key")?);
    let bytes = zeroize::Zeroizing::new(w.into_bytes());
    Ok((event.id(), KeyPackageBundle::from_storage_bytes(&bytes)?))
}

fn epoch_entry(d: &Value, n: u64) -> Option<&Value> {
    d.get("group")?
        .get("epochs")?
        .as_array()?
        .iter()
        .find(|e| e.get("epoch").and_then(Value::as_u64) == Some(n))
}

/// Compares the member's group state with `step.*_after` and `group.epochs[]`.
fn check_epoch(
    d: &Value,
    client: &Client<MemoryStorage>,
    gid: &[u8; 32],
    step: &Value,
) -> core::result::Result<(), String> {
    let s = |e: Error| e.to_string();
    let n = |e: nipee::Error| e.to_string();
    let want_epoch = number(step, "epoch_after").map_err(s)?;
    let gid = &mls_gid(client, gid)?;
    let g = client.mls_group(gid).map_err(n)?;
    ensure(g.epoch() == want_epoch, || {
        format!("epoch {} instead of {want_epoch}", g.epoch())
    })?;
    let exporter = client.exporter_secret(gid).map_err(n)?;
    ensure(
        exporter.as_slice() == hexf(step, "exporter_secret_after").map_err(s)?,
        || "exporter secret differs".into(),
    )?;
    ensure(
        client.epoch_authenticator(gid).map_err(n)?
            == hexf(step, "epoch_authenticator_after").map_err(s)?,
        || "epoch authenticator differs".into(),
    )?;
    if let Some(e) = epoch_entry(d, want_epoch) {
        let gc = g.context().encode().map_err(|e| e.to_string())?;
        ensure(gc == hexf(e, "group_context").map_err(s)?, || {
            "GroupContext differs".into()
        })?;
        let tree = g.tree().encode().map_err(|e| e.to_string())?;
        ensure(tree == hexf(e, "ratchet_tree").map_err(s)?, || {
            "ratchet tree differs".into()
        })?;
    }
    if let Some(dec) = d
        .get("group")
        .and_then(|g| g.get("nostr_group_data_extension"))
        .and_then(|x| x.get("extension_data"))
        .and_then(Value::as_str)
    {
        let want =
            NostrGroupData::decode(&hex::decode(dec).map_err(|e| e.to_string())?).map_err(n)?;
        let have = client.group(gid).map_err(n)?.data;
        ensure(have == Some(want), || "nostr_group_data differs".into())?;
    }
    Ok(())
}

fn state_fingerprint(client: &Client<MemoryStorage>) -> Vec<(String, u64, Vec<u8>)> {
    client
        .groups()
        .into_iter()
        .map(|g| {
            let auth = client.epoch_authenticator(&g.group_id).unwrap_or_default();
            (g.group_id.to_hex(), g.epoch, auth)
        })
        .collect()
}

fn replay_member(
    d: &Value,
    steps: &[Value],
    name: &str,
    info: &Value,
    now: u64,
    report: &mut ReplayReport,
) -> Result<()> {
    let identity = d
        .get("identities")
        .and_then(|i| i.get(name))
        .ok_or_else(|| Error::malformed("vector file", format!("no identity for {name}")))?;
    let keys = Keys::new(SecretKey::from_hex(text(identity, "secret_key")?)?);
    let mut client = Client::new(keys, MemoryStorage::new(), ClientConfig::default())?;
    let kp_name = text(info, "key_package")?;
    let kp = d
        .get("key_packages")
        .and_then(|k| k.get(kp_name))
        .ok_or_else(|| Error::malformed("vector file", format!("no key package {kp_name}")))?;
    let (kp_id, bundle) = bundle_from_vectors(kp)?;
    client.store_key_package(&kp_id, &bundle)?;
    let gid = hex32(field(d, "group")?, "nostr_group_id")?;
    for (i, step) in steps.iter().enumerate() {
        let Some(expect) = step
            .get("expect")
            .and_then(|e| e.get(name))
            .and_then(Value::as_str)
        else {
            continue;
        };
        let failure = match field(step, "event").and_then(|e| Ok(Event::from_value(e)?)) {
            Err(e) => Some(format!("event does not parse: {e}")),
            Ok(event) => check_step(d, &mut client, &gid, step, &event, expect, now).err(),
        };
        report.results.push(StepResult {
            member: name.to_owned(),
            step: i,
            expect: expect.to_owned(),
            failure,
        });
    }
    Ok(())
}

/// Applies our own commit, made by the recorded implementation, from
/// `step.committer_secrets` (the new leaf key, the signature key after the commit and the
/// first path secret), then checks the new epoch as for any commit, and that our leaf now
/// carries the recorded new keys.
fn own_commit(
    d: &Value,
    client: &mut Client<MemoryStorage>,
    gid: &[u8; 32],
    step: &Value,
    event: &Event,
    now: u64,
) -> core::result::Result<(), String> {
    use nipee_mls::{HpkePrivateKey, Secret, SignatureSecretKey};
    use zeroize::Zeroizing;
    let s = |e: Error| e.to_string();
    let n = |e: nipee::Error| e.to_string();
    let h = gid;
    let gid = &mls_gid(client, h)?;
    let cs = field(step, "committer_secrets").map_err(s)?;
    let me = client.mls_group(gid).map_err(n)?.own_leaf();
    ensure(
        u64::from(me.0) == number(cs, "committer_leaf_index").map_err(s)?,
        || "committer_secrets belong to another leaf".into(),
    )?;
    let first = field(cs, "update_path")
        .map_err(s)?
        .as_array()
        .and_then(|p| p.first())
        .ok_or("committer_secrets.update_path is empty")?;
    let secret = |v: &Value, name: &'static str| hexf(v, name).map(Zeroizing::new).map_err(s);
    let secrets = nipee_mls::group::OwnCommitSecrets {
        leaf_encryption_private_key: HpkePrivateKey::from_slice(&secret(
            cs,
            "leaf_encryption_private_key",
        )?),
        signature_private_key: SignatureSecretKey::from_slice(&secret(
            cs,
            "signature_private_key",
        )?)
        .map_err(|e| e.to_string())?,
        path_secret: Secret::from_slice(&secret(first, "path_secret")?),
    };
    match client
        .process_own_commit(event, secrets, now)
        .map_err(n)?
        .outcome()
    {
        Outcome::Commit(_) => {}
        other => return Err(format!("expected our commit to apply, got {other:?}")),
    }
    check_epoch(d, client, h, step)?;
    let leaf = client
        .mls_group(gid)
        .map_err(n)?
        .member(me)
        .ok_or("our leaf is blank")?;
    ensure(
        leaf.encryption_key[..] == hexf(cs, "leaf_encryption_public_key").map_err(s)?[..],
        || "our leaf does not carry the new encryption key".into(),
    )?;
    ensure(
        leaf.signature_key[..] == hexf(cs, "signature_public_key").map_err(s)?[..],
        || "our leaf does not carry the new signature key".into(),
    )
}

fn check_step(
    d: &Value,
    client: &mut Client<MemoryStorage>,
    gid: &[u8; 32],
    step: &Value,
    event: &Event,
    expect: &str,
    now: u64,
) -> core::result::Result<(), String> {
    let s = |e: Error| e.to_string();
    let n = |e: nipee::Error| e.to_string();
    let mut rng = rand::rng();
    match expect {
        "join" => {
            let effects = client.process(event, now, &mut rng).map_err(n)?;
            // After a last-resort join nipee makes a rotation commit at once. The recorded
            // members did not, so the replay does not publish it: it is dropped, as a
            // commit every relay refused would be.
            if let Some(Outcome::Joined { group_id, .. }) = effects.outcomes.first()
                && client.group(group_id).is_ok_and(|g| g.pending_commit)
            {
                let _ = client.discard_pending(group_id, now, &mut rng).map_err(n)?;
            }
            join_outcome(d, client, gid, step, effects.outcome())
        }

        "ignore_not_addressed" => {
            let before = state_fingerprint(client);
            match client.process(event, now, &mut rng) {
                Err(nipee::Error::NotForUs { .. }) => {}
                Err(e) => return Err(format!("expected NotForUs, got {e}")),
                Ok(o) => return Err(format!("expected NotForUs, got {:?}", o.outcomes)),
            }
            ensure(state_fingerprint(client) == before, || {
                "state changed".into()
            })
        }
        "application" | "application_past_epoch" | "own_application" => {
            let before = state_fingerprint(client);
            let r = client.process(event, now, &mut rng).map(|e| e.outcome());
            if expect == "own_application" && (r.is_err() || matches!(r, Ok(Outcome::Ignored(_)))) {
                // Our own message may be skipped; it must not change the state.
                return ensure(state_fingerprint(client) == before, || {
                    "state changed on an own message".into()
                });
            }
            match r.map_err(n)? {
                Outcome::Message {
                    event: inner,
                    application_data,
                    sender_leaf,
                    ..
                } => {
                    let want = text(step, "application_data").map_err(s)?;
                    ensure(application_data == want.as_bytes(), || {
                        "application data differs".into()
                    })?;
                    let ie = field(step, "inner_event").map_err(s)?;
                    ensure(inner.id().to_hex() == text(ie, "id").map_err(s)?, || {
                        "inner event id differs".into()
                    })?;
                    ensure(
                        inner.pubkey.to_hex() == text(ie, "pubkey").map_err(s)?,
                        || "inner event author differs".into(),
                    )?;
                    ensure(
                        u64::from(sender_leaf) == number(step, "sender_leaf_index").map_err(s)?,
                        || "MLS sender differs".into(),
                    )
                }
                other => Err(format!("expected an application message, got {other:?}")),
            }
        }
        "commit" => match client.process(event, now, &mut rng).map_err(n)?.outcome() {
            Outcome::Commit(_) => check_epoch(d, client, gid, step),
            other => Err(format!("expected a commit, got {other:?}")),
        },
        "own_commit" => own_commit(d, client, gid, step, event, now),
        "removed" => match client.process(event, now, &mut rng).map_err(n)?.outcome() {
            Outcome::Removed { group_id, .. } => {
                ensure(!client.group(&group_id).map_err(n)?.active, || {
                    "still active after removal".into()
                })
            }
            other => Err(format!("expected removal, got {other:?}")),
        },
        "not_member" | "not_member_removed" | "not_member_at_epoch" => {
            let before = state_fingerprint(client);
            match client.process(event, now, &mut rng).map(|e| e.outcome()) {
                Err(_) | Ok(Outcome::Ignored(_)) => {
                    ensure(state_fingerprint(client) == before, || {
                        "state changed".into()
                    })
                }
                Ok(other) => Err(format!(
                    "processed an event it must not be able to read: {other:?}"
                )),
            }
        }
        other => Err(format!("unknown expectation {other:?}")),
    }
}

fn join_outcome(
    d: &Value,
    client: &mut Client<MemoryStorage>,
    gid: &[u8; 32],
    step: &Value,
    outcome: Outcome,
) -> core::result::Result<(), String> {
    match outcome {
        Outcome::Joined {
            nostr_group_id,
            key_package_event_id,
            ..
        } => {
            ensure(nostr_group_id.as_bytes() == gid, || {
                "joined another group".into()
            })?;
            if let Ok(id) = text(step, "key_package_event_id") {
                ensure(key_package_event_id.to_hex() == id, || {
                    "consumed another KeyPackage".into()
                })?;
            }
            check_epoch(d, client, gid, step)
        }
        other => Err(format!("expected a join, got {other:?}")),
    }
}
