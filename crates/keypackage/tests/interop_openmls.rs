//! Interoperability with OpenMLS 0.9: KeyPackages cross in both directions,
//! each side's validation accepts the other's, and both compute the same
//! KeyPackageRef. GREASE crosses too: OpenMLS accepts ours in the capability
//! lists and refuses GREASE extensions (why they are off by default); we accept
//! OpenMLS's.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use nipee_keypackage::{
    Credential, Encode, Error, ExtensionType as NExtensionType, KeyPackage as NKeyPackage,
    KeyPackageBundle, KeyPackageOptions, ValidationPolicy,
};
use openmls::prelude::tls_codec::{Deserialize as _, Serialize as _};
use openmls::prelude::*;
use openmls_basic_credential::SignatureKeyPair;
use openmls_rust_crypto::OpenMlsRustCrypto;

const SUITE: Ciphersuite = Ciphersuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519;

/// OpenMLS checks lifetimes against the system clock, so these tests use it.
fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn openmls_key_package(
    provider: &OpenMlsRustCrypto,
    identity: &[u8],
    last_resort: bool,
) -> openmls::prelude::KeyPackage {
    openmls_key_package_with(provider, identity, last_resort, false)
}

fn openmls_key_package_with(
    provider: &OpenMlsRustCrypto,
    identity: &[u8],
    last_resort: bool,
    grease: bool,
) -> openmls::prelude::KeyPackage {
    let signer = SignatureKeyPair::new(SUITE.signature_algorithm()).unwrap();
    let credential_with_key = CredentialWithKey {
        credential: BasicCredential::new(identity.to_vec()).into(),
        signature_key: signer.public().into(),
    };
    let capabilities = Capabilities::new(
        None,
        Some(&[SUITE]),
        Some(&[ExtensionType::LastResort, ExtensionType::Unknown(0xF2EE)]),
        None,
        Some(&[CredentialType::Basic]),
    );
    let capabilities = if grease {
        capabilities.with_grease(provider.rand())
    } else {
        capabilities
    };
    let mut builder = KeyPackage::builder().leaf_node_capabilities(capabilities);
    if last_resort {
        builder = builder.mark_as_last_resort();
    }
    builder
        .build(SUITE, provider, &signer, credential_with_key)
        .unwrap()
        .key_package()
        .clone()
}

#[test]
fn an_openmls_key_package_decodes_validates_and_hashes_the_same_here() {
    let provider = OpenMlsRustCrypto::default();
    for last_resort in [false, true] {
        let theirs = openmls_key_package(&provider, b"alice", last_resort);
        let bytes = theirs.tls_serialize_detached().unwrap();

        let ours = NKeyPackage::from_bytes(&bytes).unwrap();
        assert_eq!(ours.to_bytes().unwrap(), bytes, "byte-exact re-encoding");
        ours.validate(&ValidationPolicy::at(now())).unwrap();
        assert_eq!(ours.is_last_resort(), last_resort);
        assert_eq!(
            ours.leaf_node.credential,
            Credential::basic(b"alice".to_vec()).unwrap()
        );
        assert!(
            ours.leaf_node
                .capabilities
                .supports_extension(NExtensionType::NOSTR_GROUP_DATA)
        );

        // Same KeyPackageRef.
        let their_ref = theirs.hash_ref(provider.crypto()).unwrap();
        assert_eq!(their_ref.as_slice(), ours.reference().unwrap().as_bytes());

        // In an MLSMessage, too.
        let message = MlsMessageOut::from(theirs.clone())
            .tls_serialize_detached()
            .unwrap();
        let framed = NKeyPackage::from_mls_message_bytes(&message).unwrap();
        assert_eq!(framed, ours);
        assert_eq!(framed.to_mls_message_bytes().unwrap(), message);

        // A tampered OpenMLS KeyPackage is refused here.
        let mut tampered = ours.clone();
        tampered.init_key[0] ^= 1;
        assert_eq!(
            tampered.validate(&ValidationPolicy::at(now())),
            Err(Error::InvalidKeyPackageSignature)
        );
    }
}

fn openmls_validate(bytes: &[u8]) -> Result<openmls::prelude::KeyPackage, KeyPackageVerifyError> {
    let provider = OpenMlsRustCrypto::default();
    let key_package_in = KeyPackageIn::tls_deserialize_exact(bytes).unwrap();
    key_package_in.validate(provider.crypto(), ProtocolVersion::Mls10)
}

#[test]
fn a_key_package_made_here_is_accepted_by_openmls_with_the_same_ref() {
    let provider = OpenMlsRustCrypto::default();
    let now = now();
    for options in [
        KeyPackageOptions::new(now),
        KeyPackageOptions::nip_ee(now),
        KeyPackageOptions::nip_ee(now).without_grease(),
    ] {
        let bundle = KeyPackageBundle::generate(b"bob", &options, &mut common::rng(now)).unwrap();
        let ours = bundle.key_package();
        assert_eq!(ours.leaf_node.capabilities.has_grease(), options.grease);
        let bytes = ours.to_bytes().unwrap();

        let theirs = openmls_validate(&bytes).unwrap();
        assert_eq!(theirs.tls_serialize_detached().unwrap(), bytes);
        assert_eq!(theirs.last_resort(), ours.is_last_resort());
        assert_eq!(
            theirs.hash_ref(provider.crypto()).unwrap().as_slice(),
            ours.reference().unwrap().as_bytes()
        );
        assert_eq!(theirs.leaf_node().credential().serialized_content(), b"bob");
        assert_eq!(
            theirs.leaf_node().signature_key().as_slice(),
            bundle.signature_secret().public_key()
        );
        assert_eq!(
            theirs.hpke_init_key().as_slice(),
            bundle.init_secret().public_key()
        );

        // OpenMLS reads our MLSMessage framing as a KeyPackage message.
        let message = ours.to_mls_message_bytes().unwrap();
        let parsed = MlsMessageIn::tls_deserialize_exact(&message).unwrap();
        match parsed.extract() {
            MlsMessageBodyIn::KeyPackage(kp_in) => {
                let validated = kp_in
                    .validate(provider.crypto(), ProtocolVersion::Mls10)
                    .unwrap();
                assert_eq!(validated, theirs);
            }
            _ => panic!("not a KeyPackage message"),
        }
    }
}

#[test]
fn openmls_refuses_a_key_package_made_here_once_tampered() {
    let now = now();
    let bundle =
        KeyPackageBundle::generate(b"bob", &KeyPackageOptions::new(now), &mut common::rng(1))
            .unwrap();
    let mut kp = bundle.key_package().clone();
    kp.signature[5] ^= 1;
    assert!(matches!(
        openmls_validate(&kp.to_bytes().unwrap()),
        Err(KeyPackageVerifyError::InvalidSignature)
    ));
    let mut kp = bundle.key_package().clone();
    kp.leaf_node.signature[5] ^= 1;
    assert!(matches!(
        openmls_validate(&kp.to_bytes().unwrap()),
        Err(KeyPackageVerifyError::InvalidLeafNodeSignature)
    ));
}

/// RFC 9420 §13.5 asks for GREASE in the four capability lists: OpenMLS 0.9 accepts
/// our KeyPackages that carry it, in every one of 32 random selections, and sees the
/// values as GREASE.
#[test]
fn openmls_accepts_our_key_packages_with_grease_in_every_capability_list() {
    let now = now();
    for seed in 0..32 {
        let bundle = KeyPackageBundle::generate(
            b"bob",
            &KeyPackageOptions::nip_ee(now),
            &mut common::rng(seed),
        )
        .unwrap();
        let bytes = bundle.key_package().to_bytes().unwrap();
        let theirs = openmls_validate(&bytes).unwrap();
        let caps = theirs.leaf_node().capabilities();
        assert!(caps.ciphersuites().iter().any(|c| c.is_grease()));
        assert!(caps.extensions().iter().any(|e| e.is_grease()));
        assert!(caps.proposals().iter().any(|p| p.is_grease()));
        assert!(caps.credentials().iter().any(|c| c.is_grease()));
    }
}

/// Why GREASE extensions are off by default: OpenMLS up to 0.9.2 refuses every KeyPackage
/// with a GREASE type in `KeyPackage.extensions` or `LeafNode.extensions`, listed in the
/// capabilities or not (openmls issue 2156: the extension's type decodes as `Unknown`, the
/// capability as `Grease`). When this test fails, the OpenMLS in use accepts them, and
/// `KeyPackageOptions::grease_extensions` can be turned on by default.
#[test]
fn openmls_0_9_refuses_grease_extensions_which_is_why_they_are_off_by_default() {
    let now = now();
    let bundle = KeyPackageBundle::generate(
        b"bob",
        &KeyPackageOptions::nip_ee(now).with_grease_extensions(),
        &mut common::rng(3),
    )
    .unwrap();
    // Valid by RFC 9420 (and here).
    bundle
        .key_package()
        .validate(&ValidationPolicy::at(now))
        .unwrap();
    assert!(matches!(
        openmls_validate(&bundle.key_package().to_bytes().unwrap()),
        Err(KeyPackageVerifyError::UnsupportedExtension)
    ));
}

/// OpenMLS's own GREASE (`Capabilities::with_grease`) is ignored here, as RFC 9420 §7.2
/// requires ("unknown values in `capabilities` MUST be ignored").
#[test]
fn an_openmls_key_package_with_its_grease_is_accepted_here() {
    let provider = OpenMlsRustCrypto::default();
    for _ in 0..8 {
        let theirs = openmls_key_package_with(&provider, b"carol", true, true);
        let bytes = theirs.tls_serialize_detached().unwrap();
        let ours = NKeyPackage::from_bytes(&bytes).unwrap();
        assert!(ours.leaf_node.capabilities.has_grease());
        ours.validate(&ValidationPolicy::at(now())).unwrap();
        assert_eq!(
            theirs.hash_ref(provider.crypto()).unwrap().as_slice(),
            ours.reference().unwrap().as_bytes()
        );
    }
}
