//! No input panics: random bytes and mutations of valid encodings.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::NOW;
use nipee_keypackage::{
    Encode, Extension, ExtensionType, KeyPackage, KeyPackageBundle, KeyPackageOptions, LeafNode,
    LeafNodeContext, ValidationPolicy,
};
use proptest::prelude::*;

/// Valid encodings to mutate: a plain KeyPackage and a NIP-EE one with
/// GREASE everywhere §13.5 allows it and extensions in both lists.
fn seeds() -> Vec<Vec<u8>> {
    let plain = common::bundle(1).key_package().to_bytes().unwrap();
    let mut options = KeyPackageOptions::nip_ee(NOW).with_grease_extensions();
    options
        .leaf_extensions
        .push(Extension::new(ExtensionType(0xFF02), vec![1, 2, 3]));
    options
        .key_package_extensions
        .push(Extension::new(ExtensionType(0xFF03), vec![0; 40]));
    let rich = KeyPackageBundle::generate(b"alice", &options, &mut common::rng(2))
        .unwrap()
        .key_package()
        .to_bytes()
        .unwrap();
    vec![plain, rich]
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    Truncate(usize),
}

fn apply(bytes: &[u8], mutations: &[Mutation]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    for m in mutations {
        let n = out.len().max(1);
        match *m {
            Mutation::Flip(i, x) => {
                if let Some(b) = out.get_mut(i % n) {
                    *b ^= x.max(1);
                }
            }
            Mutation::Insert(i, x) => out.insert(i % (out.len() + 1), x),
            Mutation::Delete(i) => {
                if !out.is_empty() {
                    out.remove(i % n);
                }
            }
            Mutation::Truncate(i) => out.truncate(i % n),
        }
    }
    out
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<usize>(), any::<u8>()).prop_map(|(i, x)| Mutation::Flip(i, x)),
        1 => (any::<usize>(), any::<u8>()).prop_map(|(i, x)| Mutation::Insert(i, x)),
        1 => any::<usize>().prop_map(Mutation::Delete),
        1 => any::<usize>().prop_map(Mutation::Truncate),
    ]
}

/// Decodes every way this crate can; whatever decodes must re-encode to the
/// same bytes (the encoding is canonical).
fn decode_everything(bytes: &[u8]) -> Option<KeyPackage> {
    if let Ok(leaf) = LeafNode::from_bytes(bytes) {
        assert_eq!(leaf.to_bytes().unwrap(), bytes);
        let _ = leaf.validate(
            &ValidationPolicy::at(NOW),
            LeafNodeContext::Tree {
                group_id: b"g",
                leaf_index: 1,
            },
        );
    }
    if let Ok(kp) = KeyPackage::from_mls_message_bytes(bytes) {
        assert_eq!(kp.to_mls_message_bytes().unwrap(), bytes);
    }
    let _ = KeyPackageBundle::from_storage_bytes(bytes);
    let kp = KeyPackage::from_bytes(bytes).ok()?;
    assert_eq!(kp.to_bytes().unwrap(), bytes);
    let _ = kp.reference().unwrap();
    Some(kp)
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        if let Some(kp) = decode_everything(&bytes) {
            prop_assert!(kp.validate(&ValidationPolicy::for_fixed_vectors()).is_err());
        }
    }

    #[test]
    fn random_bytes_after_a_valid_prefix_never_panic(
        cut in 0usize..400,
        tail in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let seed = &seeds()[0];
        let mut bytes = seed[..cut.min(seed.len())].to_vec();
        bytes.extend_from_slice(&tail);
        decode_everything(&bytes);
    }

    #[test]
    fn mutated_key_packages_never_panic_and_never_validate(
        which in 0usize..2,
        mutations in proptest::collection::vec(mutation(), 1..4),
    ) {
        let seeds = seeds();
        let original = &seeds[which];
        let bytes = apply(original, &mutations);
        if let Some(kp) = decode_everything(&bytes) {
            // Every byte is covered by the KeyPackage signature, so any
            // change that still decodes must fail validation.
            if &bytes != original {
                prop_assert!(kp.validate(&ValidationPolicy::for_fixed_vectors()).is_err());
            } else {
                kp.validate(&ValidationPolicy::at(NOW)).unwrap();
            }
        }
        let mut framed = vec![0, 1, 0, 5];
        framed.extend_from_slice(&bytes);
        decode_everything(&framed);
    }
}
