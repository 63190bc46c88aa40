//! Nostr primitives for JavaScript: event ids, signing and verification (NIP-01 / BIP-340),
//! NIP-44 v2, NIP-59 gift wraps, NIP-19. Secrets are passed as hex or nsec; keys as hex or
//! npub.

use nipee_nostr::nip19::{Nip19Event, Nip19Profile};
use nipee_nostr::nip44::{self, ConversationKey};
use nipee_nostr::{
    Event, EventId, Keys, Kind, PublicKey, SecretKey, Tag, Tags, Timestamp, UnsignedEvent, nip59,
};
use serde_json::{Value, json};
use wasm_bindgen::prelude::*;

use crate::client::{from_js, to_js};
use crate::error::{FacadeError, FacadeResult};
use crate::json;

fn keys(secret: &str) -> FacadeResult<Keys> {
    Keys::parse(secret.trim()).map_err(|e| FacadeError::malformed(format!("secret key: {e}")))
}

/// The secret key alone: NIP-44 needs no public key of ours, and deriving one (what
/// [`keys`] does) is a base-point multiplication, the dearest step of a call on wasm32.
fn secret_key(secret: &str) -> FacadeResult<SecretKey> {
    SecretKey::parse(secret.trim()).map_err(|e| FacadeError::malformed(format!("secret key: {e}")))
}

fn unsigned_of(v: &Value) -> FacadeResult<UnsignedEvent> {
    let pubkey = json::parse_pubkey(
        v.get("pubkey")
            .and_then(Value::as_str)
            .ok_or_else(|| FacadeError::malformed("pubkey missing"))?,
    )?;
    let kind = v
        .get("kind")
        .and_then(Value::as_u64)
        .and_then(|k| u16::try_from(k).ok())
        .ok_or_else(|| FacadeError::malformed("kind must be a number up to 65535"))?;
    let created_at = v
        .get("created_at")
        .and_then(Value::as_u64)
        .ok_or_else(|| FacadeError::malformed("created_at must be a number"))?;
    let mut tags = Tags::new();
    if let Some(Value::Array(list)) = v.get("tags") {
        for t in list {
            tags.push(Tag::new(json::strings(Some(t))?));
        }
    }
    let content = v.get("content").and_then(Value::as_str).unwrap_or_default();
    Ok(UnsignedEvent::new(
        pubkey,
        Timestamp::from_secs(created_at),
        Kind::new(kind),
        tags,
        content,
    ))
}

/// The NIP-01 id of an unsigned event (native API).
///
/// # Errors
/// `malformed` for a bad shape.
pub fn event_id_native(unsigned: &Value) -> FacadeResult<String> {
    Ok(unsigned_of(unsigned)?.id().to_hex())
}

/// Signs an unsigned event with `secret` (its pubkey must match).
///
/// # Errors
/// `malformed`, `misuse` for a pubkey that is not the secret's.
pub fn sign_event_native(unsigned: &Value, secret: &str) -> FacadeResult<Value> {
    let k = keys(secret)?;
    let ev = unsigned_of(unsigned)?.sign(&k)?;
    Ok(json::event(&ev))
}

/// Verifies a signed event (id and signature); returns it normalised.
///
/// # Errors
/// `malformed` or `invalid` naming what failed.
pub fn verify_event_native(event: &Value) -> FacadeResult<Value> {
    Ok(json::event(&json::parse_event(event)?))
}

/// NIP-44 v2 encryption from `secret` to `peer`.
///
/// # Errors
/// `malformed` keys, `misuse` for an empty plaintext.
pub fn nip44_encrypt_native(secret: &str, peer: &str, plaintext: &str) -> FacadeResult<String> {
    Nip44Conversation::new_native(secret, peer)?.encrypt_native(plaintext)
}

/// NIP-44 v2 decryption.
///
/// # Errors
/// `malformed` payloads, `invalid` MAC.
pub fn nip44_decrypt_native(secret: &str, peer: &str, payload: &str) -> FacadeResult<String> {
    Nip44Conversation::new_native(secret, peer)?.decrypt_native(payload)
}

/// A NIP-44 v2 conversation key between our secret key and a peer, derived once (one ECDH
/// and an HKDF) for many messages: `nip44Encrypt`/`nip44Decrypt` derive it on every call.
/// It is secret: zeroized when dropped (`free()` in JavaScript); `Debug` prints nothing of it.
#[wasm_bindgen]
pub struct Nip44Conversation {
    key: ConversationKey,
}

impl core::fmt::Debug for Nip44Conversation {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Nip44Conversation").finish_non_exhaustive()
    }
}

impl Nip44Conversation {
    /// The conversation key of `secret` (hex or nsec) and `peer` (hex or npub).
    ///
    /// # Errors
    /// `malformed` keys.
    pub fn new_native(secret: &str, peer: &str) -> FacadeResult<Self> {
        Ok(Nip44Conversation {
            key: ConversationKey::derive(&secret_key(secret)?, &json::parse_pubkey(peer)?),
        })
    }

    /// NIP-44 v2 encryption of `plaintext`.
    ///
    /// # Errors
    /// `misuse` for an empty plaintext.
    pub fn encrypt_native(&self, plaintext: &str) -> FacadeResult<String> {
        Ok(nip44::encrypt_str(&self.key, plaintext, &mut rand::rng())?)
    }

    /// NIP-44 v2 decryption of `payload`.
    ///
    /// # Errors
    /// `malformed` payloads, `invalid` MAC.
    pub fn decrypt_native(&self, payload: &str) -> FacadeResult<String> {
        Ok(nip44::decrypt_str(&self.key, payload)?)
    }
}

#[wasm_bindgen]
impl Nip44Conversation {
    /// The conversation key of `secret` (hex or nsec) and `peer` (hex or npub).
    #[wasm_bindgen(constructor)]
    pub fn new(secret: &str, peer: &str) -> Result<Nip44Conversation, JsValue> {
        js(Self::new_native(secret, peer))
    }

    /// NIP-44 v2 encryption.
    pub fn encrypt(&self, plaintext: &str) -> Result<String, JsValue> {
        js(self.encrypt_native(plaintext))
    }

    /// NIP-44 v2 decryption.
    pub fn decrypt(&self, payload: &str) -> Result<String, JsValue> {
        js(self.decrypt_native(payload))
    }
}

/// Gift-wraps (NIP-59) a rumor authored by `secret`'s key to `recipient`.
///
/// # Errors
/// `malformed`, `misuse` when the rumor's pubkey is not the sender's.
pub fn gift_wrap_native(
    rumor: &Value,
    secret: &str,
    recipient: &str,
    now: u64,
) -> FacadeResult<Value> {
    let k = keys(secret)?;
    let r = unsigned_of(rumor)?;
    let ev = nip59::gift_wrap(
        &k,
        &json::parse_pubkey(recipient)?,
        &r,
        Timestamp::from_secs(now),
        &mut rand::rng(),
    )?;
    Ok(json::event(&ev))
}

/// Unwraps a gift wrap addressed to `secret`'s key: `{ rumor, sender }`.
///
/// # Errors
/// `invalid` when it is not for this key or the seal's signer is not the rumor's author.
pub fn unwrap_gift_wrap_native(event: &Value, secret: &str) -> FacadeResult<Value> {
    let k = keys(secret)?;
    let ev: Event = json::parse_event(event)?;
    let u = nip59::unwrap_gift_wrap(&k, &ev)?;
    Ok(json!({ "rumor": json::unsigned(&u.rumor), "sender": u.sender.to_hex() }))
}

/// NIP-19 encoding: `{ type: "npub"|"nsec"|"note"|"nprofile"|"nevent", value, relays? }`.
///
/// # Errors
/// `malformed` for a bad value or type.
pub fn nip19_encode_native(v: &Value) -> FacadeResult<String> {
    let ty = v.get("type").and_then(Value::as_str).unwrap_or_default();
    let value = v.get("value").and_then(Value::as_str).unwrap_or_default();
    let relays = json::strings(v.get("relays"))?;
    Ok(match ty {
        "npub" => json::parse_pubkey(value)?.to_bech32(),
        "nsec" => keys(value)?.secret_key().to_bech32().to_string(),
        "note" => EventId::from_hex(value)?.to_bech32(),
        "nprofile" => Nip19Profile {
            public_key: json::parse_pubkey(value)?,
            relays,
        }
        .to_bech32()?,
        "nevent" => Nip19Event {
            id: EventId::from_hex(value)?,
            relays,
            author: None,
            kind: None,
        }
        .to_bech32()?,
        other => {
            return Err(FacadeError::malformed(format!(
                "unknown NIP-19 type {other:?}"
            )));
        }
    })
}

/// NIP-19 decoding: `{ type, value (hex), relays? }`.
///
/// # Errors
/// `malformed` for anything that does not decode.
pub fn nip19_decode_native(s: &str) -> FacadeResult<Value> {
    let s = s.trim();
    let prefix = s.split('1').next().unwrap_or_default();
    Ok(match prefix {
        "npub" => json!({ "type": "npub", "value": PublicKey::from_bech32(s)?.to_hex() }),
        "nsec" => {
            let k = Keys::parse(s).map_err(|e| FacadeError::malformed(e.to_string()))?;
            json!({ "type": "nsec", "value": k.secret_key().to_secret_hex().to_string() })
        }
        "note" => json!({ "type": "note", "value": EventId::from_bech32(s)?.to_hex() }),
        "nprofile" => {
            let p = Nip19Profile::from_bech32(s)?;
            json!({ "type": "nprofile", "value": p.public_key.to_hex(), "relays": p.relays })
        }
        "nevent" => {
            let e = Nip19Event::from_bech32(s)?;
            json!({ "type": "nevent", "value": e.id.to_hex(), "relays": e.relays })
        }
        other => {
            return Err(FacadeError::malformed(format!(
                "unknown NIP-19 prefix {other:?}"
            )));
        }
    })
}

fn js<T>(r: FacadeResult<T>) -> Result<T, JsValue> {
    r.map_err(JsValue::from)
}

/// The NIP-01 id (hex) of an unsigned event `{ pubkey, created_at, kind, tags, content }`.
#[wasm_bindgen(js_name = eventId)]
pub fn event_id(unsigned: JsValue) -> Result<String, JsValue> {
    js(event_id_native(&from_js(&unsigned)?))
}

/// Signs an unsigned event with a secret (hex or nsec).
#[wasm_bindgen(js_name = signEvent)]
pub fn sign_event(unsigned: JsValue, secret: &str) -> Result<JsValue, JsValue> {
    to_js(&js(sign_event_native(&from_js(&unsigned)?, secret))?)
}

/// Verifies an event's id and signature; throws `invalid`/`malformed` otherwise.
#[wasm_bindgen(js_name = verifyEvent)]
pub fn verify_event(event: JsValue) -> Result<JsValue, JsValue> {
    to_js(&js(verify_event_native(&from_js(&event)?))?)
}

/// NIP-44 v2 encryption.
#[wasm_bindgen(js_name = nip44Encrypt)]
pub fn nip44_encrypt(secret: &str, peer: &str, plaintext: &str) -> Result<String, JsValue> {
    js(nip44_encrypt_native(secret, peer, plaintext))
}

/// NIP-44 v2 decryption.
#[wasm_bindgen(js_name = nip44Decrypt)]
pub fn nip44_decrypt(secret: &str, peer: &str, payload: &str) -> Result<String, JsValue> {
    js(nip44_decrypt_native(secret, peer, payload))
}

/// NIP-59 gift wrap of a rumor.
#[wasm_bindgen(js_name = giftWrap)]
pub fn gift_wrap(
    rumor: JsValue,
    secret: &str,
    recipient: &str,
    now: f64,
) -> Result<JsValue, JsValue> {
    let now = if now.is_finite() && now >= 0.0 {
        now as u64
    } else {
        0
    };
    to_js(&js(gift_wrap_native(
        &from_js(&rumor)?,
        secret,
        recipient,
        now,
    ))?)
}

/// NIP-59 unwrap: `{ rumor, sender }`.
#[wasm_bindgen(js_name = unwrapGiftWrap)]
pub fn unwrap_gift_wrap(event: JsValue, secret: &str) -> Result<JsValue, JsValue> {
    to_js(&js(unwrap_gift_wrap_native(&from_js(&event)?, secret))?)
}

/// NIP-19 encoding.
#[wasm_bindgen(js_name = nip19Encode)]
pub fn nip19_encode(v: JsValue) -> Result<String, JsValue> {
    js(nip19_encode_native(&from_js(&v)?))
}

/// NIP-19 decoding.
#[wasm_bindgen(js_name = nip19Decode)]
pub fn nip19_decode(s: &str) -> Result<JsValue, JsValue> {
    to_js(&js(nip19_decode_native(s))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first `encrypt_decrypt` case of the NIP-44 v2 vectors (`nip44.vectors.json`):
    /// secret keys 1 and 2; the public key of 1 is the generator's x.
    const SEC2: &str = "0000000000000000000000000000000000000000000000000000000000000002";
    const PUB1: &str = "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798";
    const PAYLOAD: &str = "AgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAABee0G5VSK0/9YypIObAtDKfYEAjD35uVkHyB0F4DwrcNaCXlCWZKaArsGrY6M9wnuTMxWfp1RTN9Xga8no+kF5Vsb";

    #[test]
    fn nip44_decrypts_the_spec_vector_with_a_hex_or_nsec_secret() {
        assert_eq!(nip44_decrypt_native(SEC2, PUB1, PAYLOAD).unwrap(), "a");
        let nsec = nip19_encode_native(&json!({ "type": "nsec", "value": SEC2 })).unwrap();
        assert_eq!(nip44_decrypt_native(&nsec, PUB1, PAYLOAD).unwrap(), "a");
    }

    #[test]
    fn nip44_round_trips_between_two_keys_and_refuses_bad_secrets() {
        let (a, b) = (Keys::generate_os().unwrap(), Keys::generate_os().unwrap());
        let a_secret = a.secret_key().to_secret_hex().to_string();
        let b_secret = b.secret_key().to_secret_hex().to_string();
        let ct = nip44_encrypt_native(&a_secret, &b.public_key().to_hex(), "hello").unwrap();
        let pt = nip44_decrypt_native(&b_secret, &a.public_key().to_hex(), &ct).unwrap();
        assert_eq!(pt, "hello");
        let other = Keys::generate_os().unwrap().public_key().to_hex();
        assert_eq!(
            nip44_decrypt_native(&b_secret, &other, &ct)
                .unwrap_err()
                .code(),
            "invalid"
        );
        let conversation =
            Nip44Conversation::new_native(&b_secret, &a.public_key().to_hex()).unwrap();
        assert_eq!(conversation.decrypt_native(&ct).unwrap(), "hello");
        let back = conversation.encrypt_native("and back").unwrap();
        let a_side = Nip44Conversation::new_native(&a_secret, &b.public_key().to_hex()).unwrap();
        assert_eq!(a_side.decrypt_native(&back).unwrap(), "and back");
        assert_eq!(
            conversation.encrypt_native("").unwrap_err().code(),
            "misuse"
        );
        assert!(!format!("{conversation:?}").contains(&b_secret[..8]));
        for bad in ["", "zz", &"00".repeat(32), &"ff".repeat(32)] {
            let e = nip44_encrypt_native(bad, &other, "x").unwrap_err();
            assert_eq!(e.code(), "malformed", "{bad:?}");
        }
    }
}
