//! PublicMessage (§6.2): signed content plus, for members, a membership tag.

use nipee_codec::{Decode, Encode, Reader, Writer};

use super::{
    AuthenticatedContent, ContentType, FramedContent, FramedContentAuthData, Sender, WireFormat,
    check_group_epoch, framed_content_tbs, sign_framed_content, verify_framed_content,
};
use crate::crypto::{CryptoProvider, Secret, SignatureSecretKey, ct_eq};
use crate::error::{Error, Result};
use crate::schedule::GroupContext;

/// `PublicMessage` (§6.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicMessage {
    /// The content.
    pub content: FramedContent,
    /// Signature and, for commits, confirmation tag.
    pub auth: FramedContentAuthData,
    /// `MAC(membership_key, AuthenticatedContentTBM)`, present exactly for member senders.
    pub membership_tag: Option<Vec<u8>>,
}

fn membership_tag<P: CryptoProvider + ?Sized>(
    p: &P,
    membership_key: &Secret,
    content: &FramedContent,
    auth: &FramedContentAuthData,
    context: &GroupContext,
) -> Result<Vec<u8>> {
    let mut tbm = Writer::new();
    tbm.bytes(&framed_content_tbs(
        WireFormat::PublicMessage,
        content,
        Some(context),
    )?);
    auth.write(&mut tbm, content.content.content_type())?;
    p.mac(membership_key.as_bytes(), tbm.as_bytes())
}

impl PublicMessage {
    /// Signs `content` and, for a member sender, adds the membership tag. A commit needs its
    /// `confirmation_tag`; other content must have none. Application data is never sent as a
    /// PublicMessage (§6.2).
    ///
    /// # Errors
    /// [`Error::ContentNotAllowed`] for application data, [`Error::Misuse`] for a wrong
    /// confirmation-tag presence.
    pub fn protect<P: CryptoProvider + ?Sized>(
        p: &P,
        content: FramedContent,
        signer: &SignatureSecretKey,
        context: &GroupContext,
        membership_key: &Secret,
        confirmation_tag: Option<Vec<u8>>,
    ) -> Result<Self> {
        if content.content.content_type() == ContentType::Application {
            return Err(Error::ContentNotAllowed {
                reason: "application data must be sent as a PrivateMessage",
            });
        }
        let signature = sign_framed_content(
            p,
            signer,
            WireFormat::PublicMessage,
            &content,
            Some(context),
        )?;
        let auth = FramedContentAuthData {
            signature,
            confirmation_tag,
        };
        let membership_tag = match content.sender {
            Sender::Member(_) => Some(membership_tag(p, membership_key, &content, &auth, context)?),
            _ => None,
        };
        Ok(PublicMessage {
            content,
            auth,
            membership_tag,
        })
    }

    /// Checks group, epoch, the membership tag (member senders) and the signature under
    /// `signature_key` (the sender's, which the caller looks up), and returns the
    /// authenticated content.
    ///
    /// # Errors
    /// [`Error::WrongGroup`], [`Error::WrongEpoch`], [`Error::BadMembershipTag`],
    /// [`Error::BadSignature`], [`Error::ContentNotAllowed`] for application data.
    pub fn unprotect<P: CryptoProvider + ?Sized>(
        &self,
        p: &P,
        context: &GroupContext,
        membership_key: &Secret,
        signature_key: &[u8],
    ) -> Result<AuthenticatedContent> {
        check_group_epoch(&self.content.group_id, self.content.epoch, context)?;
        if self.content.content.content_type() == ContentType::Application {
            return Err(Error::ContentNotAllowed {
                reason: "application data must not arrive as a PublicMessage",
            });
        }
        if let Sender::Member(_) = self.content.sender {
            let tag = self
                .membership_tag
                .as_deref()
                .ok_or(Error::BadMembershipTag)?;
            let expected = membership_tag(p, membership_key, &self.content, &self.auth, context)?;
            if !ct_eq(&expected, tag) {
                return Err(Error::BadMembershipTag);
            }
        }
        verify_framed_content(
            p,
            signature_key,
            WireFormat::PublicMessage,
            &self.content,
            Some(context),
            &self.auth.signature,
        )?;
        Ok(AuthenticatedContent {
            wire_format: WireFormat::PublicMessage,
            content: self.content.clone(),
            auth: self.auth.clone(),
        })
    }
}

impl Encode for PublicMessage {
    type Error = Error;

    fn encode(&self, w: &mut Writer) -> Result<()> {
        w.encode(&self.content)?;
        self.auth.write(w, self.content.content.content_type())?;
        match (self.content.sender, &self.membership_tag) {
            (Sender::Member(_), Some(tag)) => Ok(w.vl_bytes("membership_tag", tag)?),
            (Sender::Member(_), None) => Err(Error::Misuse(
                "a member's PublicMessage needs a membership tag",
            )),
            (_, None) => Ok(()),
            (_, Some(_)) => Err(Error::Misuse(
                "only a member's PublicMessage has a membership tag",
            )),
        }
    }
}

impl Decode for PublicMessage {
    type Error = Error;

    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        let content: FramedContent = r.decode()?;
        let auth = FramedContentAuthData::read(r, content.content.content_type())?;
        let membership_tag = match content.sender {
            Sender::Member(_) => Some(r.vl_bytes("membership_tag")?.to_vec()),
            _ => None,
        };
        Ok(PublicMessage {
            content,
            auth,
            membership_tag,
        })
    }
}
