//! `MLSMessage` (§6): the top-level envelope with every wire format.

use nipee_codec::{Decode, Encode, Reader, Writer};
use nipee_keypackage::KeyPackage;

use super::{MLS10, PrivateMessage, PublicMessage, WireFormat};
use crate::error::{Error, Result};
use crate::welcome::{GroupInfo, Welcome};

/// The body of an MLSMessage, selected by its wire format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MlsMessageBody {
    /// `mls_public_message`.
    PublicMessage(Box<PublicMessage>),
    /// `mls_private_message`.
    PrivateMessage(Box<PrivateMessage>),
    /// `mls_welcome`.
    Welcome(Welcome),
    /// `mls_group_info`.
    GroupInfo(Box<GroupInfo>),
    /// `mls_key_package`.
    KeyPackage(Box<KeyPackage>),
}

/// `MLSMessage` (§6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MlsMessage {
    /// The body.
    pub body: MlsMessageBody,
}

impl MlsMessage {
    /// The wire format of the body.
    pub fn wire_format(&self) -> WireFormat {
        match self.body {
            MlsMessageBody::PublicMessage(_) => WireFormat::PublicMessage,
            MlsMessageBody::PrivateMessage(_) => WireFormat::PrivateMessage,
            MlsMessageBody::Welcome(_) => WireFormat::Welcome,
            MlsMessageBody::GroupInfo(_) => WireFormat::GroupInfo,
            MlsMessageBody::KeyPackage(_) => WireFormat::KeyPackage,
        }
    }

    /// Decodes an MLSMessage, consuming the whole input.
    ///
    /// # Errors
    /// [`Error::Malformed`], [`Error::UnknownValue`] for an unknown version or wire format.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        nipee_codec::decode_exact::<MlsMessage>(bytes)
    }

    /// Encodes the MLSMessage.
    ///
    /// # Errors
    /// Only for fields too long to encode.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut w = Writer::new();
        self.encode(&mut w)?;
        Ok(w.into_bytes())
    }
}

impl Encode for MlsMessage {
    type Error = Error;

    fn encode(&self, w: &mut Writer) -> Result<()> {
        w.u16(MLS10);
        w.u16(self.wire_format().code());
        match &self.body {
            MlsMessageBody::PublicMessage(m) => w.encode(m.as_ref()),
            MlsMessageBody::PrivateMessage(m) => w.encode(m.as_ref()),
            MlsMessageBody::Welcome(m) => w.encode(m),
            MlsMessageBody::GroupInfo(m) => w.encode(m.as_ref()),
            MlsMessageBody::KeyPackage(m) => Ok(w.encode(m.as_ref())?),
        }
    }
}

impl Decode for MlsMessage {
    type Error = Error;

    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        let version = r.u16("version")?;
        if version != MLS10 {
            return Err(Error::UnknownValue {
                field: "version",
                value: u64::from(version),
            });
        }
        let body = match WireFormat::from_code(r.u16("wire_format")?)? {
            WireFormat::PublicMessage => MlsMessageBody::PublicMessage(Box::new(r.decode()?)),
            WireFormat::PrivateMessage => MlsMessageBody::PrivateMessage(Box::new(r.decode()?)),
            WireFormat::Welcome => MlsMessageBody::Welcome(r.decode()?),
            WireFormat::GroupInfo => MlsMessageBody::GroupInfo(Box::new(r.decode()?)),
            WireFormat::KeyPackage => {
                MlsMessageBody::KeyPackage(Box::new(r.decode::<KeyPackage>()?))
            }
        };
        Ok(MlsMessage { body })
    }
}
