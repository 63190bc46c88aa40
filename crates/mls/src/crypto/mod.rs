//! Cryptographic dependencies (RFC 9420 §5): the [`CryptoProvider`] trait, the cipher suite
//! 0x0001 implementation on RustCrypto and hpke-rs, and the labelled operations built on any
//! provider (ExpandWithLabel, DeriveSecret, DeriveTreeSecret, RefHash, SignWithLabel,
//! VerifyWithLabel, EncryptWithLabel, DecryptWithLabel, KeyPackageRef, ProposalRef).

pub(crate) mod hpke;
mod labeled;
mod provider;
mod secret;
mod suite1;

pub(crate) use labeled::sign_content;
pub use labeled::{
    decrypt_with_label, derive_secret, derive_tree_secret, expand_with_label, key_package_ref,
    proposal_ref, sign_with_label, verify_with_label,
};
#[cfg(feature = "hazmat")]
pub use labeled::{encrypt_with_label, ref_hash};
pub use nipee_keypackage::SignatureSecretKey;
pub use provider::{GroupProvider, SealJob};
pub use secret::{HpkePrivateKey, Secret, ct_eq};
pub use suite1::RustCryptoSuite1;

use crate::error::Result;

/// An MLS cipher suite identifier (RFC 9420 §17.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CipherSuite(pub u16);

impl CipherSuite {
    /// MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519.
    pub const MLS_128_DHKEMX25519_AES128GCM_SHA256_ED25519: CipherSuite = CipherSuite(0x0001);
}

/// The result of an HPKE seal: the KEM output (`enc`) and the AEAD ciphertext.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HpkeCiphertext {
    /// The encapsulated key.
    pub kem_output: Vec<u8>,
    /// The ciphertext.
    pub ciphertext: Vec<u8>,
}

/// The primitives of one cipher suite. Everything else in the crate is written against this
/// trait, so adding a suite means adding an implementation, not touching protocol code.
///
/// Keys are passed as serialized bytes in the formats RFC 9420 uses on the wire; an
/// implementation checks their lengths and validity and returns typed errors.
pub trait CryptoProvider {
    /// The suite this provider implements.
    fn cipher_suite(&self) -> CipherSuite;
    /// `Nh`: the output length of the hash and KDF.
    fn hash_len(&self) -> usize;
    /// `Nk`: the AEAD key length.
    fn aead_key_len(&self) -> usize;
    /// `Nn`: the AEAD nonce length.
    fn aead_nonce_len(&self) -> usize;

    /// The suite's hash function.
    fn hash(&self, data: &[u8]) -> Vec<u8>;
    /// HMAC with the suite's hash (`MAC(key, data)`).
    fn mac(&self, key: &[u8], data: &[u8]) -> Result<Vec<u8>>;
    /// `KDF.Extract(salt, ikm)`.
    fn kdf_extract(&self, salt: &[u8], ikm: &[u8]) -> Result<Secret>;
    /// `KDF.Expand(prk, info, length)`.
    fn kdf_expand(&self, prk: &[u8], info: &[u8], length: usize) -> Result<Secret>;

    /// AEAD encryption.
    fn aead_seal(&self, key: &[u8], nonce: &[u8], aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>>;
    /// AEAD decryption; [`crate::Error::DecryptionFailed`] naming `what` on failure.
    fn aead_open(
        &self,
        key: &[u8],
        nonce: &[u8],
        aad: &[u8],
        ciphertext: &[u8],
        what: &'static str,
    ) -> Result<Vec<u8>>;

    /// HPKE single-shot seal in base mode (RFC 9180 §6.1).
    fn hpke_seal(
        &self,
        public_key: &[u8],
        info: &[u8],
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<HpkeCiphertext>;
    /// HPKE single-shot open in base mode.
    fn hpke_open(
        &self,
        private_key: &HpkePrivateKey,
        kem_output: &[u8],
        info: &[u8],
        aad: &[u8],
        ciphertext: &[u8],
    ) -> Result<Vec<u8>>;
    /// [`CryptoProvider::hpke_open`] when the recipient's public key is known (a tree node's
    /// key), which spares computing it from the private key. A public key that does not
    /// belong to `private_key` makes the open fail. The default ignores `public_key`.
    fn hpke_open_with_public_key(
        &self,
        private_key: &HpkePrivateKey,
        public_key: &[u8],
        kem_output: &[u8],
        info: &[u8],
        aad: &[u8],
        ciphertext: &[u8],
    ) -> Result<Vec<u8>> {
        let _ = public_key;
        self.hpke_open(private_key, kem_output, info, aad, ciphertext)
    }
    /// `KEM.DeriveKeyPair(ikm)`: the private key and the serialized public key.
    fn hpke_derive_key_pair(&self, ikm: &[u8]) -> Result<(HpkePrivateKey, Vec<u8>)>;
    /// The serialized public key of an HPKE private key.
    fn hpke_public_key(&self, private_key: &HpkePrivateKey) -> Result<Vec<u8>>;
    /// A fresh random HPKE key pair.
    fn hpke_generate_key_pair(&self) -> Result<(HpkePrivateKey, Vec<u8>)>;

    /// Signs `message` (the suite's signature scheme, no pre-hashing for Ed25519).
    fn sign(&self, private_key: &SignatureSecretKey, message: &[u8]) -> Result<Vec<u8>>;
    /// Verifies `signature` over `message`; [`crate::Error::BadSignature`] naming `what`.
    fn verify(
        &self,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
        what: &'static str,
    ) -> Result<()>;
    /// Verifies many signatures at once; fails if any fails. The default verifies one by one;
    /// a provider may batch (Ed25519 batch verification is about twice as fast).
    fn verify_many(
        &self,
        messages: &[&[u8]],
        signatures: &[&[u8]],
        public_keys: &[&[u8]],
        what: &'static str,
    ) -> Result<()> {
        if messages.len() != signatures.len() || messages.len() != public_keys.len() {
            return Err(crate::Error::Misuse(
                "verify_many: slices of different lengths",
            ));
        }
        for ((m, s), k) in messages.iter().zip(signatures).zip(public_keys) {
            self.verify(k, m, s, what)?;
        }
        Ok(())
    }
    /// The public key of a signature private key.
    fn signature_public_key(&self, private_key: &SignatureSecretKey) -> Result<Vec<u8>>;
    /// A fresh random signature key pair.
    fn signature_generate_key_pair(&self) -> Result<(SignatureSecretKey, Vec<u8>)>;

    /// Fills `out` with cryptographically secure random bytes.
    fn random_fill(&self, out: &mut [u8]) -> Result<()>;
}
