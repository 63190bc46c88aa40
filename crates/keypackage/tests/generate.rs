//! Generation, storage, and signing LeafNodes for Update and Commit.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{NOW, bundle, rng};
use nipee_keypackage::{
    Capabilities, CipherSuite, CredentialType, Encode, Error, ErrorKind, Extension, ExtensionType,
    KeyPackage, KeyPackageBundle, KeyPackageOptions, LeafNode, LeafNodeContext, LeafNodeSource,
    LeafNodeSourceType, ProtocolVersion, STORAGE_VERSION, SignatureSecretKey, ValidationPolicy,
};

#[test]
fn a_generated_key_package_validates_and_round_trips() {
    let b = bundle(3);
    let kp = b.key_package();
    kp.validate(&ValidationPolicy::at(NOW)).unwrap();
    assert_eq!(kp.version, ProtocolVersion::MLS10);
    assert_eq!(kp.cipher_suite, CipherSuite(1));
    assert_eq!(kp.init_key, b.init_secret().public_key());
    assert_eq!(
        kp.leaf_node.encryption_key,
        b.encryption_secret().public_key()
    );
    assert_eq!(
        kp.leaf_node.signature_key,
        b.signature_secret().public_key()
    );
    assert_ne!(kp.init_key, kp.leaf_node.encryption_key);
    let lifetime = kp.leaf_node.lifetime().unwrap();
    assert_eq!(lifetime.not_before, NOW - 3600);
    assert_eq!(lifetime.not_after, NOW + 12 * 7 * 24 * 3600);
    let bytes = kp.to_bytes().unwrap();
    assert_eq!(&KeyPackage::from_bytes(&bytes).unwrap(), kp);
    assert!(!kp.is_last_resort());
}

#[test]
fn generation_is_a_function_of_the_rng() {
    assert_eq!(bundle(5).key_package(), bundle(5).key_package());
    assert_ne!(
        bundle(5).key_package().init_key,
        bundle(6).key_package().init_key
    );
    let os =
        KeyPackageBundle::generate_with_os_entropy(b"bob", &KeyPackageOptions::new(NOW)).unwrap();
    os.key_package()
        .validate(&ValidationPolicy::at(NOW))
        .unwrap();
}

#[test]
fn nip_ee_options_make_a_last_resort_key_package_with_grease() {
    let b = KeyPackageBundle::generate(
        b"npub-bytes-or-hex",
        &KeyPackageOptions::nip_ee(NOW),
        &mut rng(9),
    )
    .unwrap();
    let kp = b.key_package();
    assert!(kp.is_last_resort());
    let caps = &kp.leaf_node.capabilities;
    assert!(caps.extensions.contains(&ExtensionType::LAST_RESORT));
    assert!(caps.extensions.contains(&ExtensionType::NOSTR_GROUP_DATA));
    assert!(caps.cipher_suites.iter().any(|s| s.is_grease()));
    assert!(caps.extensions.iter().any(|e| e.is_grease()));
    assert!(caps.proposals.iter().any(|p| p.is_grease()));
    assert!(caps.credentials.iter().any(|c| c.is_grease()));
    // GREASE is ignored by the checks.
    kp.validate(&ValidationPolicy::at(NOW)).unwrap();
    assert!(caps.supports_credential(CredentialType::BASIC));
}

#[test]
fn generation_lists_used_extensions_in_capabilities() {
    let mut options = KeyPackageOptions::new(NOW);
    options.capabilities = Capabilities {
        versions: vec![],
        cipher_suites: vec![],
        extensions: vec![],
        proposals: vec![],
        credentials: vec![],
    };
    options
        .key_package_extensions
        .push(Extension::new(ExtensionType(0xFF00), vec![1]));
    options
        .leaf_extensions
        .push(Extension::new(ExtensionType(0xFF01), vec![2]));
    options.leaf_extensions.push(Extension::new(
        ExtensionType::APPLICATION_ID,
        b"nipee".to_vec(),
    ));
    let b = KeyPackageBundle::generate(b"carol", &options, &mut rng(1)).unwrap();
    // What the KeyPackage really supports: its capabilities without GREASE.
    let caps = &b.key_package().leaf_node.capabilities.without_grease();
    assert_eq!(caps.versions, vec![ProtocolVersion::MLS10]);
    assert_eq!(caps.cipher_suites, vec![CipherSuite(1)]);
    assert_eq!(caps.credentials, vec![CredentialType::BASIC]);
    // Default types are never listed (RFC 9420 §7.2).
    assert_eq!(
        caps.extensions,
        vec![ExtensionType(0xFF00), ExtensionType(0xFF01)]
    );
    b.key_package()
        .validate(&ValidationPolicy::at(NOW))
        .unwrap();
}

#[test]
fn a_broken_rng_cannot_produce_an_invalid_key_package() {
    struct Zeros;
    impl rand_core::TryRng for Zeros {
        type Error = core::convert::Infallible;
        fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
            Ok(0)
        }
        fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
            Ok(0)
        }
        fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
            dst.fill(0);
            Ok(())
        }
    }
    impl rand_core::TryCryptoRng for Zeros {}
    let result = KeyPackageBundle::generate(b"x", &KeyPackageOptions::new(NOW), &mut Zeros);
    assert_eq!(result.unwrap_err(), Error::InitKeyEqualsEncryptionKey);
}

#[test]
fn bad_options_are_misuse() {
    let mut options = KeyPackageOptions::new(u64::MAX - 5);
    options.lifetime_secs = 10;
    let err = KeyPackageBundle::generate(b"x", &options, &mut rng(1)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Misuse);
    let err = KeyPackageBundle::generate(&[0; 2000], &KeyPackageOptions::new(NOW), &mut rng(1))
        .unwrap_err();
    assert!(matches!(
        err,
        Error::TooLargeToEncode {
            field: "identity",
            ..
        }
    ));
}

#[test]
fn the_bundle_round_trips_through_storage() {
    let b = bundle(11);
    let stored = b.to_storage_bytes().unwrap();
    assert_eq!(stored[0], STORAGE_VERSION);
    let loaded = KeyPackageBundle::from_storage_bytes(&stored).unwrap();
    assert_eq!(loaded.key_package(), b.key_package());
    assert_eq!(loaded.init_secret(), b.init_secret());
    assert_eq!(loaded.encryption_secret(), b.encryption_secret());
    assert_eq!(loaded.signature_secret(), b.signature_secret());
}

#[test]
fn bad_storage_bytes_are_storage_errors() {
    let b = bundle(12);
    let stored = b.to_storage_bytes().unwrap().to_vec();

    let mut other_version = stored.clone();
    other_version[0] = 2;
    assert_eq!(
        KeyPackageBundle::from_storage_bytes(&other_version).unwrap_err(),
        Error::StorageVersion {
            expected: 1,
            found: 2
        }
    );
    for len in [0, 1, 5, stored.len() - 1] {
        let err = KeyPackageBundle::from_storage_bytes(&stored[..len]).unwrap_err();
        assert!(matches!(err, Error::CorruptStorage(_)), "{len}: {err:?}");
        assert_eq!(err.kind(), ErrorKind::Storage);
    }
    let mut trailing = stored.clone();
    trailing.push(0);
    assert!(matches!(
        KeyPackageBundle::from_storage_bytes(&trailing),
        Err(Error::CorruptStorage(_))
    ));
    // Swap the init and encryption secrets.
    let n = stored.len();
    let mut swapped = stored.clone();
    swapped[n - 96..n - 64].copy_from_slice(&stored[n - 64..n - 32]);
    swapped[n - 64..n - 32].copy_from_slice(&stored[n - 96..n - 64]);
    assert_eq!(
        KeyPackageBundle::from_storage_bytes(&swapped).unwrap_err(),
        Error::StorageKeyMismatch { field: "init_key" }
    );
    let mut wrong_sig = stored.clone();
    wrong_sig[n - 1] ^= 1;
    assert_eq!(
        KeyPackageBundle::from_storage_bytes(&wrong_sig).unwrap_err(),
        Error::StorageKeyMismatch {
            field: "signature_key"
        }
    );
}

#[test]
fn debug_output_holds_no_secret() {
    let b = bundle(13);
    let debug = format!("{b:?}");
    for secret in [
        b.init_secret().expose_secret(),
        b.encryption_secret().expose_secret(),
        b.signature_secret().expose_secret(),
    ] {
        assert!(!debug.contains(&hex::encode(secret)));
        assert!(!debug.contains(&format!("{:?}", secret)));
    }
    assert!(debug.contains(&hex::encode(b.key_package().init_key)));
}

#[test]
fn update_and_commit_leaves_sign_over_the_group_context() {
    let b = bundle(14);
    let policy = ValidationPolicy::at(NOW);
    let group_id = b"group-0123456789";

    // An Update: new encryption key, source update, signed for (group, leaf 3).
    let mut unsigned = b.key_package().leaf_node.to_unsigned();
    unsigned.encryption_key = [0x11; 32];
    unsigned.leaf_node_source = LeafNodeSource::Update;
    let update = unsigned
        .clone()
        .sign(b.signature_secret(), group_id, 3)
        .unwrap();
    let ctx = LeafNodeContext::Update {
        group_id,
        leaf_index: 3,
    };
    update.validate(&policy, ctx).unwrap();
    update
        .validate(
            &policy,
            LeafNodeContext::Tree {
                group_id,
                leaf_index: 3,
            },
        )
        .unwrap();
    // The signature binds the group and the leaf index.
    assert_eq!(
        update.verify_signature(b"other group", 3),
        Err(Error::InvalidLeafNodeSignature)
    );
    assert_eq!(
        update.verify_signature(group_id, 4),
        Err(Error::InvalidLeafNodeSignature)
    );
    assert_eq!(
        update.validate(&policy, LeafNodeContext::KeyPackage),
        Err(Error::WrongLeafNodeSource {
            expected: LeafNodeSourceType::KeyPackage,
            found: LeafNodeSourceType::Update
        })
    );
    // LeafNodeTBS ends with group_id<V> and the uint32 leaf index.
    let tbs = update.tbs_bytes(group_id, 3).unwrap();
    let mut tail = vec![u8::try_from(group_id.len()).unwrap()];
    tail.extend_from_slice(group_id);
    tail.extend_from_slice(&3u32.to_be_bytes());
    assert!(tbs.ends_with(&tail));
    assert_eq!(
        LeafNode::from_bytes(&update.to_bytes().unwrap()).unwrap(),
        update
    );

    // A Commit leaf with a parent hash.
    unsigned.leaf_node_source = LeafNodeSource::Commit {
        parent_hash: vec![0xAB; 32],
    };
    let commit = unsigned
        .clone()
        .sign(b.signature_secret(), group_id, 0)
        .unwrap();
    commit
        .validate(
            &policy,
            LeafNodeContext::Commit {
                group_id,
                leaf_index: 0,
            },
        )
        .unwrap();
    assert_eq!(
        LeafNode::from_bytes(&commit.to_bytes().unwrap()).unwrap(),
        commit
    );
    // An empty parent hash (one-member group) is allowed; 31 bytes are not.
    unsigned.leaf_node_source = LeafNodeSource::Commit {
        parent_hash: vec![],
    };
    unsigned
        .clone()
        .sign(b.signature_secret(), group_id, 0)
        .unwrap();
    unsigned.leaf_node_source = LeafNodeSource::Commit {
        parent_hash: vec![0; 31],
    };
    assert!(matches!(
        unsigned.clone().sign(b.signature_secret(), group_id, 0),
        Err(Error::InvalidOptions(_))
    ));

    // Signing needs the key of signature_key.
    let stranger = SignatureSecretKey::from_bytes([3; 32]);
    unsigned.leaf_node_source = LeafNodeSource::Update;
    assert_eq!(
        unsigned.sign(&stranger, group_id, 0).unwrap_err(),
        Error::SignerKeyMismatch
    );
}

#[test]
fn key_package_leaf_tbs_ignores_the_group_context() {
    let b = bundle(15);
    let leaf = &b.key_package().leaf_node;
    assert_eq!(
        leaf.tbs_bytes(b"group", 7).unwrap(),
        leaf.tbs_bytes(&[], 0).unwrap()
    );
    leaf.verify_signature(b"anything", 9).unwrap();
}

#[test]
fn the_reference_is_the_ref_hash_of_the_encoding() {
    let kp = bundle(16).key_package().clone();
    let bytes = kp.to_bytes().unwrap();
    let expected =
        nipee_keypackage::sign::ref_hash(b"MLS 1.0 KeyPackage Reference", &bytes).unwrap();
    assert_eq!(kp.reference().unwrap().0, expected);
    assert_ne!(
        kp.reference().unwrap(),
        bundle(17).key_package().reference().unwrap()
    );
}

#[test]
fn fresh_keys_come_from_the_rng() {
    use nipee_keypackage::HpkeSecretKey;
    let a = HpkeSecretKey::generate(&mut rng(1));
    let b = HpkeSecretKey::generate(&mut rng(1));
    let c = HpkeSecretKey::generate(&mut rng(2));
    assert_eq!(a, b);
    assert_ne!(a, c);
    let s = SignatureSecretKey::generate(&mut rng(3));
    assert_eq!(
        SignatureSecretKey::from_bytes(*s.expose_secret()).public_key(),
        s.public_key()
    );
}

#[test]
fn into_parts_hands_over_the_keys() {
    let b = bundle(18);
    let kp = b.key_package().clone();
    let (key_package, init, encryption, signature) = b.into_parts();
    assert_eq!(key_package, kp);
    assert_eq!(init.public_key(), kp.init_key);
    assert_eq!(encryption.public_key(), kp.leaf_node.encryption_key);
    assert_eq!(signature.public_key(), kp.leaf_node.signature_key);
}

#[test]
fn an_unknown_credential_cannot_pose_as_a_defined_type() {
    use nipee_keypackage::Credential;
    for credential_type in [CredentialType::BASIC, CredentialType::X509] {
        let c = Credential::Unknown {
            credential_type,
            bytes: vec![1, 2, 3],
        };
        assert!(matches!(c.to_bytes(), Err(Error::InvalidOptions(_))));
    }
}
