//! Message framing (RFC 9420 §6): FramedContent, its signature, PublicMessage with the
//! membership tag, PrivateMessage with sender-data and content encryption, and MLSMessage
//! with every wire format.

mod content;
mod message;
mod private;
mod public;

pub use content::{Commit, Proposal, ProposalOrRef, ReInit, UpdatePath, UpdatePathNode};
pub(crate) use content::{read_hpke_ciphertext, write_hpke_ciphertext};
pub use message::{MlsMessage, MlsMessageBody};
pub use private::PrivateMessage;
#[cfg(feature = "hazmat")]
pub use private::SenderData;
pub use public::PublicMessage;

use nipee_codec::{Decode, Encode, Reader, Writer};

use crate::crypto::{CryptoProvider, SignatureSecretKey, sign_with_label, verify_with_label};
use crate::error::{Error, Result};
use crate::schedule::GroupContext;
pub(crate) use crate::schedule::MLS10;

/// `WireFormat` (§6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WireFormat {
    /// `mls_public_message(1)`.
    PublicMessage,
    /// `mls_private_message(2)`.
    PrivateMessage,
    /// `mls_welcome(3)`.
    Welcome,
    /// `mls_group_info(4)`.
    GroupInfo,
    /// `mls_key_package(5)`.
    KeyPackage,
}

impl WireFormat {
    /// The code point.
    pub fn code(self) -> u16 {
        match self {
            WireFormat::PublicMessage => 1,
            WireFormat::PrivateMessage => 2,
            WireFormat::Welcome => 3,
            WireFormat::GroupInfo => 4,
            WireFormat::KeyPackage => 5,
        }
    }

    /// Parses a code point.
    ///
    /// # Errors
    /// [`Error::UnknownValue`].
    pub fn from_code(code: u16) -> Result<Self> {
        Ok(match code {
            1 => WireFormat::PublicMessage,
            2 => WireFormat::PrivateMessage,
            3 => WireFormat::Welcome,
            4 => WireFormat::GroupInfo,
            5 => WireFormat::KeyPackage,
            v => {
                return Err(Error::UnknownValue {
                    field: "wire_format",
                    value: u64::from(v),
                });
            }
        })
    }
}

/// `ContentType` (§6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContentType {
    /// `application(1)`.
    Application,
    /// `proposal(2)`.
    Proposal,
    /// `commit(3)`.
    Commit,
}

impl ContentType {
    /// The code point.
    pub fn code(self) -> u8 {
        match self {
            ContentType::Application => 1,
            ContentType::Proposal => 2,
            ContentType::Commit => 3,
        }
    }

    /// Parses a code point.
    ///
    /// # Errors
    /// [`Error::UnknownValue`].
    pub fn from_code(code: u8) -> Result<Self> {
        Ok(match code {
            1 => ContentType::Application,
            2 => ContentType::Proposal,
            3 => ContentType::Commit,
            v => {
                return Err(Error::UnknownValue {
                    field: "content_type",
                    value: u64::from(v),
                });
            }
        })
    }
}

/// `Sender` (§6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sender {
    /// A member, by leaf index.
    Member(u32),
    /// An external sender, by index into the `external_senders` extension.
    External(u32),
    /// A new member proposing its own addition.
    NewMemberProposal,
    /// A new member joining by external commit.
    NewMemberCommit,
}

impl Encode for Sender {
    type Error = Error;

    fn encode(&self, w: &mut Writer) -> Result<()> {
        match self {
            Sender::Member(i) => {
                w.u8(1);
                w.u32(*i);
            }
            Sender::External(i) => {
                w.u8(2);
                w.u32(*i);
            }
            Sender::NewMemberProposal => w.u8(3),
            Sender::NewMemberCommit => w.u8(4),
        }
        Ok(())
    }
}

impl Decode for Sender {
    type Error = Error;

    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        Ok(match r.u8("sender_type")? {
            1 => Sender::Member(r.u32("leaf_index")?),
            2 => Sender::External(r.u32("sender_index")?),
            3 => Sender::NewMemberProposal,
            4 => Sender::NewMemberCommit,
            v => {
                return Err(Error::UnknownValue {
                    field: "sender_type",
                    value: u64::from(v),
                });
            }
        })
    }
}

/// The body of a FramedContent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// Application data.
    Application(Vec<u8>),
    /// A proposal.
    Proposal(Proposal),
    /// A commit (boxed: it can carry a whole UpdatePath).
    Commit(Box<Commit>),
}

impl Content {
    /// The content type.
    pub fn content_type(&self) -> ContentType {
        match self {
            Content::Application(_) => ContentType::Application,
            Content::Proposal(_) => ContentType::Proposal,
            Content::Commit(_) => ContentType::Commit,
        }
    }

    /// Writes the body selected by the content type (without the type byte).
    pub(crate) fn write_body(&self, w: &mut Writer) -> Result<()> {
        match self {
            Content::Application(data) => Ok(w.vl_bytes("application_data", data)?),
            Content::Proposal(p) => w.encode(p),
            Content::Commit(c) => w.encode(c.as_ref()),
        }
    }

    /// Reads the body for `content_type`.
    pub(crate) fn read_body(r: &mut Reader<'_>, content_type: ContentType) -> Result<Self> {
        Ok(match content_type {
            ContentType::Application => {
                Content::Application(r.vl_bytes("application_data")?.to_vec())
            }
            ContentType::Proposal => Content::Proposal(r.decode()?),
            ContentType::Commit => Content::Commit(Box::new(r.decode()?)),
        })
    }
}

/// `FramedContent` (§6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FramedContent {
    /// The group.
    pub group_id: Vec<u8>,
    /// The epoch.
    pub epoch: u64,
    /// Who sent it.
    pub sender: Sender,
    /// Application-chosen authenticated (not encrypted) data.
    pub authenticated_data: Vec<u8>,
    /// The content.
    pub content: Content,
}

impl Encode for FramedContent {
    type Error = Error;

    fn encode(&self, w: &mut Writer) -> Result<()> {
        w.vl_bytes("group_id", &self.group_id)?;
        w.u64(self.epoch);
        w.encode(&self.sender)?;
        w.vl_bytes("authenticated_data", &self.authenticated_data)?;
        w.u8(self.content.content_type().code());
        self.content.write_body(w)
    }
}

impl Decode for FramedContent {
    type Error = Error;

    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        let group_id = r.vl_bytes("group_id")?.to_vec();
        let epoch = r.u64("epoch")?;
        let sender = r.decode()?;
        let authenticated_data = r.vl_bytes("authenticated_data")?.to_vec();
        let content_type = ContentType::from_code(r.u8("content_type")?)?;
        let content = Content::read_body(r, content_type)?;
        Ok(FramedContent {
            group_id,
            epoch,
            sender,
            authenticated_data,
            content,
        })
    }
}

/// `FramedContentAuthData` (§6.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FramedContentAuthData {
    /// `SignWithLabel(., "FramedContentTBS", FramedContentTBS)`.
    pub signature: Vec<u8>,
    /// Present exactly for commits.
    pub confirmation_tag: Option<Vec<u8>>,
}

impl FramedContentAuthData {
    pub(crate) fn write(&self, w: &mut Writer, content_type: ContentType) -> Result<()> {
        w.vl_bytes("signature", &self.signature)?;
        match (content_type, &self.confirmation_tag) {
            (ContentType::Commit, Some(tag)) => Ok(w.vl_bytes("confirmation_tag", tag)?),
            (ContentType::Commit, None) => Err(Error::Misuse("a commit needs a confirmation tag")),
            (_, None) => Ok(()),
            (_, Some(_)) => Err(Error::Misuse("only a commit carries a confirmation tag")),
        }
    }

    pub(crate) fn read(r: &mut Reader<'_>, content_type: ContentType) -> Result<Self> {
        let signature = r.vl_bytes("signature")?.to_vec();
        let confirmation_tag = match content_type {
            ContentType::Commit => Some(r.vl_bytes("confirmation_tag")?.to_vec()),
            _ => None,
        };
        Ok(FramedContentAuthData {
            signature,
            confirmation_tag,
        })
    }
}

/// `AuthenticatedContent` (§6.1): what a member has once a message is verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticatedContent {
    /// The wire format the content arrived in.
    pub wire_format: WireFormat,
    /// The content.
    pub content: FramedContent,
    /// Its signature and, for commits, confirmation tag.
    pub auth: FramedContentAuthData,
}

impl Encode for AuthenticatedContent {
    type Error = Error;

    fn encode(&self, w: &mut Writer) -> Result<()> {
        w.u16(self.wire_format.code());
        w.encode(&self.content)?;
        self.auth.write(w, self.content.content.content_type())
    }
}

impl Decode for AuthenticatedContent {
    type Error = Error;

    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        let wire_format = WireFormat::from_code(r.u16("wire_format")?)?;
        let content: FramedContent = r.decode()?;
        let auth = FramedContentAuthData::read(r, content.content.content_type())?;
        Ok(AuthenticatedContent {
            wire_format,
            content,
            auth,
        })
    }
}

impl AuthenticatedContent {
    /// The encoded `ConfirmedTranscriptHashInput` (wire format, content, signature) (§8.2).
    ///
    /// # Errors
    /// [`Error::ContentNotAllowed`] for content that is not a commit.
    pub fn confirmed_transcript_hash_input(&self) -> Result<Vec<u8>> {
        if self.content.content.content_type() != ContentType::Commit {
            return Err(Error::ContentNotAllowed {
                reason: "only a commit enters the transcript",
            });
        }
        let mut w = Writer::new();
        w.u16(self.wire_format.code());
        w.encode(&self.content)?;
        w.vl_bytes("signature", &self.auth.signature)?;
        Ok(w.into_bytes())
    }

    /// The `ProposalRef` of a proposal carried in this content (§5.2).
    ///
    /// # Errors
    /// [`Error::ContentNotAllowed`] if the content is not a proposal.
    pub fn proposal_ref<P: CryptoProvider + ?Sized>(&self, p: &P) -> Result<Vec<u8>> {
        if self.content.content.content_type() != ContentType::Proposal {
            return Err(Error::ContentNotAllowed {
                reason: "only a proposal has a ProposalRef",
            });
        }
        crate::crypto::proposal_ref(p, &self.to_bytes()?)
    }

    /// Encodes the structure.
    ///
    /// # Errors
    /// Only for fields too long to encode.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut w = Writer::new();
        self.encode(&mut w)?;
        Ok(w.into_bytes())
    }
}

/// Encodes `FramedContentTBS` (§6.1).
pub(crate) fn framed_content_tbs(
    wire_format: WireFormat,
    content: &FramedContent,
    context: Option<&GroupContext>,
) -> Result<Vec<u8>> {
    let mut w = Writer::new();
    w.u16(MLS10);
    w.u16(wire_format.code());
    w.encode(content)?;
    match (content.sender, context) {
        (Sender::Member(_) | Sender::NewMemberCommit, Some(gc)) => w.bytes(&gc.encode()?),
        (Sender::Member(_) | Sender::NewMemberCommit, None) => {
            return Err(Error::Misuse(
                "a member's content is signed with the GroupContext",
            ));
        }
        (Sender::External(_) | Sender::NewMemberProposal, _) => {}
    }
    Ok(w.into_bytes())
}

/// Signs framed content: `SignWithLabel(key, "FramedContentTBS", FramedContentTBS)`.
///
/// # Errors
/// [`Error::Misuse`] for a member sender without a GroupContext.
pub fn sign_framed_content<P: CryptoProvider + ?Sized>(
    p: &P,
    key: &SignatureSecretKey,
    wire_format: WireFormat,
    content: &FramedContent,
    context: Option<&GroupContext>,
) -> Result<Vec<u8>> {
    let tbs = framed_content_tbs(wire_format, content, context)?;
    sign_with_label(p, key, b"FramedContentTBS", &tbs)
}

/// Verifies the signature of framed content.
///
/// # Errors
/// [`Error::BadSignature`].
pub fn verify_framed_content<P: CryptoProvider + ?Sized>(
    p: &P,
    public_key: &[u8],
    wire_format: WireFormat,
    content: &FramedContent,
    context: Option<&GroupContext>,
    signature: &[u8],
) -> Result<()> {
    let tbs = framed_content_tbs(wire_format, content, context)?;
    verify_with_label(
        p,
        public_key,
        b"FramedContentTBS",
        &tbs,
        signature,
        "FramedContentTBS",
    )
}

/// Checks that content belongs to the group and epoch of `context`.
pub(crate) fn check_group_epoch(group_id: &[u8], epoch: u64, context: &GroupContext) -> Result<()> {
    if group_id != context.group_id.as_bytes() {
        return Err(Error::WrongGroup);
    }
    if epoch != context.epoch {
        return Err(Error::WrongEpoch {
            expected: context.epoch,
            found: epoch,
        });
    }
    Ok(())
}
