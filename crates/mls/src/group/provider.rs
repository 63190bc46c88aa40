//! What the group state machine needs from a cipher suite beyond [`CryptoProvider`]: the
//! HPKE exporter used by external commits (§8.3, RFC 9180 §5.3).

use hpke_rs::hpke_types::{AeadAlgorithm, KdfAlgorithm, KemAlgorithm};
use hpke_rs::{Hpke, Mode};
use hpke_rs_rust_crypto::HpkeRustCrypto;

use aes_gcm::Aes128Gcm;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::crypto::{CryptoProvider, HpkeCiphertext, HpkePrivateKey, RustCryptoSuite1, Secret};
use crate::error::{Error, Result};

/// A [`CryptoProvider`] usable by [`crate::group::Group`].
pub trait GroupProvider: CryptoProvider + Clone {
    /// `SetupBaseS(public_key, info)` then `Export(exporter_context, length)`: returns the
    /// KEM output and the exported secret.
    ///
    /// # Errors
    /// A malformed public key or a randomness failure.
    fn hpke_export_sender(
        &self,
        public_key: &[u8],
        info: &[u8],
        exporter_context: &[u8],
        length: usize,
    ) -> Result<(Vec<u8>, Secret)>;

    /// `SetupBaseR(kem_output, private_key, info)` then `Export(exporter_context, length)`.
    ///
    /// # Errors
    /// A malformed KEM output or key.
    fn hpke_export_receiver(
        &self,
        private_key: &HpkePrivateKey,
        kem_output: &[u8],
        info: &[u8],
        exporter_context: &[u8],
        length: usize,
    ) -> Result<Secret>;

    /// The HPKE `info_hash` of `info` (RFC 9180 §5.1), computed once for many seals to the
    /// same `info` (a Welcome's GroupSecrets all use the encrypted GroupInfo as context, so
    /// hashing it per member would make a large Welcome quadratic).
    fn hpke_info_hash(&self, info: &[u8]) -> Vec<u8>;

    /// HPKE base-mode single-shot seal with a precomputed `info_hash`: the same ciphertext
    /// [`CryptoProvider::hpke_seal`] would produce for that `info`.
    ///
    /// # Errors
    /// A malformed public key or a randomness failure.
    fn hpke_seal_prehashed(
        &self,
        public_key: &[u8],
        info_hash: &[u8],
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<HpkeCiphertext>;
}

// RFC 9180 for DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / AES-128-GCM.
const KEM_SUITE_ID: &[u8] = b"KEM\x00\x20";
const HPKE_SUITE_ID: &[u8] = b"HPKE\x00\x20\x00\x01\x00\x01";

fn labeled_extract(suite_id: &[u8], salt: &[u8], label: &[u8], ikm: &[u8]) -> [u8; 32] {
    use hmac::{Hmac, Mac};
    let key = if salt.is_empty() {
        &[0u8; 32][..]
    } else {
        salt
    };
    let mut mac = match <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => return [0; 32],
    };
    mac.update(b"HPKE-v1");
    mac.update(suite_id);
    mac.update(label);
    mac.update(ikm);
    mac.finalize().into_bytes().into()
}

fn labeled_expand(
    suite_id: &[u8],
    prk: &[u8],
    label: &[u8],
    info: &[u8],
    out: &mut [u8],
) -> Result<()> {
    let hk = Hkdf::<Sha256>::from_prk(prk).map_err(|_| Error::Internal("HPKE PRK length"))?;
    let len = u16::try_from(out.len()).map_err(|_| Error::Internal("HPKE expand length"))?;
    let len = len.to_be_bytes();
    hk.expand_multi_info(&[&len, b"HPKE-v1", suite_id, label, info], out)
        .map_err(|_| Error::Internal("HPKE expand"))
}
fn hpke() -> Result<Hpke<HpkeRustCrypto>> {
    Hpke::<HpkeRustCrypto>::try_new(
        Mode::Base,
        KemAlgorithm::DhKem25519,
        KdfAlgorithm::HkdfSha256,
        AeadAlgorithm::Aes128Gcm,
    )
    .map_err(|_| Error::Internal("HPKE randomness source unavailable"))
}

impl GroupProvider for RustCryptoSuite1 {
    fn hpke_info_hash(&self, info: &[u8]) -> Vec<u8> {
        labeled_extract(HPKE_SUITE_ID, &[], b"info_hash", info).to_vec()
    }

    fn hpke_seal_prehashed(
        &self,
        public_key: &[u8],
        info_hash: &[u8],
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<HpkeCiphertext> {
        let pk: [u8; 32] = public_key.try_into().map_err(|_| Error::BadLength {
            field: "hpke_public_key",
            expected: 32,
            found: public_key.len(),
        })?;
        let pk_r = x25519_dalek::PublicKey::from(pk);
        let mut ske = Zeroizing::new([0u8; 32]);
        self.random_fill(&mut *ske)?;
        let sk_e = x25519_dalek::StaticSecret::from(*ske);
        let enc = x25519_dalek::PublicKey::from(&sk_e).to_bytes();
        let dh = Zeroizing::new(sk_e.diffie_hellman(&pk_r).to_bytes());
        if dh.iter().all(|b| *b == 0) {
            return Err(Error::BadPublicKey {
                field: "hpke_public_key",
            });
        }
        let mut kem_context = [0u8; 64];
        kem_context[..32].copy_from_slice(&enc);
        kem_context[32..].copy_from_slice(&pk);
        let eae_prk = Zeroizing::new(labeled_extract(KEM_SUITE_ID, &[], b"eae_prk", &*dh));
        let mut shared = Zeroizing::new([0u8; 32]);
        labeled_expand(
            KEM_SUITE_ID,
            &*eae_prk,
            b"shared_secret",
            &kem_context,
            &mut *shared,
        )?;

        let psk_id_hash = labeled_extract(HPKE_SUITE_ID, &[], b"psk_id_hash", &[]);
        let mut ksc = Vec::with_capacity(1 + 32 + info_hash.len());
        ksc.push(0u8);
        ksc.extend_from_slice(&psk_id_hash);
        ksc.extend_from_slice(info_hash);
        let secret = Zeroizing::new(labeled_extract(HPKE_SUITE_ID, &*shared, b"secret", &[]));
        let mut key = Zeroizing::new([0u8; 16]);
        let mut nonce = [0u8; 12];
        labeled_expand(HPKE_SUITE_ID, &*secret, b"key", &ksc, &mut *key)?;
        labeled_expand(HPKE_SUITE_ID, &*secret, b"base_nonce", &ksc, &mut nonce)?;
        let cipher =
            Aes128Gcm::new_from_slice(&*key).map_err(|_| Error::Internal("AES key rejected"))?;
        let n = aes_gcm::Nonce::try_from(&nonce[..])
            .map_err(|_| Error::Internal("AES-GCM nonce rejected"))?;
        let ciphertext = cipher
            .encrypt(
                &n,
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .map_err(|_| Error::Internal("AES-GCM encryption failed"))?;
        Ok(HpkeCiphertext {
            kem_output: enc.to_vec(),
            ciphertext,
        })
    }

    fn hpke_export_sender(
        &self,
        public_key: &[u8],
        info: &[u8],
        exporter_context: &[u8],
        length: usize,
    ) -> Result<(Vec<u8>, Secret)> {
        if public_key.len() != 32 {
            return Err(Error::BadLength {
                field: "external_pub",
                expected: 32,
                found: public_key.len(),
            });
        }
        let mut h = hpke()?;
        let pk = hpke_rs::HpkePublicKey::from(public_key);
        let (enc, ctx) =
            h.setup_sender(&pk, info, None, None, None)
                .map_err(|_| Error::BadPublicKey {
                    field: "external_pub",
                })?;
        let secret = ctx
            .export(exporter_context, length)
            .map_err(|_| Error::Internal("HPKE export failed"))?;
        Ok((enc, Secret::new(secret)))
    }

    fn hpke_export_receiver(
        &self,
        private_key: &HpkePrivateKey,
        kem_output: &[u8],
        info: &[u8],
        exporter_context: &[u8],
        length: usize,
    ) -> Result<Secret> {
        if kem_output.len() != 32 {
            return Err(Error::BadLength {
                field: "kem_output",
                expected: 32,
                found: kem_output.len(),
            });
        }
        let h = hpke()?;
        let sk = hpke_rs::HpkePrivateKey::from(private_key.as_bytes());
        let ctx = h
            .setup_receiver(kem_output, &sk, info, None, None, None)
            .map_err(|_| Error::HpkeDecryptionFailed)?;
        let secret = ctx
            .export(exporter_context, length)
            .map_err(|_| Error::Internal("HPKE export failed"))?;
        Ok(Secret::new(secret))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prehashed_seal_opens_with_hpke_rs() {
        let p = RustCryptoSuite1::new();
        let (sk, pk) = p.hpke_generate_key_pair().unwrap();
        let info = vec![7u8; 5000];
        let ct = p
            .hpke_seal_prehashed(&pk, &p.hpke_info_hash(&info), b"aad", b"secret")
            .unwrap();
        let pt = p
            .hpke_open(&sk, &ct.kem_output, &info, b"aad", &ct.ciphertext)
            .unwrap();
        assert_eq!(pt, b"secret");
        assert!(
            p.hpke_open(&sk, &ct.kem_output, &info[1..], b"aad", &ct.ciphertext)
                .is_err()
        );
    }

    #[test]
    fn sender_and_receiver_export_the_same_secret() {
        let p = RustCryptoSuite1::new();
        let (sk, pk) = p.hpke_generate_key_pair().unwrap();
        let (enc, s1) = p.hpke_export_sender(&pk, &[], b"label", 32).unwrap();
        let s2 = p
            .hpke_export_receiver(&sk, &enc, &[], b"label", 32)
            .unwrap();
        assert_eq!(s1, s2);
        let (other_sk, _) = p.hpke_generate_key_pair().unwrap();
        let s3 = p
            .hpke_export_receiver(&other_sk, &enc, &[], b"label", 32)
            .unwrap();
        assert_ne!(s1, s3);
    }
}
