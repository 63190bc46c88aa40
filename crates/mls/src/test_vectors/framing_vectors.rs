//! Runners for message protection, Welcome and deserialization vectors.

use serde_json::Value;

use super::{check_eq, e, hex_field, u64_field};
use crate::crypto::{
    self, CipherSuite, HpkePrivateKey, RustCryptoSuite1, Secret, SignatureSecretKey,
};
use crate::schedule::{self, EpochSecrets, GroupContext};

// ----- message-protection -----

use crate::framing::{
    Content, FramedContent, MlsMessage, MlsMessageBody, PrivateMessage, PublicMessage, Sender,
};
use crate::secret_tree::{SecretTree, SecretTreeConfig};
use nipee_codec::{Decode, Reader, Writer};

/// The keys and context of one message-protection case.
struct Protection {
    p: RustCryptoSuite1,
    gc: GroupContext,
    sig_priv: SignatureSecretKey,
    sig_pub: Vec<u8>,
    encryption_secret: Vec<u8>,
    sender_data_secret: Secret,
    membership_key: Secret,
}

impl Protection {
    fn new_tree(&self) -> Result<SecretTree, String> {
        SecretTree::new(
            Secret::from_slice(&self.encryption_secret),
            2,
            SecretTreeConfig::default(),
        )
        .map_err(e("secret tree"))
    }

    fn key_of(&self, leaf: crate::tree::math::LeafIndex) -> crate::Result<Vec<u8>> {
        if leaf.0 == 1 {
            Ok(self.sig_pub.clone())
        } else {
            Err(crate::Error::InvalidSender {
                reason: "unknown leaf",
            })
        }
    }

    /// The vector's PublicMessage verifies and ours round-trips; returns the confirmation
    /// tag it carries. Application data must not be accepted as a PublicMessage.
    fn public(
        &self,
        v: &Value,
        kind: &str,
        raw: &[u8],
        framed: &FramedContent,
    ) -> Result<Option<Vec<u8>>, String> {
        let p = &self.p;
        if kind == "application" {
            return match PublicMessage::protect(
                p,
                framed.clone(),
                &self.sig_priv,
                &self.gc,
                &self.membership_key,
                None,
            ) {
                Ok(_) => Err("application data was accepted as a PublicMessage".into()),
                Err(_) => Ok(None),
            };
        }
        let pm = public_of(&hex_field(v, &format!("{kind}_pub"))?)?;
        let ac = pm
            .unprotect(p, &self.gc, &self.membership_key, &self.sig_pub)
            .map_err(e("unprotect pub"))?;
        check_eq(
            &format!("{kind}_pub content"),
            &body_bytes(&ac.content.content)?,
            raw,
        )?;
        let confirmation_tag = ac.auth.confirmation_tag.clone();
        let ours = PublicMessage::protect(
            p,
            framed.clone(),
            &self.sig_priv,
            &self.gc,
            &self.membership_key,
            confirmation_tag.clone(),
        )
        .map_err(e("protect pub"))?;
        let msg = MlsMessage {
            body: MlsMessageBody::PublicMessage(Box::new(ours)),
        };
        let back = public_of(&msg.to_bytes().map_err(e("encode"))?)?;
        let ac = back
            .unprotect(p, &self.gc, &self.membership_key, &self.sig_pub)
            .map_err(e("unprotect own pub"))?;
        if ac.content != *framed {
            return Err(format!("{kind}: own PublicMessage content differs"));
        }
        Ok(confirmation_tag)
    }

    /// The vector's PrivateMessage decrypts and ours round-trips.
    fn private(
        &self,
        v: &Value,
        kind: &str,
        raw: &[u8],
        framed: &FramedContent,
        confirmation_tag: Option<Vec<u8>>,
    ) -> Result<(), String> {
        let p = &self.p;
        let pm = private_of(&hex_field(v, &format!("{kind}_priv"))?)?;
        let tree = self.new_tree()?;
        let (ac, _) = pm
            .unprotect(p, &self.gc, &tree, &self.sender_data_secret, |l| {
                self.key_of(l)
            })
            .map_err(e("unprotect priv"))?;
        check_eq(
            &format!("{kind}_priv content"),
            &body_bytes(&ac.content.content)?,
            raw,
        )?;
        let mut send_tree = self.new_tree()?;
        let ours = PrivateMessage::protect(
            p,
            framed,
            &self.sig_priv,
            &self.gc,
            &mut send_tree,
            &self.sender_data_secret,
            confirmation_tag,
            7,
        )
        .map_err(e("protect priv"))?;
        let msg = MlsMessage {
            body: MlsMessageBody::PrivateMessage(Box::new(ours)),
        };
        let back = private_of(&msg.to_bytes().map_err(e("encode"))?)?;
        let recv_tree = self.new_tree()?;
        let (ac, _) = back
            .unprotect(p, &self.gc, &recv_tree, &self.sender_data_secret, |l| {
                self.key_of(l)
            })
            .map_err(e("unprotect own priv"))?;
        if ac.content != *framed {
            return Err(format!("{kind}: own PrivateMessage content differs"));
        }
        Ok(())
    }
}

fn body_bytes(c: &Content) -> Result<Vec<u8>, String> {
    let mut w = Writer::new();
    match c {
        Content::Application(d) => w.bytes(d),
        _ => c.write_body(&mut w).map_err(e("encode content"))?,
    }
    Ok(w.into_bytes())
}

fn public_of(bytes: &[u8]) -> Result<PublicMessage, String> {
    match MlsMessage::from_bytes(bytes)
        .map_err(e("decode MLSMessage"))?
        .body
    {
        MlsMessageBody::PublicMessage(m) => Ok(*m),
        _ => Err("not a PublicMessage".into()),
    }
}

fn private_of(bytes: &[u8]) -> Result<PrivateMessage, String> {
    match MlsMessage::from_bytes(bytes)
        .map_err(e("decode MLSMessage"))?
        .body
    {
        MlsMessageBody::PrivateMessage(m) => Ok(*m),
        _ => Err("not a PrivateMessage".into()),
    }
}

/// The content of `kind` from its raw encoding in the vector.
fn content_of(kind: &str, raw: &[u8]) -> Result<Content, String> {
    Ok(match kind {
        "proposal" => {
            let mut r = Reader::new(raw);
            let c =
                Content::Proposal(crate::framing::Proposal::decode(&mut r).map_err(e("proposal"))?);
            r.finish().map_err(e("proposal"))?;
            c
        }
        "commit" => {
            let mut r = Reader::new(raw);
            let c = Content::Commit(Box::new(
                crate::framing::Commit::decode(&mut r).map_err(e("commit"))?,
            ));
            r.finish().map_err(e("commit"))?;
            c
        }
        _ => Content::Application(raw.to_vec()),
    })
}

pub(super) fn message_protection(v: &Value) -> Result<(), String> {
    let t = Protection {
        p: RustCryptoSuite1::new(),
        gc: GroupContext {
            version: 1,
            cipher_suite: CipherSuite(1),
            group_id: hex_field(v, "group_id")?.into(),
            epoch: u64_field(v, "epoch")?,
            tree_hash: hex_field(v, "tree_hash")?,
            confirmed_transcript_hash: hex_field(v, "confirmed_transcript_hash")?,
            extensions: vec![],
        },
        sig_priv: SignatureSecretKey::from_slice(&hex_field(v, "signature_priv")?)
            .map_err(e("signature_priv"))?,
        sig_pub: hex_field(v, "signature_pub")?,
        encryption_secret: hex_field(v, "encryption_secret")?,
        sender_data_secret: Secret::new(hex_field(v, "sender_data_secret")?),
        membership_key: Secret::new(hex_field(v, "membership_key")?),
    };
    for kind in ["proposal", "commit", "application"] {
        let raw = hex_field(v, kind)?;
        let content = content_of(kind, &raw)?;
        check_eq(&format!("{kind} re-encoded"), &body_bytes(&content)?, &raw)?;
        let framed = FramedContent {
            group_id: t.gc.group_id.as_bytes().to_vec(),
            epoch: t.gc.epoch,
            sender: Sender::Member(1),
            authenticated_data: vec![],
            content,
        };
        let confirmation_tag = t.public(v, kind, &raw, &framed)?;
        t.private(v, kind, &raw, &framed, confirmation_tag)?;
    }
    Ok(())
}

// ----- welcome -----

pub(super) fn welcome(v: &Value) -> Result<(), String> {
    use crate::framing::{MlsMessage, MlsMessageBody};
    use nipee_codec::Encode;
    let p = RustCryptoSuite1::new();
    let kp = match MlsMessage::from_bytes(&hex_field(v, "key_package")?)
        .map_err(e("key_package"))?
        .body
    {
        MlsMessageBody::KeyPackage(kp) => kp,
        _ => return Err("key_package is not a KeyPackage".into()),
    };
    let kp_ref = crypto::key_package_ref(&p, &kp.to_bytes().map_err(e("encode key package"))?)
        .map_err(e("KeyPackageRef"))?;
    let w = match MlsMessage::from_bytes(&hex_field(v, "welcome")?)
        .map_err(e("welcome"))?
        .body
    {
        MlsMessageBody::Welcome(w) => w,
        _ => return Err("welcome is not a Welcome".into()),
    };
    let init_priv = HpkePrivateKey::new(hex_field(v, "init_priv")?);
    let gs = w
        .decrypt_group_secrets(&p, &kp_ref, &init_priv)
        .map_err(e("group secrets"))?;
    let ws = schedule::welcome_secret(&p, &gs.joiner_secret, None).map_err(e("welcome secret"))?;
    let gi = w.decrypt_group_info(&p, &ws).map_err(e("group info"))?;
    gi.verify(&p, &hex_field(v, "signer_pub")?)
        .map_err(e("group info signature"))?;
    let gc = gi.group_context.encode().map_err(e("group context"))?;
    let secrets = EpochSecrets::from_joiner_secret(&p, gs.joiner_secret, None, &gc)
        .map_err(e("key schedule"))?;
    gi.verify_confirmation_tag(&p, &secrets.confirmation_key)
        .map_err(e("confirmation tag"))
}

// ----- deserialization -----

pub(super) fn deserialization(v: &Value) -> Result<(), String> {
    let header = hex_field(v, "vlbytes_header")?;
    let (len, rest) =
        nipee_codec::varint::read_varint("vlbytes_header", &header).map_err(e("header"))?;
    if !rest.is_empty() {
        return Err("trailing bytes after the header".into());
    }
    let want = u64_field(v, "length")?;
    if len != want {
        return Err(format!("length: got {len}, want {want}"));
    }
    Ok(())
}
