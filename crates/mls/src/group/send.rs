//! Sending: application messages (§6.3) and proposals by themselves (§12.1), framed in the
//! current epoch.

use nipee_keypackage::{KeyPackage, LeafNodeSource};

use super::config::HandshakeFormat;
use super::grease;
use super::proposals::validate_single;
use super::state::{CachedProposal, Group};
use crate::crypto::GroupProvider;
use crate::error::{Error, Result};
use crate::extensions::Extension;
use crate::framing::{
    AuthenticatedContent, Content, ContentType, FramedContent, FramedContentAuthData, MlsMessage,
    MlsMessageBody, PrivateMessage, Proposal, PublicMessage, Sender, WireFormat,
    sign_framed_content,
};
use crate::schedule::{PreSharedKeyId, ResumptionPskUsage};
use crate::tree::math::LeafIndex;

pub(crate) fn wire_format_of(format: HandshakeFormat) -> WireFormat {
    match format {
        HandshakeFormat::Public => WireFormat::PublicMessage,
        HandshakeFormat::Private => WireFormat::PrivateMessage,
    }
}

impl<P: GroupProvider> Group<P> {
    fn padding_for(&self, content: &FramedContent) -> Result<usize> {
        let block = usize::from(self.config.padding_block);
        if block <= 1 {
            return Ok(0);
        }
        let mut w = nipee_codec::Writer::new();
        content.content.write_body(&mut w)?;
        // Signature (64 bytes + 1 length byte) and, for commits, the tag (32 + 1).
        let mut len = w.len() + 65;
        if content.content.content_type() == ContentType::Commit {
            len += 33;
        }
        Ok((block - len % block) % block)
    }

    /// Frames `content` in our current epoch as `format`, signed with our current key.
    /// A PrivateMessage takes the next key of our own ratchet.
    pub(crate) fn protect(
        &mut self,
        content: FramedContent,
        confirmation_tag: Option<Vec<u8>>,
        format: HandshakeFormat,
    ) -> Result<MlsMessage> {
        let padding = self.padding_for(&content)?;
        let p = &self.provider;
        let signer = self
            .signer
            .as_ref()
            .ok_or(Error::Misuse("we are no longer a member of this group"))?;
        let body = match format {
            HandshakeFormat::Public => {
                MlsMessageBody::PublicMessage(Box::new(PublicMessage::protect(
                    p,
                    content,
                    signer,
                    &self.state.context,
                    &self.state.keys.membership_key,
                    confirmation_tag,
                )?))
            }
            HandshakeFormat::Private => {
                MlsMessageBody::PrivateMessage(Box::new(PrivateMessage::protect(
                    p,
                    &content,
                    signer,
                    &self.state.context,
                    &mut self.state.keys.secret_tree,
                    &self.state.keys.sender_data_secret,
                    confirmation_tag,
                    padding,
                )?))
            }
        };
        // Our sending ratchet moved: results staged before no longer merge.
        self.touch();
        Ok(MlsMessage { body })
    }

    pub(crate) fn framed(&self, content: Content, authenticated_data: &[u8]) -> FramedContent {
        FramedContent {
            group_id: self.state.context.group_id.as_bytes().to_vec(),
            epoch: self.state.context.epoch,
            sender: Sender::Member(self.own_leaf().0),
            authenticated_data: authenticated_data.to_vec(),
            content,
        }
    }

    /// Encrypts an application message (§6.3) in the current epoch.
    ///
    /// # Errors
    /// [`Error::Misuse`] if proposals of this epoch are still uncommitted (§12.4: a member
    /// that has seen proposals must commit before sending application data) or we were
    /// removed.
    pub fn create_message(&mut self, data: &[u8], authenticated_data: &[u8]) -> Result<Vec<u8>> {
        self.check_active()?;
        if !self.proposals.is_empty() {
            return Err(Error::Misuse(
                "commit the pending proposals before sending application data",
            ));
        }
        let content = self.framed(Content::Application(data.to_vec()), authenticated_data);
        self.protect(content, None, HandshakeFormat::Private)?
            .to_bytes()
    }

    /// Sends a proposal by itself (to be committed by reference later) as `format` and
    /// caches it.
    fn send_proposal(
        &mut self,
        proposal: Proposal,
        authenticated_data: &[u8],
        format: HandshakeFormat,
    ) -> Result<(Vec<u8>, Vec<u8>)> {
        self.check_active()?;
        if self.pending.is_some() {
            return Err(Error::Misuse("a commit of ours is pending"));
        }
        validate_single(self, &Sender::Member(self.own_leaf().0), &proposal)?;
        let content = self.framed(Content::Proposal(proposal.clone()), authenticated_data);
        let wire_format = wire_format_of(format);
        let signature = sign_framed_content(
            &self.provider,
            self.signer()?,
            wire_format,
            &content,
            Some(&self.state.context),
        )?;
        let ac = AuthenticatedContent {
            wire_format,
            content: content.clone(),
            auth: FramedContentAuthData {
                signature,
                confirmation_tag: None,
            },
        };
        let reference = ac.proposal_ref(&self.provider)?;
        let msg = self.protect(content, None, format)?.to_bytes()?;
        self.proposals.push(CachedProposal {
            reference: reference.clone(),
            sender: Sender::Member(self.own_leaf().0),
            proposal,
        });
        Ok((msg, reference))
    }

    /// Sends a proposal in the configured handshake format.
    fn send_configured(&mut self, proposal: Proposal) -> Result<(Vec<u8>, Vec<u8>)> {
        let format = self.config.handshake_format;
        self.send_proposal(proposal, &[], format)
    }

    /// Proposes adding the owner of `key_package`. Returns the message to send.
    ///
    /// # Errors
    /// [`Error::KeyPackage`] for an invalid KeyPackage, and those of framing.
    pub fn propose_add(&mut self, key_package: KeyPackage) -> Result<Vec<u8>> {
        Ok(self
            .send_configured(Proposal::Add(Box::new(key_package)))?
            .0)
    }

    /// Proposes removing the member at `leaf`.
    ///
    /// # Errors
    /// [`Error::InvalidProposal`] for a blank leaf.
    pub fn propose_remove(&mut self, leaf: LeafIndex) -> Result<Vec<u8>> {
        Ok(self
            .send_configured(Proposal::Remove { removed: leaf.0 })?
            .0)
    }

    /// Proposes our own removal with a SelfRemove proposal (draft-ietf-mls-extensions):
    /// any other member may commit it, by reference; we are out when that commit arrives.
    /// Sent as a PublicMessage whatever [`GroupConfig::handshake_format`] says, as the
    /// draft requires ("these proposals MUST be sent in an MLS PublicMessage"), so that
    /// OpenMLS peers and the delivery service can process it.
    ///
    /// # Errors
    /// [`Error::CapabilityMissing`] unless every member (us included) lists SelfRemove
    /// (0x000a) in its capabilities; [`Error::Misuse`] for a second SelfRemove of ours in
    /// one epoch ("a client MUST NOT issue more than one SelfRemove proposal per epoch"),
    /// while a commit of ours is pending, or after we were removed.
    ///
    /// [`GroupConfig::handshake_format`]: super::GroupConfig::handshake_format
    pub fn propose_self_remove(&mut self) -> Result<Vec<u8>> {
        let me = Sender::Member(self.own_leaf().0);
        if self
            .proposals
            .iter()
            .any(|c| c.sender == me && c.proposal == Proposal::SelfRemove)
        {
            return Err(Error::Misuse(
                "we already proposed to leave (SelfRemove) in this epoch",
            ));
        }
        Ok(self
            .send_proposal(Proposal::SelfRemove, &[], HandshakeFormat::Public)?
            .0)
    }

    /// Proposes replacing our leaf with a fresh HPKE key (an Update proposal, §12.1.2).
    ///
    /// # Errors
    /// Crypto and framing failures.
    pub fn propose_update(&mut self) -> Result<Vec<u8>> {
        let p = &self.provider;
        let me = self.own_leaf();
        let old = self
            .state
            .tree
            .leaf(me)
            .ok_or(Error::InvalidState {
                reason: "our leaf is blank",
            })?
            .clone();
        let (sk, pk) = p.hpke_generate_key_pair()?;
        let mut unsigned = old.to_unsigned();
        grease::leaf(
            &self.config,
            &mut unsigned,
            grease::draw(p, &self.config)?.as_ref(),
        );
        unsigned.encryption_key = pk
            .as_slice()
            .try_into()
            .map_err(|_| Error::Internal("HPKE public key length"))?;
        unsigned.leaf_node_source = LeafNodeSource::Update;
        let leaf = unsigned.sign(self.signer()?, self.state.context.group_id.as_bytes(), me.0)?;
        let (msg, reference) = self.send_configured(Proposal::Update(Box::new(leaf)))?;
        self.pending_updates.push((reference, sk));
        Ok(msg)
    }

    /// Proposes injecting a PSK (§12.1.4); `psk_id` must be known (external PSKs via
    /// [`Group::add_external_psk`], resumption PSKs of retained epochs). A fresh nonce is
    /// chosen.
    ///
    /// # Errors
    /// [`Error::PskNotFound`].
    pub fn propose_external_psk(&mut self, psk_id: Vec<u8>) -> Result<Vec<u8>> {
        let mut nonce = vec![0u8; self.provider.hash_len()];
        self.provider.random_fill(&mut nonce)?;
        let id = PreSharedKeyId::External {
            psk_id,
            psk_nonce: nonce,
        };
        Ok(self.send_configured(Proposal::PreSharedKey(id))?.0)
    }

    /// Proposes injecting the resumption PSK of `epoch` of this group (§8.6, usage
    /// `application`): the current epoch or one whose resumption PSK is still retained. A
    /// fresh nonce is chosen. Every member that processes the commit needs the same epoch's
    /// resumption PSK, so a member who joined later cannot follow such a commit.
    ///
    /// # Errors
    /// [`Error::PskNotFound`] for an epoch whose resumption PSK is not held.
    pub fn propose_resumption_psk(&mut self, epoch: u64) -> Result<Vec<u8>> {
        if self.resumption_psk_of(epoch).is_none() {
            return Err(Error::PskNotFound);
        }
        let mut nonce = vec![0u8; self.provider.hash_len()];
        self.provider.random_fill(&mut nonce)?;
        let id = PreSharedKeyId::Resumption {
            usage: ResumptionPskUsage::Application,
            psk_group_id: self.state.context.group_id.clone(),
            psk_epoch: epoch,
            psk_nonce: nonce,
        };
        Ok(self.send_configured(Proposal::PreSharedKey(id))?.0)
    }

    /// Proposes new GroupContext extensions (§12.1.7).
    ///
    /// # Errors
    /// [`Error::NotSupportedByUs`] if we do not support them (a GREASE extension is never
    /// supported: §13.5 forbids sending one here), [`Error::CapabilityMissing`] if some
    /// member does not.
    pub fn propose_group_context_extensions(
        &mut self,
        extensions: Vec<Extension>,
    ) -> Result<Vec<u8>> {
        Ok(self
            .send_configured(Proposal::GroupContextExtensions(extensions))?
            .0)
    }
}
