//! The group identifier (RFC 9420 §8.1 `group_id`): opaque bytes chosen by the creator.
//!
//! It sits at the bottom of the crate because the GroupContext, PSK ids and ReInit
//! proposals carry it as well as the group state machine.

use core::fmt;

/// A group identifier: opaque bytes (for NIP-EE, 32 random bytes). Prints as lower-case hex.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct GroupId(Vec<u8>);

impl GroupId {
    /// Wraps the identifier's bytes.
    pub fn new(bytes: Vec<u8>) -> Self {
        GroupId(bytes)
    }

    /// The identifier's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The identifier in lower-case hex.
    pub fn to_hex(&self) -> String {
        let mut s = String::with_capacity(self.0.len() * 2);
        for b in &self.0 {
            s.push(char::from(HEX[usize::from(b >> 4)]));
            s.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
        s
    }

    /// The length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the identifier is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

impl fmt::Debug for GroupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GroupId({})", self.to_hex())
    }
}

impl fmt::Display for GroupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl AsRef<[u8]> for GroupId {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl From<Vec<u8>> for GroupId {
    fn from(bytes: Vec<u8>) -> Self {
        GroupId(bytes)
    }
}

impl From<&[u8]> for GroupId {
    fn from(bytes: &[u8]) -> Self {
        GroupId(bytes.to_vec())
    }
}

impl PartialEq<[u8]> for GroupId {
    fn eq(&self, other: &[u8]) -> bool {
        self.0 == other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_id_prints_as_hex_and_compares_by_bytes() {
        let id = GroupId::new(vec![0x00, 0xab, 0x7f]);
        assert_eq!(id.to_hex(), "00ab7f");
        assert_eq!(format!("{id}"), "00ab7f");
        assert_eq!(format!("{id:?}"), "GroupId(00ab7f)");
        assert_eq!(id.as_bytes(), &[0x00, 0xab, 0x7f]);
        assert_eq!(GroupId::from(vec![0x00, 0xab, 0x7f]), id);
        assert!(GroupId::new(vec![1]) < GroupId::new(vec![2]));
        assert_eq!(id.as_ref(), id.as_bytes());
    }
}
