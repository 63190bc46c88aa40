//! Property test of the unknown-value rules on KeyPackages (RFC 9420 §7.2, §7.3, §10, §13,
//! §13.5). Valid KeyPackages, the 22 of suite 1 in the official passive-client vectors
//! (which carry their signature keys) and our own generator's, get GREASE and other unknown
//! values inserted at random positions in every place RFC 9420 lets them be, and are
//! re-signed: they validate as the original did, and removing what was inserted gives the
//! original back. Then one value is put where it is forbidden: the result is refused with
//! the error that names that rule.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::LazyLock;

use common::{NOW, rng};
use nipee_keypackage::{
    CipherSuite, Credential, CredentialType, Encode, Error, Extension, ExtensionLocation,
    ExtensionType, GREASE_VALUES, KeyPackage, KeyPackageBundle, KeyPackageOptions, ProposalType,
    ProtocolVersion, SignatureSecretKey, ValidationPolicy,
};
use proptest::prelude::*;
use serde_json::Value;

const PASSIVE: [&str; 3] = [
    include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../vectors/mls/passive-client-welcome.json"
    )),
    include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../vectors/mls/passive-client-handling-commit.json"
    )),
    include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../vectors/mls/passive-client-random.json"
    )),
];

/// The suite-1 KeyPackages of the passive-client vectors with their signature keys.
static OFFICIAL: LazyLock<Vec<(KeyPackage, [u8; 32])>> = LazyLock::new(|| {
    let mut out = vec![];
    for file in PASSIVE {
        let cases: Vec<Value> = serde_json::from_str(file).unwrap();
        for c in cases.iter().filter(|c| c["cipher_suite"] == 1) {
            let hex = |k: &str| hex::decode(c[k].as_str().unwrap()).unwrap();
            let kp = KeyPackage::from_mls_message_bytes(&hex("key_package")).unwrap();
            out.push((kp, hex("signature_priv").try_into().unwrap()));
        }
    }
    assert_eq!(out.len(), 22);
    out
});

/// A valid KeyPackage, its signature key and the policy it validates under: an official
/// one (`which` < 22, lifetimes long expired) or a generated one.
fn source(which: usize, seed: u64) -> (KeyPackage, SignatureSecretKey, ValidationPolicy) {
    if let Some((kp, key)) = OFFICIAL.get(which) {
        return (
            kp.clone(),
            SignatureSecretKey::from_bytes(*key),
            ValidationPolicy::for_fixed_vectors(),
        );
    }
    let options = match seed % 3 {
        0 => KeyPackageOptions::new(NOW),
        1 => KeyPackageOptions::nip_ee(NOW).without_grease(),
        _ => KeyPackageOptions::nip_ee(NOW).with_grease_extensions(),
    };
    let b = KeyPackageBundle::generate(b"gen", &options, &mut rng(seed)).unwrap();
    let key = SignatureSecretKey::from_bytes(*b.signature_secret().expose_secret());
    (b.key_package().clone(), key, ValidationPolicy::at(NOW))
}

fn resign(kp: &KeyPackage, key: &SignatureSecretKey) -> KeyPackage {
    let leaf = kp.leaf_node.to_unsigned().sign(key, &[], 0).unwrap();
    let mut new = KeyPackage::sign(kp.init_key, leaf, kp.extensions.clone(), key).unwrap();
    new.version = kp.version;
    new.cipher_suite = kp.cipher_suite;
    let tbs = new.tbs_bytes().unwrap();
    new.signature = nipee_keypackage::sign::sign_with_label(key, "KeyPackageTBS", &tbs).unwrap();
    new
}

/// The places a KeyPackage may hold GREASE or unknown values.
#[derive(Debug, Clone, Copy)]
enum Place {
    Versions,
    CipherSuites,
    CapabilityExtensions,
    Proposals,
    Credentials,
    /// Listed in `capabilities.extensions` too (§7.3).
    LeafExtensions,
    /// Not listed: §13 says to ignore it all the same.
    KeyPackageExtensions,
}

const PLACES: [Place; 7] = [
    Place::Versions,
    Place::CipherSuites,
    Place::CapabilityExtensions,
    Place::Proposals,
    Place::Credentials,
    Place::LeafExtensions,
    Place::KeyPackageExtensions,
];

/// One inserted value: GREASE, or an unknown value that is not GREASE (RFC 9420 §13.5:
/// both take the same path).
#[derive(Debug, Clone)]
struct Insert {
    place: Place,
    value: u16,
    position: usize,
    data: Vec<u8>,
}

/// Values no code point registry or this crate knows: GREASE, or outside every range used.
fn unknown_value() -> impl Strategy<Value = u16> {
    prop_oneof![
        3 => proptest::sample::select(GREASE_VALUES.to_vec()),
        1 => (0x0B00u16..0xF000).prop_filter("not GREASE", |v| !nipee_keypackage::is_grease(*v)),
        1 => 0xFF00u16..=0xFFFF,
    ]
}

fn insert() -> impl Strategy<Value = Insert> {
    (
        proptest::sample::select(PLACES.to_vec()),
        unknown_value(),
        any::<usize>(),
        proptest::collection::vec(any::<u8>(), 0..48),
    )
        .prop_map(|(place, value, position, data)| Insert {
            place,
            value,
            position,
            data,
        })
}

/// Inserts `item` at `at` (modulo the length + 1); returns where it went.
fn put<T>(list: &mut Vec<T>, at: usize, item: T) -> usize {
    let at = at % (list.len() + 1);
    list.insert(at, item);
    at
}

/// Applies the insertions that fit (an extension type already in its list is skipped: two
/// of one type are forbidden, tested apart). Returns the insertions made, each with the
/// index it landed at (and, for a leaf extension, the index of its capabilities entry).
fn apply(kp: &mut KeyPackage, inserts: &[Insert]) -> Vec<(Insert, usize, usize)> {
    let mut done = vec![];
    for i in inserts {
        let caps = &mut kp.leaf_node.capabilities;
        let v = i.value;
        let p = i.position;
        let (at, listed_at) = match i.place {
            Place::Versions => (put(&mut caps.versions, p, ProtocolVersion(v)), 0),
            Place::CipherSuites => (put(&mut caps.cipher_suites, p, CipherSuite(v)), 0),
            Place::CapabilityExtensions => (put(&mut caps.extensions, p, ExtensionType(v)), 0),
            Place::Proposals => (put(&mut caps.proposals, p, ProposalType(v)), 0),
            Place::Credentials => (put(&mut caps.credentials, p, CredentialType(v)), 0),
            Place::LeafExtensions => {
                let t = ExtensionType(v);
                if kp
                    .leaf_node
                    .extensions
                    .iter()
                    .any(|e| e.extension_type == t)
                {
                    continue;
                }
                let listed_at = put(&mut caps.extensions, p / 3, t);
                let e = Extension::new(t, i.data.clone());
                (put(&mut kp.leaf_node.extensions, p, e), listed_at)
            }
            Place::KeyPackageExtensions => {
                let t = ExtensionType(v);
                if kp.extensions.iter().any(|e| e.extension_type == t) {
                    continue;
                }
                let e = Extension::new(t, i.data.clone());
                (put(&mut kp.extensions, p, e), 0)
            }
        };
        done.push((i.clone(), at, listed_at));
    }
    done
}

/// Undoes the insertions, last first, which must give the original KeyPackage's content
/// back.
fn strip(kp: &mut KeyPackage, done: &[(Insert, usize, usize)]) {
    for (i, at, listed_at) in done.iter().rev() {
        let caps = &mut kp.leaf_node.capabilities;
        let at = *at;
        match i.place {
            Place::Versions => drop(caps.versions.remove(at)),
            Place::CipherSuites => drop(caps.cipher_suites.remove(at)),
            Place::CapabilityExtensions => drop(caps.extensions.remove(at)),
            Place::Proposals => drop(caps.proposals.remove(at)),
            Place::Credentials => drop(caps.credentials.remove(at)),
            Place::LeafExtensions => {
                kp.leaf_node.extensions.remove(at);
                caps.extensions.remove(*listed_at);
            }
            Place::KeyPackageExtensions => drop(kp.extensions.remove(at)),
        }
    }
}

/// Where a value is forbidden, and the error that names the rule.
#[derive(Debug, Clone, Copy)]
enum Forbidden {
    /// §13.5 "`Credential.credential_type`" (listed in the capabilities all the same).
    CredentialType,
    /// §13.5 with §7.3: a leaf extension missing from the capabilities.
    UnlistedLeafExtension,
    /// §13.4: the same type twice in `KeyPackage.extensions`.
    DuplicateKeyPackageExtension,
    /// §13.4: the same type twice in `LeafNode.extensions`.
    DuplicateLeafExtension,
    /// The KeyPackage's own version.
    Version,
}

fn forbid(kp: &mut KeyPackage, f: Forbidden, v: u16) -> Error {
    let t = ExtensionType(v);
    match f {
        Forbidden::CredentialType => {
            kp.leaf_node.credential = Credential::Unknown {
                credential_type: CredentialType(v),
                bytes: vec![1],
            };
            kp.leaf_node
                .capabilities
                .credentials
                .push(CredentialType(v));
            Error::UnsupportedCredentialType(CredentialType(v))
        }
        Forbidden::UnlistedLeafExtension => {
            kp.leaf_node.capabilities.extensions.retain(|x| *x != t);
            kp.leaf_node.extensions.retain(|x| x.extension_type != t);
            kp.leaf_node.extensions.push(Extension::new(t, vec![]));
            Error::ExtensionNotInCapabilities {
                location: ExtensionLocation::LeafNode,
                extension_type: t,
            }
        }
        Forbidden::DuplicateKeyPackageExtension => {
            kp.extensions.retain(|x| x.extension_type != t);
            kp.extensions.push(Extension::new(t, vec![1]));
            kp.extensions.push(Extension::new(t, vec![2]));
            Error::DuplicateExtension {
                location: ExtensionLocation::KeyPackage,
                extension_type: t,
            }
        }
        Forbidden::DuplicateLeafExtension => {
            kp.leaf_node.extensions.retain(|x| x.extension_type != t);
            kp.leaf_node.extensions.push(Extension::new(t, vec![1]));
            kp.leaf_node.extensions.push(Extension::new(t, vec![2]));
            kp.leaf_node.capabilities.extensions.push(t);
            Error::DuplicateExtension {
                location: ExtensionLocation::LeafNode,
                extension_type: t,
            }
        }
        Forbidden::Version => {
            kp.version = ProtocolVersion(v);
            Error::UnsupportedProtocolVersion(v)
        }
    }
}

fn source_index() -> impl Strategy<Value = (usize, u64)> {
    // Half official, half generated.
    (0usize..44, any::<u64>())
}

proptest! {
    // 1 024 KeyPackages with GREASE in allowed places, 1 024 with one in a forbidden place,
    // 1 024 with a GREASE cipher suite; about half official, half generated.
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    /// GREASE and unknown values in every allowed place are accepted with the same result.
    #[test]
    fn grease_in_every_allowed_place_is_accepted_with_the_same_result(
        (which, seed) in source_index(),
        inserts in proptest::collection::vec(insert(), 1..12),
    ) {
        let (original, key, policy) = source(which, seed);
        original.validate(&policy).unwrap();
        let mut kp = original.clone();
        let done = apply(&mut kp, &inserts);
        let kp = resign(&kp, &key);
        let decoded = KeyPackage::from_bytes(&kp.to_bytes().unwrap()).unwrap();
        prop_assert_eq!(&decoded, &kp);
        prop_assert_eq!(decoded.validate(&policy), Ok(()));
        prop_assert_eq!(decoded.is_last_resort(), original.is_last_resort());
        prop_assert_eq!(&decoded.leaf_node.credential, &original.leaf_node.credential);
        let mut back = decoded.clone();
        strip(&mut back, &done);
        prop_assert_eq!(back.leaf_node.capabilities, original.leaf_node.capabilities);
        prop_assert_eq!(back.leaf_node.extensions, original.leaf_node.extensions);
        prop_assert_eq!(back.extensions, original.extensions);
    }

    /// One GREASE value in a forbidden place, on top of allowed ones, is refused with the
    /// typed error of that rule (the signatures are valid: only the rule fails).
    #[test]
    fn grease_in_a_forbidden_place_is_refused_with_the_error_of_its_rule(
        (which, seed) in source_index(),
        inserts in proptest::collection::vec(insert(), 0..8),
        forbidden in proptest::sample::select(vec![
            Forbidden::CredentialType,
            Forbidden::UnlistedLeafExtension,
            Forbidden::DuplicateKeyPackageExtension,
            Forbidden::DuplicateLeafExtension,
            Forbidden::Version,
        ]),
        grease in proptest::sample::select(GREASE_VALUES.to_vec()),
    ) {
        let (original, key, policy) = source(which, seed);
        let mut kp = original.clone();
        apply(&mut kp, &inserts);
        let expected = forbid(&mut kp, forbidden, grease);
        let kp = resign(&kp, &key);
        prop_assert_eq!(kp.validate(&policy), Err(expected));
    }

    /// A GREASE cipher suite in the KeyPackage itself is refused when decoding.
    #[test]
    fn a_grease_cipher_suite_is_refused_when_decoding(
        (which, seed) in source_index(),
        grease in proptest::sample::select(GREASE_VALUES.to_vec()),
    ) {
        let (original, _, _) = source(which, seed);
        let mut bytes = original.to_bytes().unwrap();
        bytes[2..4].copy_from_slice(&grease.to_be_bytes());
        prop_assert_eq!(KeyPackage::from_bytes(&bytes), Err(Error::UnsupportedCipherSuite(grease)));
    }
}

#[test]
fn the_official_key_packages_all_validate_before_any_change() {
    for (kp, key) in OFFICIAL.iter() {
        kp.validate(&ValidationPolicy::for_fixed_vectors()).unwrap();
        assert_eq!(
            SignatureSecretKey::from_bytes(*key).public_key(),
            kp.leaf_node.signature_key
        );
    }
}
