//! Event kinds and the constants nipee uses.

use core::fmt;

/// An event kind (0..=65535).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct Kind(u16);

impl Kind {
    /// kind 0: user metadata.
    pub const METADATA: Kind = Kind(0);
    /// kind 1: short text note.
    pub const TEXT_NOTE: Kind = Kind(1);
    /// kind 5: NIP-09 deletion request.
    pub const DELETION: Kind = Kind(5);
    /// kind 13: NIP-59 seal.
    pub const SEAL: Kind = Kind(13);
    /// kind 443: NIP-EE KeyPackage.
    pub const MLS_KEY_PACKAGE: Kind = Kind(443);
    /// kind 444: NIP-EE Welcome (a rumor inside a gift wrap).
    pub const MLS_WELCOME: Kind = Kind(444);
    /// kind 445: NIP-EE group message.
    pub const MLS_GROUP_MESSAGE: Kind = Kind(445);
    /// kind 1059: NIP-59 gift wrap.
    pub const GIFT_WRAP: Kind = Kind(1059);
    /// kind 10002: NIP-65 relay list metadata.
    pub const RELAY_LIST: Kind = Kind(10002);
    /// kind 10051: NIP-EE KeyPackage relay list.
    pub const MLS_KEY_PACKAGE_RELAYS: Kind = Kind(10051);
    /// kind 21059: NIP-59 ephemeral gift wrap.
    pub const EPHEMERAL_GIFT_WRAP: Kind = Kind(21059);

    /// From the numeric kind.
    pub const fn new(k: u16) -> Self {
        Kind(k)
    }

    /// The numeric kind.
    pub const fn as_u16(&self) -> u16 {
        self.0
    }

    /// NIP-01 replaceable: 0, 3, or 10000..20000.
    pub const fn is_replaceable(&self) -> bool {
        self.0 == 0 || self.0 == 3 || (self.0 >= 10000 && self.0 < 20000)
    }

    /// NIP-01 ephemeral: 20000..30000.
    pub const fn is_ephemeral(&self) -> bool {
        self.0 >= 20000 && self.0 < 30000
    }

    /// NIP-01 addressable: 30000..40000.
    pub const fn is_addressable(&self) -> bool {
        self.0 >= 30000 && self.0 < 40000
    }

    /// NIP-01 regular: everything else.
    pub const fn is_regular(&self) -> bool {
        !self.is_replaceable() && !self.is_ephemeral() && !self.is_addressable()
    }
}

impl From<u16> for Kind {
    fn from(k: u16) -> Self {
        Kind(k)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}
