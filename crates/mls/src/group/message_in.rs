//! [`MlsMessageIn`]: an incoming MLSMessage decoded once, with what can be read from it
//! without any key.

use crate::error::Result;
use crate::framing::{ContentType, MlsMessage, MlsMessageBody, Sender, WireFormat};
use crate::group_id::GroupId;

/// An incoming MLSMessage (§6), decoded once and kept with its original bytes. The clear
/// fields (group, epoch, content type, authenticated data, and a PublicMessage's sender)
/// can be read before staging, for routing and ordering.
#[derive(Clone)]
pub struct MlsMessageIn {
    bytes: Vec<u8>,
    message: MlsMessage,
    group_id: Option<GroupId>,
}

impl MlsMessageIn {
    /// Decodes an MLSMessage, consuming the whole input.
    ///
    /// # Errors
    /// [`crate::Error::Malformed`], [`crate::Error::UnknownValue`] for an unknown version
    /// or wire format, [`crate::Error::KeyPackage`] for a malformed KeyPackage.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let message = MlsMessage::from_bytes(bytes)?;
        let group_id = match &message.body {
            MlsMessageBody::PublicMessage(m) => Some(GroupId::from(m.content.group_id.as_slice())),
            MlsMessageBody::PrivateMessage(m) => Some(GroupId::from(m.group_id.as_slice())),
            MlsMessageBody::GroupInfo(gi) => Some(gi.group_context.group_id.clone()),
            MlsMessageBody::Welcome(_) | MlsMessageBody::KeyPackage(_) => None,
        };
        Ok(MlsMessageIn {
            bytes: bytes.to_vec(),
            message,
            group_id,
        })
    }

    /// The wire format.
    pub fn wire_format(&self) -> WireFormat {
        self.message.wire_format()
    }

    /// The group of a PublicMessage, PrivateMessage or GroupInfo.
    pub fn group_id(&self) -> Option<&GroupId> {
        self.group_id.as_ref()
    }

    /// The epoch of a PublicMessage, PrivateMessage or GroupInfo.
    pub fn epoch(&self) -> Option<u64> {
        match &self.message.body {
            MlsMessageBody::PublicMessage(m) => Some(m.content.epoch),
            MlsMessageBody::PrivateMessage(m) => Some(m.epoch),
            MlsMessageBody::GroupInfo(gi) => Some(gi.group_context.epoch),
            MlsMessageBody::Welcome(_) | MlsMessageBody::KeyPackage(_) => None,
        }
    }

    /// The content type of a PublicMessage or PrivateMessage (clear in both).
    pub fn content_type(&self) -> Option<ContentType> {
        match &self.message.body {
            MlsMessageBody::PublicMessage(m) => Some(m.content.content.content_type()),
            MlsMessageBody::PrivateMessage(m) => Some(m.content_type),
            _ => None,
        }
    }

    /// The sender of a PublicMessage (a PrivateMessage's sender is encrypted).
    pub fn public_sender(&self) -> Option<Sender> {
        match &self.message.body {
            MlsMessageBody::PublicMessage(m) => Some(m.content.sender),
            _ => None,
        }
    }

    /// The authenticated data of a PublicMessage or PrivateMessage (clear in both; it is
    /// authenticated only once the message is staged).
    pub fn authenticated_data(&self) -> Option<&[u8]> {
        match &self.message.body {
            MlsMessageBody::PublicMessage(m) => Some(&m.content.authenticated_data),
            MlsMessageBody::PrivateMessage(m) => Some(&m.authenticated_data),
            _ => None,
        }
    }

    /// Whether this is a PublicMessage or PrivateMessage carrying a commit.
    pub fn is_commit(&self) -> bool {
        self.content_type() == Some(ContentType::Commit)
    }

    /// The original bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub(crate) fn body(&self) -> &MlsMessageBody {
        &self.message.body
    }
}

impl core::fmt::Debug for MlsMessageIn {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MlsMessageIn")
            .field("wire_format", &self.wire_format())
            .field("group_id", &self.group_id)
            .field("epoch", &self.epoch())
            .field("content_type", &self.content_type())
            .field("len", &self.bytes.len())
            .finish()
    }
}
