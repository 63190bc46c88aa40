//! Malformed and invalid KeyPackages: each is refused with its own error.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{NOW, bundle, resign, resign_leaf};
use nipee_keypackage::nipee_codec::{Error as CodecError, Writer};
use nipee_keypackage::{
    CipherSuite, Credential, CredentialType, Encode, Error, ErrorKind, Extension,
    ExtensionLocation, ExtensionType, KeyPackage, LeafNode, LeafNodeSource, LeafNodeSourceType,
    Lifetime, ProtocolVersion, ValidationPolicy,
};

fn valid() -> (nipee_keypackage::KeyPackageBundle, KeyPackage, Vec<u8>) {
    let b = bundle(1);
    let kp = b.key_package().clone();
    let bytes = kp.to_bytes().unwrap();
    (b, kp, bytes)
}

fn policy() -> ValidationPolicy {
    ValidationPolicy::at(NOW)
}

#[test]
fn the_valid_key_package_validates() {
    let (_, kp, bytes) = valid();
    KeyPackage::from_bytes(&bytes)
        .unwrap()
        .validate(&policy())
        .unwrap();
    kp.validate(&policy()).unwrap();
}

#[test]
fn every_truncation_is_a_malformed_error() {
    let (_, _, bytes) = valid();
    for len in 0..bytes.len() {
        let err = KeyPackage::from_bytes(&bytes[..len]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Malformed, "prefix {len}: {err}");
        assert!(
            matches!(
                err,
                Error::Codec(CodecError::Truncated { .. } | CodecError::LengthExceedsInput { .. })
            ),
            "prefix {len}: {err:?}"
        );
    }
}

#[test]
fn trailing_bytes_are_refused() {
    let (_, kp, mut bytes) = valid();
    bytes.push(0);
    assert_eq!(
        KeyPackage::from_bytes(&bytes),
        Err(Error::Codec(CodecError::TrailingBytes { count: 1 }))
    );
    let mut msg = kp.to_mls_message_bytes().unwrap();
    msg.extend_from_slice(&[1, 2]);
    assert_eq!(
        KeyPackage::from_mls_message_bytes(&msg),
        Err(Error::Codec(CodecError::TrailingBytes { count: 2 }))
    );
}

/// Replaces the `opaque<V>` whose one-byte header sits at `at` (a 32-byte
/// key) by one of `len` bytes.
fn resize_key(bytes: &[u8], at: usize, len: usize) -> Vec<u8> {
    assert_eq!(bytes[at], 32);
    let mut out = bytes[..at].to_vec();
    out.push(u8::try_from(len).unwrap());
    out.extend(std::iter::repeat_n(0x55, len));
    out.extend_from_slice(&bytes[at + 33..]);
    out
}

#[test]
fn keys_of_31_and_33_bytes_are_refused_naming_the_field() {
    let (_, _, bytes) = valid();
    // version(2) suite(2) init_key(1+32) encryption_key(1+32) signature_key(1+32)
    for (at, field) in [
        (4, "init_key"),
        (37, "encryption_key"),
        (70, "signature_key"),
    ] {
        for len in [31, 33] {
            assert_eq!(
                KeyPackage::from_bytes(&resize_key(&bytes, at, len)),
                Err(Error::Codec(CodecError::LengthMismatch {
                    field,
                    expected: 32,
                    found: len
                })),
                "{field} of {len} bytes"
            );
        }
    }
}

#[test]
fn signatures_of_63_and_65_bytes_are_refused_naming_the_field() {
    let (_, kp, _) = valid();
    for len in [63usize, 65] {
        let mut w = Writer::new();
        w.bytes(&kp.tbs_bytes().unwrap());
        w.vl_bytes("sig", &vec![7u8; len]).unwrap();
        assert_eq!(
            KeyPackage::from_bytes(w.as_bytes()),
            Err(Error::Codec(CodecError::LengthMismatch {
                field: "key_package.signature",
                expected: 64,
                found: len
            }))
        );
        let leaf = kp.leaf_node.to_unsigned().tbs_bytes(&[], 0).unwrap();
        let mut w = Writer::new();
        w.bytes(&leaf);
        w.vl_bytes("sig", &vec![7u8; len]).unwrap();
        assert_eq!(
            LeafNode::from_bytes(w.as_bytes()),
            Err(Error::Codec(CodecError::LengthMismatch {
                field: "leaf_node.signature",
                expected: 64,
                found: len
            }))
        );
    }
}

#[test]
fn a_non_minimal_length_is_refused() {
    let (_, _, bytes) = valid();
    // init_key's length 32 written in two bytes.
    let mut bad = bytes[..4].to_vec();
    bad.extend_from_slice(&[0x40, 0x20]);
    bad.extend_from_slice(&bytes[5..]);
    assert!(matches!(
        KeyPackage::from_bytes(&bad),
        Err(Error::Codec(CodecError::NonMinimalVarint {
            field: "init_key",
            ..
        }))
    ));
}

#[test]
fn a_wrong_key_package_signature_is_refused() {
    let (_, mut kp, _) = valid();
    kp.signature[10] ^= 0x01;
    assert_eq!(
        kp.validate(&policy()),
        Err(Error::InvalidKeyPackageSignature)
    );
}

#[test]
fn a_wrong_leaf_node_signature_is_refused() {
    let (_, mut kp, _) = valid();
    kp.leaf_node.signature[0] ^= 0x80;
    assert_eq!(kp.validate(&policy()), Err(Error::InvalidLeafNodeSignature));
}

#[test]
fn a_changed_field_breaks_both_signatures() {
    let (b, kp, _) = valid();
    // Leaf content changed, leaf not re-signed.
    let mut changed = kp.clone();
    changed.leaf_node.credential = Credential::basic(b"mallory".to_vec()).unwrap();
    assert_eq!(
        changed.validate(&policy()),
        Err(Error::InvalidLeafNodeSignature)
    );
    // Leaf re-signed, KeyPackage not.
    changed.leaf_node = resign_leaf(&b, &changed.leaf_node);
    assert_eq!(
        changed.validate(&policy()),
        Err(Error::InvalidKeyPackageSignature)
    );
    // A KeyPackage signed by another key.
    let other = bundle(2);
    let mut foreign = kp.clone();
    foreign.signature = other.key_package().signature;
    assert_eq!(
        foreign.validate(&policy()),
        Err(Error::InvalidKeyPackageSignature)
    );
}

#[test]
fn init_key_equal_to_encryption_key_is_refused() {
    let (b, mut kp, _) = valid();
    kp.init_key = kp.leaf_node.encryption_key;
    let kp = resign(&b, kp);
    assert_eq!(
        kp.validate(&policy()),
        Err(Error::InitKeyEqualsEncryptionKey)
    );
}

#[test]
fn expired_and_not_yet_valid_lifetimes_are_refused() {
    let (_, kp, _) = valid();
    let Lifetime {
        not_before,
        not_after,
    } = *kp.leaf_node.lifetime().unwrap();
    assert_eq!(not_before, NOW - 3600);
    kp.validate(&ValidationPolicy::at(not_before)).unwrap();
    kp.validate(&ValidationPolicy::at(not_after)).unwrap();
    assert_eq!(
        kp.validate(&ValidationPolicy::at(not_after + 1)),
        Err(Error::LifetimeExpired {
            not_after,
            now: not_after + 1
        })
    );
    assert_eq!(
        kp.validate(&ValidationPolicy::at(not_before - 1)),
        Err(Error::LifetimeNotYetValid {
            not_before,
            now: not_before - 1
        })
    );
    // The fixed-vector opt-out skips the clock.
    kp.validate(&ValidationPolicy::for_fixed_vectors()).unwrap();
}

#[test]
fn too_long_and_inverted_lifetimes_are_refused() {
    let (b, mut kp, _) = valid();
    kp.leaf_node.leaf_node_source = LeafNodeSource::KeyPackage {
        lifetime: Lifetime {
            not_before: NOW - 10,
            not_after: NOW + 365 * 24 * 3600,
        },
    };
    let long = resign(&b, kp.clone());
    assert!(matches!(
        long.validate(&policy()),
        Err(Error::LifetimeTooLong { .. })
    ));
    let mut lenient = policy();
    lenient.max_lifetime_secs = None;
    long.validate(&lenient).unwrap();

    kp.leaf_node.leaf_node_source = LeafNodeSource::KeyPackage {
        lifetime: Lifetime {
            not_before: NOW + 10,
            not_after: NOW,
        },
    };
    let inverted = resign(&b, kp);
    assert_eq!(
        inverted.validate(&policy()),
        Err(Error::LifetimeInverted {
            not_before: NOW + 10,
            not_after: NOW
        })
    );
}

#[test]
fn unknown_and_x509_credentials_decode_but_are_refused_by_policy() {
    let (b, mut kp, _) = valid();
    let unknown = CredentialType(0x7777);
    kp.leaf_node.credential = Credential::Unknown {
        credential_type: unknown,
        bytes: b"opaque credential".to_vec(),
    };
    kp.leaf_node.capabilities.credentials.push(unknown);
    let kp_unknown = resign(&b, kp.clone());
    let bytes = kp_unknown.to_bytes().unwrap();
    let decoded = KeyPackage::from_bytes(&bytes).unwrap();
    assert_eq!(decoded, kp_unknown);
    assert_eq!(
        decoded.validate(&policy()),
        Err(Error::UnsupportedCredentialType(unknown))
    );
    assert_eq!(
        decoded.validate(&policy()).unwrap_err().kind(),
        ErrorKind::Unsupported
    );
    // A policy that accepts the type lets it through.
    let mut accepting = policy();
    accepting.credential_types.push(unknown);
    decoded.validate(&accepting).unwrap();

    kp.leaf_node.credential = Credential::X509 {
        certificates: vec![vec![0x30, 0x82, 0x01], vec![0x30]],
    };
    let kp_x509 = resign(&b, kp);
    let decoded = KeyPackage::from_bytes(&kp_x509.to_bytes().unwrap()).unwrap();
    assert_eq!(decoded, kp_x509);
    assert_eq!(
        decoded.validate(&policy()),
        Err(Error::UnsupportedCredentialType(CredentialType::X509))
    );
}

#[test]
fn a_credential_type_missing_from_capabilities_is_refused() {
    let (b, mut kp, _) = valid();
    kp.leaf_node.capabilities.credentials = vec![CredentialType(0x0A0A)];
    let kp = resign(&b, kp);
    assert_eq!(
        kp.validate(&policy()),
        Err(Error::CredentialNotInCapabilities(CredentialType::BASIC))
    );
}

#[test]
fn other_suites_and_versions_are_refused() {
    let (b, kp, bytes) = valid();
    // Bytes of suite 2: refused as soon as the suite is read.
    let mut suite2 = bytes.clone();
    suite2[3] = 2;
    assert_eq!(
        KeyPackage::from_bytes(&suite2),
        Err(Error::UnsupportedCipherSuite(2))
    );
    assert_eq!(
        KeyPackage::from_bytes(&[0, 1, 0, 3]),
        Err(Error::UnsupportedCipherSuite(3))
    );
    // A struct claiming another suite fails validation.
    let mut other = kp.clone();
    other.cipher_suite = CipherSuite(3);
    let other = resign(&b, other);
    assert_eq!(
        other.validate(&policy()),
        Err(Error::CipherSuiteMismatch {
            expected: CipherSuite(1),
            found: CipherSuite(3)
        })
    );
    // The suite must be among the leaf's capabilities.
    let mut unlisted = kp.clone();
    unlisted.leaf_node.capabilities.cipher_suites = vec![CipherSuite(0x0A0A)];
    let unlisted = resign(&b, unlisted);
    assert_eq!(
        unlisted.validate(&policy()),
        Err(Error::CipherSuiteNotInCapabilities(CipherSuite(1)))
    );
    // Another KeyPackage version.
    let mut v2 = kp.clone();
    v2.version = ProtocolVersion(2);
    let v2 = resign(&b, v2);
    assert_eq!(
        v2.validate(&policy()),
        Err(Error::UnsupportedProtocolVersion(2))
    );
    assert_eq!(
        v2.to_mls_message_bytes(),
        Err(Error::UnsupportedProtocolVersion(2))
    );
    // ... inside an mls10 message: the versions must agree.
    let mut msg = vec![0, 1, 0, 5];
    msg.extend_from_slice(&v2.to_bytes().unwrap());
    assert_eq!(
        KeyPackage::from_mls_message_bytes(&msg),
        Err(Error::MessageVersionMismatch {
            message: ProtocolVersion::MLS10,
            key_package: ProtocolVersion(2)
        })
    );
}

#[test]
fn mls_message_framing_is_checked() {
    let (_, kp, bytes) = valid();
    let msg = kp.to_mls_message_bytes().unwrap();
    assert_eq!(&msg[..4], &[0, 1, 0, 5]);
    assert_eq!(&msg[4..], &bytes[..]);
    assert_eq!(KeyPackage::from_mls_message_bytes(&msg).unwrap(), kp);

    let mut welcome = msg.clone();
    welcome[3] = 3;
    assert_eq!(
        KeyPackage::from_mls_message_bytes(&welcome),
        Err(Error::UnexpectedWireFormat {
            expected: 5,
            found: 3
        })
    );
    let mut v2 = msg.clone();
    v2[1] = 2;
    assert_eq!(
        KeyPackage::from_mls_message_bytes(&v2),
        Err(Error::UnsupportedProtocolVersion(2))
    );
    // A bare KeyPackage is not an MLSMessage, and vice versa.
    assert!(KeyPackage::from_mls_message_bytes(&bytes).is_err());
    assert!(KeyPackage::from_bytes(&msg).is_err());
}

/// RFC 9420 §7.3: "Verify that the extensions in the LeafNode are supported by
/// checking that the ID for each extension in the `extensions` field is listed
/// in the `capabilities.extensions` field of the LeafNode." §13: "unknown
/// extensions in `KeyPackage.extensions` MUST be ignored", so those need no
/// listing (the GREASE rules themselves are tested in `tests/grease.rs`).
#[test]
fn a_leaf_extension_missing_from_capabilities_is_refused_but_a_key_package_one_is_not() {
    let (b, kp, _) = valid();
    let private = ExtensionType(0xFF01);

    let mut in_kp = kp.clone();
    in_kp
        .extensions
        .push(Extension::new(private, vec![1, 2, 3]));
    resign(&b, in_kp).validate(&policy()).unwrap();

    let mut in_leaf = kp.clone();
    in_leaf
        .leaf_node
        .extensions
        .push(Extension::new(private, vec![]));
    let in_leaf = resign(&b, in_leaf);
    assert_eq!(
        in_leaf.validate(&policy()),
        Err(Error::ExtensionNotInCapabilities {
            location: ExtensionLocation::LeafNode,
            extension_type: private
        })
    );

    // Listed, the leaf extension is fine; a default type (application_id)
    // needs no listing.
    let mut listed = kp.clone();
    listed.extensions.push(Extension::new(private, vec![1]));
    listed
        .leaf_node
        .extensions
        .push(Extension::new(private, vec![4]));
    listed.leaf_node.extensions.push(Extension::new(
        ExtensionType::APPLICATION_ID,
        b"app".to_vec(),
    ));
    listed.leaf_node.capabilities.extensions.push(private);
    resign(&b, listed).validate(&policy()).unwrap();
}

#[test]
fn duplicate_extensions_are_refused() {
    let (b, mut kp, _) = valid();
    kp.extensions = vec![Extension::last_resort(), Extension::last_resort()];
    kp.leaf_node
        .capabilities
        .extensions
        .push(ExtensionType::LAST_RESORT);
    let kp = resign(&b, kp);
    assert_eq!(
        kp.validate(&policy()),
        Err(Error::DuplicateExtension {
            location: ExtensionLocation::KeyPackage,
            extension_type: ExtensionType::LAST_RESORT
        })
    );
}

#[test]
fn an_oversize_extension_list_is_refused() {
    let (_, kp, _) = valid();
    let many: Vec<Extension> = (0..65u16)
        .map(|i| Extension::new(ExtensionType(0x1000 + i), vec![]))
        .collect();

    // Encoding refuses to write what could not be read back.
    let mut too_many = kp.clone();
    too_many.extensions = many.clone();
    assert_eq!(
        too_many.to_bytes(),
        Err(Error::TooLargeToEncode {
            field: "key_package.extensions",
            limit: 64,
            found: 65
        })
    );

    // Decoding refuses the 65th element.
    let mut w = Writer::new();
    w.u16(1);
    w.u16(1);
    w.vl_bytes("init_key", &kp.init_key).unwrap();
    kp.leaf_node.encode(&mut w).unwrap();
    w.vl("extensions", |w| many.iter().try_for_each(|e| e.encode(w)))
        .unwrap();
    w.vl_bytes("signature", &kp.signature).unwrap();
    assert_eq!(
        KeyPackage::from_bytes(w.as_bytes()),
        Err(Error::Codec(CodecError::LimitExceeded {
            field: "key_package.extensions",
            limit: 64,
            found: 65
        }))
    );
}

#[test]
fn an_oversize_identity_is_refused() {
    assert_eq!(
        Credential::basic(vec![b'a'; 1025]),
        Err(Error::TooLargeToEncode {
            field: "identity",
            limit: 1024,
            found: 1025
        })
    );
    let (_, kp, bytes) = valid();
    // Rebuild the leaf bytes with a 1025-byte identity: header 2+1+32+1+32,
    // then credential_type(2) and identity<V>.
    let leaf = kp.leaf_node.to_bytes().unwrap();
    let identity_at = 66 + 2;
    let old_len = usize::from(leaf[identity_at]);
    let mut bad_leaf = leaf[..identity_at].to_vec();
    let mut w = Writer::new();
    w.vl_bytes("identity", &[b'a'; 1025]).unwrap();
    bad_leaf.extend_from_slice(w.as_bytes());
    bad_leaf.extend_from_slice(&leaf[identity_at + 1 + old_len..]);
    assert_eq!(
        LeafNode::from_bytes(&bad_leaf),
        Err(Error::Codec(CodecError::LimitExceeded {
            field: "identity",
            limit: 1024,
            found: 1025
        }))
    );
    assert!(bytes.len() > 70);
}

#[test]
fn a_key_package_with_a_non_key_package_leaf_is_refused() {
    let (b, mut kp, _) = valid();
    kp.leaf_node.leaf_node_source = LeafNodeSource::Update;
    let kp = resign(&b, kp);
    assert_eq!(
        kp.validate(&policy()),
        Err(Error::WrongLeafNodeSource {
            expected: LeafNodeSourceType::KeyPackage,
            found: LeafNodeSourceType::Update
        })
    );
}

#[test]
fn bad_leaf_node_source_values_and_parent_hash_lengths_are_refused() {
    let (_, kp, _) = valid();
    let leaf = kp.leaf_node.to_bytes().unwrap();
    let content = kp.leaf_node.to_unsigned();
    // Find the source byte: it follows the encoded capabilities.
    let mut prefix = nipee_keypackage::nipee_codec::Writer::new();
    prefix.vl_bytes("k", &content.encryption_key).unwrap();
    prefix.vl_bytes("k", &content.signature_key).unwrap();
    content.credential.encode(&mut prefix).unwrap();
    content.capabilities.encode(&mut prefix).unwrap();
    let at = prefix.len();
    assert_eq!(leaf[at], 1);
    for value in [0u8, 4, 255] {
        let mut bad = leaf.clone();
        bad[at] = value;
        assert_eq!(
            LeafNode::from_bytes(&bad),
            Err(Error::Codec(CodecError::InvalidValue {
                field: "leaf_node_source",
                value: u64::from(value),
                reason: "LeafNodeSource must be key_package(1), update(2) or commit(3)"
            }))
        );
    }
    // A commit leaf with a 31-byte parent hash.
    let mut bad = prefix.into_bytes();
    bad.push(3);
    bad.push(31);
    bad.extend_from_slice(&[0u8; 31]);
    bad.push(0); // extensions
    bad.extend_from_slice(&[0x40, 0x40]);
    bad.extend_from_slice(&[0u8; 64]);
    assert_eq!(
        LeafNode::from_bytes(&bad),
        Err(Error::Codec(CodecError::LengthMismatch {
            field: "parent_hash",
            expected: 32,
            found: 31
        }))
    );
}
