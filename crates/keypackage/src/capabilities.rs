//! Capabilities (RFC 9420 §7.2).

use nipee_codec::{Decode, Encode, Reader, Writer};

use crate::Error;
use crate::credential::check_encode_len;
use crate::limits::MAX_CAPABILITY_ENTRIES;
use crate::types::{CipherSuite, CredentialType, ExtensionType, ProposalType, ProtocolVersion};

/// What a client supports: versions, cipher suites, non-default extension and
/// proposal types, credential types.
///
/// Unknown values, including GREASE values (RFC 9420 §13.5), are kept as they
/// arrive (so the encoding round-trips) and never make a check fail: the
/// `supports_*` queries only ever ask whether a known value is present.
/// Each list holds at most [`MAX_CAPABILITY_ENTRIES`] entries.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Capabilities {
    /// `versions<V>`.
    pub versions: Vec<ProtocolVersion>,
    /// `cipher_suites<V>`.
    pub cipher_suites: Vec<CipherSuite>,
    /// `extensions<V>`: non-default extension types.
    pub extensions: Vec<ExtensionType>,
    /// `proposals<V>`: non-default proposal types.
    pub proposals: Vec<ProposalType>,
    /// `credentials<V>`.
    pub credentials: Vec<CredentialType>,
}

impl Default for Capabilities {
    /// What this crate implements: `mls10`, suite 0x0001, basic credentials,
    /// no non-default extensions or proposals.
    fn default() -> Self {
        Capabilities {
            versions: vec![ProtocolVersion::MLS10],
            cipher_suites: vec![CipherSuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_ED25519],
            extensions: Vec::new(),
            proposals: Vec::new(),
            credentials: vec![CredentialType::BASIC],
        }
    }
}

impl Capabilities {
    /// Whether `version` is listed.
    pub fn supports_version(&self, version: ProtocolVersion) -> bool {
        self.versions.contains(&version)
    }

    /// Whether `suite` is listed.
    pub fn supports_cipher_suite(&self, suite: CipherSuite) -> bool {
        self.cipher_suites.contains(&suite)
    }

    /// Whether `extension_type` is supported: default types always are
    /// (RFC 9420 §7.2), others must be listed.
    pub fn supports_extension(&self, extension_type: ExtensionType) -> bool {
        extension_type.is_default() || self.extensions.contains(&extension_type)
    }

    /// Whether `proposal_type` is supported: default types always are, others
    /// must be listed.
    pub fn supports_proposal(&self, proposal_type: ProposalType) -> bool {
        proposal_type.is_default() || self.proposals.contains(&proposal_type)
    }

    /// Whether `credential_type` is listed.
    pub fn supports_credential(&self, credential_type: CredentialType) -> bool {
        self.credentials.contains(&credential_type)
    }

    /// Adds `extension_type` to `extensions` unless it is default or already
    /// listed.
    pub fn add_extension(&mut self, extension_type: ExtensionType) {
        if !self.supports_extension(extension_type) {
            self.extensions.push(extension_type);
        }
    }
}

fn read_list<T: Decode<Error = nipee_codec::Error>>(
    r: &mut Reader<'_>,
    field: &'static str,
) -> Result<Vec<T>, Error> {
    Ok(r.vl_vec(field, MAX_CAPABILITY_ENTRIES, |r| T::decode(r))?)
}

fn write_list<T: Encode<Error = nipee_codec::Error>>(
    w: &mut Writer,
    field: &'static str,
    list: &[T],
) -> Result<(), Error> {
    check_encode_len(field, list.len(), MAX_CAPABILITY_ENTRIES)?;
    Ok(w.vl(field, |w| list.iter().try_for_each(|v| v.encode(w)))?)
}

impl Decode for Capabilities {
    type Error = Error;

    fn decode(r: &mut Reader<'_>) -> Result<Self, Error> {
        Ok(Capabilities {
            versions: read_list(r, "capabilities.versions")?,
            cipher_suites: read_list(r, "capabilities.cipher_suites")?,
            extensions: read_list(r, "capabilities.extensions")?,
            proposals: read_list(r, "capabilities.proposals")?,
            credentials: read_list(r, "capabilities.credentials")?,
        })
    }
}

impl Encode for Capabilities {
    type Error = Error;

    fn encode(&self, w: &mut Writer) -> Result<(), Error> {
        write_list(w, "capabilities.versions", &self.versions)?;
        write_list(w, "capabilities.cipher_suites", &self.cipher_suites)?;
        write_list(w, "capabilities.extensions", &self.extensions)?;
        write_list(w, "capabilities.proposals", &self.proposals)?;
        write_list(w, "capabilities.credentials", &self.credentials)
    }
}
