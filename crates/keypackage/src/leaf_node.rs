//! LeafNode (RFC 9420 §7.2) and its validation (§7.3).
//!
//! A [`LeafNode`] is both the heart of a KeyPackage and what the ratchet tree
//! stores for each member, so it is a standalone, public API: encode/decode,
//! the exact `LeafNodeTBS` bytes, signature verification, validation for each
//! place a LeafNode can appear, and signing a new one ([`UnsignedLeafNode`]).

use nipee_codec::{Decode, Encode, Error as CodecError, Reader, Writer, decode_exact};

use crate::Error;
use crate::capabilities::Capabilities;
use crate::credential::Credential;
use crate::error::ExtensionLocation;
use crate::extension::{Extension, check_no_duplicates, read_extensions, write_extensions};
use crate::keys::{Hex, SignatureSecretKey};
use crate::lifetime::Lifetime;
use crate::limits::HASH_LEN;
use crate::sign::{sign_with_label, verify_with_label};
use crate::types::LeafNodeSourceType;
use crate::validation::{LifetimeCheck, ValidationPolicy};

/// The `SignWithLabel` label of a LeafNode signature.
pub const LEAF_NODE_TBS_LABEL: &str = "LeafNodeTBS";

/// Where a LeafNode came from, with the data that depends on it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LeafNodeSource {
    /// Published in a KeyPackage: carries a lifetime.
    KeyPackage {
        /// The validity period.
        lifetime: Lifetime,
    },
    /// Sent in an Update proposal.
    Update,
    /// Sent in the UpdatePath of a Commit: carries the parent hash, either
    /// empty (RFC 9420 §7.9, a leaf with an empty direct path) or 32 bytes.
    Commit {
        /// `parent_hash<V>`.
        parent_hash: Vec<u8>,
    },
}

impl LeafNodeSource {
    /// The source's enum value.
    pub fn source_type(&self) -> LeafNodeSourceType {
        match self {
            LeafNodeSource::KeyPackage { .. } => LeafNodeSourceType::KeyPackage,
            LeafNodeSource::Update => LeafNodeSourceType::Update,
            LeafNodeSource::Commit { .. } => LeafNodeSourceType::Commit,
        }
    }

    /// The lifetime, for the `key_package` source.
    pub fn lifetime(&self) -> Option<&Lifetime> {
        match self {
            LeafNodeSource::KeyPackage { lifetime } => Some(lifetime),
            _ => None,
        }
    }
}

impl Decode for LeafNodeSource {
    type Error = Error;

    fn decode(r: &mut Reader<'_>) -> Result<Self, Error> {
        match r.u8("leaf_node_source")? {
            1 => Ok(LeafNodeSource::KeyPackage {
                lifetime: Lifetime::decode(r)?,
            }),
            2 => Ok(LeafNodeSource::Update),
            3 => {
                let parent_hash = r.vl_bytes("parent_hash")?;
                if !parent_hash.is_empty() && parent_hash.len() != HASH_LEN {
                    return Err(CodecError::LengthMismatch {
                        field: "parent_hash",
                        expected: HASH_LEN,
                        found: parent_hash.len(),
                    }
                    .into());
                }
                Ok(LeafNodeSource::Commit {
                    parent_hash: parent_hash.to_vec(),
                })
            }
            other => Err(CodecError::InvalidValue {
                field: "leaf_node_source",
                value: u64::from(other),
                reason: "LeafNodeSource must be key_package(1), update(2) or commit(3)",
            }
            .into()),
        }
    }
}

impl Encode for LeafNodeSource {
    type Error = Error;

    fn encode(&self, w: &mut Writer) -> Result<(), Error> {
        w.u8(self.source_type().to_u8());
        match self {
            LeafNodeSource::KeyPackage { lifetime } => lifetime.encode(w),
            LeafNodeSource::Update => Ok(()),
            LeafNodeSource::Commit { parent_hash } => {
                if !parent_hash.is_empty() && parent_hash.len() != HASH_LEN {
                    return Err(Error::InvalidOptions(
                        "parent_hash must be empty or 32 bytes",
                    ));
                }
                w.vl_bytes("parent_hash", parent_hash)?;
                Ok(())
            }
        }
    }
}

/// Where a LeafNode is being validated, which fixes the `leaf_node_source`
/// it must have and the group context its signature covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LeafNodeContext<'a> {
    /// Inside a KeyPackage: source must be `key_package`; no group context.
    KeyPackage,
    /// In an Update proposal: source must be `update`.
    Update {
        /// The group's ID.
        group_id: &'a [u8],
        /// The sender's leaf index.
        leaf_index: u32,
    },
    /// In the UpdatePath of a Commit: source must be `commit`.
    Commit {
        /// The group's ID.
        group_id: &'a [u8],
        /// The committer's leaf index.
        leaf_index: u32,
    },
    /// In a ratchet tree (joining, or after a Commit): any source; the group
    /// context is used for `update` and `commit` sources.
    Tree {
        /// The group's ID.
        group_id: &'a [u8],
        /// The leaf's index.
        leaf_index: u32,
    },
}

impl LeafNodeContext<'_> {
    fn group(&self) -> (&[u8], u32) {
        match *self {
            LeafNodeContext::KeyPackage => (&[], 0),
            LeafNodeContext::Update {
                group_id,
                leaf_index,
            }
            | LeafNodeContext::Commit {
                group_id,
                leaf_index,
            }
            | LeafNodeContext::Tree {
                group_id,
                leaf_index,
            } => (group_id, leaf_index),
        }
    }

    fn expected_source(&self) -> Option<LeafNodeSourceType> {
        match self {
            LeafNodeContext::KeyPackage => Some(LeafNodeSourceType::KeyPackage),
            LeafNodeContext::Update { .. } => Some(LeafNodeSourceType::Update),
            LeafNodeContext::Commit { .. } => Some(LeafNodeSourceType::Commit),
            LeafNodeContext::Tree { .. } => None,
        }
    }
}

/// A LeafNode of suite 0x0001 (RFC 9420 §7.2), flat: both keys are 32-byte
/// arrays and the signature is a 64-byte Ed25519 signature, so a key of any
/// other length cannot be represented (decoding fails naming the field).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct LeafNode {
    /// `encryption_key`: the X25519 HPKE public key.
    pub encryption_key: [u8; 32],
    /// `signature_key`: the Ed25519 public key.
    pub signature_key: [u8; 32],
    /// `credential`.
    pub credential: Credential,
    /// `capabilities`.
    pub capabilities: Capabilities,
    /// `leaf_node_source` and the field it selects.
    pub leaf_node_source: LeafNodeSource,
    /// `extensions<V>`.
    pub extensions: Vec<Extension>,
    /// `signature`: `SignWithLabel(., "LeafNodeTBS", LeafNodeTBS)`.
    pub signature: [u8; 64],
}

impl core::fmt::Debug for LeafNode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("LeafNode")
            .field("encryption_key", &Hex(&self.encryption_key))
            .field("signature_key", &Hex(&self.signature_key))
            .field("credential", &self.credential)
            .field("capabilities", &self.capabilities)
            .field("leaf_node_source", &self.leaf_node_source)
            .field("extensions", &self.extensions)
            .field("signature", &Hex(&self.signature))
            .finish()
    }
}

/// The fields of a LeafNode before it is signed.
///
/// The MLS engine builds one for an Update proposal or for the UpdatePath of
/// a Commit (after computing the parent hash) and signs it with
/// [`UnsignedLeafNode::sign`]; [`LeafNode::to_unsigned`] starts from an
/// existing leaf.
///
/// ```
/// use nipee_keypackage::{
///     Capabilities, Credential, Encode, LeafNode, LeafNodeContext, LeafNodeSource,
///     SignatureSecretKey, UnsignedLeafNode, ValidationPolicy,
/// };
///
/// let signer = SignatureSecretKey::from_bytes([7; 32]);
/// let group_id = b"group";
/// // The leaf of member 2 in the UpdatePath of a Commit.
/// let leaf = UnsignedLeafNode {
///     encryption_key: [9; 32],
///     signature_key: signer.public_key(),
///     credential: Credential::basic(b"alice".to_vec())?,
///     capabilities: Capabilities::default(),
///     leaf_node_source: LeafNodeSource::Commit { parent_hash: vec![0xAB; 32] },
///     extensions: vec![],
/// }
/// .sign(&signer, group_id, 2)?;
///
/// let decoded = LeafNode::from_bytes(&leaf.to_bytes()?)?;
/// let context = LeafNodeContext::Commit { group_id, leaf_index: 2 };
/// decoded.validate(&ValidationPolicy::at(1_700_000_000), context)?;
/// // The signature binds the group and the position.
/// assert!(decoded.verify_signature(group_id, 3).is_err());
/// # Ok::<(), nipee_keypackage::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UnsignedLeafNode {
    /// `encryption_key`.
    pub encryption_key: [u8; 32],
    /// `signature_key`: must be the public key of the signer.
    pub signature_key: [u8; 32],
    /// `credential`.
    pub credential: Credential,
    /// `capabilities`.
    pub capabilities: Capabilities,
    /// `leaf_node_source`.
    pub leaf_node_source: LeafNodeSource,
    /// `extensions<V>`.
    pub extensions: Vec<Extension>,
}

/// Writes the fields common to `LeafNode` and `LeafNodeTBS`.
#[allow(clippy::too_many_arguments)]
fn write_content(
    w: &mut Writer,
    encryption_key: &[u8; 32],
    signature_key: &[u8; 32],
    credential: &Credential,
    capabilities: &Capabilities,
    source: &LeafNodeSource,
    extensions: &[Extension],
) -> Result<(), Error> {
    w.vl_bytes("encryption_key", encryption_key)?;
    w.vl_bytes("signature_key", signature_key)?;
    credential.encode(w)?;
    capabilities.encode(w)?;
    source.encode(w)?;
    write_extensions(w, "leaf_node.extensions", extensions)
}

impl UnsignedLeafNode {
    /// The encoded `LeafNodeTBS`. `group_id` and `leaf_index` are included
    /// for the `update` and `commit` sources and ignored for `key_package`.
    ///
    /// # Errors
    /// Encoding errors ([`Error::TooLargeToEncode`], [`Error::Codec`]).
    pub fn tbs_bytes(&self, group_id: &[u8], leaf_index: u32) -> Result<Vec<u8>, Error> {
        let mut w = Writer::new();
        write_content(
            &mut w,
            &self.encryption_key,
            &self.signature_key,
            &self.credential,
            &self.capabilities,
            &self.leaf_node_source,
            &self.extensions,
        )?;
        write_group_context(&mut w, &self.leaf_node_source, group_id, leaf_index)?;
        Ok(w.into_bytes())
    }

    /// Signs the LeafNode with `SignWithLabel(signer, "LeafNodeTBS", ..)`.
    /// `group_id` and `leaf_index` are signed for the `update` and `commit`
    /// sources and ignored for `key_package`.
    ///
    /// # Errors
    /// [`Error::SignerKeyMismatch`] when `signer` is not the key of
    /// `signature_key`; encoding errors.
    pub fn sign(
        self,
        signer: &SignatureSecretKey,
        group_id: &[u8],
        leaf_index: u32,
    ) -> Result<LeafNode, Error> {
        if signer.public_key() != self.signature_key {
            return Err(Error::SignerKeyMismatch);
        }
        let tbs = self.tbs_bytes(group_id, leaf_index)?;
        let signature = sign_with_label(signer, LEAF_NODE_TBS_LABEL, &tbs)?;
        Ok(LeafNode {
            encryption_key: self.encryption_key,
            signature_key: self.signature_key,
            credential: self.credential,
            capabilities: self.capabilities,
            leaf_node_source: self.leaf_node_source,
            extensions: self.extensions,
            signature,
        })
    }
}

fn write_group_context(
    w: &mut Writer,
    source: &LeafNodeSource,
    group_id: &[u8],
    leaf_index: u32,
) -> Result<(), Error> {
    match source {
        LeafNodeSource::KeyPackage { .. } => {}
        LeafNodeSource::Update | LeafNodeSource::Commit { .. } => {
            w.vl_bytes("group_id", group_id)?;
            w.u32(leaf_index);
        }
    }
    Ok(())
}

impl LeafNode {
    /// Decodes a LeafNode that spans all of `bytes`.
    ///
    /// # Errors
    /// [`Error::Codec`] naming the field that is malformed, including
    /// trailing bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        decode_exact(bytes)
    }

    /// The fields of this LeafNode without its signature, to change and
    /// re-sign.
    pub fn to_unsigned(&self) -> UnsignedLeafNode {
        UnsignedLeafNode {
            encryption_key: self.encryption_key,
            signature_key: self.signature_key,
            credential: self.credential.clone(),
            capabilities: self.capabilities.clone(),
            leaf_node_source: self.leaf_node_source.clone(),
            extensions: self.extensions.clone(),
        }
    }

    /// The lifetime, when the source is `key_package`.
    pub fn lifetime(&self) -> Option<&Lifetime> {
        self.leaf_node_source.lifetime()
    }

    /// The encoded `LeafNodeTBS` (RFC 9420 §7.2). `group_id` and
    /// `leaf_index` are included for the `update` and `commit` sources and
    /// ignored for `key_package`.
    ///
    /// # Errors
    /// Encoding errors ([`Error::TooLargeToEncode`], [`Error::Codec`]).
    pub fn tbs_bytes(&self, group_id: &[u8], leaf_index: u32) -> Result<Vec<u8>, Error> {
        let mut w = Writer::new();
        write_content(
            &mut w,
            &self.encryption_key,
            &self.signature_key,
            &self.credential,
            &self.capabilities,
            &self.leaf_node_source,
            &self.extensions,
        )?;
        write_group_context(&mut w, &self.leaf_node_source, group_id, leaf_index)?;
        Ok(w.into_bytes())
    }

    /// Verifies `signature` over [`LeafNode::tbs_bytes`] with
    /// `signature_key`.
    ///
    /// # Errors
    /// [`Error::InvalidLeafNodeSignature`], [`Error::InvalidSignatureKey`].
    pub fn verify_signature(&self, group_id: &[u8], leaf_index: u32) -> Result<(), Error> {
        let tbs = self.tbs_bytes(group_id, leaf_index)?;
        verify_with_label(
            &self.signature_key,
            LEAF_NODE_TBS_LABEL,
            &tbs,
            &self.signature,
        )
        .map_err(|e| match e {
            Error::InvalidSignature { .. } => Error::InvalidLeafNodeSignature,
            other => other,
        })
    }

    /// Validates this LeafNode by the checks of RFC 9420 §7.3 that need no
    /// group state: the source fits `context`; the credential type is
    /// accepted by `policy` and listed in the leaf's own capabilities; every
    /// non-default leaf extension is listed in `capabilities.extensions` and
    /// none repeats; for the `key_package` source, the lifetime (ordered,
    /// within `policy.max_lifetime_secs`, and around `now`); and the
    /// signature.
    ///
    /// Group-level checks (required capabilities, credential types of other
    /// members, uniqueness of keys in the tree, a new encryption key in an
    /// Update) belong to the MLS engine.
    ///
    /// # Errors
    /// One variant per failed check, in the order above:
    /// [`Error::WrongLeafNodeSource`], [`Error::UnsupportedCredentialType`],
    /// [`Error::CredentialNotInCapabilities`], [`Error::DuplicateExtension`],
    /// [`Error::ExtensionNotInCapabilities`], [`Error::LifetimeInverted`],
    /// [`Error::LifetimeTooLong`], [`Error::LifetimeNotYetValid`],
    /// [`Error::LifetimeExpired`], [`Error::InvalidSignatureKey`],
    /// [`Error::InvalidLeafNodeSignature`].
    pub fn validate(
        &self,
        policy: &ValidationPolicy,
        context: LeafNodeContext<'_>,
    ) -> Result<(), Error> {
        self.check(policy, context, true)
    }

    /// Every check of [`LeafNode::validate`], in the same order, except the
    /// signature verification: for callers that verify the signature
    /// themselves (nipee-mls verifies the leaf of an UpdatePath once it has
    /// merged the path, and batches the leaves of a tree). A LeafNode that
    /// passed only this check is not valid.
    ///
    /// # Errors
    /// Those of [`LeafNode::validate`] but the signature errors.
    pub fn validate_structure(
        &self,
        policy: &ValidationPolicy,
        context: LeafNodeContext<'_>,
    ) -> Result<(), Error> {
        self.check(policy, context, false)
    }

    /// The checks of [`LeafNode::validate`] in their order, the signature only
    /// when `verify_signature`.
    pub(crate) fn check(
        &self,
        policy: &ValidationPolicy,
        context: LeafNodeContext<'_>,
        verify_signature: bool,
    ) -> Result<(), Error> {
        let found = self.leaf_node_source.source_type();
        if let Some(expected) = context.expected_source()
            && expected != found
        {
            return Err(Error::WrongLeafNodeSource { expected, found });
        }

        let credential_type = self.credential.credential_type();
        if !policy.credential_types.contains(&credential_type) {
            return Err(Error::UnsupportedCredentialType(credential_type));
        }
        if !self.capabilities.supports_credential(credential_type) {
            return Err(Error::CredentialNotInCapabilities(credential_type));
        }

        // RFC 9420 §7.3: "Verify that the extensions in the LeafNode are
        // supported by checking that the ID for each extension in the
        // `extensions` field is listed in the `capabilities.extensions` field"
        // (GREASE too, §13.5). Unknown values in the capabilities themselves
        // are never looked at: the `supports_*` queries ask about known ones.
        check_no_duplicates(&self.extensions, ExtensionLocation::LeafNode)?;
        check_extensions_supported(
            &self.capabilities,
            &self.extensions,
            ExtensionLocation::LeafNode,
        )?;

        if let Some(lifetime) = self.lifetime() {
            check_lifetime(lifetime, policy)?;
        }
        if verify_signature {
            let (group_id, leaf_index) = context.group();
            self.verify_signature(group_id, leaf_index)
        } else {
            Ok(())
        }
    }
}

fn check_extensions_supported(
    capabilities: &Capabilities,
    extensions: &[Extension],
    location: ExtensionLocation,
) -> Result<(), Error> {
    match extensions
        .iter()
        .find(|e| !capabilities.supports_extension(e.extension_type))
    {
        Some(e) => Err(Error::ExtensionNotInCapabilities {
            location,
            extension_type: e.extension_type,
        }),
        None => Ok(()),
    }
}

fn check_lifetime(lifetime: &Lifetime, policy: &ValidationPolicy) -> Result<(), Error> {
    let Some(duration) = lifetime.duration() else {
        return Err(Error::LifetimeInverted {
            not_before: lifetime.not_before,
            not_after: lifetime.not_after,
        });
    };
    if let Some(max) = policy.max_lifetime_secs
        && duration > max
    {
        return Err(Error::LifetimeTooLong { duration, max });
    }
    match policy.lifetime {
        LifetimeCheck::At(now) => lifetime.check(now),
        LifetimeCheck::Skip => Ok(()),
    }
}

impl Decode for LeafNode {
    type Error = Error;

    fn decode(r: &mut Reader<'_>) -> Result<Self, Error> {
        Ok(LeafNode {
            encryption_key: r.vl_array("encryption_key")?,
            signature_key: r.vl_array("signature_key")?,
            credential: Credential::decode(r)?,
            capabilities: Capabilities::decode(r)?,
            leaf_node_source: LeafNodeSource::decode(r)?,
            extensions: read_extensions(r, "leaf_node.extensions")?,
            signature: r.vl_array("leaf_node.signature")?,
        })
    }
}

impl Encode for LeafNode {
    type Error = Error;

    fn encode(&self, w: &mut Writer) -> Result<(), Error> {
        write_content(
            w,
            &self.encryption_key,
            &self.signature_key,
            &self.credential,
            &self.capabilities,
            &self.leaf_node_source,
            &self.extensions,
        )?;
        w.vl_bytes("leaf_node.signature", &self.signature)?;
        Ok(())
    }
}
