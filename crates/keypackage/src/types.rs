//! The `uint16` code points of RFC 9420 as newtypes, with their registered
//! constants and GREASE detection (§13.5, §17).

use core::fmt;

use nipee_codec::{Decode, Encode, Reader, Writer};

/// The fifteen GREASE values reserved in every MLS registry (RFC 9420 §13.5):
/// `0x0A0A`, `0x1A1A`, … `0xEAEA`.
pub const GREASE_VALUES: [u16; 15] = [
    0x0A0A, 0x1A1A, 0x2A2A, 0x3A3A, 0x4A4A, 0x5A5A, 0x6A6A, 0x7A7A, 0x8A8A, 0x9A9A, 0xAAAA, 0xBABA,
    0xCACA, 0xDADA, 0xEAEA,
];

/// Whether `value` is one of the reserved GREASE values (RFC 9420 §13.5).
/// `0xFAFA` is private use, not GREASE.
pub const fn is_grease(value: u16) -> bool {
    let [hi, lo] = value.to_be_bytes();
    hi == lo && lo & 0x0F == 0x0A && value != 0xFAFA
}

macro_rules! code_point {
    ($(#[$meta:meta])* $name:ident, $field:literal) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub u16);

        impl $name {
            /// Whether this is a reserved GREASE value (RFC 9420 §13.5).
            pub const fn is_grease(self) -> bool {
                is_grease(self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "(0x{:04x})"), self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "0x{:04x}", self.0)
            }
        }

        impl From<u16> for $name {
            fn from(v: u16) -> Self {
                $name(v)
            }
        }

        impl From<$name> for u16 {
            fn from(v: $name) -> u16 {
                v.0
            }
        }

        // Decoding a code point can only fail in the codec (too few bytes), so its error
        // type is the codec's: this module then sits below `error`, which names these types.
        impl Decode for $name {
            type Error = nipee_codec::Error;
            fn decode(r: &mut Reader<'_>) -> Result<Self, nipee_codec::Error> {
                Ok($name(r.u16($field)?))
            }
        }

        impl Encode for $name {
            type Error = nipee_codec::Error;
            fn encode(&self, w: &mut Writer) -> Result<(), nipee_codec::Error> {
                w.u16(self.0);
                Ok(())
            }
        }
    };
}

code_point!(
    /// `ProtocolVersion` (RFC 9420 §6).
    ProtocolVersion,
    "version"
);
code_point!(
    /// `CipherSuite` (RFC 9420 §17.1).
    CipherSuite,
    "cipher_suite"
);
code_point!(
    /// `ExtensionType` (RFC 9420 §17.3).
    ExtensionType,
    "extension_type"
);
code_point!(
    /// `ProposalType` (RFC 9420 §17.4).
    ProposalType,
    "proposal_type"
);
code_point!(
    /// `CredentialType` (RFC 9420 §17.5).
    CredentialType,
    "credential_type"
);
code_point!(
    /// `WireFormat` of an `MLSMessage` (RFC 9420 §17.2).
    WireFormat,
    "wire_format"
);

impl ProtocolVersion {
    /// `mls10`, the only version defined.
    pub const MLS10: Self = Self(0x0001);
}

impl CipherSuite {
    /// `MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519`, the only suite this
    /// crate implements.
    pub const MLS_128_DHKEMX25519_AES128GCM_SHA256_ED25519: Self = Self(0x0001);
}

impl ExtensionType {
    /// `application_id` (default).
    pub const APPLICATION_ID: Self = Self(0x0001);
    /// `ratchet_tree` (default).
    pub const RATCHET_TREE: Self = Self(0x0002);
    /// `required_capabilities` (default).
    pub const REQUIRED_CAPABILITIES: Self = Self(0x0003);
    /// `external_pub` (default).
    pub const EXTERNAL_PUB: Self = Self(0x0004);
    /// `external_senders` (default).
    pub const EXTERNAL_SENDERS: Self = Self(0x0005);
    /// `last_resort` (RFC 9420 §16.8, registered as 0x000A).
    pub const LAST_RESORT: Self = Self(0x000A);
    /// NIP-EE's `nostr_group_data` group context extension (private use).
    pub const NOSTR_GROUP_DATA: Self = Self(0xF2EE);

    /// Whether this is one of the "default" extension types (RFC 9420 §7.2),
    /// which MUST NOT be listed in capabilities and need not be.
    pub const fn is_default(self) -> bool {
        matches!(self.0, 0x0001..=0x0005)
    }
}

impl ProposalType {
    /// `add` (default).
    pub const ADD: Self = Self(0x0001);
    /// `update` (default).
    pub const UPDATE: Self = Self(0x0002);
    /// `remove` (default).
    pub const REMOVE: Self = Self(0x0003);
    /// `psk` (default).
    pub const PSK: Self = Self(0x0004);
    /// `reinit` (default).
    pub const REINIT: Self = Self(0x0005);
    /// `external_init` (default).
    pub const EXTERNAL_INIT: Self = Self(0x0006);
    /// `group_context_extensions` (default).
    pub const GROUP_CONTEXT_EXTENSIONS: Self = Self(0x0007);
    /// `self_remove` (draft-ietf-mls-extensions, value 0x000a as OpenMLS and MDK use it):
    /// not a default type, so it counts only when listed in capabilities.
    pub const SELF_REMOVE: Self = Self(0x000A);

    /// Whether this is one of the "default" proposal types (RFC 9420 §7.2).
    pub const fn is_default(self) -> bool {
        matches!(self.0, 0x0001..=0x0007)
    }
}

impl CredentialType {
    /// `basic`.
    pub const BASIC: Self = Self(0x0001);
    /// `x509`.
    pub const X509: Self = Self(0x0002);
}

impl WireFormat {
    /// `mls_public_message`.
    pub const PUBLIC_MESSAGE: Self = Self(0x0001);
    /// `mls_private_message`.
    pub const PRIVATE_MESSAGE: Self = Self(0x0002);
    /// `mls_welcome`.
    pub const WELCOME: Self = Self(0x0003);
    /// `mls_group_info`.
    pub const GROUP_INFO: Self = Self(0x0004);
    /// `mls_key_package`.
    pub const KEY_PACKAGE: Self = Self(0x0005);
}

/// The `LeafNodeSource` enum value (RFC 9420 §7.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LeafNodeSourceType {
    /// `key_package(1)`.
    KeyPackage,
    /// `update(2)`.
    Update,
    /// `commit(3)`.
    Commit,
}

impl LeafNodeSourceType {
    /// The wire value.
    pub const fn to_u8(self) -> u8 {
        match self {
            LeafNodeSourceType::KeyPackage => 1,
            LeafNodeSourceType::Update => 2,
            LeafNodeSourceType::Commit => 3,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grease_values_are_exactly_the_reserved_fifteen() {
        let found: Vec<u16> = (0..=u16::MAX).filter(|v| is_grease(*v)).collect();
        assert_eq!(found, GREASE_VALUES.to_vec());
        assert!(!is_grease(0xFAFA));
        assert!(ExtensionType(0x3A3A).is_grease());
    }
}
