use nipee_codec::Writer;

use crate::crypto::{CryptoProvider, Secret, ct_eq};
use crate::error::{Error, Result};

/// `confirmed_transcript_hash = Hash(interim_transcript_hash_before ||
/// ConfirmedTranscriptHashInput)` (§8.2). `confirmed_input` is the encoded
/// `ConfirmedTranscriptHashInput` (wire format, FramedContent, signature) of the commit.
pub fn confirmed_transcript_hash<P: CryptoProvider + ?Sized>(
    p: &P,
    interim_transcript_hash_before: &[u8],
    confirmed_input: &[u8],
) -> Vec<u8> {
    let mut buf = Vec::with_capacity(interim_transcript_hash_before.len() + confirmed_input.len());
    buf.extend_from_slice(interim_transcript_hash_before);
    buf.extend_from_slice(confirmed_input);
    p.hash(&buf)
}

/// `interim_transcript_hash = Hash(confirmed_transcript_hash || InterimTranscriptHashInput)`
/// where the input is the commit's `confirmation_tag` as `opaque<V>`.
///
/// # Errors
/// Only for a tag too long to encode.
pub fn interim_transcript_hash<P: CryptoProvider + ?Sized>(
    p: &P,
    confirmed_transcript_hash: &[u8],
    confirmation_tag: &[u8],
) -> Result<Vec<u8>> {
    let mut w = Writer::with_capacity(confirmed_transcript_hash.len() + confirmation_tag.len() + 2);
    w.bytes(confirmed_transcript_hash);
    w.vl_bytes("confirmation_tag", confirmation_tag)?;
    Ok(p.hash(w.as_bytes()))
}

/// `confirmation_tag = MAC(confirmation_key, confirmed_transcript_hash)` (§8.1).
///
/// # Errors
/// A MAC failure.
pub fn confirmation_tag<P: CryptoProvider + ?Sized>(
    p: &P,
    confirmation_key: &Secret,
    confirmed_transcript_hash: &[u8],
) -> Result<Vec<u8>> {
    p.mac(confirmation_key.as_bytes(), confirmed_transcript_hash)
}

/// Checks a received confirmation tag in constant time.
///
/// # Errors
/// [`Error::BadConfirmationTag`].
pub fn verify_confirmation_tag<P: CryptoProvider + ?Sized>(
    p: &P,
    confirmation_key: &Secret,
    confirmed_transcript_hash: &[u8],
    tag: &[u8],
) -> Result<()> {
    let expected = confirmation_tag(p, confirmation_key, confirmed_transcript_hash)?;
    if ct_eq(&expected, tag) {
        Ok(())
    } else {
        Err(Error::BadConfirmationTag)
    }
}
