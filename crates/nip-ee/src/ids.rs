//! Identifiers of a group: the MLS group id (secret to members, the key of all per-group
//! state) and the public `nostr_group_id` (the `h` tag of kind-445 events, which anyone can
//! copy and which admins may change).

use core::fmt;

use crate::error::{Error, Result};

pub use nipee_mls::GroupId;

/// The public id of a group: the 32 bytes whose hex is the `h` tag of its kind-445 events.
///
/// It routes events, nothing more: it is public, copyable by anyone, and may change when an
/// admin changes the group data, so no state is keyed by it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NostrGroupId([u8; 32]);

impl NostrGroupId {
    /// From raw bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        NostrGroupId(bytes)
    }

    /// The raw bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// 64 lower-case hex characters (the `h` tag value).
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses 64 hex characters.
    ///
    /// # Errors
    /// [`Error::Malformed`] for anything else.
    pub fn from_hex(s: &str) -> Result<Self> {
        let v = hex::decode(s).map_err(|e| Error::malformed("nostr_group_id", e.to_string()))?;
        let bytes: [u8; 32] = v
            .try_into()
            .map_err(|_| Error::malformed("nostr_group_id", "not 32 bytes"))?;
        Ok(NostrGroupId(bytes))
    }
}

impl fmt::Debug for NostrGroupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NostrGroupId({})", self.to_hex())
    }
}

impl fmt::Display for NostrGroupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl From<[u8; 32]> for NostrGroupId {
    fn from(bytes: [u8; 32]) -> Self {
        NostrGroupId(bytes)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_bad_hex_is_malformed() {
        let id = NostrGroupId::from_bytes([0xab; 32]);
        assert_eq!(NostrGroupId::from_hex(&id.to_hex()).unwrap(), id);
        assert!(NostrGroupId::from_hex("abcd").is_err());
        assert!(NostrGroupId::from_hex(&"zz".repeat(32)).is_err());
    }
}
