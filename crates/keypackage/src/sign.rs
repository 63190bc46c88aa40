//! `SignWithLabel` / `VerifyWithLabel` (RFC 9420 §5.1.2) for Ed25519, and
//! `RefHash` (§5.2) for SHA-256.

use nipee_codec::Writer;
use sha2::{Digest, Sha256};

use crate::Error;
use crate::keys::SignatureSecretKey;

/// The prefix every MLS 1.0 label carries.
const LABEL_PREFIX: &[u8] = b"MLS 1.0 ";

/// The encoded `SignContent { opaque label<V>; opaque content<V>; }` with
/// `label = "MLS 1.0 " + label`: the bytes Ed25519 actually signs.
///
/// # Errors
/// [`Error::Codec`] when `content` is too long for an MLS vector.
pub fn sign_content(label: &str, content: &[u8]) -> Result<Vec<u8>, Error> {
    let mut full_label = Vec::with_capacity(LABEL_PREFIX.len() + label.len());
    full_label.extend_from_slice(LABEL_PREFIX);
    full_label.extend_from_slice(label.as_bytes());
    let mut w = Writer::with_capacity(full_label.len() + content.len() + 8);
    w.vl_bytes("label", &full_label)?;
    w.vl_bytes("content", content)?;
    Ok(w.into_bytes())
}

/// `SignWithLabel(key, label, content)`: an Ed25519 signature over
/// [`sign_content`].
///
/// # Errors
/// As [`sign_content`].
pub fn sign_with_label(
    key: &SignatureSecretKey,
    label: &str,
    content: &[u8],
) -> Result<[u8; 64], Error> {
    Ok(key.sign(&sign_content(label, content)?))
}

/// `VerifyWithLabel(public_key, label, content, signature)`, using strict
/// Ed25519 verification (`verify_strict`: no small-order keys, canonical `S`),
/// as OpenMLS does.
///
/// # Errors
/// [`Error::InvalidSignatureKey`] when `public_key` is not a valid point,
/// [`Error::InvalidSignature`] when the signature does not verify.
pub fn verify_with_label(
    public_key: &[u8; 32],
    label: &str,
    content: &[u8],
    signature: &[u8; 64],
) -> Result<(), Error> {
    let key = ed25519_dalek::VerifyingKey::from_bytes(public_key)
        .map_err(|_| Error::InvalidSignatureKey)?;
    let signature = ed25519_dalek::Signature::from_bytes(signature);
    key.verify_strict(&sign_content(label, content)?, &signature)
        .map_err(|_| Error::InvalidSignature {
            label: label.to_owned(),
        })
}

/// `RefHash(label, value) = SHA-256(RefHashInput { label<V>, value<V> })`.
///
/// # Errors
/// [`Error::Codec`] when an input is too long for an MLS vector.
pub fn ref_hash(label: &[u8], value: &[u8]) -> Result<[u8; 32], Error> {
    let mut w = Writer::with_capacity(label.len() + value.len() + 8);
    w.vl_bytes("label", label)?;
    w.vl_bytes("value", value)?;
    Ok(Sha256::digest(w.as_bytes()).into())
}
