//! GREASE and unknown values in KeyPackages and LeafNodes (RFC 9420 §7.2, §7.3, §10, §13,
//! §13.5): each rule of the RFC, quoted, and the test that shows this crate follows it, on
//! receiving and on sending.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{NOW, resign, rng};
use nipee_keypackage::grease::MAX_GREASE_DATA_LEN;
use nipee_keypackage::limits::MAX_EXTENSION_DATA_LEN;
use nipee_keypackage::{
    Capabilities, CipherSuite, Credential, CredentialType, Encode, Error, Extension,
    ExtensionLocation, ExtensionType, GREASE_VALUES, HpkeSecretKey, KeyPackage, KeyPackageBundle,
    KeyPackageOptions, LeafNodeSource, Lifetime, ProposalType, ProtocolVersion, SignatureSecretKey,
    UnsignedLeafNode, ValidationPolicy, is_grease,
};
use rand::Rng;

fn policy() -> ValidationPolicy {
    ValidationPolicy::at(NOW)
}

/// A KeyPackage without any GREASE of its own, so that a test sees only what it adds.
fn plain(seed: u64) -> (KeyPackageBundle, KeyPackage) {
    let b = KeyPackageBundle::generate(
        b"alice",
        &KeyPackageOptions::new(NOW).without_grease(),
        &mut rng(seed),
    )
    .unwrap();
    let kp = b.key_package().clone();
    (b, kp)
}

// ----- receiving: what must be ignored -----

/// RFC 9420 §7.2: "unknown values in `capabilities` MUST be ignored"; §13: "A client
/// processing a KeyPackage object MUST ignore all unrecognized values in the `capabilities`
/// field of the LeafNode".
#[test]
fn unknown_and_grease_values_in_every_capability_list_are_ignored() {
    let (b, mut kp) = plain(1);
    let caps = &mut kp.leaf_node.capabilities;
    caps.versions
        .extend([ProtocolVersion(0x0002), ProtocolVersion(0x0A0A)]);
    caps.cipher_suites.extend([
        CipherSuite(0x2A2A),
        CipherSuite(0x0003),
        CipherSuite(0xFAFA),
    ]);
    caps.extensions
        .extend([ExtensionType(0x3A3A), ExtensionType(0xFF77)]);
    caps.proposals
        .extend([ProposalType(0x4A4A), ProposalType(0x0042)]);
    caps.credentials
        .extend([CredentialType(0x5A5A), CredentialType(0x0777)]);
    let kp = resign(&b, kp);
    kp.validate(&policy()).unwrap();
    assert!(kp.leaf_node.capabilities.has_grease());
    assert_eq!(
        KeyPackage::from_bytes(&kp.to_bytes().unwrap()).unwrap(),
        kp,
        "unknown values are kept as they arrive"
    );
}

/// RFC 9420 §10: "unknown extensions in `KeyPackage.extensions` MUST be ignored"; §13.5:
/// "For the KeyPackage and GroupInfo extensions, the `extension_data` for GREASE
/// extensions MAY have any contents selected by the sender". Only `LeafNode.extensions`
/// must be listed in the capabilities (§7.3); §10.1 has no such step for the KeyPackage's
/// own extensions, so a type that is not listed is ignored like any unknown one.
#[test]
fn a_grease_or_unknown_key_package_extension_is_ignored_even_when_not_in_the_capabilities() {
    let (b, kp) = plain(2);
    for (extension_type, data) in [
        (ExtensionType(0x8A8A), vec![]),
        (ExtensionType(0x8A8A), vec![0xA5; 33]),
        (ExtensionType(0xEAEA), vec![7; MAX_EXTENSION_DATA_LEN]),
        (ExtensionType(0xFF00), b"private use".to_vec()),
        (ExtensionType(0x0B00), vec![1]),
    ] {
        let mut with = kp.clone();
        with.extensions.push(Extension::new(extension_type, data));
        assert!(
            !with
                .leaf_node
                .capabilities
                .supports_extension(extension_type)
        );
        let with = resign(&b, with);
        with.validate(&policy())
            .unwrap_or_else(|e| panic!("{extension_type}: {e}"));
        assert!(with.is_last_resort() == kp.is_last_resort());
    }
}

/// The KeyPackage an mlspp-based client publishes (cisco/mlspp issue 470): GREASE in
/// `KeyPackage.extensions` that its capabilities do not list, a GREASE leaf extension that
/// they do list, and GREASE in every capability list. RFC 9420 §13: such a KeyPackage
/// "MUST" be processed ignoring what is unknown.
#[test]
fn a_key_package_greased_the_way_mlspp_does_is_accepted() {
    let (b, mut kp) = plain(3);
    kp.extensions
        .push(Extension::new(ExtensionType(0x8A8A), vec![]));
    kp.leaf_node
        .extensions
        .push(Extension::new(ExtensionType(0x4A4A), vec![]));
    let caps = &mut kp.leaf_node.capabilities;
    caps.cipher_suites.push(CipherSuite(0x1A1A));
    caps.extensions.push(ExtensionType(0x4A4A));
    caps.proposals.push(ProposalType(0xBABA));
    caps.credentials.push(CredentialType(0xCACA));
    resign(&b, kp).validate(&policy()).unwrap();
}

/// RFC 9420 §13: a client "MUST ignore ... all unknown extensions in the ...
/// `leaf_node.extensions` fields" once §7.3 is met: "Verify that the extensions in the
/// LeafNode are supported by checking that the ID for each extension in the `extensions`
/// field is listed in the `capabilities.extensions` field of the LeafNode."
#[test]
fn a_grease_or_unknown_leaf_extension_listed_in_the_capabilities_is_ignored() {
    let (b, kp) = plain(4);
    for t in [ExtensionType(0x6A6A), ExtensionType(0xFF01)] {
        let mut with = kp.clone();
        with.leaf_node
            .extensions
            .push(Extension::new(t, vec![9; 40]));
        with.leaf_node.capabilities.extensions.push(t);
        resign(&b, with).validate(&policy()).unwrap();
    }
}

// ----- receiving: what must be refused -----

/// RFC 9420 §13.5: "Note that any GREASE values added to `LeafNode.extensions` need to be
/// reflected in `LeafNode.capabilities.extensions`, since the LeafNode validation process
/// described in Section 7.3 requires that these two fields be consistent."
#[test]
fn a_grease_leaf_extension_missing_from_the_capabilities_is_refused() {
    let (b, mut kp) = plain(5);
    kp.leaf_node
        .extensions
        .push(Extension::new(ExtensionType(0x7A7A), vec![]));
    assert_eq!(
        resign(&b, kp).validate(&policy()),
        Err(Error::ExtensionNotInCapabilities {
            location: ExtensionLocation::LeafNode,
            extension_type: ExtensionType(0x7A7A)
        })
    );
}

/// RFC 9420 §13: "Any field containing a list of extensions MUST NOT have more than one
/// extension of any given type." GREASE types are no exception.
#[test]
fn a_grease_extension_type_twice_in_one_list_is_refused() {
    let (b, kp) = plain(6);
    let twice = |t| {
        vec![
            Extension::new(ExtensionType(t), vec![1]),
            Extension::new(ExtensionType(t), vec![2]),
        ]
    };
    let mut in_kp = kp.clone();
    in_kp.extensions.extend(twice(0x9A9A));
    assert_eq!(
        resign(&b, in_kp).validate(&policy()),
        Err(Error::DuplicateExtension {
            location: ExtensionLocation::KeyPackage,
            extension_type: ExtensionType(0x9A9A)
        })
    );
    let mut in_leaf = kp.clone();
    in_leaf.leaf_node.extensions.extend(twice(0xAAAA));
    in_leaf
        .leaf_node
        .capabilities
        .extensions
        .push(ExtensionType(0xAAAA));
    assert_eq!(
        resign(&b, in_leaf).validate(&policy()),
        Err(Error::DuplicateExtension {
            location: ExtensionLocation::LeafNode,
            extension_type: ExtensionType(0xAAAA)
        })
    );
}

/// RFC 9420 §13.5: "GREASE values MUST NOT be sent in the following fields, because an
/// unsupported value in one these fields (including a GREASE value) will cause the
/// enclosing message to be rejected: ... `Credential.credential_type`". Refused like any
/// credential type the policy does not accept, even when the leaf lists it.
#[test]
fn a_grease_credential_type_is_refused() {
    let (b, mut kp) = plain(7);
    kp.leaf_node.credential = Credential::Unknown {
        credential_type: CredentialType(0xDADA),
        bytes: b"alice".to_vec(),
    };
    kp.leaf_node
        .capabilities
        .credentials
        .push(CredentialType(0xDADA));
    let kp = resign(&b, kp);
    let decoded = KeyPackage::from_bytes(&kp.to_bytes().unwrap()).unwrap();
    assert_eq!(
        decoded.validate(&policy()),
        Err(Error::UnsupportedCredentialType(CredentialType(0xDADA)))
    );
}

/// RFC 9420 §13.5: "GREASE values MUST be handled using normal logic for processing
/// unsupported values" and "Clients MUST NOT implement any special processing rules for
/// how to handle these values when receiving them". A GREASE value and an unknown value
/// that is not GREASE give the same result in every place a KeyPackage can hold one.
#[test]
fn grease_values_get_exactly_the_result_of_other_unknown_values() {
    let (b, kp) = plain(8);
    type Place = fn(&mut KeyPackage, u16);
    let places: [(&str, Place); 9] = [
        ("capabilities.versions", |k, v| {
            k.leaf_node.capabilities.versions.push(ProtocolVersion(v))
        }),
        ("capabilities.cipher_suites", |k, v| {
            k.leaf_node.capabilities.cipher_suites.push(CipherSuite(v))
        }),
        ("capabilities.extensions", |k, v| {
            k.leaf_node.capabilities.extensions.push(ExtensionType(v))
        }),
        ("capabilities.proposals", |k, v| {
            k.leaf_node.capabilities.proposals.push(ProposalType(v))
        }),
        ("capabilities.credentials", |k, v| {
            k.leaf_node.capabilities.credentials.push(CredentialType(v))
        }),
        ("key_package.extensions", |k, v| {
            k.extensions
                .push(Extension::new(ExtensionType(v), vec![v as u8]))
        }),
        ("leaf_node.extensions, listed", |k, v| {
            k.leaf_node
                .extensions
                .push(Extension::new(ExtensionType(v), vec![]));
            k.leaf_node.capabilities.extensions.push(ExtensionType(v));
        }),
        ("leaf_node.extensions, not listed", |k, v| {
            k.leaf_node
                .extensions
                .push(Extension::new(ExtensionType(v), vec![]))
        }),
        ("credential_type", |k, v| {
            k.leaf_node.credential = Credential::Unknown {
                credential_type: CredentialType(v),
                bytes: vec![],
            };
            k.leaf_node.capabilities.credentials.push(CredentialType(v));
        }),
    ];
    let strip = |r: Result<(), Error>| {
        r.map_err(|e| match e {
            Error::ExtensionNotInCapabilities { location, .. } => {
                format!("not listed in {location}")
            }
            Error::UnsupportedCredentialType(_) => "unsupported credential type".into(),
            other => format!("{other:?}"),
        })
    };
    for (name, place) in places {
        for grease in [0x0A0A, 0x7A7A, 0xEAEA] {
            for unknown in [0xFF42, 0x0B0B, 0x1234] {
                let outcome = |v| {
                    let mut k = kp.clone();
                    place(&mut k, v);
                    strip(resign(&b, k).validate(&policy()))
                };
                assert_eq!(outcome(grease), outcome(unknown), "{name}");
            }
        }
    }
}

/// A GREASE value where RFC 9420 allows no unknown value at all, in the KeyPackage's own
/// `version` or `cipher_suite`, is refused as unsupported, naming the value.
#[test]
fn a_grease_version_or_cipher_suite_of_the_key_package_is_unsupported() {
    let (_, kp) = plain(9);
    let mut bytes = kp.to_bytes().unwrap();
    bytes[2..4].copy_from_slice(&0x2A2Au16.to_be_bytes());
    assert_eq!(
        KeyPackage::from_bytes(&bytes),
        Err(Error::UnsupportedCipherSuite(0x2A2A))
    );
    let mut versioned = kp.clone();
    versioned.version = ProtocolVersion(0x0A0A);
    assert_eq!(
        versioned.validate(&policy()),
        Err(Error::UnsupportedProtocolVersion(0x0A0A))
    );
}

// ----- sending -----

/// RFC 9420 §13.5: "When generating the following fields, an MLS client SHOULD include a
/// random selection of values chosen from these GREASE values:
/// `LeafNode.capabilities.cipher_suites`, `LeafNode.capabilities.extensions`,
/// `LeafNode.capabilities.proposals`, `LeafNode.capabilities.credentials`". On by default.
#[test]
fn generated_key_packages_carry_grease_in_the_four_capability_lists_by_default() {
    for seed in 0..32 {
        let b = KeyPackageBundle::generate(b"bob", &KeyPackageOptions::new(NOW), &mut rng(seed))
            .unwrap();
        let kp = b.key_package();
        kp.validate(&policy()).unwrap();
        let c = &kp.leaf_node.capabilities;
        let count = |v: Vec<u16>| {
            let n = v.iter().filter(|x| is_grease(**x)).count();
            assert!((1..=2).contains(&n), "seed {seed}: {v:x?}");
        };
        count(c.cipher_suites.iter().map(|x| x.0).collect());
        count(c.extensions.iter().map(|x| x.0).collect());
        count(c.proposals.iter().map(|x| x.0).collect());
        count(c.credentials.iter().map(|x| x.0).collect());
        assert!(!c.versions.iter().any(|v| is_grease(v.0)));
        // No GREASE extensions unless asked for (OpenMLS 0.9 refuses them).
        assert!(!kp.extensions.iter().any(|e| e.extension_type.is_grease()));
        assert!(
            !kp.leaf_node
                .extensions
                .iter()
                .any(|e| e.extension_type.is_grease())
        );
        // GREASE is never used where it is forbidden.
        assert_eq!(
            kp.leaf_node.credential.credential_type(),
            CredentialType::BASIC
        );
        assert!(!kp.cipher_suite.is_grease());
    }
}

/// RFC 9420 §13.5 also names `LeafNode.extensions` and `KeyPackage.extensions`, with "any
/// contents" for the data, and "any GREASE values added to `LeafNode.extensions` need to be
/// reflected in `LeafNode.capabilities.extensions`". With `grease_extensions`.
#[test]
fn with_grease_extensions_the_leaf_and_the_key_package_each_carry_one() {
    let mut lengths = std::collections::BTreeSet::new();
    for seed in 0..32 {
        let options = KeyPackageOptions::nip_ee(NOW).with_grease_extensions();
        let b = KeyPackageBundle::generate(b"bob", &options, &mut rng(seed)).unwrap();
        let kp = b.key_package();
        kp.validate(&policy()).unwrap();
        assert!(kp.is_last_resort());
        let caps = &kp.leaf_node.capabilities;
        for list in [&kp.extensions, &kp.leaf_node.extensions] {
            let grease: Vec<_> = list
                .iter()
                .filter(|e| e.extension_type.is_grease())
                .collect();
            assert_eq!(grease.len(), 1, "seed {seed}");
            assert!(grease[0].data.len() <= MAX_GREASE_DATA_LEN);
            lengths.insert(grease[0].data.len());
            // Both are listed: the leaf's because §7.3 requires it, the KeyPackage's
            // because §10 asks the sender to.
            assert!(caps.extensions.contains(&grease[0].extension_type));
        }
    }
    assert!(lengths.len() > 4, "random data lengths: {lengths:?}");
}

/// The off switch: without GREASE, generation draws exactly 100 bytes (three keys and four
/// unused bytes) and builds the KeyPackage anyone can rebuild by hand from them, so
/// recorded KeyPackages stay reproducible byte for byte.
#[test]
fn without_grease_a_key_package_is_rebuilt_byte_for_byte_from_its_100_random_bytes() {
    let options = KeyPackageOptions::nip_ee(NOW).without_grease();
    let generated = KeyPackageBundle::generate(b"carol", &options, &mut rng(11)).unwrap();
    let mut r = rng(11);
    let mut seed = [0u8; 100];
    r.fill_bytes(&mut seed);
    let key = |i: usize| -> [u8; 32] { seed[i * 32..(i + 1) * 32].try_into().unwrap() };
    let signer = SignatureSecretKey::from_bytes(key(2));
    let leaf = UnsignedLeafNode {
        encryption_key: HpkeSecretKey::from_bytes(key(1)).public_key(),
        signature_key: signer.public_key(),
        credential: Credential::basic(b"carol".to_vec()).unwrap(),
        capabilities: Capabilities {
            extensions: vec![ExtensionType::LAST_RESORT, ExtensionType::NOSTR_GROUP_DATA],
            ..Capabilities::default()
        },
        leaf_node_source: LeafNodeSource::KeyPackage {
            lifetime: Lifetime {
                not_before: NOW - 3600,
                not_after: NOW + 12 * 7 * 24 * 3600,
            },
        },
        extensions: vec![],
    }
    .sign(&signer, &[], 0)
    .unwrap();
    let by_hand = KeyPackage::sign(
        HpkeSecretKey::from_bytes(key(0)).public_key(),
        leaf,
        vec![Extension::last_resort()],
        &signer,
    )
    .unwrap();
    assert_eq!(
        generated.key_package().to_bytes().unwrap(),
        by_hand.to_bytes().unwrap()
    );
    // Nothing more was drawn: the rng continues where the hand-made copy's left off.
    let mut next = rng(11);
    KeyPackageBundle::generate(b"carol", &options, &mut next).unwrap();
    assert_eq!(next.next_u64(), r.next_u64());
}

/// The GREASE selection comes from the caller's random source only: a seeded source gives
/// the same KeyPackage every time, and different seeds choose different values.
#[test]
fn the_grease_selection_is_a_function_of_the_rng() {
    let options = KeyPackageOptions::new(NOW).with_grease_extensions();
    let make = |seed| {
        KeyPackageBundle::generate(b"dave", &options, &mut rng(seed))
            .unwrap()
            .key_package()
            .clone()
    };
    assert_eq!(make(21), make(21));
    let mut seen = std::collections::BTreeSet::new();
    for seed in 0..32 {
        let kp = make(seed);
        seen.extend(
            kp.leaf_node
                .capabilities
                .cipher_suites
                .iter()
                .filter(|s| s.is_grease())
                .map(|s| s.0),
        );
    }
    assert!(seen.len() >= 10, "{seen:x?}");
    assert!(seen.iter().all(|v| GREASE_VALUES.contains(v)));
    // The same keys with and without GREASE: the selection is drawn after them.
    let with = KeyPackageBundle::generate(b"dave", &options, &mut rng(5)).unwrap();
    let without = KeyPackageBundle::generate(
        b"dave",
        &KeyPackageOptions::new(NOW).without_grease(),
        &mut rng(5),
    )
    .unwrap();
    assert_eq!(with.key_package().init_key, without.key_package().init_key);
}

/// RFC 9420 §13.5: "representations of a client's own capabilities MUST NOT contain GREASE
/// values": GREASE values a caller put in the options are replaced, never kept as if they
/// were supported, and `without_grease` gives what the client really supports.
#[test]
fn grease_in_the_options_is_replaced_by_a_fresh_selection() {
    let mut options = KeyPackageOptions::new(NOW);
    options.capabilities.cipher_suites.push(CipherSuite(0xCACA));
    options
        .key_package_extensions
        .push(Extension::new(ExtensionType(0xCACA), vec![1]));
    let mut seen_other = false;
    for seed in 0..8 {
        let kp = KeyPackageBundle::generate(b"erin", &options, &mut rng(seed))
            .unwrap()
            .key_package()
            .clone();
        assert!(!kp.extensions.iter().any(|e| e.extension_type.is_grease()));
        seen_other |= !kp
            .leaf_node
            .capabilities
            .cipher_suites
            .contains(&CipherSuite(0xCACA));
        assert_eq!(
            kp.leaf_node.capabilities.without_grease(),
            Capabilities::default()
        );
    }
    assert!(seen_other);
}
