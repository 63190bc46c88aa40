//! What the group state machine and TreeKEM need from a cipher suite beyond
//! [`CryptoProvider`]: the HPKE exporter used by external commits (§8.3, RFC 9180 §5.3) and
//! batches of HPKE seals under one precomputed `info` hash. It lives with the other crypto
//! traits, below both `tree` and `group`, which use it.

use zeroize::Zeroizing;

use super::hpke::{labeled_extract_info_hash, seal_with_ephemeral};
use super::{CryptoProvider, HpkeCiphertext, HpkePrivateKey, RustCryptoSuite1, Secret};
use crate::error::{Error, Result};

/// A [`CryptoProvider`] usable by [`crate::group::Group`] (and by TreeKEM).
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

    /// [`GroupProvider::hpke_seal_prehashed`] for many recipients under one `info_hash` and
    /// `aad`: one ciphertext per job, in the order of `jobs`. The default seals one by one; a
    /// provider may spread the work over threads (UpdatePaths and Welcomes of large groups
    /// hold thousands of these, each an X25519 key generation and an X25519 DH).
    ///
    /// # Errors
    /// As [`GroupProvider::hpke_seal_prehashed`], for the first job that fails.
    fn hpke_seal_many_prehashed(
        &self,
        info_hash: &[u8],
        aad: &[u8],
        jobs: &[SealJob<'_>],
    ) -> Result<Vec<HpkeCiphertext>> {
        jobs.iter()
            .map(|j| self.hpke_seal_prehashed(j.public_key, info_hash, aad, j.plaintext))
            .collect()
    }
}

/// One recipient of [`GroupProvider::hpke_seal_many_prehashed`].
#[derive(Clone, Copy)]
pub struct SealJob<'a> {
    /// The recipient's HPKE public key.
    pub public_key: &'a [u8],
    /// What is sealed to it (a path secret or encoded GroupSecrets).
    pub plaintext: &'a [u8],
}

impl core::fmt::Debug for SealJob<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // The plaintext is secret: only its length is shown.
        f.debug_struct("SealJob")
            .field("public_key", &self.public_key)
            .field("plaintext_len", &self.plaintext.len())
            .finish()
    }
}

/// Below this many jobs a batch is sealed on the calling thread: handing work to the pool
/// costs more than a few X25519 operations.
#[cfg(all(feature = "parallel", not(target_family = "wasm")))]
const PARALLEL_SEAL_MIN: usize = 8;

impl GroupProvider for RustCryptoSuite1 {
    fn hpke_info_hash(&self, info: &[u8]) -> Vec<u8> {
        labeled_extract_info_hash(info).to_vec()
    }

    fn hpke_seal_prehashed(
        &self,
        public_key: &[u8],
        info_hash: &[u8],
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<HpkeCiphertext> {
        let mut ske = Zeroizing::new([0u8; 32]);
        self.random_fill(&mut *ske)?;
        seal_with_ephemeral(public_key, &ske, info_hash, aad, plaintext)
    }

    fn hpke_seal_many_prehashed(
        &self,
        info_hash: &[u8],
        aad: &[u8],
        jobs: &[SealJob<'_>],
    ) -> Result<Vec<HpkeCiphertext>> {
        // The ephemeral secrets are drawn in order on this thread, so the randomness a
        // batch consumes does not depend on how the work is scheduled.
        let mut ephemeral = Zeroizing::new(vec![0u8; 32 * jobs.len()]);
        self.random_fill(&mut ephemeral)?;
        let seal = |(job, ske): (&SealJob<'_>, &[u8])| -> Result<HpkeCiphertext> {
            let ske: &[u8; 32] = ske
                .try_into()
                .map_err(|_| Error::Internal("ephemeral secret length"))?;
            seal_with_ephemeral(job.public_key, ske, info_hash, aad, job.plaintext)
        };
        #[cfg(all(feature = "parallel", not(target_family = "wasm")))]
        if jobs.len() >= PARALLEL_SEAL_MIN {
            use rayon::prelude::*;
            return jobs
                .par_iter()
                .zip(ephemeral.par_chunks(32))
                .map(seal)
                .collect();
        }
        jobs.iter().zip(ephemeral.chunks(32)).map(seal).collect()
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
        let mut ske = Zeroizing::new([0u8; 32]);
        self.random_fill(&mut *ske)?;
        let (enc, secret) =
            super::hpke::export_sender(public_key, &ske, info, exporter_context, length)?;
        let (enc, secret) = (enc.to_vec(), secret.to_vec());
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
        let secret = super::hpke::export_receiver(
            private_key.as_bytes(),
            kem_output,
            info,
            exporter_context,
            length,
        )?
        .to_vec();
        Ok(Secret::new(secret))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prehashed_seal_opens_and_binds_its_info() {
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

#[cfg(test)]
mod batch_tests {
    use super::*;

    #[test]
    fn a_batch_of_seals_keeps_the_order_of_its_jobs() {
        let p = RustCryptoSuite1::new();
        // More jobs than the parallel threshold, so the threaded path runs when enabled.
        let keys: Vec<_> = (0..40)
            .map(|_| p.hpke_generate_key_pair().unwrap())
            .collect();
        let plaintexts: Vec<Vec<u8>> = (0..40u8).map(|i| vec![i; 1 + usize::from(i)]).collect();
        let jobs: Vec<SealJob<'_>> = keys
            .iter()
            .zip(&plaintexts)
            .map(|((_, pk), pt)| SealJob {
                public_key: pk,
                plaintext: pt,
            })
            .collect();
        let info = b"batch info";
        let cts = p
            .hpke_seal_many_prehashed(&p.hpke_info_hash(info), b"aad", &jobs)
            .unwrap();
        assert_eq!(cts.len(), 40);
        let mut encs = std::collections::HashSet::new();
        for (((sk, _), pt), ct) in keys.iter().zip(&plaintexts).zip(&cts) {
            assert!(
                encs.insert(ct.kem_output.clone()),
                "fresh ephemeral key per job"
            );
            let opened = p
                .hpke_open(sk, &ct.kem_output, info, b"aad", &ct.ciphertext)
                .unwrap();
            assert_eq!(&opened, pt);
        }
        assert!(format!("{:?}", jobs[3]).contains("plaintext_len: 4"));
        assert!(
            p.hpke_seal_many_prehashed(&[0; 32], b"", &[])
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn a_batch_fails_on_a_bad_key_anywhere_in_it() {
        let p = RustCryptoSuite1::new();
        let (_, pk) = p.hpke_generate_key_pair().unwrap();
        let short = vec![1u8; 31];
        let mut jobs = vec![
            SealJob {
                public_key: &pk,
                plaintext: b"s",
            };
            20
        ];
        jobs[17].public_key = &short;
        assert!(matches!(
            p.hpke_seal_many_prehashed(&[0; 32], b"", &jobs),
            Err(Error::BadLength {
                field: "hpke_public_key",
                found: 31,
                ..
            })
        ));
    }
}
