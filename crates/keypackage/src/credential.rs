//! Credentials (RFC 9420 §5.3).

use nipee_codec::{Decode, Encode, Error as CodecError, Reader, Writer};

use crate::Error;
use crate::limits::{
    MAX_CERTIFICATE_LEN, MAX_CERTIFICATES, MAX_IDENTITY_LEN, MAX_UNKNOWN_CREDENTIAL_LEN,
};
use crate::types::CredentialType;

/// A credential binding an identity to a LeafNode's signature key.
///
/// The parser accepts every credential type; which types are acceptable is a
/// validation policy ([`crate::ValidationPolicy`], by default `basic` only).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Credential {
    /// `basic`: a bare identity whose format the application defines (NIP-EE:
    /// the member's Nostr public key).
    Basic {
        /// The identity bytes, at most [`MAX_IDENTITY_LEN`].
        identity: Vec<u8>,
    },
    /// `x509`: a chain of DER certificates, end-entity first. Decoded so that
    /// the structure round-trips; not verified by this crate.
    X509 {
        /// The `cert_data` of each certificate.
        certificates: Vec<Vec<u8>>,
    },
    /// Any other credential type. RFC 9420 does not define the encoding of
    /// future types; like OpenMLS and mls-rs, this crate reads the body as one
    /// `opaque<V>` (the shape of both defined types).
    Unknown {
        /// The credential type.
        credential_type: CredentialType,
        /// The body of the `opaque<V>`.
        bytes: Vec<u8>,
    },
}

impl Credential {
    /// A basic credential.
    ///
    /// # Errors
    /// [`Error::TooLargeToEncode`] when `identity` exceeds [`MAX_IDENTITY_LEN`].
    pub fn basic(identity: impl Into<Vec<u8>>) -> Result<Self, Error> {
        let identity = identity.into();
        check_encode_len("identity", identity.len(), MAX_IDENTITY_LEN)?;
        Ok(Credential::Basic { identity })
    }

    /// The credential type.
    pub fn credential_type(&self) -> CredentialType {
        match self {
            Credential::Basic { .. } => CredentialType::BASIC,
            Credential::X509 { .. } => CredentialType::X509,
            Credential::Unknown {
                credential_type, ..
            } => *credential_type,
        }
    }

    /// The identity of a basic credential.
    pub fn identity(&self) -> Option<&[u8]> {
        match self {
            Credential::Basic { identity } => Some(identity),
            _ => None,
        }
    }
}

pub(crate) fn check_encode_len(
    field: &'static str,
    found: usize,
    limit: usize,
) -> Result<(), Error> {
    if found > limit {
        Err(Error::TooLargeToEncode {
            field,
            limit,
            found,
        })
    } else {
        Ok(())
    }
}

pub(crate) fn check_decode_len(
    field: &'static str,
    found: usize,
    limit: usize,
) -> Result<(), Error> {
    if found > limit {
        Err(CodecError::LimitExceeded {
            field,
            limit,
            found,
        }
        .into())
    } else {
        Ok(())
    }
}

/// Reads `opaque field<V>` of at most `limit` bytes.
pub(crate) fn read_bounded(
    r: &mut Reader<'_>,
    field: &'static str,
    limit: usize,
) -> Result<Vec<u8>, Error> {
    let bytes = r.vl_bytes(field)?;
    check_decode_len(field, bytes.len(), limit)?;
    Ok(bytes.to_vec())
}

/// Writes `opaque field<V>` of at most `limit` bytes.
pub(crate) fn write_bounded(
    w: &mut Writer,
    field: &'static str,
    bytes: &[u8],
    limit: usize,
) -> Result<(), Error> {
    check_encode_len(field, bytes.len(), limit)?;
    w.vl_bytes(field, bytes)?;
    Ok(())
}

impl Decode for Credential {
    type Error = Error;

    fn decode(r: &mut Reader<'_>) -> Result<Self, Error> {
        let credential_type = CredentialType(r.u16("credential_type")?);
        Ok(match credential_type {
            CredentialType::BASIC => Credential::Basic {
                identity: read_bounded(r, "identity", MAX_IDENTITY_LEN)?,
            },
            CredentialType::X509 => Credential::X509 {
                certificates: r.vl_vec("certificates", MAX_CERTIFICATES, |r| {
                    read_bounded(r, "cert_data", MAX_CERTIFICATE_LEN)
                })?,
            },
            credential_type => Credential::Unknown {
                credential_type,
                bytes: read_bounded(r, "credential", MAX_UNKNOWN_CREDENTIAL_LEN)?,
            },
        })
    }
}

impl Encode for Credential {
    type Error = Error;

    fn encode(&self, w: &mut Writer) -> Result<(), Error> {
        w.u16(self.credential_type().0);
        match self {
            Credential::Basic { identity } => {
                write_bounded(w, "identity", identity, MAX_IDENTITY_LEN)
            }
            Credential::X509 { certificates } => {
                check_encode_len("certificates", certificates.len(), MAX_CERTIFICATES)?;
                w.vl("certificates", |w| {
                    certificates
                        .iter()
                        .try_for_each(|c| write_bounded(w, "cert_data", c, MAX_CERTIFICATE_LEN))
                })
            }
            Credential::Unknown {
                credential_type,
                bytes,
            } => {
                // Decoding never yields `Unknown` for a defined type; writing
                // one would not read back as the same value.
                if matches!(
                    *credential_type,
                    CredentialType::BASIC | CredentialType::X509
                ) {
                    return Err(Error::InvalidOptions(
                        "Credential::Unknown must not carry the basic or x509 type",
                    ));
                }
                write_bounded(w, "credential", bytes, MAX_UNKNOWN_CREDENTIAL_LEN)
            }
        }
    }
}
