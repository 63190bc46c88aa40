//! PrivateMessage (§6.3): content encrypted under a key from the secret tree, sender data
//! encrypted under a key derived from the `sender_data_secret` and the content ciphertext.

use nipee_codec::{Decode, Encode, Reader, Writer};

use super::{
    AuthenticatedContent, Content, ContentType, FramedContent, FramedContentAuthData, Sender,
    WireFormat, check_group_epoch, sign_framed_content, verify_framed_content,
};
use crate::crypto::{CryptoProvider, Secret, SignatureSecretKey};
use crate::error::{Error, Result};
use crate::schedule::GroupContext;
use crate::secret_tree::{KeyChange, RatchetType, SecretTree, sender_data_key_nonce};
use crate::tree::math::LeafIndex;

/// `PrivateMessage` (§6.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrivateMessage {
    /// The group.
    pub group_id: Vec<u8>,
    /// The epoch.
    pub epoch: u64,
    /// The type of the encrypted content.
    pub content_type: ContentType,
    /// Authenticated, unencrypted application data.
    pub authenticated_data: Vec<u8>,
    /// The encrypted `SenderData`.
    pub encrypted_sender_data: Vec<u8>,
    /// The encrypted `PrivateMessageContent`.
    pub ciphertext: Vec<u8>,
}

/// `SenderData` (§6.3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderData {
    /// The sender's leaf.
    pub leaf_index: u32,
    /// The ratchet generation of the content key.
    pub generation: u32,
    /// XORed into the first four bytes of the content nonce.
    pub reuse_guard: [u8; 4],
}

fn ratchet_for(content_type: ContentType) -> RatchetType {
    match content_type {
        ContentType::Application => RatchetType::Application,
        ContentType::Proposal | ContentType::Commit => RatchetType::Handshake,
    }
}

fn guarded_nonce(nonce: &Secret, reuse_guard: [u8; 4]) -> Secret {
    let mut n = nonce.clone();
    for (b, g) in n.as_mut_bytes().iter_mut().zip(reuse_guard) {
        *b ^= g;
    }
    n
}

fn sender_data_aad(group_id: &[u8], epoch: u64, content_type: ContentType) -> Result<Vec<u8>> {
    let mut w = Writer::new();
    w.vl_bytes("group_id", group_id)?;
    w.u64(epoch);
    w.u8(content_type.code());
    Ok(w.into_bytes())
}

fn content_aad(
    group_id: &[u8],
    epoch: u64,
    content_type: ContentType,
    authenticated_data: &[u8],
) -> Result<Vec<u8>> {
    let mut w = Writer::new();
    w.vl_bytes("group_id", group_id)?;
    w.u64(epoch);
    w.u8(content_type.code());
    w.vl_bytes("authenticated_data", authenticated_data)?;
    Ok(w.into_bytes())
}

impl PrivateMessage {
    /// Signs and encrypts `content` (whose sender must be a member) with the next key of the
    /// sender's ratchet, appending `padding` zero bytes to the plaintext.
    ///
    /// # Errors
    /// [`Error::InvalidSender`] for a non-member sender, [`Error::Misuse`] for a wrong
    /// confirmation-tag presence, and the errors of the secret tree.
    #[allow(clippy::too_many_arguments)]
    pub fn protect<P: CryptoProvider + ?Sized>(
        p: &P,
        content: &FramedContent,
        signer: &SignatureSecretKey,
        context: &GroupContext,
        secret_tree: &mut SecretTree,
        sender_data_secret: &Secret,
        confirmation_tag: Option<Vec<u8>>,
        padding: usize,
    ) -> Result<Self> {
        let Sender::Member(leaf) = content.sender else {
            return Err(Error::InvalidSender {
                reason: "only members send PrivateMessages",
            });
        };
        let content_type = content.content.content_type();
        let signature = sign_framed_content(
            p,
            signer,
            WireFormat::PrivateMessage,
            content,
            Some(context),
        )?;
        let auth = FramedContentAuthData {
            signature,
            confirmation_tag,
        };

        let mut pt = Writer::new();
        content.content.write_body(&mut pt)?;
        auth.write(&mut pt, content_type)?;
        let mut plaintext = pt.into_bytes();
        plaintext.resize(plaintext.len().saturating_add(padding), 0);

        let kn = secret_tree.next_key(p, LeafIndex(leaf), ratchet_for(content_type))?;
        let mut reuse_guard = [0u8; 4];
        p.random_fill(&mut reuse_guard)?;
        let aad = content_aad(
            &content.group_id,
            content.epoch,
            content_type,
            &content.authenticated_data,
        )?;
        let ciphertext = p.aead_seal(
            kn.key.as_bytes(),
            guarded_nonce(&kn.nonce, reuse_guard).as_bytes(),
            &aad,
            &plaintext,
        )?;
        zeroize::Zeroize::zeroize(&mut plaintext);

        let mut sd = Writer::new();
        sd.u32(leaf);
        sd.u32(kn.generation);
        sd.bytes(&reuse_guard);
        let (sd_key, sd_nonce) = sender_data_key_nonce(p, sender_data_secret, &ciphertext)?;
        let encrypted_sender_data = p.aead_seal(
            sd_key.as_bytes(),
            sd_nonce.as_bytes(),
            &sender_data_aad(&content.group_id, content.epoch, content_type)?,
            sd.as_bytes(),
        )?;
        Ok(PrivateMessage {
            group_id: content.group_id.clone(),
            epoch: content.epoch,
            content_type,
            authenticated_data: content.authenticated_data.clone(),
            encrypted_sender_data,
            ciphertext,
        })
    }

    /// Decrypts the sender data (§6.3.2).
    ///
    /// # Errors
    /// [`Error::DecryptionFailed`] for tampered sender data, [`Error::Malformed`].
    pub fn decrypt_sender_data<P: CryptoProvider + ?Sized>(
        &self,
        p: &P,
        sender_data_secret: &Secret,
    ) -> Result<SenderData> {
        let (key, nonce) = sender_data_key_nonce(p, sender_data_secret, &self.ciphertext)?;
        let sd = p.aead_open(
            key.as_bytes(),
            nonce.as_bytes(),
            &sender_data_aad(&self.group_id, self.epoch, self.content_type)?,
            &self.encrypted_sender_data,
            "sender data",
        )?;
        let mut r = Reader::new(&sd);
        let out = SenderData {
            leaf_index: r.u32("leaf_index")?,
            generation: r.u32("generation")?,
            reuse_guard: r.array::<4>("reuse_guard")?,
        };
        r.finish()?;
        Ok(out)
    }

    /// Checks group and epoch, decrypts sender data and content, and verifies the signature
    /// under the key `signature_key` returns for the sender's leaf. The secret tree is not
    /// changed: the returned [`KeyChange`] deletes the content key (and moves the ratchet)
    /// when the caller applies it, so a replay after that fails with
    /// [`Error::GenerationConsumed`] and a forged copy consumes nothing.
    ///
    /// # Errors
    /// [`Error::WrongGroup`], [`Error::WrongEpoch`], [`Error::DecryptionFailed`],
    /// [`Error::GenerationConsumed`], [`Error::GenerationTooFarAhead`],
    /// [`Error::LeafOutOfRange`], [`Error::MalformedField`] for non-zero padding,
    /// [`Error::BadSignature`], and whatever `signature_key` returns.
    pub fn unprotect<P: CryptoProvider + ?Sized>(
        &self,
        p: &P,
        context: &GroupContext,
        secret_tree: &SecretTree,
        sender_data_secret: &Secret,
        signature_key: impl FnOnce(LeafIndex) -> Result<Vec<u8>>,
    ) -> Result<(AuthenticatedContent, KeyChange)> {
        check_group_epoch(&self.group_id, self.epoch, context)?;
        let sd = self.decrypt_sender_data(p, sender_data_secret)?;
        let leaf = LeafIndex(sd.leaf_index);
        let (kn, change) =
            secret_tree.peek_key(p, leaf, ratchet_for(self.content_type), sd.generation)?;
        let aad = content_aad(
            &self.group_id,
            self.epoch,
            self.content_type,
            &self.authenticated_data,
        )?;
        let mut plaintext = p.aead_open(
            kn.key.as_bytes(),
            guarded_nonce(&kn.nonce, sd.reuse_guard).as_bytes(),
            &aad,
            &self.ciphertext,
            "PrivateMessage content",
        )?;
        let parsed = (|| {
            let mut r = Reader::new(&plaintext);
            let content = Content::read_body(&mut r, self.content_type)?;
            let auth = FramedContentAuthData::read(&mut r, self.content_type)?;
            let padding = r.bytes("padding", r.remaining())?;
            if padding.iter().any(|&b| b != 0) {
                return Err(Error::MalformedField {
                    field: "padding",
                    reason: "not all zero",
                });
            }
            Ok((content, auth))
        })();
        zeroize::Zeroize::zeroize(&mut plaintext);
        let (content, auth) = parsed?;
        let framed = FramedContent {
            group_id: self.group_id.clone(),
            epoch: self.epoch,
            sender: Sender::Member(sd.leaf_index),
            authenticated_data: self.authenticated_data.clone(),
            content,
        };
        let key = signature_key(leaf)?;
        verify_framed_content(
            p,
            &key,
            WireFormat::PrivateMessage,
            &framed,
            Some(context),
            &auth.signature,
        )?;
        Ok((
            AuthenticatedContent {
                wire_format: WireFormat::PrivateMessage,
                content: framed,
                auth,
            },
            change,
        ))
    }
}

impl Encode for PrivateMessage {
    type Error = Error;

    fn encode(&self, w: &mut Writer) -> Result<()> {
        w.vl_bytes("group_id", &self.group_id)?;
        w.u64(self.epoch);
        w.u8(self.content_type.code());
        w.vl_bytes("authenticated_data", &self.authenticated_data)?;
        w.vl_bytes("encrypted_sender_data", &self.encrypted_sender_data)?;
        w.vl_bytes("ciphertext", &self.ciphertext)?;
        Ok(())
    }
}

impl Decode for PrivateMessage {
    type Error = Error;

    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        Ok(PrivateMessage {
            group_id: r.vl_bytes("group_id")?.to_vec(),
            epoch: r.u64("epoch")?,
            content_type: ContentType::from_code(r.u8("content_type")?)?,
            authenticated_data: r.vl_bytes("authenticated_data")?.to_vec(),
            encrypted_sender_data: r.vl_bytes("encrypted_sender_data")?.to_vec(),
            ciphertext: r.vl_bytes("ciphertext")?.to_vec(),
        })
    }
}
