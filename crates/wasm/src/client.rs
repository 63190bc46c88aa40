//! The NIP-EE client for JavaScript: the core's operations, each returning what to publish,
//! what to read and one storage write (the rows to put and delete) that the host persists
//! before it publishes. Loading the rows back gives the same client.
//!
//! The native methods (`*_native`, on `serde_json::Value`) hold the logic and are unit-tested
//! without a JavaScript engine; the `#[wasm_bindgen]` methods only convert values.

mod bindings;
mod inbox;

pub(crate) use bindings::{from_js, js, to_js};

use nipee::inner::{chat_message, reaction};
use nipee::storage::MemoryStorage;
use nipee::{Client, ClientConfig, GroupDataUpdate, GroupId, NewGroup, NostrGroupId};
use nipee_nostr::{EventId, Kind, Tag, Tags, Timestamp, UnsignedEvent};
use serde_json::{Value, json};
use wasm_bindgen::prelude::*;

use crate::error::{FacadeError, FacadeResult};
use crate::identity::Identity;
use crate::json;

/// An MLS group id from its hex form.
///
/// # Errors
/// `malformed` for anything but hex.
pub fn parse_group_id(s: &str) -> FacadeResult<GroupId> {
    hex::decode(s)
        .map(GroupId::new)
        .map_err(|e| FacadeError::malformed(format!("group id: {e}")))
}

fn secs(now: f64) -> FacadeResult<u64> {
    if now.is_finite() && now >= 0.0 && now.fract() == 0.0 && now < 1.0e15 {
        Ok(now as u64)
    } else {
        Err(FacadeError::misuse(format!(
            "now must be whole seconds since 1970, got {now}"
        )))
    }
}

fn config_of(v: &Value) -> FacadeResult<ClientConfig> {
    let mut c = ClientConfig::with_relays(json::strings(v.get("relays"))?);
    if let Some(name) = v.get("clientName").and_then(Value::as_str) {
        c.client_name = Some(name.to_owned());
    }
    // Only the classic 2-byte NIP-44 length prefix, for peers that cannot read more.
    match v.get("classicNip44") {
        None | Some(Value::Null) => {}
        Some(Value::Bool(b)) => c.classic_nip44 = *b,
        Some(_) => return Err(FacadeError::misuse("config.classicNip44: a boolean")),
    }
    // Our Welcomes' ratchet tree sent out of band (nipee's own extension).
    match v.get("ratchetTreeOutOfBand") {
        None | Some(Value::Null) => {}
        Some(Value::Bool(b)) => c.ratchet_tree_out_of_band = *b,
        Some(_) => {
            return Err(FacadeError::misuse(
                "config.ratchetTreeOutOfBand: a boolean",
            ));
        }
    }
    // The profile of new groups and KeyPackages ("nip-ee", the default, or "marmot");
    // groups already stored keep theirs.
    match v.get("profile") {
        None | Some(Value::Null) => {}
        Some(Value::String(p)) => c.profile = p.parse()?,
        Some(_) => {
            return Err(FacadeError::misuse(
                "config.profile: \"nip-ee\" or \"marmot\"",
            ));
        }
    }
    Ok(c)
}

/// A NIP-EE client over an in-memory copy of the host's rows.
#[wasm_bindgen]
pub struct NipeeClient {
    client: Client<MemoryStorage>,
}

impl core::fmt::Debug for NipeeClient {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("NipeeClient")
            .field("client", &self.client)
            .finish()
    }
}

impl NipeeClient {
    /// A client for `identity` over `rows` (empty for a new store).
    ///
    /// # Errors
    /// `misuse` when the rows belong to another identity; `malformed`/`storage` for rows
    /// that do not load.
    pub fn create_native(identity: &Identity, rows: &Value, config: &Value) -> FacadeResult<Self> {
        let storage = MemoryStorage::from_rows(json::parse_rows(rows)?, true);
        let client = Client::new(identity.keys().clone(), storage, config_of(config)?)?;
        Ok(NipeeClient { client })
    }

    /// The client whose identity `rows` hold.
    ///
    /// # Errors
    /// `misuse` when they hold none.
    pub fn open_native(rows: &Value, config: &Value) -> FacadeResult<Self> {
        let storage = MemoryStorage::from_rows(json::parse_rows(rows)?, true);
        Ok(NipeeClient {
            client: Client::open(storage, config_of(config)?)?,
        })
    }

    /// The client (for native callers and tests).
    pub fn inner(&self) -> &Client<MemoryStorage> {
        &self.client
    }

    /// Wraps an operation's result with the storage write it made. When the operation
    /// failed, nothing was written and the error is returned.
    fn finish(&mut self, value: Value, effects: &nipee::Effects) -> Value {
        let batches = self.client.storage_mut().take_batches();
        json::op_result(value, effects, &batches)
    }

    fn fail<T>(&mut self, e: impl Into<FacadeError>) -> FacadeResult<T> {
        // A failed operation changed nothing. (Writes an earlier step of it completed —
        // possible only for `process`, which may apply events it unblocked — stay in the
        // log and reach the host with the next result, or through `takeWrite`.)
        Err(e.into())
    }

    /// The writes not yet handed to the host (normally none: every result carries its own).
    pub fn take_write_native(&mut self) -> Value {
        json::write_of(&self.client.storage_mut().take_batches())
    }

    /// Every row now stored (for a host that keeps a full copy).
    pub fn rows_native(&self) -> Value {
        Value::Array(
            self.client
                .storage()
                .rows()
                .map(|(t, k, v)| json::row(t, k, v))
                .collect(),
        )
    }

    /// A KeyPackage event (kind 443) to publish.
    ///
    /// # Errors
    /// As [`Client::create_key_package`].
    pub fn create_key_package_native(
        &mut self,
        last_resort: bool,
        now: f64,
    ) -> FacadeResult<Value> {
        let now = secs(now)?;
        match self
            .client
            .create_key_package(last_resort, now, &mut rand::rng())
        {
            Ok(out) => {
                let effects = nipee::Effects {
                    publish: vec![out.clone()],
                    ..Default::default()
                };
                Ok(self.finish(json::event(&out.event), &effects))
            }
            Err(e) => self.fail(e),
        }
    }

    /// Our KeyPackage relay list (kind 10051) to publish.
    ///
    /// # Errors
    /// As [`Client::relay_list_event`].
    pub fn relay_list_event_native(&mut self, now: f64) -> FacadeResult<Value> {
        let now = secs(now)?;
        match self.client.relay_list_event(now) {
            Ok(out) => {
                let effects = nipee::Effects {
                    publish: vec![out.clone()],
                    ..Default::default()
                };
                Ok(self.finish(json::event(&out.event), &effects))
            }
            Err(e) => self.fail(e),
        }
    }

    /// Creates a group: `{ name, description?, admins?, relays?, invitees: [kind 443] }`.
    ///
    /// # Errors
    /// As [`Client::create_group`].
    pub fn create_group_native(&mut self, params: &Value, now: f64) -> FacadeResult<Value> {
        let now = secs(now)?;
        let mut new = NewGroup::new(
            params
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default(),
            events(params.get("invitees"))?,
        );
        new.description = params
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        new.admins = json::strings(params.get("admins"))?
            .iter()
            .map(|s| json::parse_pubkey(s))
            .collect::<FacadeResult<_>>()?;
        new.relays = json::strings(params.get("relays"))?;
        match self.client.create_group(new, now, &mut rand::rng()) {
            Ok((gid, effects)) => Ok(self.finish(json!({ "groupId": gid.to_hex() }), &effects)),
            Err(e) => self.fail(e),
        }
    }

    fn pending(&mut self, r: nipee::Result<nipee::PendingCommit>) -> FacadeResult<Value> {
        match r {
            Ok(p) => {
                let effects = nipee::Effects {
                    publish: vec![p.outgoing.clone()],
                    ..Default::default()
                };
                Ok(self.finish(
                    json!({ "epoch": p.epoch, "eventId": p.outgoing.event.id().to_hex() }),
                    &effects,
                ))
            }
            Err(e) => self.fail(e),
        }
    }

    fn effects(&mut self, r: nipee::Result<nipee::Effects>) -> FacadeResult<Value> {
        match r {
            Ok(e) => Ok(self.finish(Value::Null, &e)),
            Err(e) => self.fail(e),
        }
    }

    /// Invites the owners of KeyPackage events.
    ///
    /// # Errors
    /// As [`Client::invite`].
    pub fn invite_native(
        &mut self,
        group: &str,
        key_packages: &Value,
        now: f64,
    ) -> FacadeResult<Value> {
        let (gid, now) = (parse_group_id(group)?, secs(now)?);
        let kps = events(Some(key_packages))?;
        let r = self.client.invite(&gid, &kps, now, &mut rand::rng());
        self.pending(r)
    }

    /// Removes members (hex or npub keys).
    ///
    /// # Errors
    /// As [`Client::remove`].
    pub fn remove_native(&mut self, group: &str, members: &Value, now: f64) -> FacadeResult<Value> {
        let (gid, now) = (parse_group_id(group)?, secs(now)?);
        let pks = json::strings(Some(members))?
            .iter()
            .map(|s| json::parse_pubkey(s))
            .collect::<FacadeResult<Vec<_>>>()?;
        let r = self.client.remove(&gid, &pks, now, &mut rand::rng());
        self.pending(r)
    }

    /// Rotates our leaf.
    ///
    /// # Errors
    /// As [`Client::rotate`].
    pub fn rotate_native(&mut self, group: &str, now: f64) -> FacadeResult<Value> {
        let (gid, now) = (parse_group_id(group)?, secs(now)?);
        let r = self.client.rotate(&gid, now, &mut rand::rng());
        self.pending(r)
    }

    /// Commits the proposals received in this epoch.
    ///
    /// # Errors
    /// As [`Client::commit_pending_proposals`].
    pub fn commit_pending_proposals_native(
        &mut self,
        group: &str,
        now: f64,
    ) -> FacadeResult<Value> {
        let (gid, now) = (parse_group_id(group)?, secs(now)?);
        let r = self
            .client
            .commit_pending_proposals(&gid, now, &mut rand::rng());
        self.pending(r)
    }

    /// Changes the group data: `{ name?, description?, relays?, admins?, nostrGroupId? }`.
    ///
    /// # Errors
    /// As [`Client::update_group_data`].
    pub fn update_group_data_native(
        &mut self,
        group: &str,
        update: &Value,
        now: f64,
    ) -> FacadeResult<Value> {
        let (gid, now) = (parse_group_id(group)?, secs(now)?);
        let mut u = GroupDataUpdate::default();
        u.name = update
            .get("name")
            .and_then(Value::as_str)
            .map(str::to_owned);
        u.description = update
            .get("description")
            .and_then(Value::as_str)
            .map(str::to_owned);
        if update.get("relays").is_some() {
            u.relays = Some(json::strings(update.get("relays"))?);
        }
        if update.get("admins").is_some() {
            u.admins = Some(
                json::strings(update.get("admins"))?
                    .iter()
                    .map(|s| json::parse_pubkey(s))
                    .collect::<FacadeResult<_>>()?,
            );
        }
        if let Some(h) = update.get("nostrGroupId").and_then(Value::as_str) {
            u.nostr_group_id = Some(NostrGroupId::from_hex(h)?);
        }
        let r = self
            .client
            .update_group_data(&gid, u, now, &mut rand::rng());
        self.pending(r)
    }

    /// Leaves (a self-removal proposal to publish).
    ///
    /// # Errors
    /// As [`Client::leave`].
    pub fn leave_native(&mut self, group: &str, now: f64) -> FacadeResult<Value> {
        let (gid, now) = (parse_group_id(group)?, secs(now)?);
        match self.client.leave(&gid, now, &mut rand::rng()) {
            Ok(out) => {
                let effects = nipee::Effects {
                    publish: vec![out],
                    ..Default::default()
                };
                Ok(self.finish(Value::Null, &effects))
            }
            Err(e) => self.fail(e),
        }
    }

    fn send_inner(
        &mut self,
        gid: &GroupId,
        inner: &UnsignedEvent,
        now: u64,
    ) -> FacadeResult<Value> {
        match self.client.send(gid, inner, now, &mut rand::rng()) {
            Ok(out) => {
                let effects = nipee::Effects {
                    publish: vec![out],
                    ..Default::default()
                };
                Ok(self.finish(json::unsigned(inner), &effects))
            }
            Err(e) => self.fail(e),
        }
    }

    /// Sends a chat message (kind 9); the value is the inner event.
    ///
    /// # Errors
    /// As [`Client::send`].
    pub fn send_message_native(
        &mut self,
        group: &str,
        text: &str,
        now: f64,
    ) -> FacadeResult<Value> {
        let (gid, now) = (parse_group_id(group)?, secs(now)?);
        let inner = chat_message(self.client.public_key(), text, Timestamp::from_secs(now));
        self.send_inner(&gid, &inner, now)
    }

    /// Reacts (kind 7) to the inner event `target`.
    ///
    /// # Errors
    /// As [`Client::send`].
    pub fn react_native(
        &mut self,
        group: &str,
        target: &str,
        emoji: &str,
        now: f64,
    ) -> FacadeResult<Value> {
        let (gid, now) = (parse_group_id(group)?, secs(now)?);
        let target = EventId::from_hex(target)?;
        let inner = reaction(
            self.client.public_key(),
            &target,
            emoji,
            Timestamp::from_secs(now),
        );
        self.send_inner(&gid, &inner, now)
    }

    /// Sends any inner event `{ kind, content, tags }` authored by us.
    ///
    /// # Errors
    /// As [`Client::send`]; `malformed` for a bad shape.
    pub fn send_event_native(
        &mut self,
        group: &str,
        inner: &Value,
        now: f64,
    ) -> FacadeResult<Value> {
        let (gid, now) = (parse_group_id(group)?, secs(now)?);
        let kind = inner
            .get("kind")
            .and_then(Value::as_u64)
            .and_then(|k| u16::try_from(k).ok())
            .ok_or_else(|| FacadeError::malformed("kind must be a number up to 65535"))?;
        let mut tags = Tags::new();
        if let Some(Value::Array(list)) = inner.get("tags") {
            for t in list {
                tags.push(Tag::new(json::strings(Some(t))?));
            }
        }
        let content = inner
            .get("content")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let ev = UnsignedEvent::new(
            self.client.public_key(),
            Timestamp::from_secs(now),
            Kind::new(kind),
            tags,
            content,
        );
        self.send_inner(&gid, &ev, now)
    }

    /// Processes an event from a relay.
    ///
    /// # Errors
    /// As [`Client::process`]; the state is unchanged.
    pub fn process_native(&mut self, event: &Value, now: f64) -> FacadeResult<Value> {
        let now = secs(now)?;
        let ev = json::parse_event(event)?;
        let r = self.client.process(&ev, now, &mut rand::rng());
        self.effects(r)
    }

    /// Reports the relays' answers to the publication of `event_id`.
    ///
    /// # Errors
    /// As [`Client::published`].
    pub fn published_native(
        &mut self,
        event_id: &str,
        answers: &Value,
        now: f64,
    ) -> FacadeResult<Value> {
        let now = secs(now)?;
        let id = EventId::from_hex(event_id)?;
        let answers = json::parse_answers(answers)?;
        let r = self.client.published(&id, &answers, now, &mut rand::rng());
        self.effects(r)
    }

    /// Reports a read: `report = { events: [...], complete: [relay urls] }`.
    ///
    /// # Errors
    /// As [`Client::fetched`].
    pub fn fetched_native(
        &mut self,
        request: &Value,
        report: &Value,
        now: f64,
    ) -> FacadeResult<Value> {
        let now = secs(now)?;
        let request = json::parse_fetch_request(request)?;
        let report = nipee::FetchReport {
            events: events(report.get("events"))?,
            complete: json::strings(report.get("complete"))?,
        };
        let r = self
            .client
            .fetched(&request, &report, now, &mut rand::rng());
        self.effects(r)
    }

    /// Drops our pending commit in a group.
    ///
    /// # Errors
    /// As [`Client::discard_pending`].
    pub fn discard_pending_native(&mut self, group: &str, now: f64) -> FacadeResult<Value> {
        let (gid, now) = (parse_group_id(group)?, secs(now)?);
        let r = self.client.discard_pending(&gid, now, &mut rand::rng());
        self.effects(r)
    }

    /// Periodic work.
    ///
    /// # Errors
    /// As [`Client::poll`].
    pub fn poll_native(&mut self, now: f64) -> FacadeResult<Value> {
        let now = secs(now)?;
        let r = self.client.poll(now, &mut rand::rng());
        self.effects(r)
    }

    /// Every group.
    pub fn groups_native(&self) -> Value {
        Value::Array(self.client.groups().iter().map(json::group).collect())
    }

    /// One group's members.
    ///
    /// # Errors
    /// As [`Client::members`].
    pub fn members_native(&self, group: &str) -> FacadeResult<Value> {
        Ok(json::members(
            &self.client.members(&parse_group_id(group)?)?,
        ))
    }

    /// Epoch and epoch authenticator (hex).
    ///
    /// # Errors
    /// As [`Client::epoch_authenticator`].
    pub fn epoch_native(&self, group: &str) -> FacadeResult<Value> {
        let gid = parse_group_id(group)?;
        Ok(json!({
            "epoch": self.client.epoch(&gid)?,
            "authenticator": hex::encode(self.client.epoch_authenticator(&gid)?),
        }))
    }

    /// The ratchet tree as nodes.
    ///
    /// # Errors
    /// As [`Client::tree`].
    pub fn tree_native(&self, group: &str) -> FacadeResult<Value> {
        Ok(Value::Array(
            self.client
                .tree(&parse_group_id(group)?)?
                .iter()
                .map(json::tree_node)
                .collect(),
        ))
    }

    /// The subscriptions to hold.
    pub fn subscriptions_native(&self) -> Value {
        Value::Array(
            self.client
                .subscriptions()
                .iter()
                .map(json::subscription)
                .collect(),
        )
    }

    /// Events still to publish (after a reload).
    ///
    /// # Errors
    /// Storage errors.
    pub fn outbox_native(&self) -> FacadeResult<Value> {
        Ok(Value::Array(
            self.client.outbox()?.iter().map(json::outgoing).collect(),
        ))
    }
}

fn events(v: Option<&Value>) -> FacadeResult<Vec<nipee_nostr::Event>> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => a.iter().map(json::parse_event).collect(),
        Some(_) => Err(FacadeError::malformed("expected a list of events")),
    }
}
