//! The labelled operations of RFC 9420 §5.1–§5.3, built on any [`CryptoProvider`].

use nipee_codec::Writer;

use super::{CryptoProvider, HpkePrivateKey, Secret, SignatureSecretKey};
use crate::error::{Error, Result};

const LABEL_PREFIX: &[u8] = b"MLS 1.0 ";

fn prefixed(label: &[u8]) -> Vec<u8> {
    let mut full = Vec::with_capacity(LABEL_PREFIX.len() + label.len());
    full.extend_from_slice(LABEL_PREFIX);
    full.extend_from_slice(label);
    full
}

/// `struct { opaque label<V>; opaque content<V>; }` with the "MLS 1.0 " prefix on the label:
/// the shape shared by KDFLabel (after its length), SignContent and EncryptContext.
fn label_and_content(w: &mut Writer, label: &[u8], content: &[u8]) -> Result<()> {
    w.vl_bytes("label", &prefixed(label))?;
    w.vl_bytes("content", content)?;
    Ok(())
}

/// `ExpandWithLabel(Secret, Label, Context, Length)` (§8).
///
/// # Errors
/// [`Error::LengthTooLarge`] when `length` exceeds what the KDF (or a uint16) can produce.
pub fn expand_with_label<P: CryptoProvider + ?Sized>(
    p: &P,
    secret: &[u8],
    label: &[u8],
    context: &[u8],
    length: usize,
) -> Result<Secret> {
    let len16 = u16::try_from(length).map_err(|_| Error::LengthTooLarge {
        what: "ExpandWithLabel",
        requested: length,
        max: usize::from(u16::MAX),
    })?;
    let mut w = Writer::with_capacity(4 + LABEL_PREFIX.len() + label.len() + context.len());
    w.u16(len16);
    label_and_content(&mut w, label, context)?;
    p.kdf_expand(secret, w.as_bytes(), length)
}

/// `DeriveSecret(Secret, Label) = ExpandWithLabel(Secret, Label, "", Nh)`.
///
/// # Errors
/// Those of [`expand_with_label`].
pub fn derive_secret<P: CryptoProvider + ?Sized>(
    p: &P,
    secret: &[u8],
    label: &[u8],
) -> Result<Secret> {
    expand_with_label(p, secret, label, &[], p.hash_len())
}

/// `DeriveTreeSecret(Secret, Label, Generation, Length)` (§9).
///
/// # Errors
/// Those of [`expand_with_label`].
pub fn derive_tree_secret<P: CryptoProvider + ?Sized>(
    p: &P,
    secret: &[u8],
    label: &[u8],
    generation: u32,
    length: usize,
) -> Result<Secret> {
    expand_with_label(p, secret, label, &generation.to_be_bytes(), length)
}

/// `RefHash(label, value) = Hash(RefHashInput)` (§5.2). `label` is used as given (the RFC's
/// labels already carry the "MLS 1.0 " prefix).
///
/// # Errors
/// Only for inputs longer than a vector can encode.
pub fn ref_hash<P: CryptoProvider + ?Sized>(p: &P, label: &[u8], value: &[u8]) -> Result<Vec<u8>> {
    let mut w = Writer::with_capacity(label.len() + value.len() + 8);
    w.vl_bytes("label", label)?;
    w.vl_bytes("value", value)?;
    Ok(p.hash(w.as_bytes()))
}

/// `KeyPackageRef = RefHash("MLS 1.0 KeyPackage Reference", KeyPackage)` over the encoded
/// KeyPackage.
///
/// # Errors
/// As [`ref_hash`].
pub fn key_package_ref<P: CryptoProvider + ?Sized>(p: &P, key_package: &[u8]) -> Result<Vec<u8>> {
    ref_hash(p, b"MLS 1.0 KeyPackage Reference", key_package)
}

/// `ProposalRef = RefHash("MLS 1.0 Proposal Reference", AuthenticatedContent)` over the
/// encoded AuthenticatedContent that carried the proposal.
///
/// # Errors
/// As [`ref_hash`].
pub fn proposal_ref<P: CryptoProvider + ?Sized>(
    p: &P,
    authenticated_content: &[u8],
) -> Result<Vec<u8>> {
    ref_hash(p, b"MLS 1.0 Proposal Reference", authenticated_content)
}

/// The encoded `SignContent` (label with the "MLS 1.0 " prefix, content) that
/// SignWithLabel signs.
pub(crate) fn sign_content(label: &[u8], content: &[u8]) -> Result<Vec<u8>> {
    let mut w = Writer::with_capacity(content.len() + label.len() + 16);
    label_and_content(&mut w, label, content)?;
    Ok(w.into_bytes())
}

/// `SignWithLabel(SignatureKey, Label, Content)` (§5.1.2).
///
/// # Errors
/// A malformed private key.
pub fn sign_with_label<P: CryptoProvider + ?Sized>(
    p: &P,
    key: &SignatureSecretKey,
    label: &[u8],
    content: &[u8],
) -> Result<Vec<u8>> {
    p.sign(key, &sign_content(label, content)?)
}

/// `VerifyWithLabel(VerificationKey, Label, Content, SignatureValue)` (§5.1.2).
///
/// # Errors
/// [`Error::BadSignature`] naming `what`, or a malformed key.
pub fn verify_with_label<P: CryptoProvider + ?Sized>(
    p: &P,
    public_key: &[u8],
    label: &[u8],
    content: &[u8],
    signature: &[u8],
    what: &'static str,
) -> Result<()> {
    p.verify(public_key, &sign_content(label, content)?, signature, what)
}

/// `EncryptWithLabel(PublicKey, Label, Context, Plaintext)` (§5.1.3): HPKE base-mode seal with
/// `EncryptContext` as `info` and an empty `aad`.
///
/// # Errors
/// A malformed public key, or a randomness failure.
#[cfg(feature = "hazmat")]
pub fn encrypt_with_label<P: CryptoProvider + ?Sized>(
    p: &P,
    public_key: &[u8],
    label: &[u8],
    context: &[u8],
    plaintext: &[u8],
) -> Result<super::HpkeCiphertext> {
    p.hpke_seal(public_key, &sign_content(label, context)?, &[], plaintext)
}

/// `DecryptWithLabel(PrivateKey, Label, Context, KEMOutput, Ciphertext)` (§5.1.3).
///
/// # Errors
/// [`Error::HpkeDecryptionFailed`].
pub fn decrypt_with_label<P: CryptoProvider + ?Sized>(
    p: &P,
    private_key: &HpkePrivateKey,
    label: &[u8],
    context: &[u8],
    kem_output: &[u8],
    ciphertext: &[u8],
) -> Result<Vec<u8>> {
    p.hpke_open(
        private_key,
        kem_output,
        &sign_content(label, context)?,
        &[],
        ciphertext,
    )
}
