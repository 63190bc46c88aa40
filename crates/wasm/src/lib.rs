//! The WebAssembly facade of nipee: the whole NIP-EE client for JavaScript, in browsers
//! and in Node.
//!
//! * [`NipeeClient`]: the sans-IO client core. Every operation returns what to publish,
//!   what to read and one storage write (rows to put and delete) that the host persists
//!   before it publishes; loading the rows back gives the same client. Time is passed in
//!   by the host; randomness comes from `crypto.getRandomValues`.
//! * [`Identity`]: generate or import a Nostr identity.
//! * Nostr primitives: event ids, signing, verification, NIP-44, NIP-59, NIP-19.
//! * Beside the generated bindings, the package ships plain JavaScript (`host.js`: a relay
//!   host that moves events and makes no protocol decision; `storage.js`: IndexedDB and
//!   in-memory stores) and TypeScript types for all of it (`nipee.d.ts`).
//!
//! Every error reaches JavaScript as an `Error` whose `code` property is a stable category
//! (`malformed`, `invalid`, `misuse`, `storage`, `unsupported`, `network`, `internal`),
//! taken from the crate errors' `kind()`. A failed call changes nothing.
//!
//! ```
//! // The same logic runs natively (the rlib), which is how the facade is unit-tested
//! // outside a JavaScript engine.
//! use nipee_wasm::{Identity, NipeeClient};
//! use serde_json::json;
//!
//! let alice = Identity::generate();
//! let config = json!({ "relays": ["wss://relay.example"] });
//! let mut client = NipeeClient::create_native(&alice, &json!([]), &config).unwrap();
//! let kp = client.create_key_package_native(true, 1_800_000_000.0).unwrap();
//! assert_eq!(kp["value"]["kind"], 443);
//! // The write carries the KeyPackage's private keys and the outbox row.
//! assert!(kp["write"].as_array().unwrap().len() >= 2);
//! let again = NipeeClient::open_native(&client.rows_native(), &config).unwrap();
//! assert_eq!(again.inner().public_key(), client.inner().public_key());
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod client;
mod error;
mod identity;
mod json;
mod nostr;

use wasm_bindgen::prelude::*;

pub use client::NipeeClient;
pub use error::FacadeError;
pub use identity::Identity;
pub use nostr::{
    Nip44Conversation, event_id_native, gift_wrap_native, nip19_decode_native, nip19_encode_native,
    nip44_decrypt_native, nip44_encrypt_native, sign_event_native, unwrap_gift_wrap_native,
    verify_event_native,
};

/// Encodes `value` as an MLS variable-length integer (native API).
///
/// # Errors
/// `misuse` when `value` exceeds `2^30 - 1`.
pub fn varint_encode_native(value: u64) -> Result<Vec<u8>, FacadeError> {
    let mut out = Vec::new();
    nipee_codec::varint::write_varint("value", value, &mut out)?;
    Ok(out)
}

/// Decodes an MLS variable-length integer that must span all of `bytes`
/// (native API).
///
/// # Errors
/// `malformed` for truncated, non-minimal, reserved-prefix or trailing input.
pub fn varint_decode_native(bytes: &[u8]) -> Result<u64, FacadeError> {
    let mut r = nipee_codec::Reader::new(bytes);
    let v = r.varint("value")?;
    r.finish()?;
    Ok(v)
}

/// Encodes `value` (a JavaScript number up to `2^30 - 1`) as an MLS varint.
///
/// # Errors
/// A JavaScript `Error` whose message starts with `misuse:`.
#[wasm_bindgen(js_name = varintEncode)]
pub fn varint_encode(value: f64) -> Result<Vec<u8>, JsValue> {
    if !(value.is_finite()
        && value >= 0.0
        && value.fract() == 0.0
        && value <= 9.007_199_254_740_991e15)
    {
        return Err(FacadeError::misuse(format!("{value} is not a non-negative integer")).into());
    }
    Ok(varint_encode_native(value as u64)?)
}

/// Decodes an MLS varint spanning all of `bytes`.
///
/// # Errors
/// A JavaScript `Error` whose message starts with `malformed:`.
#[wasm_bindgen(js_name = varintDecode)]
pub fn varint_decode(bytes: &[u8]) -> Result<f64, JsValue> {
    Ok(varint_decode_native(bytes)? as f64)
}

/// The version of the nipee facade.
#[wasm_bindgen]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_and_decodes_the_rfc_examples() {
        // RFC 9420 §2.1.2 examples.
        assert_eq!(varint_decode_native(&[0x25]).unwrap(), 37);
        assert_eq!(varint_decode_native(&[0x7b, 0xbd]).unwrap(), 15293);
        assert_eq!(
            varint_decode_native(&[0x9d, 0x7f, 0x3e, 0x7d]).unwrap(),
            494_878_333
        );
        assert_eq!(
            varint_encode_native(494_878_333).unwrap(),
            [0x9d, 0x7f, 0x3e, 0x7d]
        );
    }

    #[test]
    fn the_config_chooses_the_profile_of_new_key_packages() {
        use serde_json::json;
        let alice = Identity::generate();
        let encoding = |kp: &serde_json::Value| {
            kp["value"]["tags"]
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t[0] == "encoding" && t[1] == "base64")
        };
        let marmot = json!({ "relays": ["wss://relay.example"], "profile": "marmot" });
        let mut c = NipeeClient::create_native(&alice, &json!([]), &marmot).unwrap();
        let kp = c.create_key_package_native(true, 1_800_000_000.0).unwrap();
        assert!(
            encoding(&kp),
            "a Marmot KeyPackage is base64 with an encoding tag"
        );
        let plain = json!({ "relays": ["wss://relay.example"] });
        let mut c = NipeeClient::create_native(&Identity::generate(), &json!([]), &plain).unwrap();
        let kp = c.create_key_package_native(true, 1_800_000_000.0).unwrap();
        assert!(!encoding(&kp), "nip-ee stays the default");
        let classic = json!({ "relays": [], "classicNip44": true });
        let c = NipeeClient::create_native(&Identity::generate(), &json!([]), &classic).unwrap();
        assert!(c.inner().config().classic_nip44);
        let oob = json!({ "relays": [], "ratchetTreeOutOfBand": true });
        let c = NipeeClient::create_native(&Identity::generate(), &json!([]), &oob).unwrap();
        assert!(c.inner().config().ratchet_tree_out_of_band);
        let bad_oob = json!({ "relays": [], "ratchetTreeOutOfBand": 1 });
        let err =
            NipeeClient::create_native(&Identity::generate(), &json!([]), &bad_oob).unwrap_err();
        assert_eq!(err.code(), "misuse");
        let bad_flag = json!({ "relays": [], "classicNip44": "yes" });
        let err =
            NipeeClient::create_native(&Identity::generate(), &json!([]), &bad_flag).unwrap_err();
        assert_eq!(err.code(), "misuse");
        for bad in [json!("mls"), json!(3)] {
            let config = json!({ "relays": [], "profile": bad });
            let err =
                NipeeClient::create_native(&Identity::generate(), &json!([]), &config).unwrap_err();
            assert_eq!(err.code(), "misuse");
        }
    }

    #[test]
    fn errors_carry_stable_codes() {
        assert_eq!(
            varint_decode_native(&[0xc0, 0, 0, 0, 0, 0, 0, 1])
                .unwrap_err()
                .code(),
            "malformed"
        );
        assert_eq!(
            varint_decode_native(&[0x25, 0]).unwrap_err().code(),
            "malformed"
        );
        assert_eq!(varint_encode_native(1 << 30).unwrap_err().code(), "misuse");
    }
}
