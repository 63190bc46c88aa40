//! A suite-0x0001 provider that records every random output (as the interop generator's
//! hook did: a committer's fresh leaf key and path secret are among them), and can draw
//! them from a seeded generator instead of the operating system, so that everything a
//! group chooses at random (keys, path secrets, GREASE) repeats under the same seed. The
//! HPKE encryptions inside `RustCryptoSuite1` still draw their own ephemeral keys.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::cell::RefCell;
use std::rc::Rc;

use nipee_mls::{
    CipherSuite, CryptoProvider, GroupProvider, HpkeCiphertext, HpkePrivateKey, RustCryptoSuite1,
    Secret, SignatureSecretKey,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Suite 0x0001 that records every random output, as the interop generator's hook did: the
/// committer's fresh leaf key and path secret are among them.
#[derive(Clone)]
pub struct Recording {
    pub inner: RustCryptoSuite1,
    pub randoms: Rc<RefCell<Vec<Vec<u8>>>>,
    /// Draws random outputs from this generator (shared by clones) instead of the OS.
    pub seeded: Option<Rc<RefCell<StdRng>>>,
}

impl Recording {
    /// Records the operating system's randomness.
    pub fn new() -> Self {
        Recording {
            inner: RustCryptoSuite1::new(),
            randoms: Rc::default(),
            seeded: None,
        }
    }

    /// Draws (and records) randomness from a generator seeded with `seed`.
    pub fn seeded(seed: u64) -> Self {
        Recording {
            seeded: Some(Rc::new(RefCell::new(StdRng::seed_from_u64(seed)))),
            ..Recording::new()
        }
    }
}

impl CryptoProvider for Recording {
    fn cipher_suite(&self) -> CipherSuite {
        self.inner.cipher_suite()
    }
    fn hash_len(&self) -> usize {
        self.inner.hash_len()
    }
    fn aead_key_len(&self) -> usize {
        self.inner.aead_key_len()
    }
    fn aead_nonce_len(&self) -> usize {
        self.inner.aead_nonce_len()
    }
    fn hash(&self, data: &[u8]) -> Vec<u8> {
        self.inner.hash(data)
    }
    fn mac(&self, key: &[u8], data: &[u8]) -> nipee_mls::Result<Vec<u8>> {
        self.inner.mac(key, data)
    }
    fn kdf_extract(&self, salt: &[u8], ikm: &[u8]) -> nipee_mls::Result<Secret> {
        self.inner.kdf_extract(salt, ikm)
    }
    fn kdf_expand(&self, prk: &[u8], info: &[u8], length: usize) -> nipee_mls::Result<Secret> {
        self.inner.kdf_expand(prk, info, length)
    }
    fn aead_seal(
        &self,
        key: &[u8],
        nonce: &[u8],
        aad: &[u8],
        plaintext: &[u8],
    ) -> nipee_mls::Result<Vec<u8>> {
        self.inner.aead_seal(key, nonce, aad, plaintext)
    }
    fn aead_open(
        &self,
        key: &[u8],
        nonce: &[u8],
        aad: &[u8],
        ciphertext: &[u8],
        what: &'static str,
    ) -> nipee_mls::Result<Vec<u8>> {
        self.inner.aead_open(key, nonce, aad, ciphertext, what)
    }
    fn hpke_seal(
        &self,
        public_key: &[u8],
        info: &[u8],
        aad: &[u8],
        plaintext: &[u8],
    ) -> nipee_mls::Result<HpkeCiphertext> {
        self.inner.hpke_seal(public_key, info, aad, plaintext)
    }
    fn hpke_open(
        &self,
        private_key: &HpkePrivateKey,
        kem_output: &[u8],
        info: &[u8],
        aad: &[u8],
        ciphertext: &[u8],
    ) -> nipee_mls::Result<Vec<u8>> {
        self.inner
            .hpke_open(private_key, kem_output, info, aad, ciphertext)
    }
    fn hpke_derive_key_pair(&self, ikm: &[u8]) -> nipee_mls::Result<(HpkePrivateKey, Vec<u8>)> {
        self.inner.hpke_derive_key_pair(ikm)
    }
    fn hpke_public_key(&self, private_key: &HpkePrivateKey) -> nipee_mls::Result<Vec<u8>> {
        self.inner.hpke_public_key(private_key)
    }
    fn hpke_generate_key_pair(&self) -> nipee_mls::Result<(HpkePrivateKey, Vec<u8>)> {
        let mut ikm = [0u8; 32];
        self.random_fill(&mut ikm)?;
        self.hpke_derive_key_pair(&ikm)
    }
    fn sign(&self, private_key: &SignatureSecretKey, message: &[u8]) -> nipee_mls::Result<Vec<u8>> {
        self.inner.sign(private_key, message)
    }
    fn verify(
        &self,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
        what: &'static str,
    ) -> nipee_mls::Result<()> {
        self.inner.verify(public_key, message, signature, what)
    }
    fn signature_public_key(&self, private_key: &SignatureSecretKey) -> nipee_mls::Result<Vec<u8>> {
        self.inner.signature_public_key(private_key)
    }
    fn signature_generate_key_pair(&self) -> nipee_mls::Result<(SignatureSecretKey, Vec<u8>)> {
        // Drawn through the recorded randomness, like the HPKE keys.
        let mut seed = [0u8; 32];
        self.random_fill(&mut seed)?;
        let sk = SignatureSecretKey::from_bytes(seed);
        let pk = sk.public_key().to_vec();
        Ok((sk, pk))
    }
    fn random_fill(&self, out: &mut [u8]) -> nipee_mls::Result<()> {
        match &self.seeded {
            Some(rng) => rng.borrow_mut().fill_bytes(out),
            None => self.inner.random_fill(out)?,
        }
        self.randoms.borrow_mut().push(out.to_vec());
        Ok(())
    }
}

impl GroupProvider for Recording {
    fn hpke_export_sender(
        &self,
        public_key: &[u8],
        info: &[u8],
        exporter_context: &[u8],
        length: usize,
    ) -> nipee_mls::Result<(Vec<u8>, Secret)> {
        self.inner
            .hpke_export_sender(public_key, info, exporter_context, length)
    }
    fn hpke_export_receiver(
        &self,
        private_key: &HpkePrivateKey,
        kem_output: &[u8],
        info: &[u8],
        exporter_context: &[u8],
        length: usize,
    ) -> nipee_mls::Result<Secret> {
        self.inner
            .hpke_export_receiver(private_key, kem_output, info, exporter_context, length)
    }
    fn hpke_info_hash(&self, info: &[u8]) -> Vec<u8> {
        self.inner.hpke_info_hash(info)
    }
    fn hpke_seal_prehashed(
        &self,
        public_key: &[u8],
        info_hash: &[u8],
        aad: &[u8],
        plaintext: &[u8],
    ) -> nipee_mls::Result<HpkeCiphertext> {
        self.inner
            .hpke_seal_prehashed(public_key, info_hash, aad, plaintext)
    }
}
