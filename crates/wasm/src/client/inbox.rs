//! The client's inbox through the facade: every outcome the application must see is kept
//! (in the rows the host stores) until the host acknowledges it.

use nipee::InboxId;
use serde_json::{Value, json};
use wasm_bindgen::prelude::*;

use super::{NipeeClient, from_js, js, to_js};
use crate::error::{FacadeError, FacadeResult};
use crate::json;

impl NipeeClient {
    /// The outcomes not acknowledged yet, oldest first, each with its `inboxId` (and the
    /// `eventId` of the event it came from, when one did).
    ///
    /// # Errors
    /// Storage errors.
    pub fn inbox_native(&self) -> FacadeResult<Value> {
        Ok(Value::Array(
            self.client
                .inbox()?
                .iter()
                .map(|e| {
                    let mut v = json::outcome(&e.outcome);
                    if let Value::Object(m) = &mut v {
                        m.insert("inboxId".to_owned(), json!(e.id.as_u64()));
                        if let Some(id) = e.source {
                            m.insert("eventId".to_owned(), Value::String(id.to_hex()));
                        }
                    }
                    v
                })
                .collect(),
        ))
    }

    /// Deletes the inbox entries `ids` (numbers) the application has taken; unknown ids are
    /// skipped. The result's value is how many were deleted; persist its `write`.
    ///
    /// # Errors
    /// `malformed` for ids that are not whole numbers; storage errors.
    pub fn acknowledge_native(&mut self, ids: &Value) -> FacadeResult<Value> {
        let ids = match ids {
            Value::Array(a) => a
                .iter()
                .map(|v| {
                    v.as_u64()
                        .map(InboxId::from_u64)
                        .ok_or_else(|| FacadeError::malformed("an inbox id is a whole number"))
                })
                .collect::<FacadeResult<Vec<_>>>()?,
            _ => return Err(FacadeError::malformed("expected a list of inbox ids")),
        };
        match self.client.acknowledge(&ids) {
            Ok(n) => Ok(self.finish(json!(n), &nipee::Effects::default())),
            Err(e) => self.fail(e),
        }
    }
}

#[wasm_bindgen]
impl NipeeClient {
    /// The outcomes not acknowledged yet (each with `inboxId`), oldest first.
    pub fn inbox(&self) -> Result<JsValue, JsValue> {
        to_js(&js(self.inbox_native())?)
    }

    /// Acknowledges inbox entries the application has taken: `{ value: count, write }`.
    pub fn acknowledge(&mut self, ids: JsValue) -> Result<JsValue, JsValue> {
        let ids = from_js(&ids)?;
        to_js(&js(self.acknowledge_native(&ids))?)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::identity::Identity;

    const NOW: f64 = 1_800_000_000.0;

    #[test]
    fn a_message_is_kept_until_acknowledged_and_the_rows_say_so() {
        let config = json!({ "relays": ["wss://relay.example"] });
        let mut alice =
            NipeeClient::create_native(&Identity::generate(), &json!([]), &config).unwrap();
        let mut bob =
            NipeeClient::create_native(&Identity::generate(), &json!([]), &config).unwrap();
        let kp = bob.create_key_package_native(false, NOW).unwrap();
        let created = alice
            .create_group_native(
                &json!({ "name": "g", "invitees": [kp["value"].clone()] }),
                NOW,
            )
            .unwrap();
        let gid = created["value"]["groupId"].as_str().unwrap().to_owned();
        for o in created["publish"].as_array().unwrap() {
            if o["purpose"]["type"] == "welcome" {
                let joined = bob.process_native(&o["event"], NOW).unwrap();
                assert_eq!(joined["outcomes"][0]["type"], "joined");
                assert!(joined["outcomes"][0]["inboxId"].is_u64());
            }
        }
        let sent = alice.send_message_native(&gid, "hi", NOW).unwrap();
        let got = bob
            .process_native(&sent["publish"][0]["event"], NOW)
            .unwrap();
        let message = &got["outcomes"][0];
        assert_eq!(message["type"], "message");
        assert_eq!(message["event"]["content"], "hi");
        let inbox = bob.inbox_native().unwrap();
        assert_eq!(inbox.as_array().unwrap().len(), 2, "{inbox}");
        assert_eq!(inbox[1]["inboxId"], message["inboxId"]);
        assert_eq!(inbox[1]["eventId"], message["eventId"]);

        // Reopened from its rows (a page reload), bob still holds both.
        let reopened = NipeeClient::open_native(&bob.rows_native(), &config).unwrap();
        assert_eq!(reopened.inbox_native().unwrap(), inbox);

        let ids = json!([inbox[0]["inboxId"], inbox[1]["inboxId"], 12_345]);
        let acked = bob.acknowledge_native(&ids).unwrap();
        assert_eq!(acked["value"], 2);
        assert!(
            acked["write"].as_array().is_some_and(|w| !w.is_empty()),
            "{acked}"
        );
        assert!(bob.inbox_native().unwrap().as_array().unwrap().is_empty());
        assert_eq!(bob.acknowledge_native(&ids).unwrap()["value"], 0);
        let err = bob.acknowledge_native(&json!(["x"])).unwrap_err();
        assert_eq!(err.code(), "malformed");
    }
}
