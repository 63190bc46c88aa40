//! The JSON shapes JavaScript sees (documented as TypeScript types in `js/nipee.d.ts`).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use nipee::storage::{Table, Write, WriteBatch};
use nipee::{
    CommitInfo, Effects, FetchRequest, GroupSummary, IgnoreReason, MemberInfo, Outcome, Outgoing,
    Purpose, RelayAnswer, SubscriptionSpec, TreeNode,
};
use nipee_nostr::{Event, PublicKey, UnsignedEvent};
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::error::{FacadeError, FacadeResult};

/// A stored row: `{ table, key (hex), value (base64) }`.
pub fn row(table: Table, key: &[u8], value: &[u8]) -> Value {
    json!({ "table": table.name(), "key": hex::encode(key), "value": B64.encode(value) })
}

fn table_of(name: &str) -> FacadeResult<Table> {
    Table::ALL
        .into_iter()
        .find(|t| t.name() == name)
        .ok_or_else(|| FacadeError::malformed(format!("unknown table {name:?}")))
}

fn str_field<'a>(v: &'a Value, name: &str) -> FacadeResult<&'a str> {
    v.get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| FacadeError::malformed(format!("missing string field {name:?}")))
}

/// A stored row as the storage layer takes it.
pub type StoredRow = (Table, Vec<u8>, Zeroizing<Vec<u8>>);

/// Reads rows written by [`row`] (what a host loads back from its store).
pub fn parse_rows(rows: &Value) -> FacadeResult<Vec<StoredRow>> {
    let list = match rows {
        Value::Null => return Ok(Vec::new()),
        Value::Array(a) => a,
        _ => return Err(FacadeError::malformed("rows must be an array")),
    };
    list.iter()
        .map(|r| {
            let table = table_of(str_field(r, "table")?)?;
            let key = hex::decode(str_field(r, "key")?)
                .map_err(|e| FacadeError::malformed(format!("row key: {e}")))?;
            let value = B64
                .decode(str_field(r, "value")?)
                .map_err(|e| FacadeError::malformed(format!("row value: {e}")))?;
            Ok((table, key, Zeroizing::new(value)))
        })
        .collect()
}

/// The storage write of an operation: `{ put: Row[], delete: Key[], deletePrefix: Key[] }`,
/// to be applied in order, atomically, before the events are published.
pub fn write_of(batches: &[WriteBatch]) -> Value {
    let mut ops = Vec::new();
    for b in batches {
        for w in b.writes() {
            ops.push(match w {
                Write::Put { table, key, value } => {
                    json!({ "op": "put", "row": row(*table, key, value) })
                }
                Write::Delete { table, key } => {
                    json!({ "op": "delete", "table": table.name(), "key": hex::encode(key) })
                }
                Write::DeletePrefix { table, prefix } => {
                    json!({ "op": "deletePrefix", "table": table.name(), "prefix": hex::encode(prefix) })
                }
                _ => json!({ "op": "unknown" }),
            });
        }
    }
    Value::Array(ops)
}

/// An event as a JSON object.
pub fn event(e: &Event) -> Value {
    serde_json::from_str(&e.to_json()).unwrap_or(Value::Null)
}

/// An unsigned event (an inner event or rumor) as a JSON object, with its id.
pub fn unsigned(e: &UnsignedEvent) -> Value {
    serde_json::from_str(&e.to_json()).unwrap_or(Value::Null)
}

/// A verified event from a JSON object.
pub fn parse_event(v: &Value) -> FacadeResult<Event> {
    Ok(Event::from_value(v)?)
}

/// A Nostr key from hex or npub.
pub fn parse_pubkey(s: &str) -> FacadeResult<PublicKey> {
    Ok(PublicKey::parse(s)?)
}

fn pk(p: &PublicKey) -> Value {
    Value::String(p.to_hex())
}

fn opt_pk(p: &Option<PublicKey>) -> Value {
    p.as_ref().map(pk).unwrap_or(Value::Null)
}

fn commit_info(kind: &str, i: &CommitInfo) -> Value {
    json!({
        "type": kind,
        "groupId": i.group_id.to_hex(),
        "epoch": i.epoch,
        "committer": opt_pk(&i.committer),
        "added": i.added.iter().map(pk).collect::<Vec<_>>(),
        "removed": i.removed.iter().map(pk).collect::<Vec<_>>(),
        "updated": i.updated.iter().map(pk).collect::<Vec<_>>(),
        "groupDataChanged": i.group_data_changed,
        "groupData": i.group_data.as_ref().map(group_data),
        "rolledBackFrom": i.rolled_back_from,
        "supersededOwn": i.superseded_own,
    })
}

fn ignore_reason(r: &IgnoreReason) -> &'static str {
    match r {
        IgnoreReason::Duplicate => "duplicate",
        IgnoreReason::LostRace => "lostRace",
        IgnoreReason::RemovedMemberCannotUndo => "removedMemberCannotUndo",
        IgnoreReason::TooLate => "tooLate",
        IgnoreReason::NotAMember => "notAMember",
        IgnoreReason::HeldForPendingCommit => "heldForPendingCommit",
        IgnoreReason::Buffered => "buffered",
        IgnoreReason::NotForUs => "notForUs",
        IgnoreReason::AwaitingRatchetTree => "awaitingRatchetTree",
        _ => "other",
    }
}

/// An outcome as `{ type: ..., ... }`.
pub fn outcome(o: &Outcome) -> Value {
    match o {
        Outcome::Message {
            group_id,
            epoch,
            sender_leaf,
            event,
            ..
        } => json!({
            "type": "message",
            "groupId": group_id.to_hex(),
            "epoch": epoch,
            "senderLeaf": sender_leaf,
            "event": unsigned(event),
        }),
        Outcome::Proposal {
            group_id,
            sender,
            leave_request,
        } => json!({
            "type": "proposal",
            "groupId": group_id.to_hex(),
            "sender": opt_pk(sender),
            "leaveRequest": leave_request,
        }),
        Outcome::Joined {
            group_id,
            nostr_group_id,
            epoch,
            inviter,
            key_package_event_id,
        } => json!({
            "type": "joined",
            "groupId": group_id.to_hex(),
            "nostrGroupId": nostr_group_id.to_hex(),
            "epoch": epoch,
            "inviter": pk(inviter),
            "keyPackageEventId": key_package_event_id.to_hex(),
        }),
        Outcome::Commit(i) => commit_info("commit", i),
        Outcome::OwnCommitConfirmed(i) => commit_info("ownCommitConfirmed", i),
        Outcome::OwnCommitDiscarded {
            group_id,
            epoch,
            reason,
        } => json!({
            "type": "ownCommitDiscarded",
            "groupId": group_id.to_hex(),
            "epoch": epoch,
            "reason": reason,
        }),
        Outcome::Removed { group_id, by } => json!({
            "type": "removed",
            "groupId": group_id.to_hex(),
            "by": opt_pk(by),
        }),
        Outcome::Published { event_id } => json!({
            "type": "published",
            "eventId": event_id.to_hex(),
        }),
        Outcome::Ignored(r) => json!({ "type": "ignored", "reason": ignore_reason(r) }),
        _ => json!({ "type": "other" }),
    }
}

fn purpose(p: &Purpose) -> Value {
    match p {
        Purpose::KeyPackage => json!({ "type": "keyPackage" }),
        Purpose::RelayList => json!({ "type": "relayList" }),
        Purpose::KeyPackageDeletion => json!({ "type": "keyPackageDeletion" }),
        Purpose::Welcome { group_id, invitee } => json!({
            "type": "welcome", "groupId": group_id.to_hex(), "invitee": pk(invitee),
        }),
        Purpose::GroupMessage { group_id } => json!({
            "type": "groupMessage", "groupId": group_id.to_hex(),
        }),
        Purpose::Commit { group_id, epoch } => json!({
            "type": "commit", "groupId": group_id.to_hex(), "epoch": epoch,
        }),
        Purpose::RatchetTree { group_id } => json!({
            "type": "ratchetTree", "groupId": group_id.to_hex(),
        }),
        _ => json!({ "type": "other" }),
    }
}

/// An event to publish: `{ event, relays, purpose }`.
pub fn outgoing(o: &Outgoing) -> Value {
    json!({ "event": event(&o.event), "relays": o.relays, "purpose": purpose(&o.purpose) })
}

/// A read to perform: `{ type, groupId, eventId, relays, filter }`.
pub fn fetch_request(f: &FetchRequest) -> Value {
    let filter: Value = serde_json::from_str(&f.filter().to_json()).unwrap_or(Value::Null);
    match f {
        FetchRequest::ReadBack {
            group_id,
            event_id,
            relays,
        } => json!({
            "type": "readBack",
            "groupId": group_id.to_hex(),
            "eventId": event_id.to_hex(),
            "relays": relays,
            "filter": filter,
        }),
        FetchRequest::RatchetTree {
            welcome,
            tree_id,
            relays,
        } => json!({
            "type": "ratchetTree",
            "welcomeId": welcome.to_hex(),
            "treeId": hex::encode(tree_id),
            "relays": relays,
            "filter": filter,
        }),
        _ => json!({ "type": "other", "relays": f.relays(), "filter": filter }),
    }
}

/// Reads a read request back (as the host got it).
pub fn parse_fetch_request(v: &Value) -> FacadeResult<FetchRequest> {
    match str_field(v, "type")? {
        "readBack" => Ok(FetchRequest::ReadBack {
            group_id: crate::client::parse_group_id(str_field(v, "groupId")?)?,
            event_id: nipee_nostr::EventId::from_hex(str_field(v, "eventId")?)?,
            relays: strings(v.get("relays"))?,
        }),
        "ratchetTree" => {
            let mut tree_id = [0u8; 32];
            hex::decode_to_slice(str_field(v, "treeId")?, &mut tree_id)
                .map_err(|_| FacadeError::malformed("treeId: 64 hex characters"))?;
            Ok(FetchRequest::RatchetTree {
                welcome: nipee_nostr::EventId::from_hex(str_field(v, "welcomeId")?)?,
                tree_id,
                relays: strings(v.get("relays"))?,
            })
        }
        other => Err(FacadeError::malformed(format!("unknown read {other:?}"))),
    }
}

/// A list of strings (absent: empty).
pub fn strings(v: Option<&Value>) -> FacadeResult<Vec<String>> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => a
            .iter()
            .map(|s| {
                s.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| FacadeError::malformed("expected a list of strings"))
            })
            .collect(),
        Some(_) => Err(FacadeError::malformed("expected a list of strings")),
    }
}

/// Relay answers: `[{ relay, accepted: bool, message? }]` or `{ relay, status: "noAnswer" }`.
pub fn parse_answers(v: &Value) -> FacadeResult<Vec<RelayAnswer>> {
    let Value::Array(list) = v else {
        return Err(FacadeError::malformed("answers must be an array"));
    };
    list.iter()
        .map(|a| {
            let relay = str_field(a, "relay")?.to_owned();
            Ok(match a.get("status").and_then(Value::as_str) {
                Some("accepted") => RelayAnswer::Accepted { relay },
                Some("rejected") => RelayAnswer::Rejected {
                    relay,
                    message: a
                        .get("message")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                },
                Some("noAnswer") => RelayAnswer::NoAnswer { relay },
                _ => {
                    return Err(FacadeError::malformed(
                        "answer status must be accepted, rejected or noAnswer",
                    ));
                }
            })
        })
        .collect()
}

/// Effects plus the storage write and an optional value.
pub fn op_result(value: Value, effects: &Effects, batches: &[WriteBatch]) -> Value {
    json!({
        "value": value,
        "outcomes": effects
            .with_sources()
            .enumerate()
            .map(|(i, (o, source))| {
                let mut v = outcome(o);
                if let Value::Object(m) = &mut v {
                    if let Some(id) = source {
                        m.insert("eventId".to_owned(), Value::String(id.to_hex()));
                    }
                    // Kept in the client's inbox until acknowledged.
                    if let Some(id) = effects.inbox.get(i).copied().flatten() {
                        m.insert("inboxId".to_owned(), json!(id.as_u64()));
                    }
                }
                v
            })
            .collect::<Vec<_>>(),
        "publish": effects.publish.iter().map(outgoing).collect::<Vec<_>>(),
        "fetch": effects.fetch.iter().map(fetch_request).collect::<Vec<_>>(),
        "write": write_of(batches),
    })
}

fn member(m: &MemberInfo) -> Value {
    json!({ "leaf": m.leaf, "pubkey": pk(&m.pubkey), "admin": m.admin, "own": m.own })
}

fn group_data(d: &nipee::NostrGroupData) -> Value {
    json!({
        "nostrGroupId": hex::encode(d.nostr_group_id),
        "name": d.name,
        "description": d.description,
        "admins": d.admins.iter().map(pk).collect::<Vec<_>>(),
        "relays": d.relays,
    })
}

/// A group summary.
pub fn group(g: &GroupSummary) -> Value {
    let data = g.data.as_ref().map(group_data);
    json!({
        "groupId": g.group_id.to_hex(),
        "nostrGroupId": g.nostr_group_id.to_hex(),
        "name": g.name,
        "data": data,
        "epoch": g.epoch,
        "members": g.members.iter().map(member).collect::<Vec<_>>(),
        "active": g.active,
        "pendingCommit": g.pending_commit,
    })
}

/// Members.
pub fn members(list: &[MemberInfo]) -> Value {
    Value::Array(list.iter().map(member).collect())
}

/// A subscription the host should hold.
pub fn subscription(s: &SubscriptionSpec) -> Value {
    let filter: Value = serde_json::from_str(&s.filter.to_json()).unwrap_or(Value::Null);
    json!({ "key": s.key, "filter": filter, "relays": s.relays, "marginSecs": s.margin_secs })
}

/// A ratchet-tree node.
pub fn tree_node(n: &TreeNode) -> Value {
    json!({
        "index": n.index,
        "leaf": n.index.is_multiple_of(2),
        "blank": n.blank,
        "publicKey": n.public_key_fingerprint,
        "parentHash": n.parent_hash,
        "unmergedLeaves": n.unmerged_leaves,
        "member": n.member.as_ref().map(pk),
        "inLastCommitPath": n.in_last_commit_path,
        "onOwnPath": n.on_own_path,
    })
}
