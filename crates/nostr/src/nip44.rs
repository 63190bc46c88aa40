//! NIP-44 version 2: secp256k1 ECDH + HKDF + ChaCha20 + HMAC-SHA256, padded, base64.
//!
//! The byte API ([`encrypt`], [`decrypt`]) carries arbitrary binary plaintexts (NIP-EE
//! encrypts MLS messages) and uses the extended 6-byte length prefix for plaintexts of
//! 65 536 bytes and more by default. The string API ([`encrypt_str`], [`decrypt_str`])
//! carries UTF-8 text and keeps the classic 65 535-byte limit unless asked otherwise, so
//! its output stays readable by implementations that predate the extended prefix.
//! Decryption accepts both prefixes.
//!
//! Derive a [`ConversationKey`] once per peer and reuse it: it is the expensive part.

use core::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chacha20::ChaCha20;
use chacha20::cipher::{KeyIvInit, StreamCipher};
use hkdf::Hkdf;
use hmac::{Hmac, KeyInit, Mac};
use rand_core::CryptoRng;
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use crate::error::{Error, Result};
use crate::keys::{PublicKey, SecretKey, os_random};

/// The only version implemented.
pub const VERSION: u8 = 2;
/// Plaintexts below this use the 2-byte prefix; at or above, the 6-byte extended prefix.
pub const EXTENDED_PREFIX_THRESHOLD: usize = 65_536;
/// Largest plaintext with the classic 2-byte prefix.
pub const MAX_CLASSIC_PLAINTEXT: usize = 65_535;
/// Largest plaintext NIP-44 v2 can express (2^32 - 1).
pub const MAX_PLAINTEXT: u64 = u32::MAX as u64;
/// Default decryption limit on the plaintext size (16 MiB); see [`decrypt_with_limit`].
pub const DEFAULT_MAX_PLAINTEXT: usize = 16 << 20;

const SALT: &[u8] = b"nip44-v2";
const MIN_B64_LEN: usize = 132;
const MIN_RAW_LEN: usize = 99;

/// Which length prefixes encryption may emit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LengthPrefix {
    /// Only the 2-byte prefix: plaintexts of 1..=65 535 bytes.
    Classic,
    /// 2-byte prefix below 65 536 bytes, 6-byte extended prefix up to 2^32 - 1 bytes.
    Extended,
}

impl LengthPrefix {
    /// The longest plaintext this prefix policy can encrypt, in bytes.
    pub fn max_plaintext(self) -> u64 {
        match self {
            LengthPrefix::Classic => MAX_CLASSIC_PLAINTEXT as u64,
            LengthPrefix::Extended => MAX_PLAINTEXT,
        }
    }

    /// "classic" or "extended".
    pub fn name(self) -> &'static str {
        match self {
            LengthPrefix::Classic => "classic",
            LengthPrefix::Extended => "extended",
        }
    }
}

/// The long-term key shared by two users: HKDF-extract over the unhashed ECDH x coordinate.
/// `derive(a, B) == derive(b, A)`. Zeroized on drop; `Debug` prints no secret.
#[derive(Clone)]
pub struct ConversationKey(Zeroizing<[u8; 32]>);

impl ConversationKey {
    /// `HKDF-extract(salt = "nip44-v2", IKM = x(a·B))`.
    ///
    /// secp256k1's `SharedSecret` hashes the point, which NIP-44 forbids; this uses the raw
    /// x coordinate.
    pub fn derive(secret: &SecretKey, public: &PublicKey) -> Self {
        let mut point =
            secp256k1::ecdh::shared_secret_point(&public.full_point(), &secret.to_secp());
        let (prk, _) = Hkdf::<Sha256>::extract(Some(SALT), point.get(..32).unwrap_or_default());
        point.zeroize();
        let mut out = Zeroizing::new([0u8; 32]);
        out.copy_from_slice(&prk);
        ConversationKey(out)
    }

    /// Wraps 32 raw bytes (e.g. from test vectors or a cache).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        ConversationKey(Zeroizing::new(bytes))
    }

    /// The raw key bytes. Handle with care.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    fn message_keys(&self, nonce: &[u8; 32]) -> Result<MessageKeys> {
        let hk = Hkdf::<Sha256>::from_prk(self.0.as_ref()).map_err(|_| Error::Misuse {
            field: "conversation key",
            reason: "must be 32 bytes",
        })?;
        let mut okm = Zeroizing::new([0u8; 76]);
        hk.expand(nonce, okm.as_mut()).map_err(|_| Error::Misuse {
            field: "message keys",
            reason: "HKDF output length",
        })?;
        let mut keys = MessageKeys {
            chacha_key: [0; 32],
            chacha_nonce: [0; 12],
            hmac_key: [0; 32],
        };
        let (a, rest) = okm.split_at(32);
        let (b, c) = rest.split_at(12);
        keys.chacha_key.copy_from_slice(a);
        keys.chacha_nonce.copy_from_slice(b);
        keys.hmac_key.copy_from_slice(c);
        Ok(keys)
    }
}

impl PartialEq for ConversationKey {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_ref().ct_eq(other.0.as_ref()).into()
    }
}
impl Eq for ConversationKey {}

impl fmt::Debug for ConversationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ConversationKey(..)")
    }
}

/// Per-message keys (exposed for the known-answer tests).
pub struct MessageKeys {
    /// ChaCha20 key.
    pub chacha_key: [u8; 32],
    /// ChaCha20 nonce.
    pub chacha_nonce: [u8; 12],
    /// HMAC-SHA256 key.
    pub hmac_key: [u8; 32],
}

impl Drop for MessageKeys {
    fn drop(&mut self) {
        self.chacha_key.zeroize();
        self.chacha_nonce.zeroize();
        self.hmac_key.zeroize();
    }
}

impl fmt::Debug for MessageKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MessageKeys(..)")
    }
}

/// `get_message_keys(conversation_key, nonce)` from the spec.
///
/// # Errors
/// Only on internal HKDF failure (cannot happen for these sizes).
pub fn message_keys(key: &ConversationKey, nonce: &[u8; 32]) -> Result<MessageKeys> {
    key.message_keys(nonce)
}

/// `calc_padded_len` from the spec, in 64-bit arithmetic. `len` must be at least 1.
pub fn calc_padded_len(len: u64) -> u64 {
    if len <= 32 {
        return 32;
    }
    let next_power = 1u64 << (64 - (len - 1).leading_zeros());
    let chunk = if next_power <= 256 {
        32
    } else {
        next_power / 8
    };
    chunk * ((len - 1) / chunk + 1)
}

fn prefix_len(len: usize) -> usize {
    if len >= EXTENDED_PREFIX_THRESHOLD {
        6
    } else {
        2
    }
}

/// Encrypts `plaintext` with a fresh nonce from `rng`, extended prefix allowed.
///
/// # Errors
/// [`Error::Misuse`] for an empty plaintext; [`Error::PlaintextTooLong`] above 2^32 - 1
/// bytes.
pub fn encrypt<R: CryptoRng + ?Sized>(
    key: &ConversationKey,
    plaintext: &[u8],
    rng: &mut R,
) -> Result<String> {
    let mut nonce = [0u8; 32];
    rng.fill_bytes(&mut nonce);
    encrypt_with_nonce(key, plaintext, &nonce, LengthPrefix::Extended)
}

/// Encrypts `plaintext` with a nonce from the operating system's RNG, extended prefix
/// allowed.
///
/// # Errors
/// As [`encrypt`], plus [`Error::Rng`].
pub fn encrypt_os(key: &ConversationKey, plaintext: &[u8]) -> Result<String> {
    let mut nonce = [0u8; 32];
    os_random(&mut nonce)?;
    encrypt_with_nonce(key, plaintext, &nonce, LengthPrefix::Extended)
}

/// Encrypts UTF-8 text with a fresh nonce from `rng`, classic prefix only (at most
/// 65 535 bytes) for compatibility with every NIP-44 v2 implementation.
///
/// # Errors
/// [`Error::Misuse`] for empty text; [`Error::PlaintextTooLong`] above 65 535 bytes.
pub fn encrypt_str<R: CryptoRng + ?Sized>(
    key: &ConversationKey,
    plaintext: &str,
    rng: &mut R,
) -> Result<String> {
    let mut nonce = [0u8; 32];
    rng.fill_bytes(&mut nonce);
    encrypt_with_nonce(key, plaintext.as_bytes(), &nonce, LengthPrefix::Classic)
}

/// Encrypts with a caller-chosen nonce (never reuse one!) and prefix policy; returns the
/// base64 payload.
///
/// # Errors
/// [`Error::Misuse`] for an empty plaintext; [`Error::PlaintextTooLong`] for one too long
/// for `prefix`.
pub fn encrypt_with_nonce(
    key: &ConversationKey,
    plaintext: &[u8],
    nonce: &[u8; 32],
    prefix: LengthPrefix,
) -> Result<String> {
    let raw = encrypt_to_bytes(key, plaintext, nonce, prefix)?;
    Ok(B64.encode(raw))
}

/// Like [`encrypt_with_nonce`] but returns the raw payload
/// `version || nonce || ciphertext || mac` without base64.
///
/// # Errors
/// As [`encrypt_with_nonce`].
pub fn encrypt_to_bytes(
    key: &ConversationKey,
    plaintext: &[u8],
    nonce: &[u8; 32],
    prefix: LengthPrefix,
) -> Result<Vec<u8>> {
    let len = plaintext.len();
    if len == 0 {
        return Err(Error::Misuse {
            field: "plaintext",
            reason: "NIP-44 plaintexts must be at least 1 byte",
        });
    }
    let max = prefix.max_plaintext();
    if len as u64 > max {
        return Err(Error::PlaintextTooLong {
            found: len,
            limit: max,
            prefix: prefix.name(),
        });
    }
    let keys = key.message_keys(nonce)?;
    let plen = prefix_len(len);
    // Bounded by 2^32 + 6 + 65 bytes; fits usize on 64-bit targets and is checked on
    // 32-bit ones.
    let padded = usize::try_from(calc_padded_len(len as u64)).map_err(|_| Error::Misuse {
        field: "plaintext",
        reason: "too long for this platform",
    })?;
    let ct_len = plen + padded;
    let mut out = Vec::with_capacity(1 + 32 + ct_len + 32);
    out.push(VERSION);
    out.extend_from_slice(nonce);
    if plen == 2 {
        // len < 65536 here.
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
    out.extend_from_slice(plaintext);
    out.resize(33 + ct_len, 0);
    if let Some(ct) = out.get_mut(33..) {
        let mut cipher = ChaCha20::new(&keys.chacha_key.into(), &keys.chacha_nonce.into());
        cipher.apply_keystream(ct);
    }
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(&keys.hmac_key).map_err(|_| Error::Misuse {
            field: "hmac key",
            reason: "length",
        })?;
    mac.update(out.get(1..).unwrap_or_default());
    let tag = mac.finalize().into_bytes();
    out.extend_from_slice(&tag);
    Ok(out)
}

/// Decrypts a base64 payload into bytes, accepting plaintexts up to
/// [`DEFAULT_MAX_PLAINTEXT`].
///
/// Checks run in the spec's order: `#`/empty → unsupported; length < 132 → malformed;
/// size limit (before decoding); base64; decoded length < 99; version; MAC (constant
/// time); padding.
///
/// # Errors
/// [`Error::UnsupportedVersion`], [`Error::Nip44Payload`], [`Error::TooLarge`],
/// [`Error::Base64`], [`Error::BadMac`], [`Error::BadPadding`].
pub fn decrypt(key: &ConversationKey, payload: &str) -> Result<Vec<u8>> {
    decrypt_with_limit(key, payload, DEFAULT_MAX_PLAINTEXT)
}

/// [`decrypt`], then UTF-8 validation.
///
/// # Errors
/// As [`decrypt`], plus [`Error::NotUtf8`].
pub fn decrypt_str(key: &ConversationKey, payload: &str) -> Result<String> {
    String::from_utf8(decrypt(key, payload)?).map_err(|_| Error::NotUtf8)
}

/// Largest base64 payload length for a plaintext limit (checked before decoding).
fn max_b64_len(max_plaintext: usize) -> usize {
    let max_pt = (max_plaintext as u64).clamp(1, MAX_PLAINTEXT);
    let raw = 1 + 32 + 6 + calc_padded_len(max_pt) + 32;
    usize::try_from(raw.div_ceil(3) * 4).unwrap_or(usize::MAX)
}

/// [`decrypt`] with an explicit plaintext size limit.
///
/// # Errors
/// As [`decrypt`].
pub fn decrypt_with_limit(
    key: &ConversationKey,
    payload: &str,
    max_plaintext: usize,
) -> Result<Vec<u8>> {
    if payload.is_empty() || payload.starts_with('#') {
        return Err(Error::UnsupportedVersion { version: None });
    }
    if payload.len() < MIN_B64_LEN {
        return Err(Error::Nip44Payload {
            reason: "base64 payload shorter than 132 characters",
        });
    }
    let limit = max_b64_len(max_plaintext);
    if payload.len() > limit {
        return Err(Error::TooLarge {
            field: "NIP-44 payload",
            limit,
            found: payload.len(),
        });
    }
    let raw = B64.decode(payload).map_err(|e| Error::Base64 {
        reason: e.to_string(),
    })?;
    decrypt_bytes_with_limit(key, &raw, max_plaintext, LengthPrefix::Extended)
}

/// Decrypts as an implementation that knows only the classic 2-byte length prefix does
/// (NIP-44 v2 as first published; rust-nostr and nostr-mls 0.43): plaintexts up to
/// 65 535 bytes, and a payload written with the extended prefix is refused. For checking
/// that what we send in classic-only mode is readable by such peers.
///
/// # Errors
/// As [`decrypt`]; [`Error::BadPadding`] for an extended length prefix.
pub fn decrypt_classic(key: &ConversationKey, payload: &str) -> Result<Vec<u8>> {
    if payload.is_empty() || payload.starts_with('#') {
        return Err(Error::UnsupportedVersion { version: None });
    }
    let limit = max_b64_len(MAX_CLASSIC_PLAINTEXT);
    if payload.len() > limit {
        return Err(Error::TooLarge {
            field: "NIP-44 payload",
            limit,
            found: payload.len(),
        });
    }
    let raw = B64.decode(payload).map_err(|e| Error::Base64 {
        reason: e.to_string(),
    })?;
    decrypt_bytes_with_limit(key, &raw, MAX_CLASSIC_PLAINTEXT, LengthPrefix::Classic)
}

/// Decrypts a raw (already base64-decoded) payload.
///
/// # Errors
/// As [`decrypt`] minus the base64 errors.
pub fn decrypt_bytes(key: &ConversationKey, raw: &[u8]) -> Result<Vec<u8>> {
    decrypt_bytes_with_limit(key, raw, DEFAULT_MAX_PLAINTEXT, LengthPrefix::Extended)
}

fn decrypt_bytes_with_limit(
    key: &ConversationKey,
    raw: &[u8],
    max_plaintext: usize,
    prefix: LengthPrefix,
) -> Result<Vec<u8>> {
    if raw.len() < MIN_RAW_LEN {
        return Err(Error::Nip44Payload {
            reason: "decoded payload shorter than 99 bytes",
        });
    }
    let (version, rest) = raw.split_first().ok_or(Error::Nip44Payload {
        reason: "empty payload",
    })?;
    if *version != VERSION {
        return Err(Error::UnsupportedVersion {
            version: Some(*version),
        });
    }
    let (nonce, rest) = rest.split_at_checked(32).ok_or(Error::Nip44Payload {
        reason: "missing nonce",
    })?;
    let ct_len = rest.len().checked_sub(32).ok_or(Error::Nip44Payload {
        reason: "missing MAC",
    })?;
    let (ciphertext, mac) = rest.split_at(ct_len);
    let nonce: &[u8; 32] = nonce.try_into().map_err(|_| Error::Nip44Payload {
        reason: "missing nonce",
    })?;
    let keys = key.message_keys(nonce)?;
    let mut h =
        <Hmac<Sha256> as KeyInit>::new_from_slice(&keys.hmac_key).map_err(|_| Error::Misuse {
            field: "hmac key",
            reason: "length",
        })?;
    h.update(nonce);
    h.update(ciphertext);
    let expected = h.finalize().into_bytes();
    if !bool::from(expected.as_slice().ct_eq(mac)) {
        return Err(Error::BadMac);
    }
    let mut buf = ciphertext.to_vec();
    let mut cipher = ChaCha20::new(&keys.chacha_key.into(), &keys.chacha_nonce.into());
    cipher.apply_keystream(&mut buf);
    match unpad(&buf, max_plaintext, prefix) {
        Ok((start, len)) => {
            // Reuse the buffer: shift the plaintext to the front, wipe the rest.
            buf.copy_within(start..start + len, 0);
            if let Some(tail) = buf.get_mut(len..) {
                tail.zeroize();
            }
            buf.truncate(len);
            Ok(buf)
        }
        Err(e) => {
            buf.zeroize();
            Err(e)
        }
    }
}

/// Checks the padding; returns the plaintext's offset and length within `padded`.
fn unpad(padded: &[u8], max_plaintext: usize, prefix: LengthPrefix) -> Result<(usize, usize)> {
    let bad = |reason| Error::BadPadding { reason };
    let (first, rest) = padded
        .split_first_chunk::<2>()
        .ok_or(bad("shorter than the length prefix"))?;
    let first = u16::from_be_bytes(*first);
    let (len, body) = if first == 0 {
        if prefix == LengthPrefix::Classic {
            return Err(bad(
                "extended length prefix, which a classic-only reader refuses",
            ));
        }
        let (l, body) = rest
            .split_first_chunk::<4>()
            .ok_or(bad("shorter than the extended length prefix"))?;
        let l = u32::from_be_bytes(*l) as usize;
        if l < EXTENDED_PREFIX_THRESHOLD {
            return Err(bad("extended prefix used for a length below 65536"));
        }
        (l, body)
    } else {
        (usize::from(first), rest)
    };
    let start = padded.len() - body.len();
    if body.len() as u64 != calc_padded_len(len as u64) {
        return Err(bad("padded length does not match the plaintext length"));
    }
    if len > max_plaintext {
        return Err(Error::TooLarge {
            field: "NIP-44 plaintext",
            limit: max_plaintext,
            found: len,
        });
    }
    if len > body.len() {
        return Err(bad("plaintext runs past the end"));
    }
    Ok((start, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padded_lengths_follow_the_spec_table_including_large_values() {
        for (n, p) in [
            (1, 32),
            (32, 32),
            (33, 64),
            (257, 320),
            (65536, 65536),
            (65537, 81920),
        ] {
            assert_eq!(calc_padded_len(n), p, "{n}");
        }
        assert_eq!(calc_padded_len(MAX_PLAINTEXT), 1 << 32);
    }

    #[test]
    fn round_trip_small_and_extended() {
        let k = ConversationKey::from_bytes([9; 32]);
        for n in [1usize, 31, 32, 33, 65535, 65536, 70000] {
            let pt = vec![0xabu8; n];
            let p = encrypt_with_nonce(&k, &pt, &[3; 32], LengthPrefix::Extended).unwrap();
            assert_eq!(decrypt(&k, &p).unwrap(), pt);
        }
        assert!(matches!(
            encrypt_with_nonce(&k, &[1; 65536], &[3; 32], LengthPrefix::Classic),
            Err(Error::PlaintextTooLong {
                found: 65536,
                limit: 65535,
                prefix: "classic"
            })
        ));
    }

    #[test]
    fn the_classic_decoder_reads_classic_payloads_and_refuses_extended_ones() {
        let k = ConversationKey::from_bytes([9; 32]);
        for n in [1usize, 300, 65_535] {
            let pt = vec![0x5au8; n];
            let p = encrypt_with_nonce(&k, &pt, &[4; 32], LengthPrefix::Classic).unwrap();
            // Below 65 536 bytes both policies write the same bytes.
            let q = encrypt_with_nonce(&k, &pt, &[4; 32], LengthPrefix::Extended).unwrap();
            assert_eq!(p, q);
            assert_eq!(decrypt_classic(&k, &p).unwrap(), pt);
        }
        let long = encrypt_with_nonce(&k, &[7; 65_536], &[4; 32], LengthPrefix::Extended).unwrap();
        assert!(decrypt_classic(&k, &long).is_err());
        assert_eq!(decrypt(&k, &long).unwrap(), vec![7; 65_536]);
    }

    #[test]
    fn extended_prefix_with_small_length_is_bad_padding() {
        let mut padded = vec![0u8, 0, 0, 0, 0, 5];
        padded.extend_from_slice(&[1; 32]);
        assert!(matches!(
            unpad(&padded, usize::MAX, LengthPrefix::Extended),
            Err(Error::BadPadding { .. })
        ));
    }
}
