//! Event ids: the SHA-256 of an event's canonical serialization (computed in `event`).

use core::fmt;
use std::borrow::Cow;

use crate::error::Result;
use crate::util;

/// A 32-byte event id: SHA-256 of the canonical serialization.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventId([u8; 32]);

impl EventId {
    /// Wraps 32 bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        EventId(bytes)
    }

    /// Parses 64 lowercase hex characters.
    ///
    /// # Errors
    /// [`crate::Error::Length`] or [`crate::Error::Hex`].
    pub fn from_hex(hex: &str) -> Result<Self> {
        util::decode_hex_array::<32>("id", hex).map(EventId)
    }

    /// The 32 bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0
    }

    /// The 32 bytes, borrowed.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lowercase hex (64 characters).
    pub fn to_hex(&self) -> String {
        util::to_hex(&self.0)
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EventId({})", self.to_hex())
    }
}

impl serde::Serialize for EventId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> core::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> serde::Deserialize<'de> for EventId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> core::result::Result<Self, D::Error> {
        let s = <Cow<'de, str>>::deserialize(d)?;
        EventId::from_hex(&s).map_err(serde::de::Error::custom)
    }
}
