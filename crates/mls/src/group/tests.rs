//! In-crate tests that need the group's internals (its membership key, secret tree and
//! signer) to forge or re-encrypt messages a member could send.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use nipee_keypackage::{KeyPackageBundle, KeyPackageOptions};
use rand::SeedableRng;
use rand::rngs::StdRng;

use super::{Group, GroupConfig, HandshakeFormat};
use crate::crypto::RustCryptoSuite1;
use crate::error::Error;
use crate::framing::{Content, MlsMessage, MlsMessageBody, PublicMessage};

pub(super) const NOW: u64 = 1_750_000_000;

/// A group of `n` members created by the first, in PublicMessage handshake format.
fn members(n: usize) -> Vec<Group> {
    members_in(n, HandshakeFormat::Public)
}

/// A group of `n` members created by the first, with handshakes in `format`.
fn members_in(n: usize, format: HandshakeFormat) -> Vec<Group> {
    members_with(n, format, &KeyPackageOptions::new(NOW))
}

/// A group of `n` members whose KeyPackages are made with `options`.
pub(super) fn members_with(
    n: usize,
    format: HandshakeFormat,
    options: &KeyPackageOptions,
) -> Vec<Group> {
    let mut rng = StdRng::seed_from_u64(5);
    let mut cfg = GroupConfig::new(NOW);
    cfg.handshake_format = format;
    let bundles = (0..n)
        .map(|i| KeyPackageBundle::generate(format!("m{i}").as_bytes(), options, &mut rng).unwrap())
        .collect();
    group_of(&cfg, b"g", bundles)
}

/// A group created by the first bundle's owner, who adds the others in one commit; every
/// member joins from the Welcome.
pub(super) fn group_of(
    cfg: &GroupConfig,
    group_id: &[u8],
    bundles: Vec<KeyPackageBundle>,
) -> Vec<Group> {
    let mut it = bundles.into_iter();
    let mut creator = Group::create(
        RustCryptoSuite1::new(),
        cfg.clone(),
        group_id.to_vec().into(),
        it.next().unwrap(),
        vec![],
    )
    .unwrap();
    let rest: Vec<KeyPackageBundle> = it.collect();
    let out = creator
        .add_members(rest.iter().map(|b| b.key_package().clone()).collect())
        .unwrap();
    creator.merge_pending_commit().unwrap();
    let welcome = out.welcome.unwrap();
    let mut all = vec![creator];
    for b in rest {
        all.push(
            Group::join(
                RustCryptoSuite1::new(),
                cfg.clone(),
                &welcome,
                b.into(),
                None,
                vec![],
            )
            .unwrap(),
        );
    }
    all
}

/// `content` signed and tagged by `sender` as a PublicMessage, with `confirmation_tag`.
pub(super) fn reframe(
    sender: &Group,
    content: crate::framing::FramedContent,
    confirmation_tag: Option<Vec<u8>>,
) -> Vec<u8> {
    let forged = PublicMessage::protect(
        &sender.provider,
        content,
        sender.signer().unwrap(),
        &sender.state.context,
        &sender.state.keys.membership_key,
        confirmation_tag,
    )
    .unwrap();
    MlsMessage {
        body: MlsMessageBody::PublicMessage(Box::new(forged)),
    }
    .to_bytes()
    .unwrap()
}

/// The commit inside `bytes` (a PublicMessage), with its framing.
pub(super) fn public_commit(bytes: &[u8]) -> Box<PublicMessage> {
    let MlsMessageBody::PublicMessage(pm) = MlsMessage::from_bytes(bytes).unwrap().body else {
        panic!("the handshake format is PublicMessage");
    };
    pm
}

/// A member (alice) sends a commit whose UpdatePath leaf carries a broken signature, but
/// frames it correctly: valid framing signature, valid membership tag. The receiver must
/// reject it for the leaf signature, and change nothing.
#[test]
fn a_path_leaf_with_a_bad_signature_is_rejected_under_a_valid_framing_signature() {
    let mut g = members(2);
    let (mut bob, mut alice) = (g.pop().unwrap(), g.pop().unwrap());
    let out = alice.self_update().unwrap();
    let pm = public_commit(&out.commit);
    let mut content = pm.content.clone();
    let Content::Commit(commit) = &mut content.content else {
        panic!("a commit");
    };
    commit.path.as_mut().unwrap().leaf_node.signature[7] ^= 1;
    let forged = reframe(&alice, content, pm.auth.confirmation_tag.clone());

    let before = bob.to_bytes().unwrap();
    let err = bob.process_message(&forged).unwrap_err();
    assert!(
        matches!(err, Error::BadSignature { what: "LeafNode" }),
        "expected the leaf's signature to fail: {err:?}"
    );
    assert_eq!(*bob.to_bytes().unwrap(), *before, "state changed");

    // The genuine commit still applies afterwards.
    alice.merge_pending_commit().unwrap();
    bob.process_message(&out.commit).unwrap();
    assert_eq!(alice.epoch_authenticator(), bob.epoch_authenticator());
}

/// A correctly framed commit whose UpdatePath reuses the public key of a parent node off
/// the committer's direct path (§16.8): rejected before anything else, nothing changes.
#[test]
fn an_update_path_key_already_held_by_a_parent_node_is_rejected() {
    use crate::tree::math::NodeIndex;
    let mut g = members(4);
    // m2 commits: node 5 (the parent of leaves 2 and 3) gets a key.
    let out = g[2].self_update().unwrap();
    g[2].merge_pending_commit().unwrap();
    for i in [0, 1, 3] {
        g[i].process_message(&out.commit).unwrap();
    }
    let taken = g[0]
        .state
        .tree
        .parent_node(NodeIndex(5))
        .unwrap()
        .encryption_key
        .clone();
    // m0 (direct path 1, 3) sends an UpdatePath whose first node key is node 5's.
    let out = g[0].self_update().unwrap();
    let pm = public_commit(&out.commit);
    let mut content = pm.content.clone();
    let Content::Commit(commit) = &mut content.content else {
        panic!("a commit");
    };
    commit.path.as_mut().unwrap().nodes[0].encryption_key = taken;
    let forged = reframe(&g[0], content, pm.auth.confirmation_tag.clone());
    let before = g[1].to_bytes().unwrap();
    let err = g[1].process_message(&forged).unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidTree {
                reason: "an UpdatePath key is already in the tree"
            }
        ),
        "{err:?}"
    );
    assert_eq!(*g[1].to_bytes().unwrap(), *before, "state changed");
    g[0].merge_pending_commit().unwrap();
    g[1].process_message(&out.commit).unwrap();
    assert_eq!(g[0].epoch_authenticator(), g[1].epoch_authenticator());
}

/// Any member can re-encrypt another member's PrivateMessage commit under a later
/// generation of the sender's handshake ratchet: the authenticated content (FramedContent
/// and signature) is the same, the bytes are not. Staged, both give the same content id,
/// and both lead to the same epoch.
#[test]
fn a_re_encrypted_commit_has_the_same_content_id() {
    use crate::framing::PrivateMessage;
    use crate::group::message_in::MlsMessageIn;
    use crate::group::staged::Staged;
    use crate::secret_tree::RatchetType;
    use crate::tree::math::LeafIndex;

    let mut g = members_in(3, HandshakeFormat::Private);
    let out = g[0].self_update().unwrap();
    let MlsMessageBody::PrivateMessage(original) =
        MlsMessage::from_bytes(&out.commit).unwrap().body
    else {
        panic!("the handshake format is PrivateMessage");
    };
    // Bob decrypts Alice's commit and encrypts the same content again, one generation
    // later on Alice's handshake ratchet (the signature is deterministic: Alice's key
    // signs the same content to the same bytes).
    let bob = &g[1];
    let alice_key = bob
        .state
        .tree
        .leaf(LeafIndex(0))
        .unwrap()
        .signature_key
        .to_vec();
    let (ac, _) = original
        .unprotect(
            &bob.provider,
            &bob.state.context,
            &bob.state.keys.secret_tree,
            &bob.state.keys.sender_data_secret,
            |_| Ok(alice_key.clone()),
        )
        .unwrap();
    let mut st = bob.state.keys.secret_tree.clone();
    st.next_key(&bob.provider, LeafIndex(0), RatchetType::Handshake)
        .unwrap();
    let again = PrivateMessage::protect(
        &bob.provider,
        &ac.content,
        g[0].signer().unwrap(),
        &bob.state.context,
        &mut st,
        &bob.state.keys.sender_data_secret,
        ac.auth.confirmation_tag.clone(),
        0,
    )
    .unwrap();
    let again = MlsMessage {
        body: MlsMessageBody::PrivateMessage(Box::new(again)),
    }
    .to_bytes()
    .unwrap();
    assert_ne!(again, out.commit);

    let stage = |g: &Group, bytes: &[u8]| match g.stage(&MlsMessageIn::parse(bytes).unwrap()) {
        Ok(Staged::Commit(c)) => c,
        other => panic!("expected a commit, got {other:?}"),
    };
    let carol_original = stage(&g[2], &out.commit);
    let carol_again = stage(&g[2], &again);
    assert_eq!(carol_original.content_id(), carol_again.content_id());
    assert_eq!(
        carol_again.content_id(),
        g[0].pending_commit().unwrap().content_id()
    );
    g[2].merge(Staged::Commit(carol_again)).unwrap();
    g[0].merge_pending_commit().unwrap();
    g[1].process_message(&out.commit).unwrap();
    assert_eq!(g[2].epoch_authenticator(), g[0].epoch_authenticator());
    assert_eq!(g[1].epoch_authenticator(), g[0].epoch_authenticator());
}
