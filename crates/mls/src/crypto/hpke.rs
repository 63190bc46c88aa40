//! RFC 9180 HPKE, base mode, for DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / AES-128-GCM,
//! written directly on x25519-dalek, HKDF and AES-GCM: single-shot seal and open (the hot
//! path of UpdatePaths and Welcomes), `DeriveKeyPair` (§7.1.3) and the secret export of a
//! sender or receiver context (§5.3, external commits). The tests check every function
//! against hpke-rs both ways. (A general HPKE library would bring every KEM and AEAD it
//! supports into the WebAssembly package; this suite needs one of each.)

use aes_gcm::Aes128Gcm;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

use super::HpkeCiphertext;
use crate::error::{Error, Result};

// RFC 9180 for DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / AES-128-GCM.
const KEM_SUITE_ID: &[u8] = b"KEM\x00\x20";
const HPKE_SUITE_ID: &[u8] = b"HPKE\x00\x20\x00\x01\x00\x01";

pub(crate) fn labeled_extract(suite_id: &[u8], salt: &[u8], label: &[u8], ikm: &[u8]) -> [u8; 32] {
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

pub(crate) fn labeled_expand(
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
/// The `info_hash` of RFC 9180 §5.1 for this suite.
pub(crate) fn labeled_extract_info_hash(info: &[u8]) -> [u8; 32] {
    labeled_extract(HPKE_SUITE_ID, &[], b"info_hash", info)
}

/// The `key_schedule_context` of RFC 9180 §5.1 (base mode, no PSK) and the context's
/// `secret`, from the KEM's shared secret and the `info_hash`.
fn schedule_secret(shared: &[u8; 32], info_hash: &[u8]) -> (Vec<u8>, Zeroizing<[u8; 32]>) {
    let psk_id_hash = labeled_extract(HPKE_SUITE_ID, &[], b"psk_id_hash", &[]);
    let mut ksc = Vec::with_capacity(1 + 32 + info_hash.len());
    ksc.push(0u8);
    ksc.extend_from_slice(&psk_id_hash);
    ksc.extend_from_slice(info_hash);
    let secret = Zeroizing::new(labeled_extract(HPKE_SUITE_ID, shared, b"secret", &[]));
    (ksc, secret)
}

/// The AEAD key and base nonce of RFC 9180 §5.1 (base mode, no PSK) from the KEM's
/// shared secret and the `info_hash`.
fn key_schedule(shared: &[u8; 32], info_hash: &[u8]) -> Result<(Zeroizing<[u8; 16]>, [u8; 12])> {
    let (ksc, secret) = schedule_secret(shared, info_hash);
    let mut key = Zeroizing::new([0u8; 16]);
    let mut nonce = [0u8; 12];
    labeled_expand(HPKE_SUITE_ID, &*secret, b"key", &ksc, &mut *key)?;
    labeled_expand(HPKE_SUITE_ID, &*secret, b"base_nonce", &ksc, &mut nonce)?;
    Ok((key, nonce))
}

/// DHKEM `ExtractAndExpand(dh, enc || pkRm)`.
fn kem_shared_secret(
    dh: &[u8; 32],
    enc: &[u8; 32],
    pk_r: &[u8; 32],
) -> Result<Zeroizing<[u8; 32]>> {
    let mut kem_context = [0u8; 64];
    kem_context[..32].copy_from_slice(enc);
    kem_context[32..].copy_from_slice(pk_r);
    let eae_prk = Zeroizing::new(labeled_extract(KEM_SUITE_ID, &[], b"eae_prk", dh));
    let mut shared = Zeroizing::new([0u8; 32]);
    labeled_expand(
        KEM_SUITE_ID,
        &*eae_prk,
        b"shared_secret",
        &kem_context,
        &mut *shared,
    )?;
    Ok(shared)
}

/// RFC 9180 `OpenBase` (single shot) with the recipient's private key `sk_r` and, when
/// known, its public key `pk_r`.
///
/// # Errors
/// [`Error::BadLength`] for a KEM output or key of the wrong size,
/// [`Error::HpkeDecryptionFailed`] when the DH output is zero or the AEAD rejects.
pub(crate) fn open(
    sk_r: &[u8],
    pk_r: Option<&[u8]>,
    kem_output: &[u8],
    info: &[u8],
    aad: &[u8],
    ciphertext: &[u8],
) -> Result<Vec<u8>> {
    let enc: [u8; 32] = kem_output.try_into().map_err(|_| Error::BadLength {
        field: "kem_output",
        expected: 32,
        found: kem_output.len(),
    })?;
    let sk: Zeroizing<[u8; 32]> =
        Zeroizing::new(sk_r.try_into().map_err(|_| Error::BadLength {
            field: "hpke_private_key",
            expected: 32,
            found: sk_r.len(),
        })?);
    let sk = x25519_dalek::StaticSecret::from(*sk);
    // The caller usually knows the recipient's public key (it is in the tree); otherwise it
    // is computed from the fixed-base table, not with a second ladder. A public key that
    // does not belong to `sk_r` changes the KEM context, so the AEAD rejects.
    let pk_r: [u8; 32] = match pk_r {
        Some(pk) => pk.try_into().map_err(|_| Error::BadLength {
            field: "hpke_public_key",
            expected: 32,
            found: pk.len(),
        })?,
        None => x25519_dalek::PublicKey::from(&sk).to_bytes(),
    };
    let dh = Zeroizing::new(
        sk.diffie_hellman(&x25519_dalek::PublicKey::from(enc))
            .to_bytes(),
    );
    if dh.iter().all(|b| *b == 0) {
        return Err(Error::HpkeDecryptionFailed);
    }
    let shared = kem_shared_secret(&dh, &enc, &pk_r)?;
    let (key, nonce) = key_schedule(&shared, &labeled_extract_info_hash(info))?;
    let cipher =
        Aes128Gcm::new_from_slice(&*key).map_err(|_| Error::Internal("AES key rejected"))?;
    let n = aes_gcm::Nonce::try_from(&nonce[..])
        .map_err(|_| Error::Internal("AES-GCM nonce rejected"))?;
    cipher
        .decrypt(
            &n,
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .map_err(|_| Error::HpkeDecryptionFailed)
}

/// The context's `Export(exporter_context, L)` (RFC 9180 §5.3).
fn export(
    shared: &[u8; 32],
    info: &[u8],
    exporter_context: &[u8],
    length: usize,
) -> Result<Zeroizing<Vec<u8>>> {
    let (ksc, secret) = schedule_secret(shared, &labeled_extract_info_hash(info));
    let mut exporter_secret = Zeroizing::new([0u8; 32]);
    labeled_expand(HPKE_SUITE_ID, &*secret, b"exp", &ksc, &mut *exporter_secret)?;
    let mut out = Zeroizing::new(vec![0u8; length]);
    labeled_expand(
        HPKE_SUITE_ID,
        &*exporter_secret,
        b"sec",
        exporter_context,
        &mut out,
    )?;
    Ok(out)
}

/// `DeriveKeyPair(ikm)` of DHKEM(X25519, HKDF-SHA256) (RFC 9180 §7.1.3): the private key
/// (as stored; X25519 clamps it when used) and its public key.
///
/// # Errors
/// Only an internal HKDF failure.
pub(crate) fn derive_key_pair(ikm: &[u8]) -> Result<(Zeroizing<[u8; 32]>, [u8; 32])> {
    let dkp_prk = Zeroizing::new(labeled_extract(KEM_SUITE_ID, &[], b"dkp_prk", ikm));
    let mut sk = Zeroizing::new([0u8; 32]);
    labeled_expand(KEM_SUITE_ID, &*dkp_prk, b"sk", &[], &mut *sk)?;
    let pk = x25519_dalek::PublicKey::from(&x25519_dalek::StaticSecret::from(*sk)).to_bytes();
    Ok((sk, pk))
}

/// `SetupBaseS` with the ephemeral secret `ske`, then `Export`: the KEM output and the
/// exported secret.
///
/// # Errors
/// [`Error::BadLength`] for a key of the wrong size; [`Error::BadPublicKey`] when the DH
/// output is zero.
pub(crate) fn export_sender(
    public_key: &[u8],
    ske: &[u8; 32],
    info: &[u8],
    exporter_context: &[u8],
    length: usize,
) -> Result<([u8; 32], Zeroizing<Vec<u8>>)> {
    let pk: [u8; 32] = public_key.try_into().map_err(|_| Error::BadLength {
        field: "external_pub",
        expected: 32,
        found: public_key.len(),
    })?;
    let sk_e = x25519_dalek::StaticSecret::from(*ske);
    let enc = x25519_dalek::PublicKey::from(&sk_e).to_bytes();
    let dh = Zeroizing::new(
        sk_e.diffie_hellman(&x25519_dalek::PublicKey::from(pk))
            .to_bytes(),
    );
    if dh.iter().all(|b| *b == 0) {
        return Err(Error::BadPublicKey {
            field: "external_pub",
        });
    }
    let shared = kem_shared_secret(&dh, &enc, &pk)?;
    Ok((enc, export(&shared, info, exporter_context, length)?))
}

/// `SetupBaseR` with the private key `sk_r`, then `Export`.
///
/// # Errors
/// [`Error::BadLength`] for a KEM output or key of the wrong size;
/// [`Error::HpkeDecryptionFailed`] when the DH output is zero.
pub(crate) fn export_receiver(
    sk_r: &[u8],
    kem_output: &[u8],
    info: &[u8],
    exporter_context: &[u8],
    length: usize,
) -> Result<Zeroizing<Vec<u8>>> {
    let enc: [u8; 32] = kem_output.try_into().map_err(|_| Error::BadLength {
        field: "kem_output",
        expected: 32,
        found: kem_output.len(),
    })?;
    let sk: Zeroizing<[u8; 32]> =
        Zeroizing::new(sk_r.try_into().map_err(|_| Error::BadLength {
            field: "hpke_private_key",
            expected: 32,
            found: sk_r.len(),
        })?);
    let sk = x25519_dalek::StaticSecret::from(*sk);
    let pk_r = x25519_dalek::PublicKey::from(&sk).to_bytes();
    let dh = Zeroizing::new(
        sk.diffie_hellman(&x25519_dalek::PublicKey::from(enc))
            .to_bytes(),
    );
    if dh.iter().all(|b| *b == 0) {
        return Err(Error::HpkeDecryptionFailed);
    }
    let shared = kem_shared_secret(&dh, &enc, &pk_r)?;
    export(&shared, info, exporter_context, length)
}

/// RFC 9180 `SealBase` for DHKEM(X25519) / HKDF-SHA256 / AES-128-GCM with the ephemeral
/// secret `ske` and a precomputed `info_hash`.
pub(crate) fn seal_with_ephemeral(
    public_key: &[u8],
    ske: &[u8; 32],
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
    let sk_e = x25519_dalek::StaticSecret::from(*ske);
    let enc = x25519_dalek::PublicKey::from(&sk_e).to_bytes();
    let dh = Zeroizing::new(sk_e.diffie_hellman(&pk_r).to_bytes());
    if dh.iter().all(|b| *b == 0) {
        return Err(Error::BadPublicKey {
            field: "hpke_public_key",
        });
    }
    let shared = kem_shared_secret(&dh, &enc, &pk)?;
    let (key, nonce) = key_schedule(&shared, info_hash)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use hpke_rs::hpke_types::{AeadAlgorithm, KdfAlgorithm, KemAlgorithm};
    use hpke_rs::{Hpke, HpkePrivateKey, HpkePublicKey, Mode};
    use hpke_rs_rust_crypto::HpkeRustCrypto;

    fn reference() -> Hpke<HpkeRustCrypto> {
        Hpke::<HpkeRustCrypto>::new(
            Mode::Base,
            KemAlgorithm::DhKem25519,
            KdfAlgorithm::HkdfSha256,
            AeadAlgorithm::Aes128Gcm,
        )
    }

    fn key_pair() -> ([u8; 32], [u8; 32]) {
        let mut sk = [0u8; 32];
        getrandom::fill(&mut sk).unwrap();
        let pk = x25519_dalek::PublicKey::from(&x25519_dalek::StaticSecret::from(sk)).to_bytes();
        (sk, pk)
    }

    #[test]
    fn open_reads_what_hpke_rs_seals_and_hpke_rs_reads_what_seal_writes() {
        let (sk, pk) = key_pair();
        let info = b"some info".to_vec();
        let (enc, ct) = reference()
            .seal(
                &HpkePublicKey::from(&pk[..]),
                &info,
                b"aad",
                b"hello",
                None,
                None,
                None,
            )
            .unwrap();
        assert_eq!(open(&sk, None, &enc, &info, b"aad", &ct).unwrap(), b"hello");

        let mut ske = [0u8; 32];
        getrandom::fill(&mut ske).unwrap();
        let ours = seal_with_ephemeral(
            &pk,
            &ske,
            &labeled_extract_info_hash(&info),
            b"aad",
            b"world",
        )
        .unwrap();
        let theirs = reference()
            .open(
                &ours.kem_output,
                &HpkePrivateKey::from(&sk[..]),
                &info,
                b"aad",
                &ours.ciphertext,
                None,
                None,
                None,
            )
            .unwrap();
        assert_eq!(theirs, b"world");
    }

    #[test]
    fn open_rejects_wrong_sizes_tampering_and_a_low_order_kem_output() {
        let (sk, pk) = key_pair();
        let mut ske = [0u8; 32];
        getrandom::fill(&mut ske).unwrap();
        let ct =
            seal_with_ephemeral(&pk, &ske, &labeled_extract_info_hash(b"i"), b"", b"x").unwrap();
        assert!(matches!(
            open(&sk, None, &ct.kem_output[..31], b"i", b"", &ct.ciphertext),
            Err(Error::BadLength {
                field: "kem_output",
                expected: 32,
                found: 31
            })
        ));
        assert!(matches!(
            open(&[1u8; 33], None, &ct.kem_output, b"i", b"", &ct.ciphertext),
            Err(Error::BadLength {
                field: "hpke_private_key",
                ..
            })
        ));
        let mut bad = ct.ciphertext.clone();
        bad[0] ^= 1;
        assert!(matches!(
            open(&sk, None, &ct.kem_output, b"i", b"", &bad),
            Err(Error::HpkeDecryptionFailed)
        ));
        // Other info or aad: rejected.
        assert!(open(&sk, None, &ct.kem_output, b"j", b"", &ct.ciphertext).is_err());
        assert!(open(&sk, None, &ct.kem_output, b"i", b"a", &ct.ciphertext).is_err());
        // The all-zero point gives an all-zero DH output: rejected (RFC 9180 §7.1.4).
        assert!(matches!(
            open(&sk, None, &[0u8; 32], b"i", b"", &ct.ciphertext),
            Err(Error::HpkeDecryptionFailed)
        ));
        // With the public key supplied: the right one opens, another one does not.
        assert_eq!(
            open(&sk, Some(&pk), &ct.kem_output, b"i", b"", &ct.ciphertext).unwrap(),
            b"x"
        );
        let (_, other) = key_pair();
        assert!(matches!(
            open(&sk, Some(&other), &ct.kem_output, b"i", b"", &ct.ciphertext),
            Err(Error::HpkeDecryptionFailed)
        ));
        assert!(matches!(
            seal_with_ephemeral(&[0u8; 32], &ske, &[0u8; 32], b"", b"x"),
            Err(Error::BadPublicKey { .. })
        ));
    }

    #[test]
    fn derive_key_pair_matches_hpke_rs() {
        for ikm in [&b""[..], b"seed", &[7u8; 64]] {
            let (sk, pk) = derive_key_pair(ikm).unwrap();
            let kp = reference().derive_key_pair(ikm).unwrap();
            let (tsk, tpk) = kp.into_keys();
            assert_eq!(&sk[..], tsk.as_slice());
            assert_eq!(&pk[..], tpk.as_slice());
        }
    }

    #[test]
    fn exports_agree_with_hpke_rs_both_ways() {
        let (sk_r, pk_r) = derive_key_pair(b"receiver").unwrap();
        // Ours sends, hpke-rs receives.
        let (enc, ours) = export_sender(&pk_r, &[9u8; 32], b"info", b"ctx", 48).unwrap();
        let ctx = reference()
            .setup_receiver(
                &enc,
                &HpkePrivateKey::from(&sk_r[..]),
                b"info",
                None,
                None,
                None,
            )
            .unwrap();
        assert_eq!(&ours[..], ctx.export(b"ctx", 48).unwrap().as_slice());
        // hpke-rs sends, ours receives.
        let mut h = reference();
        let (enc, ctx) = h
            .setup_sender(&HpkePublicKey::from(&pk_r[..]), b"info", None, None, None)
            .unwrap();
        let want = ctx.export(b"ctx", 32).unwrap();
        let got = export_receiver(&sk_r[..], &enc, b"info", b"ctx", 32).unwrap();
        assert_eq!(&got[..], want.as_slice());
        // Another context or info exports something else.
        let other = export_receiver(&sk_r[..], &enc, b"info", b"other", 32).unwrap();
        assert_ne!(&other[..], want.as_slice());
    }

    #[test]
    fn exports_refuse_keys_of_the_wrong_size() {
        assert!(export_sender(&[1; 31], &[9; 32], b"", b"", 32).is_err());
        assert!(export_receiver(&[1; 32], &[2; 33], b"", b"", 32).is_err());
    }
}
