use nipee_codec::{Reader, Writer};

use crate::crypto::CipherSuite;
use crate::error::{Error, Result};
use crate::extensions::{Extension, read_extensions, write_extensions};
use crate::group_id::GroupId;

/// `ProtocolVersion mls10`, the only version (and what every MLSMessage carries).
pub const MLS10: u16 = 1;

/// The GroupContext (§8.1): the state every member agrees on in an epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupContext {
    /// The protocol version (`mls10 = 1`).
    pub version: u16,
    /// The group's cipher suite.
    pub cipher_suite: CipherSuite,
    /// The group identifier.
    pub group_id: GroupId,
    /// The epoch number.
    pub epoch: u64,
    /// The tree hash of the ratchet tree's root.
    pub tree_hash: Vec<u8>,
    /// The confirmed transcript hash.
    pub confirmed_transcript_hash: Vec<u8>,
    /// The group's extensions.
    pub extensions: Vec<Extension>,
}

impl GroupContext {
    /// Encodes the GroupContext.
    ///
    /// # Errors
    /// Only for fields too long to encode.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut w = Writer::with_capacity(
            16 + self.group_id.len() + self.tree_hash.len() + self.confirmed_transcript_hash.len(),
        );
        w.u16(self.version);
        w.u16(self.cipher_suite.0);
        w.vl_bytes("group_id", self.group_id.as_bytes())?;
        w.u64(self.epoch);
        w.vl_bytes("tree_hash", &self.tree_hash)?;
        w.vl_bytes("confirmed_transcript_hash", &self.confirmed_transcript_hash)?;
        write_extensions(&mut w, &self.extensions)?;
        Ok(w.into_bytes())
    }

    /// Decodes a GroupContext, consuming the whole input.
    ///
    /// # Errors
    /// [`Error::Malformed`] for bad encodings, [`Error::UnknownValue`] for a version other
    /// than mls10.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(bytes);
        let gc = Self::read(&mut r)?;
        r.finish()?;
        Ok(gc)
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self> {
        let version = r.u16("version")?;
        if version != MLS10 {
            return Err(Error::UnknownValue {
                field: "version",
                value: u64::from(version),
            });
        }
        Ok(GroupContext {
            version,
            cipher_suite: CipherSuite(r.u16("cipher_suite")?),
            group_id: GroupId::from(r.vl_bytes("group_id")?),
            epoch: r.u64("epoch")?,
            tree_hash: r.vl_bytes("tree_hash")?.to_vec(),
            confirmed_transcript_hash: r.vl_bytes("confirmed_transcript_hash")?.to_vec(),
            extensions: read_extensions(r)?,
        })
    }
}
