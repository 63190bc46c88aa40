//! A Nostr identity for JavaScript: generated from `crypto.getRandomValues` or imported from
//! an nsec or hex secret. The secret leaves only through the explicitly named methods.

use nipee_nostr::Keys;
use wasm_bindgen::prelude::*;

use crate::error::{FacadeError, FacadeResult};

/// A Nostr key pair.
#[wasm_bindgen]
pub struct Identity {
    keys: Keys,
}

impl core::fmt::Debug for Identity {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Identity")
            .field("public_key", &self.keys.public_key())
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// The keys.
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// From a secret in nsec or hex form (native API).
    ///
    /// # Errors
    /// `malformed` for anything else.
    pub fn parse_native(secret: &str) -> FacadeResult<Self> {
        Keys::parse(secret.trim())
            .map(|keys| Identity { keys })
            .map_err(|e| FacadeError::malformed(format!("secret key: {e}")))
    }
}

#[wasm_bindgen]
impl Identity {
    /// A fresh identity.
    pub fn generate() -> Identity {
        Identity {
            keys: Keys::generate(&mut rand::rng()),
        }
    }

    /// An identity from a secret in nsec or hex form.
    pub fn parse(secret: &str) -> Result<Identity, JsValue> {
        Self::parse_native(secret).map_err(JsValue::from)
    }

    /// The public key (hex).
    #[wasm_bindgen(getter, js_name = publicKey)]
    pub fn public_key(&self) -> String {
        self.keys.public_key().to_hex()
    }

    /// The public key as npub.
    #[wasm_bindgen(getter)]
    pub fn npub(&self) -> String {
        self.keys.public_key().to_bech32()
    }

    /// The secret as nsec. Handle with care.
    #[wasm_bindgen(js_name = exportNsec)]
    pub fn export_nsec(&self) -> String {
        self.keys.secret_key().to_bech32().to_string()
    }

    /// The secret as hex. Handle with care.
    #[wasm_bindgen(js_name = exportHex)]
    pub fn export_hex(&self) -> String {
        self.keys.secret_key().to_secret_hex().to_string()
    }
}
