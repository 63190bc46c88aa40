//! The `#[wasm_bindgen]` face of [`NipeeClient`]: each method converts its JavaScript
//! arguments, calls the native method of the same name and converts the result back.

use serde_json::Value;
use wasm_bindgen::prelude::*;

use super::NipeeClient;
use crate::error::{FacadeError, FacadeResult};
use crate::identity::Identity;

/// JavaScript value → JSON value (through `JSON.stringify`).
pub(crate) fn from_js(v: &JsValue) -> Result<Value, JsValue> {
    if v.is_undefined() || v.is_null() {
        return Ok(Value::Null);
    }
    let s = js_sys::JSON::stringify(v)
        .map_err(|_| JsValue::from(FacadeError::malformed("value is not JSON")))?;
    let s: String = s.into();
    serde_json::from_str(&s).map_err(|e| FacadeError::malformed(e.to_string()).into())
}

/// JSON value → JavaScript value (through `JSON.parse`).
pub(crate) fn to_js(v: &Value) -> Result<JsValue, JsValue> {
    js_sys::JSON::parse(&v.to_string())
}

pub(crate) fn js<T>(r: FacadeResult<T>) -> Result<T, JsValue> {
    r.map_err(JsValue::from)
}

#[wasm_bindgen]
impl NipeeClient {
    /// A client for `identity` over `rows` (what the host's store holds; `[]` for a new
    /// one). `config = { relays: string[], clientName?: string, profile?: "nip-ee" | "marmot",
    /// classicNip44?: boolean, ratchetTreeOutOfBand?: boolean }`.
    #[wasm_bindgen(js_name = create)]
    pub fn create_js(
        identity: &Identity,
        rows: JsValue,
        config: JsValue,
    ) -> Result<NipeeClient, JsValue> {
        js(Self::create_native(
            identity,
            &from_js(&rows)?,
            &from_js(&config)?,
        ))
    }

    /// The client whose identity `rows` hold.
    #[wasm_bindgen(js_name = open)]
    pub fn open_js(rows: JsValue, config: JsValue) -> Result<NipeeClient, JsValue> {
        js(Self::open_native(&from_js(&rows)?, &from_js(&config)?))
    }

    /// Our public key (hex).
    #[wasm_bindgen(getter, js_name = publicKey)]
    pub fn public_key(&self) -> String {
        self.client.public_key().to_hex()
    }

    /// Our npub.
    #[wasm_bindgen(getter)]
    pub fn npub(&self) -> String {
        self.client.public_key().to_bech32()
    }

    /// The identity's secret (hex), e.g. to set up a second device. Handle with care.
    #[wasm_bindgen(js_name = exportSecretHex)]
    pub fn export_secret_hex(&self) -> String {
        self.client.keys().secret_key().to_secret_hex().to_string()
    }

    /// Every stored row.
    pub fn rows(&self) -> Result<JsValue, JsValue> {
        to_js(&self.rows_native())
    }

    /// Writes not yet handed out (normally none).
    #[wasm_bindgen(js_name = takeWrite)]
    pub fn take_write(&mut self) -> Result<JsValue, JsValue> {
        to_js(&self.take_write_native())
    }

    /// See `createKeyPackage` in the TypeScript docs.
    #[wasm_bindgen(js_name = createKeyPackage)]
    pub fn create_key_package(&mut self, last_resort: bool, now: f64) -> Result<JsValue, JsValue> {
        to_js(&js(self.create_key_package_native(last_resort, now))?)
    }

    /// Our kind-10051 relay list.
    #[wasm_bindgen(js_name = relayListEvent)]
    pub fn relay_list_event(&mut self, now: f64) -> Result<JsValue, JsValue> {
        to_js(&js(self.relay_list_event_native(now))?)
    }

    /// Creates a group.
    #[wasm_bindgen(js_name = createGroup)]
    pub fn create_group(&mut self, params: JsValue, now: f64) -> Result<JsValue, JsValue> {
        to_js(&js(self.create_group_native(&from_js(&params)?, now))?)
    }

    /// Invites the owners of KeyPackage events.
    pub fn invite(
        &mut self,
        group: &str,
        key_packages: JsValue,
        now: f64,
    ) -> Result<JsValue, JsValue> {
        to_js(&js(self.invite_native(
            group,
            &from_js(&key_packages)?,
            now,
        ))?)
    }

    /// Removes members.
    pub fn remove(&mut self, group: &str, members: JsValue, now: f64) -> Result<JsValue, JsValue> {
        to_js(&js(self.remove_native(group, &from_js(&members)?, now))?)
    }

    /// Rotates our leaf and signature key.
    pub fn rotate(&mut self, group: &str, now: f64) -> Result<JsValue, JsValue> {
        to_js(&js(self.rotate_native(group, now))?)
    }

    /// Leaves a group.
    pub fn leave(&mut self, group: &str, now: f64) -> Result<JsValue, JsValue> {
        to_js(&js(self.leave_native(group, now))?)
    }

    /// Commits the proposals received in this epoch.
    #[wasm_bindgen(js_name = commitPendingProposals)]
    pub fn commit_pending_proposals(&mut self, group: &str, now: f64) -> Result<JsValue, JsValue> {
        to_js(&js(self.commit_pending_proposals_native(group, now))?)
    }

    /// Changes the group data.
    #[wasm_bindgen(js_name = updateGroupData)]
    pub fn update_group_data(
        &mut self,
        group: &str,
        update: JsValue,
        now: f64,
    ) -> Result<JsValue, JsValue> {
        to_js(&js(self.update_group_data_native(
            group,
            &from_js(&update)?,
            now,
        ))?)
    }

    /// Sends a chat message.
    #[wasm_bindgen(js_name = sendMessage)]
    pub fn send_message(&mut self, group: &str, text: &str, now: f64) -> Result<JsValue, JsValue> {
        to_js(&js(self.send_message_native(group, text, now))?)
    }

    /// Reacts to an inner event.
    pub fn react(
        &mut self,
        group: &str,
        target: &str,
        emoji: &str,
        now: f64,
    ) -> Result<JsValue, JsValue> {
        to_js(&js(self.react_native(group, target, emoji, now))?)
    }

    /// Sends any inner event.
    #[wasm_bindgen(js_name = sendEvent)]
    pub fn send_event(
        &mut self,
        group: &str,
        inner: JsValue,
        now: f64,
    ) -> Result<JsValue, JsValue> {
        to_js(&js(self.send_event_native(group, &from_js(&inner)?, now))?)
    }

    /// Processes an event from a relay.
    pub fn process(&mut self, event: JsValue, now: f64) -> Result<JsValue, JsValue> {
        to_js(&js(self.process_native(&from_js(&event)?, now))?)
    }

    /// Reports relays' answers to a publication.
    pub fn published(
        &mut self,
        event_id: &str,
        answers: JsValue,
        now: f64,
    ) -> Result<JsValue, JsValue> {
        to_js(&js(self.published_native(
            event_id,
            &from_js(&answers)?,
            now,
        ))?)
    }

    /// Reports the result of a read the client asked for.
    pub fn fetched(
        &mut self,
        request: JsValue,
        report: JsValue,
        now: f64,
    ) -> Result<JsValue, JsValue> {
        to_js(&js(self.fetched_native(
            &from_js(&request)?,
            &from_js(&report)?,
            now,
        ))?)
    }

    /// Drops our pending commit.
    #[wasm_bindgen(js_name = discardPending)]
    pub fn discard_pending(&mut self, group: &str, now: f64) -> Result<JsValue, JsValue> {
        to_js(&js(self.discard_pending_native(group, now))?)
    }

    /// Periodic work (read-backs, expiry, pruning).
    pub fn poll(&mut self, now: f64) -> Result<JsValue, JsValue> {
        to_js(&js(self.poll_native(now))?)
    }

    /// Every group we know.
    pub fn groups(&self) -> Result<JsValue, JsValue> {
        to_js(&self.groups_native())
    }

    /// A group's members.
    pub fn members(&self, group: &str) -> Result<JsValue, JsValue> {
        to_js(&js(self.members_native(group))?)
    }

    /// `{ epoch, authenticator }`.
    pub fn epoch(&self, group: &str) -> Result<JsValue, JsValue> {
        to_js(&js(self.epoch_native(group))?)
    }

    /// The ratchet tree as nodes.
    pub fn tree(&self, group: &str) -> Result<JsValue, JsValue> {
        to_js(&js(self.tree_native(group))?)
    }

    /// The subscriptions the host should hold.
    pub fn subscriptions(&self) -> Result<JsValue, JsValue> {
        to_js(&self.subscriptions_native())
    }

    /// Events still to publish.
    pub fn outbox(&self) -> Result<JsValue, JsValue> {
        to_js(&js(self.outbox_native())?)
    }
}
