//! Negative tests: every check of framing, the secret tree, the key schedule and the ratchet
//! tree rejects tampered input with its own typed error.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use nipee_mls::hazmat::framing::{Content, FramedContent, PrivateMessage, PublicMessage};
use nipee_mls::hazmat::schedule;
use nipee_mls::hazmat::secret_tree::SecretTree;
use nipee_mls::hazmat::tree::RatchetTree;
use nipee_mls::{
    CipherSuite, CryptoProvider, Error, ErrorKind, GroupContext, LeafIndex, Proposal,
    RustCryptoSuite1, Secret, SecretTreeConfig, Sender, SignatureSecretKey,
};

struct Setup {
    p: RustCryptoSuite1,
    sk: SignatureSecretKey,
    pk: Vec<u8>,
    gc: GroupContext,
    membership_key: Secret,
    sender_data_secret: Secret,
}

fn setup() -> Setup {
    let p = RustCryptoSuite1::new();
    let (sk, pk) = p.signature_generate_key_pair().unwrap();
    Setup {
        p,
        sk,
        pk,
        gc: GroupContext {
            version: 1,
            cipher_suite: CipherSuite(1),
            group_id: b"group".to_vec().into(),
            epoch: 7,
            tree_hash: vec![1; 32],
            confirmed_transcript_hash: vec![2; 32],
            extensions: vec![],
        },
        membership_key: Secret::new(vec![3; 32]),
        sender_data_secret: Secret::new(vec![4; 32]),
    }
}

fn content(s: &Setup, c: Content) -> FramedContent {
    FramedContent {
        group_id: s.gc.group_id.as_bytes().to_vec(),
        epoch: s.gc.epoch,
        sender: Sender::Member(1),
        authenticated_data: b"ad".to_vec(),
        content: c,
    }
}

fn remove_proposal(s: &Setup) -> FramedContent {
    content(s, Content::Proposal(Proposal::Remove { removed: 0 }))
}

fn public(s: &Setup) -> PublicMessage {
    PublicMessage::protect(
        &s.p,
        remove_proposal(s),
        &s.sk,
        &s.gc,
        &s.membership_key,
        None,
    )
    .unwrap()
}

fn tree() -> SecretTree {
    SecretTree::new(Secret::new(vec![5; 32]), 2, SecretTreeConfig::default()).unwrap()
}

fn private(s: &Setup, c: FramedContent) -> PrivateMessage {
    PrivateMessage::protect(
        &s.p,
        &c,
        &s.sk,
        &s.gc,
        &mut tree(),
        &s.sender_data_secret,
        None,
        0,
    )
    .unwrap()
}

/// Decrypts `m` and, as a group does once it accepts a message, deletes its key from `t`.
fn open_private(s: &Setup, m: &PrivateMessage, t: &mut SecretTree) -> Result<Content, Error> {
    let pk = s.pk.clone();
    let (ac, change) = m.unprotect(&s.p, &s.gc, t, &s.sender_data_secret, |_| Ok(pk))?;
    t.apply(change)?;
    Ok(ac.content.content)
}

#[test]
fn a_valid_public_message_verifies() {
    let s = setup();
    let ac = public(&s)
        .unprotect(&s.p, &s.gc, &s.membership_key, &s.pk)
        .unwrap();
    assert_eq!(ac.content, remove_proposal(&s));
}

#[test]
fn a_bad_membership_tag_is_rejected() {
    let s = setup();
    let mut m = public(&s);
    if let Some(tag) = m.membership_tag.as_mut() {
        tag[0] ^= 1;
    }
    let err = m
        .unprotect(&s.p, &s.gc, &s.membership_key, &s.pk)
        .unwrap_err();
    assert!(matches!(err, Error::BadMembershipTag), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::Invalid);
    // The right tag under the wrong key fails the same way.
    let err = public(&s)
        .unprotect(&s.p, &s.gc, &Secret::new(vec![9; 32]), &s.pk)
        .unwrap_err();
    assert!(matches!(err, Error::BadMembershipTag), "{err:?}");
}

#[test]
fn a_bad_signature_is_rejected() {
    let s = setup();
    let (_, other_pk) = s.p.signature_generate_key_pair().unwrap();
    let err = public(&s)
        .unprotect(&s.p, &s.gc, &s.membership_key, &other_pk)
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::BadSignature {
                what: "FramedContentTBS"
            }
        ),
        "{err:?}"
    );

    let m = private(&s, remove_proposal(&s));
    let err = m
        .unprotect(&s.p, &s.gc, &tree(), &s.sender_data_secret, |_| {
            Ok(other_pk.clone())
        })
        .unwrap_err();
    assert!(matches!(err, Error::BadSignature { .. }), "{err:?}");
}

#[test]
fn a_message_from_another_epoch_or_group_is_rejected() {
    let s = setup();
    let mut later = s.gc.clone();
    later.epoch += 1;
    let err = public(&s)
        .unprotect(&s.p, &later, &s.membership_key, &s.pk)
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::WrongEpoch {
                expected: 8,
                found: 7
            }
        ),
        "{err:?}"
    );

    let m = private(&s, remove_proposal(&s));
    let err = m
        .unprotect(&s.p, &later, &tree(), &s.sender_data_secret, |_| Ok(vec![]))
        .unwrap_err();
    assert!(matches!(err, Error::WrongEpoch { .. }), "{err:?}");

    let mut other = s.gc.clone();
    other.group_id = b"other".to_vec().into();
    let err = public(&s)
        .unprotect(&s.p, &other, &s.membership_key, &s.pk)
        .unwrap_err();
    assert!(matches!(err, Error::WrongGroup), "{err:?}");
}

#[test]
fn a_replayed_private_message_is_rejected() {
    let s = setup();
    let m = private(&s, content(&s, Content::Application(b"hello".to_vec())));
    let mut t = tree();
    assert_eq!(
        open_private(&s, &m, &mut t).unwrap(),
        Content::Application(b"hello".to_vec())
    );
    let err = open_private(&s, &m, &mut t).unwrap_err();
    assert!(
        matches!(
            err,
            Error::GenerationConsumed {
                leaf: 1,
                generation: 0
            }
        ),
        "{err:?}"
    );
}

#[test]
fn tampered_content_ciphertext_is_rejected() {
    let s = setup();
    let mut m = private(&s, content(&s, Content::Application(vec![7; 100])));
    // Flip a byte of the AEAD tag (past the sample the sender-data key is derived from).
    if let Some(last) = m.ciphertext.last_mut() {
        *last ^= 1;
    }
    let mut t = tree();
    let err = open_private(&s, &m, &mut t).unwrap_err();
    assert!(
        matches!(
            err,
            Error::DecryptionFailed {
                what: "PrivateMessage content"
            }
        ),
        "{err:?}"
    );
    // The forgery did not burn the key: the genuine message still decrypts, once.
    if let Some(last) = m.ciphertext.last_mut() {
        *last ^= 1;
    }
    assert_eq!(
        open_private(&s, &m, &mut t).unwrap(),
        Content::Application(vec![7; 100])
    );
    assert!(matches!(
        open_private(&s, &m, &mut t).unwrap_err(),
        Error::GenerationConsumed { .. }
    ));
}

#[test]
fn tampered_sender_data_is_rejected() {
    let s = setup();
    let mut m = private(&s, remove_proposal(&s));
    m.encrypted_sender_data[0] ^= 1;
    let err = open_private(&s, &m, &mut tree()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::DecryptionFailed {
                what: "sender data"
            }
        ),
        "{err:?}"
    );
}

#[test]
fn tampered_authenticated_data_is_rejected() {
    let s = setup();
    let mut m = private(&s, remove_proposal(&s));
    m.authenticated_data = b"forged".to_vec();
    let err = open_private(&s, &m, &mut tree()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::DecryptionFailed {
                what: "PrivateMessage content"
            }
        ),
        "{err:?}"
    );
}

#[test]
fn application_data_is_never_a_public_message() {
    let s = setup();
    let err = PublicMessage::protect(
        &s.p,
        content(&s, Content::Application(b"x".to_vec())),
        &s.sk,
        &s.gc,
        &s.membership_key,
        None,
    )
    .unwrap_err();
    assert!(matches!(err, Error::ContentNotAllowed { .. }), "{err:?}");
}

#[test]
fn padded_private_messages_round_trip() {
    let s = setup();
    let c = content(&s, Content::Application(b"padded".to_vec()));
    let m = PrivateMessage::protect(
        &s.p,
        &c,
        &s.sk,
        &s.gc,
        &mut tree(),
        &s.sender_data_secret,
        None,
        100,
    )
    .unwrap();
    let unpadded = private(&s, c);
    assert_eq!(m.ciphertext.len(), unpadded.ciphertext.len() + 100);
    assert_eq!(
        open_private(&s, &m, &mut tree()).unwrap(),
        Content::Application(b"padded".to_vec())
    );
}

#[test]
fn a_bad_confirmation_tag_is_rejected() {
    let p = RustCryptoSuite1::new();
    let key = Secret::new(vec![1; 32]);
    let mut tag = schedule::confirmation_tag(&p, &key, b"transcript").unwrap();
    schedule::verify_confirmation_tag(&p, &key, b"transcript", &tag).unwrap();
    tag[3] ^= 0x80;
    let err = schedule::verify_confirmation_tag(&p, &key, b"transcript", &tag).unwrap_err();
    assert!(matches!(err, Error::BadConfirmationTag), "{err:?}");
}

#[test]
fn secrets_never_print_their_bytes() {
    let s = Secret::new(vec![0xab; 32]);
    let shown = format!("{s:?}");
    assert!(!shown.contains("ab") && !shown.contains("171"), "{shown}");
    let k = SignatureSecretKey::from_bytes([0xcd; 32]);
    assert!(!format!("{k:?}").contains("cd"));
    assert_eq!(Secret::new(vec![1, 2]), Secret::new(vec![1, 2]));
    assert_ne!(Secret::new(vec![1, 2]), Secret::new(vec![1, 3]));
}

// ----- ratchet tree -----

fn vector(file: &str) -> serde_json::Value {
    let path = format!("{}/../../vectors/mls/{file}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn hex_of(v: &serde_json::Value, name: &str) -> Vec<u8> {
    hex::decode(v[name].as_str().unwrap()).unwrap()
}

/// The largest suite-1 tree of tree-validation.json (it has parent nodes and unmerged leaves).
fn validation_tree() -> (Vec<u8>, Vec<u8>) {
    let cases = vector("tree-validation.json");
    let case = cases
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["cipher_suite"] == 1)
        .max_by_key(|c| c["tree"].as_str().unwrap().len())
        .unwrap();
    (hex_of(case, "tree"), hex_of(case, "group_id"))
}

#[test]
fn a_leaf_with_an_invalid_signature_is_rejected() {
    let p = RustCryptoSuite1::new();
    let (bytes, group_id) = validation_tree();
    let tree = RatchetTree::decode(&p, &bytes).unwrap();
    tree.validate(&p, &group_id).unwrap();
    // Flip one bit in the signature of the first leaf.
    let leaf = tree.leaf(LeafIndex(0)).unwrap();
    let pos = bytes
        .windows(64)
        .position(|w| w == leaf.signature.as_slice())
        .unwrap();
    let mut tampered = bytes.clone();
    tampered[pos + 10] ^= 1;
    let tree = RatchetTree::decode(&p, &tampered).unwrap();
    let err = tree.verify_leaf_signatures(&p, &group_id).unwrap_err();
    assert!(
        matches!(err, Error::BadSignature { what: "LeafNode" }),
        "{err:?}"
    );
    // The signatures bind the group: the right tree under another group id fails too.
    let tree = RatchetTree::decode(&p, &bytes).unwrap();
    let err = tree
        .verify_leaf_signatures(&p, b"another group")
        .unwrap_err();
    assert!(matches!(err, Error::BadSignature { .. }), "{err:?}");
}

#[test]
fn a_broken_parent_hash_chain_is_rejected() {
    let p = RustCryptoSuite1::new();
    let (bytes, group_id) = validation_tree();
    let tree = RatchetTree::decode(&p, &bytes).unwrap();
    // Replace the root's encryption key: the chain below it no longer authenticates it.
    let root = nipee_mls::hazmat::tree::math::root(tree.n_leaves());
    let key = tree.parent_node(root).unwrap().encryption_key.clone();
    let pos = bytes
        .windows(key.len())
        .position(|w| w == key.as_slice())
        .unwrap();
    let mut tampered = bytes.clone();
    tampered[pos] ^= 1;
    let tree = RatchetTree::decode(&p, &tampered).unwrap();
    let err = tree.validate(&p, &group_id).unwrap_err();
    assert!(matches!(err, Error::InvalidTree { .. }), "{err:?}");
    let err = tree.verify_parent_hashes(&p).unwrap_err();
    assert!(
        matches!(err, Error::InvalidTree { reason } if reason.contains("parent-hash")),
        "{err:?}"
    );
}

#[test]
fn an_update_path_with_a_broken_parent_hash_is_rejected() {
    use nipee_mls::hazmat::framing::UpdatePath;
    use nipee_mls::hazmat::tree::treekem;
    let p = RustCryptoSuite1::new();
    let cases = vector("treekem.json");
    let case = cases
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["cipher_suite"] == 1)
        .unwrap();
    let tree = RatchetTree::decode(&p, &hex_of(case, "ratchet_tree")).unwrap();
    let up = &case["update_paths"][0];
    let sender = LeafIndex(u32::try_from(up["sender"].as_u64().unwrap()).unwrap());
    let mut path: UpdatePath = nipee_codec::decode_exact(&hex_of(up, "update_path")).unwrap();
    let group_id = hex_of(case, "group_id");
    treekem::merge_update_path(&p, &mut tree.clone(), sender, &path, &group_id).unwrap();
    path.nodes.last_mut().unwrap().encryption_key[0] ^= 1;
    let err =
        treekem::merge_update_path(&p, &mut tree.clone(), sender, &path, &group_id).unwrap_err();
    assert!(matches!(err, Error::InvalidTree { .. }), "{err:?}");
}

#[test]
fn malformed_trees_are_rejected() {
    let p = RustCryptoSuite1::new();
    // An empty tree, and a tree whose last node is blank.
    assert!(matches!(
        RatchetTree::decode(&p, &[0]).unwrap_err(),
        Error::InvalidTree { .. }
    ));
    let err = RatchetTree::decode(&p, &[1, 0]).unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidTree {
                reason: "last node is blank"
            }
        ),
        "{err:?}"
    );
    // An even number of nodes (the tree would end with a parent node).
    let (bytes, _) = validation_tree();
    let tree = RatchetTree::decode(&p, &bytes).unwrap();
    let root = nipee_mls::hazmat::tree::math::root(tree.n_leaves());
    let mut two = vec![];
    let leaf = tree.leaf(LeafIndex(0)).unwrap();
    let parent = tree.parent_node(root).unwrap();
    let mut w = nipee_codec::Writer::new();
    w.u8(1);
    w.u8(1);
    nipee_codec::Encode::encode(leaf, &mut w).unwrap();
    w.u8(1);
    w.u8(2);
    nipee_codec::Encode::encode(parent, &mut w).unwrap();
    let body = w.into_bytes();
    nipee_codec::varint::write_varint("len", body.len() as u64, &mut two).unwrap();
    two.extend_from_slice(&body);
    let err = RatchetTree::decode(&p, &two).unwrap_err();
    assert!(
        matches!(err, Error::InvalidTree { reason } if reason.contains("odd")),
        "{err:?}"
    );
    // Trailing bytes.
    let mut long = bytes.clone();
    long.push(0);
    assert_eq!(
        RatchetTree::decode(&p, &long).unwrap_err().kind(),
        ErrorKind::Malformed
    );
}
