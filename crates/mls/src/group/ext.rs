//! The GroupContext and GroupInfo extensions the state machine interprets (RFC 9420 §11.1,
//! §12.1.8.1, §12.4.3.2, §12.4.3.3): `required_capabilities`, `external_senders`,
//! `external_pub` (with the external init secret it yields) and `ratchet_tree`. Every other
//! extension is carried as opaque bytes (for example NIP-EE's `nostr_group_data`, 0xF2EE).

use nipee_codec::{Reader, Writer};
use nipee_keypackage::{
    Capabilities, Credential, CredentialType, ExtensionType, LeafNode, ProposalType,
};

use crate::crypto::{GroupProvider, HpkePrivateKey, Secret};
use crate::error::{Error, Result};
use crate::extensions::Extension;

/// Most entries in each list of `required_capabilities` and in `external_senders`.
pub(crate) const MAX_REQUIRED_ENTRIES: usize = 1024;

/// The exporter label of the external init secret (§8.3).
const EXTERNAL_INIT_LABEL: &[u8] = b"MLS 1.0 external init secret";

/// The `required_capabilities` GroupContext extension (§11.1).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequiredCapabilities {
    /// Extension types every member must support.
    pub extension_types: Vec<ExtensionType>,
    /// Proposal types every member must support.
    pub proposal_types: Vec<ProposalType>,
    /// Credential types every member must support.
    pub credential_types: Vec<CredentialType>,
}

impl RequiredCapabilities {
    /// Encodes the extension data.
    ///
    /// # Errors
    /// Only for lists too long to encode.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut w = Writer::new();
        w.vl("extension_types", |w| {
            self.extension_types.iter().for_each(|t| w.u16(t.0));
            Ok::<(), Error>(())
        })?;
        w.vl("proposal_types", |w| {
            self.proposal_types.iter().for_each(|t| w.u16(t.0));
            Ok::<(), Error>(())
        })?;
        w.vl("credential_types", |w| {
            self.credential_types.iter().for_each(|t| w.u16(t.0));
            Ok::<(), Error>(())
        })?;
        Ok(w.into_bytes())
    }

    /// Decodes the extension data, consuming it all.
    ///
    /// # Errors
    /// [`Error::Malformed`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(bytes);
        let list = |r: &mut Reader<'_>, f: &'static str| {
            r.vl_vec(f, MAX_REQUIRED_ENTRIES, |r| Ok::<_, Error>(r.u16(f)?))
        };
        let out = RequiredCapabilities {
            extension_types: list(&mut r, "extension_types")?
                .into_iter()
                .map(ExtensionType)
                .collect(),
            proposal_types: list(&mut r, "proposal_types")?
                .into_iter()
                .map(ProposalType)
                .collect(),
            credential_types: list(&mut r, "credential_types")?
                .into_iter()
                .map(CredentialType)
                .collect(),
        };
        r.finish()?;
        Ok(out)
    }

    /// The extension.
    ///
    /// # Errors
    /// Only for lists too long to encode.
    pub fn to_extension(&self) -> Result<Extension> {
        Ok(Extension::new(
            ExtensionType::REQUIRED_CAPABILITIES,
            self.to_bytes()?,
        ))
    }

    /// Whether `caps` lists everything required.
    pub fn is_met_by(&self, caps: &Capabilities) -> bool {
        self.extension_types
            .iter()
            .all(|t| caps.supports_extension(*t))
            && self
                .proposal_types
                .iter()
                .all(|t| caps.supports_proposal(*t))
            && self
                .credential_types
                .iter()
                .all(|t| caps.supports_credential(*t))
    }
}

/// An entry of the `external_senders` extension (§12.1.8.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalSender {
    /// The sender's signature public key.
    pub signature_key: Vec<u8>,
    /// The sender's credential.
    pub credential: Credential,
}

impl ExternalSender {
    /// The `external_senders` GroupContext extension listing `senders` (a sender is named
    /// by its position in the list).
    ///
    /// # Errors
    /// Only for fields too long to encode.
    pub fn extension(senders: &[ExternalSender]) -> Result<Extension> {
        Ok(Extension::new(
            ExtensionType::EXTERNAL_SENDERS,
            external_senders_to_bytes(senders)?,
        ))
    }

    /// The senders an `external_senders` extension lists.
    ///
    /// # Errors
    /// [`Error::Malformed`], [`Error::KeyPackage`] for a bad credential.
    pub fn from_extension(extension: &Extension) -> Result<Vec<ExternalSender>> {
        external_senders_from_bytes(&extension.data)
    }
}

/// Decodes the data of an `external_senders` extension.
pub(crate) fn external_senders_from_bytes(bytes: &[u8]) -> Result<Vec<ExternalSender>> {
    let mut r = Reader::new(bytes);
    let out = r.vl_vec("external_senders", MAX_REQUIRED_ENTRIES, |r| {
        Ok::<_, Error>(ExternalSender {
            signature_key: r.vl_bytes("signature_key")?.to_vec(),
            credential: r.decode::<Credential>()?,
        })
    })?;
    r.finish()?;
    Ok(out)
}

/// Encodes the data of an `external_senders` extension.
pub(crate) fn external_senders_to_bytes(senders: &[ExternalSender]) -> Result<Vec<u8>> {
    let mut w = Writer::new();
    w.vl("external_senders", |w| {
        for s in senders {
            w.vl_bytes("signature_key", &s.signature_key)?;
            w.encode(&s.credential)?;
        }
        Ok::<(), Error>(())
    })?;
    Ok(w.into_bytes())
}

/// The extension of `extension_type` in `list`, if any.
pub(crate) fn find(list: &[Extension], extension_type: ExtensionType) -> Option<&Extension> {
    list.iter().find(|e| e.extension_type == extension_type)
}

/// The required capabilities of a GroupContext extension list (empty when absent).
pub(crate) fn required_capabilities(list: &[Extension]) -> Result<RequiredCapabilities> {
    match find(list, ExtensionType::REQUIRED_CAPABILITIES) {
        Some(e) => RequiredCapabilities::from_bytes(&e.data),
        None => Ok(RequiredCapabilities::default()),
    }
}

/// Checks that `leaf` supports every extension of a GroupContext extension list and its
/// required capabilities (§7.3, §12.1.7): [`Error::CapabilityMissing`] if not.
pub(crate) fn check_leaf_supports(
    leaf: &LeafNode,
    extensions: &[Extension],
    required: &RequiredCapabilities,
) -> Result<()> {
    if !required.is_met_by(&leaf.capabilities) {
        return Err(Error::CapabilityMissing {
            what: "required_capabilities",
        });
    }
    if extensions
        .iter()
        .any(|e| !leaf.capabilities.supports_extension(e.extension_type))
    {
        return Err(Error::CapabilityMissing {
            what: "a GroupContext extension type",
        });
    }
    Ok(())
}

/// Checks that this client supports what the group uses, by `own`, our capabilities
/// without their GREASE values (§13.5: "clients MUST represent their own capabilities with
/// a list containing only the capabilities actually supported, without any GREASE
/// values"): every GroupContext extension (§12.4.3.1, §13: "A client joining a group MUST
/// verify that it supports every extension in the GroupContext"), every type
/// `required_capabilities` names (§11.1), and every credential type in use (§7.3). Default
/// extension and proposal types are always supported. Other members are checked by their
/// advertised capabilities ([`check_leaf_supports`]), where GREASE is just another
/// unknown value.
///
/// # Errors
/// [`Error::NotSupportedByUs`] naming the first value we do not support.
pub(crate) fn check_we_support(
    own: &Capabilities,
    extensions: &[Extension],
    required: &RequiredCapabilities,
    credentials_in_use: impl IntoIterator<Item = CredentialType>,
) -> Result<()> {
    let own = own.without_grease();
    let missing = |what, value| Err(Error::NotSupportedByUs { what, value });
    if let Some(e) = extensions
        .iter()
        .find(|e| !own.supports_extension(e.extension_type))
    {
        return missing("GroupContext extension", e.extension_type.0);
    }
    if let Some(t) = required
        .extension_types
        .iter()
        .find(|t| !own.supports_extension(**t))
    {
        return missing("required extension type", t.0);
    }
    if let Some(t) = required
        .proposal_types
        .iter()
        .find(|t| !own.supports_proposal(**t))
    {
        return missing("required proposal type", t.0);
    }
    if let Some(t) = required
        .credential_types
        .iter()
        .find(|t| !own.supports_credential(**t))
    {
        return missing("required credential type", t.0);
    }
    if let Some(t) = credentials_in_use
        .into_iter()
        .find(|t| !own.supports_credential(*t))
    {
        return missing("credential type in use", t.0);
    }
    Ok(())
}

/// Duplicate extension types in a GroupContext list are invalid (§13.4), and the extensions
/// this module interprets must decode.
pub(crate) fn check_extensions_list(list: &[Extension]) -> Result<()> {
    for (i, a) in list.iter().enumerate() {
        if list
            .iter()
            .skip(i + 1)
            .any(|b| b.extension_type == a.extension_type)
        {
            return Err(Error::MalformedField {
                field: "extensions",
                reason: "duplicate extension type",
            });
        }
    }
    if let Some(e) = find(list, ExtensionType::REQUIRED_CAPABILITIES) {
        RequiredCapabilities::from_bytes(&e.data)?;
    }
    if let Some(e) = find(list, ExtensionType::EXTERNAL_SENDERS) {
        external_senders_from_bytes(&e.data)?;
    }
    Ok(())
}

/// `init_secret` of an external joiner: `SetupBaseS(external_pub, "")` and
/// `export("MLS 1.0 external init secret", Nh)`. Returns `(kem_output, init_secret)`.
pub(crate) fn external_init_secret_sender<P: GroupProvider>(
    p: &P,
    external_pub: &[u8],
) -> Result<(Vec<u8>, Secret)> {
    p.hpke_export_sender(external_pub, &[], EXTERNAL_INIT_LABEL, p.hash_len())
}

/// `init_secret` of an external commit for the members: `SetupBaseR` with the external
/// private key, then the same export.
pub(crate) fn external_init_secret_receiver<P: GroupProvider>(
    p: &P,
    external_priv: &HpkePrivateKey,
    kem_output: &[u8],
) -> Result<Secret> {
    p.hpke_export_receiver(
        external_priv,
        kem_output,
        &[],
        EXTERNAL_INIT_LABEL,
        p.hash_len(),
    )
}
