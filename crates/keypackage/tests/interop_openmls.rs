//! Interoperability with OpenMLS 0.9: KeyPackages cross in both directions,
//! each side's validation accepts the other's, and both compute the same
//! KeyPackageRef.
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
    for options in [KeyPackageOptions::new(now), KeyPackageOptions::nip_ee(now)] {
        let bundle = KeyPackageBundle::generate(b"bob", &options, &mut common::rng(now)).unwrap();
        let ours = bundle.key_package();
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
