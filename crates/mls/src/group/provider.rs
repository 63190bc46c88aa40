//! What the group state machine needs from a cipher suite beyond [`CryptoProvider`]: the
//! HPKE exporter used by external commits (§8.3, RFC 9180 §5.3).

use hpke_rs::hpke_types::{AeadAlgorithm, KdfAlgorithm, KemAlgorithm};
use hpke_rs::{Hpke, Mode};
use hpke_rs_rust_crypto::HpkeRustCrypto;

use crate::crypto::{CryptoProvider, HpkePrivateKey, RustCryptoSuite1, Secret};
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
        let (enc, ctx) = h
            .setup_sender(&pk, info, None, None, None)
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
