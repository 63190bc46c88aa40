//! Errors as JavaScript sees them: an `Error` whose `code` property is a stable category
//! (`malformed`, `invalid`, `misuse`, `storage`, `unsupported`, `network`, `internal`) and
//! whose message says what happened (it also starts with the code, for `catch (e)` code that
//! only looks at the message).

use wasm_bindgen::JsValue;

/// An error as the facade reports it: a stable code and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FacadeError {
    pub(crate) code: &'static str,
    pub(crate) message: String,
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

    pub(crate) fn misuse(message: impl Into<String>) -> Self {
        FacadeError {
            code: "misuse",
            message: message.into(),
        }
    }

    pub(crate) fn malformed(message: impl Into<String>) -> Self {
        FacadeError {
            code: "malformed",
            message: message.into(),
        }
    }
}

impl core::fmt::Display for FacadeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
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

impl From<nipee::Error> for FacadeError {
    fn from(e: nipee::Error) -> Self {
        FacadeError {
            code: e.kind().as_str(),
            message: e.to_string(),
        }
    }
}

impl From<nipee_nostr::Error> for FacadeError {
    fn from(e: nipee_nostr::Error) -> Self {
        FacadeError {
            code: e.kind().as_str(),
            message: e.to_string(),
        }
    }
}

impl From<FacadeError> for JsValue {
    fn from(e: FacadeError) -> Self {
        let err = js_sys::Error::new(&e.to_string());
        // Setting a property on a fresh Error object cannot fail.
        let _ = js_sys::Reflect::set(&err, &JsValue::from_str("code"), &JsValue::from_str(e.code));
        err.into()
    }
}

/// `Result` of the facade's native API.
pub type FacadeResult<T> = Result<T, FacadeError>;
