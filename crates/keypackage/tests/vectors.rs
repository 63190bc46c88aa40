//! Official IETF MLS working-group test vectors (mlswg/mls-implementations,
//! see `vectors/mls/SOURCE.txt`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use nipee_codec::Error as CodecError;
use nipee_keypackage::sign::{ref_hash, sign_with_label, verify_with_label};
use nipee_keypackage::{
    Encode, Error, KeyPackage, KeyPackageRef, LeafNode, LeafNodeContext, LeafNodeSourceType,
    SignatureSecretKey, ValidationPolicy,
};
use serde::Deserialize;

const MESSAGES: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../vectors/mls/messages.json"
));
const CRYPTO_BASICS: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../vectors/mls/crypto-basics.json"
));

#[derive(Deserialize)]
struct MessagesCase {
    mls_key_package: String,
    add_proposal: String,
    update_proposal: String,
}

fn messages() -> Vec<MessagesCase> {
    serde_json::from_str(MESSAGES).unwrap()
}

/// messages.json does not name a suite; each case is for one suite, which its
/// KeyPackage names (`MLSMessage` header: version, wire format, then
/// `KeyPackage.version`, `KeyPackage.cipher_suite`). The file holds 100 cases
/// each of suites 1, 3 and 2; only suite 1 belongs to this crate.
fn suite_of(kp_message: &[u8]) -> u16 {
    u16::from_be_bytes([kp_message[6], kp_message[7]])
}

fn suite_1_cases() -> Vec<(usize, MessagesCase)> {
    messages()
        .into_iter()
        .enumerate()
        .filter(|(_, c)| suite_of(&hex::decode(&c.mls_key_package).unwrap()) == 1)
        .collect()
}

#[test]
fn every_suite_1_key_package_message_round_trips_byte_exact() {
    let cases = suite_1_cases();
    assert_eq!(cases.len(), 100);
    for (i, case) in &cases {
        let bytes = hex::decode(&case.mls_key_package).unwrap();
        let kp =
            KeyPackage::from_mls_message_bytes(&bytes).unwrap_or_else(|e| panic!("case {i}: {e}"));
        assert_eq!(kp.to_mls_message_bytes().unwrap(), bytes, "case {i}");

        // The same KeyPackage bare (without the 4-byte MLSMessage header).
        let bare = &bytes[4..];
        let kp_bare = KeyPackage::from_bytes(bare).unwrap();
        assert_eq!(kp_bare, kp);
        assert_eq!(kp_bare.to_bytes().unwrap(), bare, "case {i}");
        assert_eq!(
            kp.leaf_node.leaf_node_source.source_type(),
            LeafNodeSourceType::KeyPackage
        );
        // The reference hashes the received bytes.
        assert_eq!(
            kp.reference().unwrap(),
            KeyPackageRef::of_encoded(bare).unwrap()
        );
    }
}

#[test]
fn key_packages_of_other_suites_are_refused_as_unsupported() {
    let mut refused = 0;
    for (i, case) in messages().iter().enumerate() {
        let bytes = hex::decode(&case.mls_key_package).unwrap();
        let suite = suite_of(&bytes);
        if suite == 1 {
            continue;
        }
        assert_eq!(
            KeyPackage::from_mls_message_bytes(&bytes),
            Err(Error::UnsupportedCipherSuite(suite)),
            "case {i}"
        );
        let add = hex::decode(&case.add_proposal).unwrap();
        assert_eq!(
            KeyPackage::from_bytes(&add),
            Err(Error::UnsupportedCipherSuite(suite)),
            "case {i}"
        );
        refused += 1;
    }
    assert_eq!(refused, 200);
}

#[test]
fn p256_leaf_nodes_are_refused_naming_the_key_field() {
    for (i, case) in messages().iter().enumerate() {
        if suite_of(&hex::decode(&case.mls_key_package).unwrap()) != 2 {
            continue;
        }
        let leaf = hex::decode(&case.update_proposal).unwrap();
        assert_eq!(
            LeafNode::from_bytes(&leaf),
            Err(Error::Codec(CodecError::LengthMismatch {
                field: "encryption_key",
                expected: 32,
                found: 65
            })),
            "case {i}"
        );
    }
}

/// The syntax vectors are produced by real implementations, so their
/// signatures verify; lifetimes have passed, hence the fixed-vector policy.
#[test]
fn every_suite_1_key_package_validates_ignoring_the_clock() {
    for (i, case) in suite_1_cases() {
        let bytes = hex::decode(&case.mls_key_package).unwrap();
        let kp = KeyPackage::from_mls_message_bytes(&bytes).unwrap();
        kp.validate(&ValidationPolicy::for_fixed_vectors())
            .unwrap_or_else(|e| panic!("case {i}: {e}"));
    }
}

#[test]
fn suite_1_key_packages_in_add_proposals_round_trip() {
    for (i, case) in suite_1_cases() {
        // struct { KeyPackage key_package; } Add;
        let bytes = hex::decode(&case.add_proposal).unwrap();
        let kp = KeyPackage::from_bytes(&bytes).unwrap_or_else(|e| panic!("case {i}: {e}"));
        assert_eq!(kp.to_bytes().unwrap(), bytes, "case {i}");
    }
}

#[test]
fn suite_1_leaf_nodes_in_update_proposals_round_trip() {
    for (i, case) in suite_1_cases() {
        // struct { LeafNode leaf_node; } Update;
        let bytes = hex::decode(&case.update_proposal).unwrap();
        let leaf = LeafNode::from_bytes(&bytes).unwrap_or_else(|e| panic!("case {i}: {e}"));
        assert_eq!(leaf.to_bytes().unwrap(), bytes, "case {i}");
        assert_eq!(
            leaf.leaf_node_source.source_type(),
            LeafNodeSourceType::Update
        );
    }
}

#[derive(Deserialize)]
struct CryptoBasicsCase {
    cipher_suite: u16,
    sign_with_label: SignCase,
    ref_hash: RefHashCase,
}

#[derive(Deserialize)]
struct SignCase {
    #[serde(rename = "priv")]
    private: String,
    #[serde(rename = "pub")]
    public: String,
    content: String,
    label: String,
    signature: String,
}

#[derive(Deserialize)]
struct RefHashCase {
    label: String,
    value: String,
    out: String,
}

fn suite_1_crypto_basics() -> CryptoBasicsCase {
    let cases: Vec<CryptoBasicsCase> = serde_json::from_str(CRYPTO_BASICS).unwrap();
    let mut suite_1: Vec<_> = cases.into_iter().filter(|c| c.cipher_suite == 1).collect();
    assert_eq!(suite_1.len(), 1);
    suite_1.pop().unwrap()
}

#[test]
fn crypto_basics_sign_with_label_suite_1() {
    let case = suite_1_crypto_basics().sign_with_label;
    let private: [u8; 32] = hex::decode(&case.private).unwrap().try_into().unwrap();
    let public: [u8; 32] = hex::decode(&case.public).unwrap().try_into().unwrap();
    let signature: [u8; 64] = hex::decode(&case.signature).unwrap().try_into().unwrap();
    let content = hex::decode(&case.content).unwrap();

    // VerifyWithLabel(pub, label, content, signature) == true
    verify_with_label(&public, &case.label, &content, &signature).unwrap();

    // VerifyWithLabel(pub, label, content, SignWithLabel(priv, label, content)) == true
    let key = SignatureSecretKey::from_bytes(private);
    assert_eq!(key.public_key(), public);
    let ours = sign_with_label(&key, &case.label, &content).unwrap();
    verify_with_label(&public, &case.label, &content, &ours).unwrap();
    // Ed25519 is deterministic: the signature is the vector's, bit for bit.
    assert_eq!(ours, signature);

    // And the check can fail: another label, content or signature is refused.
    assert!(verify_with_label(&public, "Other", &content, &signature).is_err());
    let mut bad = signature;
    bad[0] ^= 1;
    assert!(verify_with_label(&public, &case.label, &content, &bad).is_err());
    assert!(verify_with_label(&public, &case.label, b"other", &signature).is_err());
}

#[test]
fn crypto_basics_ref_hash_suite_1() {
    let case = suite_1_crypto_basics().ref_hash;
    let out = ref_hash(case.label.as_bytes(), &hex::decode(&case.value).unwrap()).unwrap();
    assert_eq!(hex::encode(out), case.out);
}

const TREE_VALIDATION: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../vectors/mls/tree-validation.json"
));

#[derive(Deserialize)]
struct TreeValidationCase {
    cipher_suite: u16,
    tree: String,
    group_id: String,
}

/// Reads `optional<Node> ratchet_tree<V>` far enough to hand each leaf (with
/// its leaf index and exact bytes) to the caller; parent nodes are skipped.
fn leaves_of_tree(tree: &[u8]) -> Vec<(u32, Vec<u8>)> {
    use nipee_keypackage::Decode;
    let mut outer = nipee_codec::Reader::new(tree);
    let mut r = outer.vl_reader("ratchet_tree").unwrap();
    outer.finish().unwrap();
    let mut leaves = Vec::new();
    let mut node_index = 0u32;
    while !r.is_empty() {
        if r.u8("present").unwrap() == 1 {
            match r.u8("node_type").unwrap() {
                1 => {
                    let before = r.rest();
                    LeafNode::decode(&mut r).unwrap();
                    let used = before.len() - r.remaining();
                    leaves.push((node_index / 2, before[..used].to_vec()));
                }
                2 => {
                    r.vl_bytes("encryption_key").unwrap();
                    r.vl_bytes("parent_hash").unwrap();
                    r.vl_bytes("unmerged_leaves").unwrap();
                }
                other => panic!("node type {other}"),
            }
        }
        node_index += 1;
    }
    leaves
}

/// Ratchet-tree leaves (sources key_package, update and commit) decode,
/// re-encode byte-exact, and their signatures verify over `LeafNodeTBS` with
/// the group ID and leaf index as context: what the MLS engine relies on.
#[test]
fn suite_1_tree_validation_leaves_round_trip_and_verify_with_group_context() {
    let cases: Vec<TreeValidationCase> = serde_json::from_str(TREE_VALIDATION).unwrap();
    let mut trees = 0;
    let mut leaves = 0;
    let mut sources = std::collections::HashSet::new();
    for (i, case) in cases.iter().enumerate() {
        if case.cipher_suite != 1 {
            continue;
        }
        let group_id = hex::decode(&case.group_id).unwrap();
        for (leaf_index, bytes) in leaves_of_tree(&hex::decode(&case.tree).unwrap()) {
            let leaf = LeafNode::from_bytes(&bytes).unwrap();
            assert_eq!(
                leaf.to_bytes().unwrap(),
                bytes,
                "case {i} leaf {leaf_index}"
            );
            leaf.verify_signature(&group_id, leaf_index)
                .unwrap_or_else(|e| panic!("case {i} leaf {leaf_index}: {e}"));
            leaf.validate(
                &ValidationPolicy::for_fixed_vectors(),
                LeafNodeContext::Tree {
                    group_id: &group_id,
                    leaf_index,
                },
            )
            .unwrap();
            sources.insert(leaf.leaf_node_source.source_type());
            // Another position or group breaks a group-bound signature.
            if leaf.leaf_node_source.source_type() != LeafNodeSourceType::KeyPackage {
                assert_eq!(
                    leaf.verify_signature(&group_id, leaf_index + 1),
                    Err(Error::InvalidLeafNodeSignature)
                );
                assert_eq!(
                    leaf.verify_signature(b"another group", leaf_index),
                    Err(Error::InvalidLeafNodeSignature)
                );
            }
            leaves += 1;
        }
        trees += 1;
    }
    assert_eq!(trees, 14);
    assert!(leaves > 14);
    assert!(sources.contains(&LeafNodeSourceType::KeyPackage));
    assert!(sources.contains(&LeafNodeSourceType::Commit));
    eprintln!("{trees} trees, {leaves} leaves, sources {sources:?}");
}
