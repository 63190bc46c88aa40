use nipee_codec::{Reader, Writer};

use crate::crypto::{CryptoProvider, Secret, expand_with_label};
use crate::error::{Error, Result};
use crate::group_id::GroupId;

/// `ResumptionPSKUsage` (§8.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResumptionPskUsage {
    /// `application(1)`.
    Application,
    /// `reinit(2)`.
    Reinit,
    /// `branch(3)`.
    Branch,
}

/// `PreSharedKeyID` (§8.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PreSharedKeyId {
    /// An external PSK.
    External {
        /// Its identifier.
        psk_id: Vec<u8>,
        /// The nonce chosen by the proposer.
        psk_nonce: Vec<u8>,
    },
    /// A resumption PSK from another epoch or group.
    Resumption {
        /// How it is used.
        usage: ResumptionPskUsage,
        /// The group it comes from.
        psk_group_id: GroupId,
        /// The epoch it comes from.
        psk_epoch: u64,
        /// The nonce chosen by the proposer.
        psk_nonce: Vec<u8>,
    },
}

impl PreSharedKeyId {
    /// Appends the encoding.
    ///
    /// # Errors
    /// Only for fields too long to encode.
    pub fn write(&self, w: &mut Writer) -> Result<()> {
        match self {
            PreSharedKeyId::External { psk_id, psk_nonce } => {
                w.u8(1);
                w.vl_bytes("psk_id", psk_id)?;
                w.vl_bytes("psk_nonce", psk_nonce)?;
            }
            PreSharedKeyId::Resumption {
                usage,
                psk_group_id,
                psk_epoch,
                psk_nonce,
            } => {
                w.u8(2);
                w.u8(match usage {
                    ResumptionPskUsage::Application => 1,
                    ResumptionPskUsage::Reinit => 2,
                    ResumptionPskUsage::Branch => 3,
                });
                w.vl_bytes("psk_group_id", psk_group_id.as_bytes())?;
                w.u64(*psk_epoch);
                w.vl_bytes("psk_nonce", psk_nonce)?;
            }
        }
        Ok(())
    }

    /// Reads a `PreSharedKeyID`.
    ///
    /// # Errors
    /// [`Error::Malformed`] or [`Error::UnknownValue`] for an unknown type or usage.
    pub fn read(r: &mut Reader<'_>) -> Result<Self> {
        match r.u8("psktype")? {
            1 => Ok(PreSharedKeyId::External {
                psk_id: r.vl_bytes("psk_id")?.to_vec(),
                psk_nonce: r.vl_bytes("psk_nonce")?.to_vec(),
            }),
            2 => {
                let usage = match r.u8("resumption_psk_usage")? {
                    1 => ResumptionPskUsage::Application,
                    2 => ResumptionPskUsage::Reinit,
                    3 => ResumptionPskUsage::Branch,
                    v => {
                        return Err(Error::UnknownValue {
                            field: "resumption_psk_usage",
                            value: u64::from(v),
                        });
                    }
                };
                Ok(PreSharedKeyId::Resumption {
                    usage,
                    psk_group_id: GroupId::from(r.vl_bytes("psk_group_id")?),
                    psk_epoch: r.u64("psk_epoch")?,
                    psk_nonce: r.vl_bytes("psk_nonce")?.to_vec(),
                })
            }
            v => Err(Error::UnknownValue {
                field: "psktype",
                value: u64::from(v),
            }),
        }
    }
}

/// A pre-shared key with its identifier.
#[derive(Debug)]
pub struct Psk {
    /// The identifier as carried in the PreSharedKey proposal.
    pub id: PreSharedKeyId,
    /// The key itself.
    pub secret: Secret,
}

/// Computes `psk_secret` from the PSKs of a commit, in order (§8.4). With no PSKs the result
/// is the all-zero vector of length `Nh`.
///
/// # Errors
/// [`Error::Misuse`] for more than 65 535 PSKs.
pub fn psk_secret<P: CryptoProvider + ?Sized>(p: &P, psks: &[Psk]) -> Result<Secret> {
    let count = u16::try_from(psks.len()).map_err(|_| Error::Misuse("more than 65535 PSKs"))?;
    let zero = Secret::zero(p.hash_len());
    let mut acc = Secret::zero(p.hash_len());
    for (index, psk) in (0u16..).zip(psks) {
        let extracted = p.kdf_extract(zero.as_bytes(), psk.secret.as_bytes())?;
        let mut label = Writer::new();
        psk.id.write(&mut label)?;
        label.u16(index);
        label.u16(count);
        let input = expand_with_label(
            p,
            extracted.as_bytes(),
            b"derived psk",
            label.as_bytes(),
            p.hash_len(),
        )?;
        acc = p.kdf_extract(input.as_bytes(), acc.as_bytes())?;
    }
    Ok(acc)
}
