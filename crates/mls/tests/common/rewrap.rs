//! Changing what a Welcome carries, as its sender could have: open it with a joiner's
//! keys, edit the GroupInfo, re-sign it (when the signer's key is known), encrypt it again
//! and seal every joiner's GroupSecrets to the new ciphertext. For tests that put GREASE
//! where a receiver must ignore it, and where it must not.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use nipee_codec::Encode as _;
use nipee_mls::hazmat::crypto::{decrypt_with_label, encrypt_with_label, key_package_ref};
use nipee_mls::hazmat::framing::{MlsMessage, MlsMessageBody};
use nipee_mls::hazmat::schedule::{Psk, psk_secret, welcome_secret};
use nipee_mls::hazmat::welcome::{EncryptedGroupSecrets, GroupInfo, GroupSecrets, Welcome};
use nipee_mls::{
    HpkePrivateKey, JoinKeys, PreSharedKeyId, RustCryptoSuite1, Secret, SignatureSecretKey,
};

/// What opens a Welcome entry: the joiner's KeyPackage and init private key.
pub struct Opener<'a> {
    pub key_package: &'a nipee_keypackage::KeyPackage,
    pub init_secret: &'a HpkePrivateKey,
}

impl<'a> From<&'a JoinKeys> for Opener<'a> {
    fn from(k: &'a JoinKeys) -> Self {
        Opener {
            key_package: &k.key_package,
            init_secret: &k.init_secret,
        }
    }
}

fn welcome_of(bytes: &[u8]) -> Welcome {
    match MlsMessage::from_bytes(bytes).unwrap().body {
        MlsMessageBody::Welcome(w) => w,
        other => panic!("not a Welcome: {other:?}"),
    }
}

fn entry<'w>(w: &'w Welcome, o: &Opener<'_>) -> &'w EncryptedGroupSecrets {
    let p = RustCryptoSuite1::new();
    let r = key_package_ref(&p, &o.key_package.to_bytes().unwrap()).unwrap();
    w.secrets
        .iter()
        .find(|s| s.new_member == r)
        .expect("an entry for this joiner")
}

/// The GroupInfo of a Welcome, opened with the first joiner's keys (`external_psks` are
/// the PSKs the Welcome may name).
pub fn group_info(
    bytes: &[u8],
    opener: &Opener<'_>,
    external_psks: &[(Vec<u8>, Secret)],
) -> GroupInfo {
    let p = RustCryptoSuite1::new();
    let w = welcome_of(bytes);
    let (_, ws) = secrets(&w, opener, external_psks);
    w.decrypt_group_info(&p, &ws).unwrap()
}

fn secrets(
    w: &Welcome,
    opener: &Opener<'_>,
    external_psks: &[(Vec<u8>, Secret)],
) -> (GroupSecrets, Secret) {
    let p = RustCryptoSuite1::new();
    let r = key_package_ref(&p, &opener.key_package.to_bytes().unwrap()).unwrap();
    let gs = w.decrypt_group_secrets(&p, &r, opener.init_secret).unwrap();
    let psks: Vec<Psk> = gs
        .psks
        .iter()
        .map(|id| match id {
            PreSharedKeyId::External { psk_id, .. } => Psk {
                id: id.clone(),
                secret: external_psks
                    .iter()
                    .find(|(i, _)| i == psk_id)
                    .map(|(_, s)| s.clone())
                    .expect("the external PSK"),
            },
            PreSharedKeyId::Resumption { .. } => panic!("a resumption PSK in a Welcome"),
        })
        .collect();
    let psk = psk_secret(&p, &psks).unwrap();
    let ws = welcome_secret(&p, &gs.joiner_secret, Some(&psk)).unwrap();
    (gs, ws)
}

/// The Welcome `bytes` with its GroupInfo changed by `edit`, re-signed by `signer` (or left
/// with its old signature when `None`), encrypted again, and the GroupSecrets of every
/// joiner in `joiners` (the first one opens the Welcome) sealed to the new ciphertext.
/// Entries of other joiners are dropped.
pub fn rewrap(
    bytes: &[u8],
    joiners: &[Opener<'_>],
    external_psks: &[(Vec<u8>, Secret)],
    signer: Option<&SignatureSecretKey>,
    edit: impl FnOnce(&mut GroupInfo),
) -> Vec<u8> {
    let p = RustCryptoSuite1::new();
    let w = welcome_of(bytes);
    let (_, ws) = secrets(&w, &joiners[0], external_psks);
    let mut gi = w.decrypt_group_info(&p, &ws).unwrap();
    edit(&mut gi);
    if let Some(k) = signer {
        gi.sign(&p, k).unwrap();
    }
    let egi = Welcome::encrypt_group_info(&p, &ws, &gi).unwrap();
    let secrets = joiners
        .iter()
        .map(|o| {
            let e = entry(&w, o);
            let plain = decrypt_with_label(
                &p,
                o.init_secret,
                b"Welcome",
                &w.encrypted_group_info,
                &e.encrypted_group_secrets.kem_output,
                &e.encrypted_group_secrets.ciphertext,
            )
            .unwrap();
            EncryptedGroupSecrets {
                new_member: e.new_member.clone(),
                encrypted_group_secrets: encrypt_with_label(
                    &p,
                    &o.key_package.init_key,
                    b"Welcome",
                    &egi,
                    &plain,
                )
                .unwrap(),
            }
        })
        .collect();
    MlsMessage {
        body: MlsMessageBody::Welcome(Welcome {
            cipher_suite: w.cipher_suite,
            secrets,
            encrypted_group_info: egi,
        }),
    }
    .to_bytes()
    .unwrap()
}

fn varint(n: usize) -> Vec<u8> {
    let mut w = nipee_codec::Writer::new();
    w.vl_bytes("len", &vec![0u8; n]).unwrap();
    let mut b = w.into_bytes();
    b.truncate(b.len() - n);
    b
}

/// Where the body of a PublicMessage's content starts (after its content type byte), from
/// the fields before it: MLSMessage header, group_id, epoch, sender, authenticated_data.
fn public_body_offset(bytes: &[u8]) -> usize {
    use nipee_mls::Sender;
    let MlsMessageBody::PublicMessage(pm) = MlsMessage::from_bytes(bytes).unwrap().body else {
        panic!("not a PublicMessage");
    };
    let c = &pm.content;
    let sender = match c.sender {
        Sender::Member(_) | Sender::External(_) => 5,
        _ => 1,
    };
    4 + varint(c.group_id.len()).len()
        + c.group_id.len()
        + 8
        + sender
        + varint(c.authenticated_data.len()).len()
        + c.authenticated_data.len()
        + 1
}

/// A PublicMessage proposal (`bytes`) with its `proposal_type` replaced by `value`, or a
/// PublicMessage commit with a proposal of type `value` (and a four-byte body) put first in
/// its list by value. Nothing else changes, so the message fails where its proposal type is
/// read, before any signature.
pub fn with_proposal_type(bytes: &[u8], value: u16) -> Vec<u8> {
    use nipee_mls::ContentType;
    let at = public_body_offset(bytes);
    let mut out = bytes.to_vec();
    match content_type(bytes) {
        ContentType::Proposal => {
            out[at..at + 2].copy_from_slice(&value.to_be_bytes());
        }
        ContentType::Commit => {
            let mut r = nipee_codec::Reader::new(&bytes[at..]);
            let n = usize::try_from(r.varint("proposals").unwrap()).unwrap();
            let header = varint(n).len();
            let list = &bytes[at + header..at + header + n];
            let mut items = vec![1u8];
            items.extend_from_slice(&value.to_be_bytes());
            items.extend_from_slice(&[0, 0, 0, 1]);
            items.extend_from_slice(list);
            out.truncate(at);
            out.extend(varint(items.len()));
            out.extend(items);
            out.extend_from_slice(&bytes[at + header + list.len()..]);
        }
        ContentType::Application => panic!("not a handshake message"),
    }
    out
}

fn content_type(bytes: &[u8]) -> nipee_mls::ContentType {
    nipee_mls::MlsMessageIn::parse(bytes)
        .unwrap()
        .content_type()
        .unwrap()
}
