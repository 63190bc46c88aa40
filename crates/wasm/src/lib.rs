//! The WebAssembly facade of nipee: what JavaScript sees.
//!
//! Every function returns a `Result` whose error reaches JavaScript as an
//! `Error` with a stable `code` in its message prefix (`"malformed: ..."`),
//! taken from the crate error's `kind()`, so callers can branch on it
//! without parsing prose.
//!
//! ```
//! // The same functions work natively (the rlib), which is how the facade's
//! // logic is unit-tested outside a JavaScript engine.
//! let bytes = nipee_wasm::varint_encode_native(300).unwrap();
//! assert_eq!(bytes, [0x41, 0x2c]);
//! assert_eq!(nipee_wasm::varint_decode_native(&bytes).unwrap(), 300);
//! assert_eq!(
//!     nipee_wasm::varint_decode_native(&[0x40, 0x01]).unwrap_err().code(),
//!     "malformed"
//! );
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use wasm_bindgen::prelude::*;

/// An error as the facade reports it: a stable code and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FacadeError {
    code: &'static str,
    message: String,
}

impl FacadeError {
    /// The stable code (`malformed`, `misuse`, `internal`, ...).
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The human-readable message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl From<nipee_codec::Error> for FacadeError {
    fn from(e: nipee_codec::Error) -> Self {
        FacadeError {
            code: e.kind().as_str(),
            message: e.to_string(),
        }
    }
}

impl From<FacadeError> for JsError {
    fn from(e: FacadeError) -> Self {
        JsError::new(&format!("{}: {}", e.code, e.message))
    }
}

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
pub fn varint_encode(value: f64) -> Result<Vec<u8>, JsError> {
    if !(value.is_finite()
        && value >= 0.0
        && value.fract() == 0.0
        && value <= 9.007_199_254_740_991e15)
    {
        return Err(FacadeError {
            code: "misuse",
            message: format!("{value} is not a non-negative integer"),
        }
        .into());
    }
    Ok(varint_encode_native(value as u64)?)
}

/// Decodes an MLS varint spanning all of `bytes`.
///
/// # Errors
/// A JavaScript `Error` whose message starts with `malformed:`.
#[wasm_bindgen(js_name = varintDecode)]
pub fn varint_decode(bytes: &[u8]) -> Result<f64, JsError> {
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
