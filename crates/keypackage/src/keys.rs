//! Private keys of suite 0x0001: X25519 (HPKE) and Ed25519 (signatures).
//!
//! Both types are non-`Copy`, zeroize their bytes on drop (the dalek types
//! do this with their `zeroize` feature), print no secret in `Debug`, and
//! compare in constant time.

use core::fmt;

use ed25519_dalek::Signer;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// An X25519 private key: a KeyPackage's `init_key` or a LeafNode's
/// `encryption_key` (HPKE `DHKEM(X25519, HKDF-SHA256)`).
pub struct HpkeSecretKey(x25519_dalek::StaticSecret);

impl HpkeSecretKey {
    /// The key whose `SerializePrivateKey` form is `bytes` (RFC 9180 §7.1.2).
    /// The caller's copy of `bytes` is not zeroized by this call.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        let bytes = Zeroizing::new(bytes);
        HpkeSecretKey(x25519_dalek::StaticSecret::from(*bytes))
    }

    /// A fresh key from `rng`.
    pub fn generate<R: rand_core::CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut bytes = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(bytes.as_mut_slice());
        HpkeSecretKey(x25519_dalek::StaticSecret::from(*bytes))
    }

    /// The public key, as it appears in `init_key` / `encryption_key`.
    pub fn public_key(&self) -> [u8; 32] {
        x25519_dalek::PublicKey::from(&self.0).to_bytes()
    }

    /// The serialized private key, for HPKE decryption by the MLS engine and
    /// for storage. Handle with care: copy it only into zeroizing buffers.
    pub fn expose_secret(&self) -> &[u8; 32] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for HpkeSecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HpkeSecretKey")
            .field("public_key", &Hex(&self.public_key()))
            .finish_non_exhaustive()
    }
}

impl ConstantTimeEq for HpkeSecretKey {
    fn ct_eq(&self, other: &Self) -> subtle::Choice {
        self.0.as_bytes().ct_eq(other.0.as_bytes())
    }
}

impl PartialEq for HpkeSecretKey {
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq(other).into()
    }
}

impl Eq for HpkeSecretKey {}

/// An Ed25519 private key: the signature key of a LeafNode.
///
/// The one signature private-key type of nipee: KeyPackages and LeafNodes are signed with it
/// here, and `nipee-mls`'s crypto provider signs every MLS structure through
/// [`SignatureSecretKey::sign`] too, so there is a single Ed25519 signing path. `Clone`
/// copies the key (each copy zeroizes on drop); it is never `Copy`.
#[derive(Clone)]
pub struct SignatureSecretKey(ed25519_dalek::SigningKey);

impl SignatureSecretKey {
    /// The key whose 32-byte seed is `bytes` (RFC 8032 §5.1.5).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        let bytes = Zeroizing::new(bytes);
        SignatureSecretKey(ed25519_dalek::SigningKey::from_bytes(&bytes))
    }

    /// The key whose seed is `bytes`, which must be exactly 32 bytes long (for keys read
    /// from storage or test vectors). The caller's copy is not zeroized by this call.
    ///
    /// # Errors
    /// [`nipee_codec::Error::LengthMismatch`] naming `signature_secret` for another length.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, nipee_codec::Error> {
        let seed: [u8; 32] = bytes
            .try_into()
            .map_err(|_| nipee_codec::Error::LengthMismatch {
                field: "signature_secret",
                expected: 32,
                found: bytes.len(),
            })?;
        Ok(Self::from_bytes(seed))
    }

    /// A fresh key from `rng`.
    pub fn generate<R: rand_core::CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut bytes = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(bytes.as_mut_slice());
        SignatureSecretKey(ed25519_dalek::SigningKey::from_bytes(&bytes))
    }

    /// The public key, as it appears in `signature_key`.
    pub fn public_key(&self) -> [u8; 32] {
        self.0.verifying_key().to_bytes()
    }

    /// The 32-byte seed, for storage and for the MLS engine. Handle with care.
    pub fn expose_secret(&self) -> &[u8; 32] {
        self.0.as_bytes()
    }

    /// A raw Ed25519 signature over `message` (no label: see
    /// [`crate::sign::sign_with_label`] for the MLS construction). Deterministic (RFC 8032).
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.0.sign(message).to_bytes()
    }
}

impl fmt::Debug for SignatureSecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignatureSecretKey")
            .field("public_key", &Hex(&self.public_key()))
            .finish_non_exhaustive()
    }
}

impl ConstantTimeEq for SignatureSecretKey {
    fn ct_eq(&self, other: &Self) -> subtle::Choice {
        self.0.as_bytes().ct_eq(other.0.as_bytes())
    }
}

impl PartialEq for SignatureSecretKey {
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq(other).into()
    }
}

impl Eq for SignatureSecretKey {}

/// Hex for `Debug` output of public values.
pub(crate) struct Hex<'a>(pub &'a [u8]);

impl fmt::Debug for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_prints_no_secret() {
        let secret = [0x42u8; 32];
        let hex_secret = "42".repeat(32);
        let h = format!("{:?}", HpkeSecretKey::from_bytes(secret));
        let s = format!("{:?}", SignatureSecretKey::from_bytes(secret));
        assert!(!h.contains(&hex_secret), "{h}");
        assert!(!s.contains(&hex_secret), "{s}");
        assert!(!h.contains("66, 66"), "{h}");
        assert!(h.contains("public_key"));
    }

    #[test]
    fn equality_compares_secret_bytes() {
        assert_eq!(
            SignatureSecretKey::from_bytes([1; 32]),
            SignatureSecretKey::from_bytes([1; 32])
        );
        assert_ne!(
            HpkeSecretKey::from_bytes([1; 32]),
            HpkeSecretKey::from_bytes([2; 32])
        );
    }
}
