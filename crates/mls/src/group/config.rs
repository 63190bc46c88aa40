//! A member's own settings: not part of the protocol, each member chooses its own.

use nipee_keypackage::{LifetimeCheck, ValidationPolicy};

use crate::secret_tree::SecretTreeConfig;

/// How handshake messages (proposals and commits) are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeFormat {
    /// As PublicMessage (signed, membership tag).
    Public,
    /// As PrivateMessage (encrypted under the handshake ratchet).
    Private,
}

/// Settings of a group member. Not part of the protocol: each member chooses its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupConfig {
    /// How our proposals and commits are sent.
    pub handshake_format: HandshakeFormat,
    /// PrivateMessage plaintexts are padded with zero bytes to a multiple of this many bytes
    /// (0 or 1: no padding).
    pub padding_block: u16,
    /// How many past epochs' decryption secrets are kept for late application messages.
    pub max_past_epochs: u16,
    /// Out-of-order window and forward distance of the secret tree ratchets.
    pub secret_tree: SecretTreeConfig,
    /// Whether GroupInfos (in Welcomes) carry the `ratchet_tree` extension.
    pub ratchet_tree_extension: bool,
    /// Whether every commit we create carries an UpdatePath, even where §12.4 allows none.
    pub always_path: bool,
    /// How many past epochs' resumption PSKs are kept.
    pub max_resumption_psks: u16,
    /// How KeyPackages in Add proposals and Welcomes are validated (lifetime at the caller's
    /// `now`). LeafNodes received inside a tree or a commit are never checked against the
    /// clock (§7.3 makes that optional; they may have expired in transit).
    pub key_package_policy: ValidationPolicy,
    /// GREASE on what we send (RFC 9420 §13.5): a fresh random selection of GREASE values
    /// in the four capability lists of every LeafNode we create (the leaf of our
    /// UpdatePaths and of our Update proposals), and one GREASE extension, with up to 16
    /// random bytes, in every GroupInfo we sign (in our Welcomes and from
    /// [`crate::Group::group_info`]). The randomness comes from the provider, so a seeded
    /// provider gives the same bytes every time. On by default; off, we send exactly what
    /// we sent before GREASE existed and draw no randomness for it (for byte-exact tests).
    pub grease: bool,
    /// With [`GroupConfig::grease`], also one GREASE extension in `LeafNode.extensions` of
    /// those leaves (listed in their capabilities). Off by default: OpenMLS up to 0.9.2
    /// refuses a leaf with a GREASE extension (see `nipee_keypackage::grease`).
    pub grease_leaf_extensions: bool,
}

impl GroupConfig {
    /// Defaults: handshake as PrivateMessage, no padding, 3 past epochs, the ratchet tree in
    /// Welcomes, a path only where required, 16 resumption PSKs, KeyPackage lifetimes
    /// checked at `now` (seconds since the Unix epoch), GREASE in leaf capabilities and
    /// GroupInfos but not in leaf extensions.
    pub fn new(now: u64) -> Self {
        GroupConfig {
            handshake_format: HandshakeFormat::Private,
            padding_block: 0,
            max_past_epochs: 3,
            secret_tree: SecretTreeConfig::default(),
            ratchet_tree_extension: true,
            always_path: false,
            max_resumption_psks: 16,
            key_package_policy: ValidationPolicy::at(now),
            grease: true,
            grease_leaf_extensions: false,
        }
    }

    /// This config without any GREASE on what we send (see [`GroupConfig::grease`]).
    #[must_use]
    pub fn without_grease(mut self) -> Self {
        self.grease = false;
        self.grease_leaf_extensions = false;
        self
    }

    /// The policy for LeafNodes received in a tree, an Update or a commit: the KeyPackage
    /// policy without the clock.
    pub(crate) fn leaf_policy(&self) -> ValidationPolicy {
        let mut p = self.key_package_policy.clone();
        p.lifetime = LifetimeCheck::Skip;
        p.max_lifetime_secs = None;
        p
    }
}
