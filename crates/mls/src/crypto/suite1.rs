//! Cipher suite 0x0001, MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519, on RustCrypto
//! (sha2, hkdf, hmac, aes-gcm), x25519-dalek (HPKE in `crypto::hpke`) and ed25519-dalek.

use aes_gcm::Aes128Gcm;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::{
    CipherSuite, CryptoProvider, HpkeCiphertext, HpkePrivateKey, Secret, SignatureSecretKey,
};
use crate::error::{Error, Result};

/// Below this many signatures a batch is verified on the calling thread: each half of a
/// split batch should carry a dozen signatures (~170 µs here) to outweigh waking the pool
/// (measured: splitting 16 signatures gained nothing on a 2-core machine, 30 gained 25 %).
#[cfg(all(feature = "parallel", not(target_family = "wasm")))]
const PARALLEL_VERIFY_MIN: usize = 24;

/// How many decompressed Ed25519 public keys [`cached_verifying_key`] keeps per thread.
const VERIFYING_KEY_CACHE: usize = 512;

thread_local! {
    /// Decompressed signature keys of recent single verifications: a group verifies the
    /// same few members' keys over and over, and decompression is a field square root.
    /// Public data only; emptied when full.
    static VERIFYING_KEYS: core::cell::RefCell<
        std::collections::HashMap<[u8; 32], ed25519_dalek::VerifyingKey>,
    > = core::cell::RefCell::new(std::collections::HashMap::new());
}

/// The canonical encodings of the eight points of small order (the torsion subgroup).
fn small_order_encodings() -> &'static [[u8; 32]; 8] {
    static ENCODINGS: std::sync::OnceLock<[[u8; 32]; 8]> = std::sync::OnceLock::new();
    ENCODINGS
        .get_or_init(|| curve25519_dalek::constants::EIGHT_TORSION.map(|p| p.compress().to_bytes()))
}

/// Whether the `R` half of an Ed25519 signature is (the canonical encoding of) a point of
/// small order. A non-canonical encoding never equals a recomputed `R`, so it fails anyway.
fn has_small_order_r(signature: &[u8; 64]) -> bool {
    let r = signature.first_chunk::<32>();
    small_order_encodings()
        .iter()
        .any(|e| r.is_some_and(|r| r == e))
}

/// The decompressed key for `pk`, from the per-thread cache or freshly decoded.
fn cached_verifying_key(pk: &[u8; 32]) -> Result<ed25519_dalek::VerifyingKey> {
    let hit = VERIFYING_KEYS.with(|c| c.try_borrow().ok().and_then(|m| m.get(pk).copied()));
    if let Some(vk) = hit {
        return Ok(vk);
    }
    let vk = ed25519_dalek::VerifyingKey::from_bytes(pk).map_err(|_| Error::BadPublicKey {
        field: "signature_key",
    })?;
    VERIFYING_KEYS.with(|c| {
        if let Ok(mut m) = c.try_borrow_mut() {
            if m.len() >= VERIFYING_KEY_CACHE {
                m.clear();
            }
            m.insert(*pk, vk);
        }
    });
    Ok(vk)
}

const NH: usize = 32;
const NK: usize = 16;
const NN: usize = 12;

/// The provider for cipher suite 0x0001. Stateless; randomness comes from the operating
/// system (`getrandom`), which on wasm32 the embedding crate configures.
#[derive(Debug, Clone, Copy, Default)]
pub struct RustCryptoSuite1;

impl RustCryptoSuite1 {
    /// The provider.
    pub fn new() -> Self {
        RustCryptoSuite1
    }

    fn check_len(field: &'static str, bytes: &[u8], expected: usize) -> Result<()> {
        if bytes.len() == expected {
            Ok(())
        } else {
            Err(Error::BadLength {
                field,
                expected,
                found: bytes.len(),
            })
        }
    }
}

impl CryptoProvider for RustCryptoSuite1 {
    fn cipher_suite(&self) -> CipherSuite {
        CipherSuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_ED25519
    }

    fn hash_len(&self) -> usize {
        NH
    }

    fn aead_key_len(&self) -> usize {
        NK
    }

    fn aead_nonce_len(&self) -> usize {
        NN
    }

    fn hash(&self, data: &[u8]) -> Vec<u8> {
        Sha256::digest(data).to_vec()
    }

    fn mac(&self, key: &[u8], data: &[u8]) -> Result<Vec<u8>> {
        let mut mac = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(key)
            .map_err(|_| Error::Internal("HMAC key rejected"))?;
        mac.update(data);
        Ok(mac.finalize().into_bytes().to_vec())
    }

    fn kdf_extract(&self, salt: &[u8], ikm: &[u8]) -> Result<Secret> {
        let (prk, _) = Hkdf::<Sha256>::extract(Some(salt), ikm);
        Ok(Secret::from_slice(&prk))
    }

    fn kdf_expand(&self, prk: &[u8], info: &[u8], length: usize) -> Result<Secret> {
        let hk = Hkdf::<Sha256>::from_prk(prk).map_err(|_| Error::BadLength {
            field: "prk",
            expected: NH,
            found: prk.len(),
        })?;
        let mut okm = Secret::zero(length);
        hk.expand(info, okm.as_mut_bytes())
            .map_err(|_| Error::LengthTooLarge {
                what: "KDF.Expand output",
                requested: length,
                max: 255 * NH,
            })?;
        Ok(okm)
    }

    fn aead_seal(&self, key: &[u8], nonce: &[u8], aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
        Self::check_len("aead_key", key, NK)?;
        Self::check_len("aead_nonce", nonce, NN)?;
        let cipher =
            Aes128Gcm::new_from_slice(key).map_err(|_| Error::Internal("AES key rejected"))?;
        let nonce = aes_gcm::Nonce::try_from(nonce)
            .map_err(|_| Error::Internal("AES-GCM nonce rejected"))?;
        cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .map_err(|_| Error::Internal("AES-GCM encryption failed"))
    }

    fn aead_open(
        &self,
        key: &[u8],
        nonce: &[u8],
        aad: &[u8],
        ciphertext: &[u8],
        what: &'static str,
    ) -> Result<Vec<u8>> {
        Self::check_len("aead_key", key, NK)?;
        Self::check_len("aead_nonce", nonce, NN)?;
        let cipher =
            Aes128Gcm::new_from_slice(key).map_err(|_| Error::Internal("AES key rejected"))?;
        let nonce = aes_gcm::Nonce::try_from(nonce)
            .map_err(|_| Error::Internal("AES-GCM nonce rejected"))?;
        cipher
            .decrypt(
                &nonce,
                Payload {
                    msg: ciphertext,
                    aad,
                },
            )
            .map_err(|_| Error::DecryptionFailed { what })
    }

    fn hpke_seal(
        &self,
        public_key: &[u8],
        info: &[u8],
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<HpkeCiphertext> {
        // The same single-shot seal as UpdatePaths and Welcomes use (`crypto/hpke`).
        let mut ske = Zeroizing::new([0u8; 32]);
        self.random_fill(&mut *ske)?;
        super::hpke::seal_with_ephemeral(
            public_key,
            &ske,
            &super::hpke::labeled_extract_info_hash(info),
            aad,
            plaintext,
        )
    }

    fn hpke_open(
        &self,
        private_key: &HpkePrivateKey,
        kem_output: &[u8],
        info: &[u8],
        aad: &[u8],
        ciphertext: &[u8],
    ) -> Result<Vec<u8>> {
        super::hpke::open(
            private_key.as_bytes(),
            None,
            kem_output,
            info,
            aad,
            ciphertext,
        )
    }

    fn hpke_open_with_public_key(
        &self,
        private_key: &HpkePrivateKey,
        public_key: &[u8],
        kem_output: &[u8],
        info: &[u8],
        aad: &[u8],
        ciphertext: &[u8],
    ) -> Result<Vec<u8>> {
        super::hpke::open(
            private_key.as_bytes(),
            Some(public_key),
            kem_output,
            info,
            aad,
            ciphertext,
        )
    }

    fn hpke_derive_key_pair(&self, ikm: &[u8]) -> Result<(HpkePrivateKey, Vec<u8>)> {
        let (sk, pk) = super::hpke::derive_key_pair(ikm)?;
        Ok((HpkePrivateKey::from_slice(&sk[..]), pk.to_vec()))
    }

    fn hpke_public_key(&self, private_key: &HpkePrivateKey) -> Result<Vec<u8>> {
        let bytes: Zeroizing<[u8; 32]> = Zeroizing::new(
            private_key
                .as_bytes()
                .try_into()
                .map_err(|_| Error::BadLength {
                    field: "hpke_private_key",
                    expected: 32,
                    found: private_key.as_bytes().len(),
                })?,
        );
        let secret = x25519_dalek::StaticSecret::from(*bytes);
        Ok(x25519_dalek::PublicKey::from(&secret).as_bytes().to_vec())
    }

    fn hpke_generate_key_pair(&self) -> Result<(HpkePrivateKey, Vec<u8>)> {
        let mut ikm = Zeroizing::new([0u8; 32]);
        self.random_fill(&mut *ikm)?;
        self.hpke_derive_key_pair(&*ikm)
    }

    fn sign(&self, private_key: &SignatureSecretKey, message: &[u8]) -> Result<Vec<u8>> {
        // The same signing helper KeyPackages and LeafNodes are signed with.
        Ok(private_key.sign(message).to_vec())
    }

    fn verify(
        &self,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
        what: &'static str,
    ) -> Result<()> {
        let pk: [u8; 32] = public_key.try_into().map_err(|_| Error::BadLength {
            field: "signature_key",
            expected: 32,
            found: public_key.len(),
        })?;
        let sig: [u8; 64] = signature
            .try_into()
            .map_err(|_| Error::BadSignature { what })?;
        let vk = cached_verifying_key(&pk)?;
        // `verify_strict`'s checks, without its decompression of R: a small-order key or R
        // is refused, and the cofactorless equation is checked on the canonical encoding of
        // R (which `Verifier::verify` compares byte for byte, so a non-canonical or invalid
        // R fails there).
        if vk.is_weak() || has_small_order_r(&sig) {
            return Err(Error::BadSignature { what });
        }
        ed25519_dalek::Verifier::verify(&vk, message, &ed25519_dalek::Signature::from_bytes(&sig))
            .map_err(|_| Error::BadSignature { what })
    }

    /// Ed25519 batch verification with the small-order checks of strict single verification
    /// (small-order keys and `R` are refused before batching). Malformed input is reported
    /// first, as [`Error::BadLength`] / [`Error::BadPublicKey`] for the first bad item in
    /// order; any failed signature gives [`Error::BadSignature`] for the whole batch.
    fn verify_many(
        &self,
        messages: &[&[u8]],
        signatures: &[&[u8]],
        public_keys: &[&[u8]],
        what: &'static str,
    ) -> Result<()> {
        if messages.len() != signatures.len() || messages.len() != public_keys.len() {
            return Err(Error::Misuse("verify_batch: slices of different lengths"));
        }
        match (messages, signatures, public_keys) {
            ([], [], []) => return Ok(()),
            // One signature: a plain (strict) verification is cheaper than a batch of one.
            ([m], [s], [k]) => return self.verify(k, m, s, what),
            _ => {}
        }
        let mut sigs = Vec::with_capacity(signatures.len());
        // Batch verification checks the cofactorless equation only: the small-order checks
        // of a single strict verification are made here, after every input was decoded (so a
        // malformed input is reported as such first).
        let mut small_order_r = false;
        for s in signatures {
            let arr: [u8; 64] = (*s).try_into().map_err(|_| Error::BadLength {
                field: "signature",
                expected: 64,
                found: s.len(),
            })?;
            small_order_r |= has_small_order_r(&arr);
            sigs.push(ed25519_dalek::Signature::from_bytes(&arr));
        }
        let decode_key = |k: &&[u8]| -> Result<ed25519_dalek::VerifyingKey> {
            let arr: [u8; 32] = (*k).try_into().map_err(|_| Error::BadLength {
                field: "signature_key",
                expected: 32,
                found: k.len(),
            })?;
            ed25519_dalek::VerifyingKey::from_bytes(&arr).map_err(|_| Error::BadPublicKey {
                field: "signature_key",
            })
        };
        #[cfg(all(feature = "parallel", not(target_family = "wasm")))]
        if messages.len() >= PARALLEL_VERIFY_MIN {
            use rayon::prelude::*;
            // Decompressing the keys is about a third of the work: done in parallel, and
            // the first failure in input order is reported, as on one thread. Then one
            // batch per thread.
            let keys = public_keys
                .par_iter()
                .map(decode_key)
                .collect::<Vec<_>>()
                .into_iter()
                .collect::<Result<Vec<_>>>()?;
            if small_order_r || keys.par_iter().any(ed25519_dalek::VerifyingKey::is_weak) {
                return Err(Error::BadSignature { what });
            }
            let chunk = messages.len().div_ceil(rayon::current_num_threads().max(1));
            let ok = messages
                .par_chunks(chunk)
                .zip(sigs.par_chunks(chunk))
                .zip(keys.par_chunks(chunk))
                .all(|((m, s), k)| ed25519_dalek::verify_batch(m, s, k).is_ok());
            return if ok {
                Ok(())
            } else {
                Err(Error::BadSignature { what })
            };
        }
        let keys = public_keys
            .iter()
            .map(decode_key)
            .collect::<Result<Vec<_>>>()?;
        if small_order_r || keys.iter().any(ed25519_dalek::VerifyingKey::is_weak) {
            return Err(Error::BadSignature { what });
        }
        ed25519_dalek::verify_batch(messages, &sigs, &keys)
            .map_err(|_| Error::BadSignature { what })
    }

    fn signature_public_key(&self, private_key: &SignatureSecretKey) -> Result<Vec<u8>> {
        Ok(private_key.public_key().to_vec())
    }

    fn signature_generate_key_pair(&self) -> Result<(SignatureSecretKey, Vec<u8>)> {
        let mut seed = Zeroizing::new([0u8; 32]);
        self.random_fill(&mut *seed)?;
        let sk = SignatureSecretKey::from_bytes(*seed);
        let pk = sk.public_key().to_vec();
        Ok((sk, pk))
    }

    fn random_fill(&self, out: &mut [u8]) -> Result<()> {
        getrandom::fill(out).map_err(|_| Error::Internal("randomness source unavailable"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Columns = Vec<Vec<u8>>;

    /// `n` signed messages: (messages, signatures, public keys).
    fn signed(n: usize) -> (Columns, Columns, Columns) {
        let p = RustCryptoSuite1::new();
        let mut out = (vec![], vec![], vec![]);
        for i in 0..n {
            let (sk, pk) = p.signature_generate_key_pair().unwrap();
            let m = format!("message {i}").into_bytes();
            out.1.push(p.sign(&sk, &m).unwrap());
            out.0.push(m);
            out.2.push(pk);
        }
        out
    }

    fn check(m: &[Vec<u8>], s: &[Vec<u8>], k: &[Vec<u8>]) -> Result<()> {
        let m: Vec<&[u8]> = m.iter().map(Vec::as_slice).collect();
        let s: Vec<&[u8]> = s.iter().map(Vec::as_slice).collect();
        let k: Vec<&[u8]> = k.iter().map(Vec::as_slice).collect();
        RustCryptoSuite1::new().verify_many(&m, &s, &k, "test")
    }

    #[test]
    fn verify_many_accepts_good_batches_of_every_size() {
        for n in [0, 1, 2, 63, 64, 150] {
            let (m, s, k) = signed(n);
            check(&m, &s, &k).unwrap();
        }
    }

    #[test]
    fn verify_many_rejects_one_bad_signature_anywhere() {
        for (n, bad) in [(1, 0), (2, 1), (150, 0), (150, 75), (150, 149)] {
            let (mut m, s, k) = signed(n);
            m[bad].push(0);
            assert!(matches!(
                check(&m, &s, &k),
                Err(Error::BadSignature { what: "test" })
            ));
        }
    }

    /// A small-order key with a small-order R and s = 0 satisfies the cofactorless equation
    /// for every message: plain `Verifier::verify` accepts it (shown first, so the test means
    /// something); single and batch verification here refuse it, as `verify_strict` does.
    #[test]
    fn small_order_keys_and_r_are_refused_alone_and_in_batches() {
        let identity = curve25519_dalek::edwards::EdwardsPoint::default()
            .compress()
            .to_bytes();
        let mut forged = [0u8; 64];
        forged[..32].copy_from_slice(&identity);
        let vk = ed25519_dalek::VerifyingKey::from_bytes(&identity).unwrap();
        let sig = ed25519_dalek::Signature::from_bytes(&forged);
        assert!(ed25519_dalek::Verifier::verify(&vk, b"anything", &sig).is_ok());
        assert!(vk.verify_strict(b"anything", &sig).is_err());

        let p = RustCryptoSuite1::new();
        assert!(matches!(
            p.verify(&identity, b"anything", &forged, "test"),
            Err(Error::BadSignature { what: "test" })
        ));
        for n in [1, 2, 30, 150] {
            let (mut m, mut s, mut k) = signed(n);
            m[n / 2] = b"anything".to_vec();
            s[n / 2] = forged.to_vec();
            k[n / 2] = identity.to_vec();
            assert!(
                matches!(check(&m, &s, &k), Err(Error::BadSignature { what: "test" })),
                "batch of {n}"
            );
        }

        // A weak key with an R that is not of small order: R = [s]B, so the equation holds
        // for any message, and only the key check refuses it.
        let s_scalar = curve25519_dalek::Scalar::from(7u64);
        let r = curve25519_dalek::EdwardsPoint::mul_base(&s_scalar).compress();
        let mut forged = [0u8; 64];
        forged[..32].copy_from_slice(r.as_bytes());
        forged[32..].copy_from_slice(s_scalar.as_bytes());
        let sig = ed25519_dalek::Signature::from_bytes(&forged);
        assert!(ed25519_dalek::Verifier::verify(&vk, b"other", &sig).is_ok());
        assert!(p.verify(&identity, b"other", &forged, "test").is_err());
        let (mut m, mut s, mut k) = signed(40);
        m[3] = b"other".to_vec();
        s[3] = forged.to_vec();
        k[3] = identity.to_vec();
        assert!(check(&m, &s, &k).is_err());
    }

    #[test]
    fn verify_many_reports_malformed_input_before_a_failed_signature() {
        let (mut m, mut s, mut k) = signed(150);
        m[10].push(0); // a wrong signature early on ...
        k[120].push(0); // ... and a 33-byte key later: the malformed key is what is reported.
        assert!(matches!(
            check(&m, &s, &k),
            Err(Error::BadLength {
                field: "signature_key",
                expected: 32,
                found: 33
            })
        ));
        s[140].pop();
        assert!(matches!(
            check(&m, &s, &k),
            Err(Error::BadLength {
                field: "signature",
                expected: 64,
                found: 63
            })
        ));
        let (m, s, k) = signed(3);
        assert!(matches!(check(&m, &s[..2], &k), Err(Error::Misuse(_))));
    }
}
