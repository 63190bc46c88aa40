//! Helpers shared by the integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use nipee_keypackage::{KeyPackage, KeyPackageBundle, KeyPackageOptions, LeafNode};
use rand::SeedableRng;

/// A fixed "now" for tests that do not talk to OpenMLS.
pub const NOW: u64 = 1_750_000_000;

pub fn rng(seed: u64) -> rand::rngs::StdRng {
    rand::rngs::StdRng::seed_from_u64(seed)
}

pub fn bundle(seed: u64) -> KeyPackageBundle {
    KeyPackageBundle::generate(b"alice", &KeyPackageOptions::new(NOW), &mut rng(seed)).unwrap()
}

/// Re-signs both layers after a test changed fields, so that only the
/// property under test is wrong.
pub fn resign(bundle: &KeyPackageBundle, mut kp: KeyPackage) -> KeyPackage {
    let signer = bundle.signature_secret();
    kp.leaf_node = resign_leaf(bundle, &kp.leaf_node);
    let mut new = KeyPackage::sign(kp.init_key, kp.leaf_node, kp.extensions, signer).unwrap();
    new.version = kp.version;
    new.cipher_suite = kp.cipher_suite;
    let tbs = new.tbs_bytes().unwrap();
    new.signature = nipee_keypackage::sign::sign_with_label(signer, "KeyPackageTBS", &tbs).unwrap();
    new
}

pub fn resign_leaf(bundle: &KeyPackageBundle, leaf: &LeafNode) -> LeafNode {
    leaf.to_unsigned()
        .sign(bundle.signature_secret(), &[], 0)
        .unwrap()
}
