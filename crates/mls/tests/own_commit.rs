//! Own-commit recovery (feature `own-commit-recovery`): a commit our own implementation
//! created is re-applied from the committer's secrets after its pending state was lost,
//! landing on the same epoch as the other members; wrong secrets and foreign commits are
//! typed errors that leave the serialized group state byte-for-byte unchanged.
#![cfg(feature = "own-commit-recovery")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::recording::Recording;
use nipee_keypackage::{KeyPackageBundle, KeyPackageOptions};
use nipee_mls::hazmat::tree::treekem::node_key_pair;
use nipee_mls::{
    CommitSummary, CryptoProvider, Error, Group, GroupConfig, GroupId, HandshakeFormat,
    HpkePrivateKey, JoinKeys, MlsMessageIn, OwnCommitSecrets, ProcessedMessage, RustCryptoSuite1,
    Secret, SignatureSecretKey, Staged,
};
use rand::SeedableRng;
use rand::rngs::StdRng;

const NOW: u64 = 1_750_000_000;

fn config(format: HandshakeFormat) -> GroupConfig {
    let mut c = GroupConfig::new(NOW);
    c.handshake_format = format;
    c
}

fn bundle(rng: &mut StdRng, name: &str) -> KeyPackageBundle {
    KeyPackageBundle::generate(name.as_bytes(), &KeyPackageOptions::new(NOW), rng).unwrap()
}

/// alice, bob and carol in one group.
struct Three {
    alice: Group,
    bob: Group,
    carol: Group,
}

fn three(format: HandshakeFormat, seed: u64) -> Three {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut alice = Group::create(
        RustCryptoSuite1::new(),
        config(format),
        GroupId::new(b"own-commit".to_vec()),
        bundle(&mut rng, "alice"),
        vec![],
    )
    .unwrap();
    let (b, c) = (bundle(&mut rng, "bob"), bundle(&mut rng, "carol"));
    let out = alice
        .add_members(vec![b.key_package().clone(), c.key_package().clone()])
        .unwrap();
    alice.merge_pending_commit().unwrap();
    let welcome = out.welcome.unwrap();
    let bob_keys = JoinKeys::from(b);
    let join = |keys: JoinKeys| {
        Group::join(
            RustCryptoSuite1::new(),
            config(format),
            &welcome,
            keys,
            None,
            vec![],
        )
        .unwrap()
    };
    let bob = join(bob_keys);
    let carol = join(JoinKeys::from(c));
    Three { alice, bob, carol }
}

/// bob's self-update made by our implementation, and the secrets it generated (found among
/// the recorded random outputs by their public keys, as the interop generator did: the new
/// leaf key, the path secret and the rotated signature key), checked against the tree alice
/// sees after processing the commit.
fn bobs_recorded_self_update(t: &mut Three) -> (Vec<u8>, OwnCommitSecrets) {
    let rec = Recording::new();
    let mut bob_rec = Group::from_bytes(rec.clone(), &t.bob.to_bytes().unwrap()).unwrap();
    let commit = bob_rec.self_update().unwrap().commit;
    assert!(matches!(
        t.alice.process_message(&commit).unwrap(),
        ProcessedMessage::CommitApplied(_)
    ));
    let p = RustCryptoSuite1::new();
    let me = t.bob.own_leaf();
    let tree = t.alice.tree();
    let leaf_pk = tree.leaf(me).unwrap().encryption_key;
    let sig_pk = tree.leaf(me).unwrap().signature_key;
    assert_ne!(
        sig_pk,
        t.bob.member(me).unwrap().signature_key,
        "a self-update rotates the signature key"
    );
    let (first, _) = tree.filtered_direct_path(me)[0];
    let node_pk = tree.parent_node(first).unwrap().encryption_key.clone();
    let mut leaf = None;
    let mut path = None;
    let mut signer = None;
    for r in rec.randoms.borrow().iter().filter(|r| r.len() == 32) {
        let (sk, pk) = p.hpke_derive_key_pair(r).unwrap();
        if pk == leaf_pk {
            leaf = Some(sk);
        }
        let secret = Secret::from_slice(r);
        if node_key_pair(&p, &secret).unwrap().1 == node_pk {
            path = Some(secret);
        }
        let sig = SignatureSecretKey::from_slice(r).unwrap();
        if sig.public_key() == sig_pk {
            signer = Some(sig);
        }
    }
    (
        commit,
        OwnCommitSecrets {
            leaf_encryption_private_key: leaf.expect("leaf key among the random outputs"),
            signature_private_key: signer.expect("new signature key among the random outputs"),
            path_secret: path.expect("path secret among the random outputs"),
        },
    )
}

/// Stages our own commit from its secrets and merges it, as the application does.
fn recover(
    g: &mut Group,
    commit: &[u8],
    secrets: OwnCommitSecrets,
) -> Result<CommitSummary, Error> {
    let staged = g.stage_own_commit_with_secrets(&MlsMessageIn::parse(commit)?, secrets)?;
    assert!(staged.is_own());
    match g.merge(Staged::Commit(Box::new(staged)))? {
        ProcessedMessage::OwnCommitMerged(summary) => Ok(summary),
        other => panic!("expected our own commit to merge, got {other:?}"),
    }
}

fn assert_same_epoch(a: &Group, b: &Group) {
    assert_eq!(a.epoch(), b.epoch());
    assert_eq!(a.epoch_authenticator(), b.epoch_authenticator());
    assert_eq!(
        a.export_secret(b"nostr", b"nostr", 32).unwrap(),
        b.export_secret(b"nostr", b"nostr", 32).unwrap()
    );
    assert_eq!(a.context(), b.context());
    assert_eq!(a.tree().encode().unwrap(), b.tree().encode().unwrap());
}

fn secrets_copy(s: &OwnCommitSecrets) -> OwnCommitSecrets {
    OwnCommitSecrets {
        leaf_encryption_private_key: HpkePrivateKey::from_slice(
            s.leaf_encryption_private_key.as_bytes(),
        ),
        signature_private_key: s.signature_private_key.clone(),
        path_secret: Secret::from_slice(s.path_secret.as_bytes()),
    }
}

/// After recovery the group is fully usable: messages both ways, and the next commit by
/// another member (whose path is encrypted to bob's new leaf and path keys) decrypts.
fn exercise(t: &mut Three) {
    let m = t.bob.create_message(b"after recovery", b"").unwrap();
    match t.alice.process_message(&m).unwrap() {
        ProcessedMessage::Application { data, sender, .. } => {
            assert_eq!(data, b"after recovery");
            assert_eq!(sender, t.bob.own_leaf());
        }
        other => panic!("expected an application message, got {other:?}"),
    }
    let m = t.carol.create_message(b"to bob", b"").unwrap();
    assert!(matches!(
        t.bob.process_message(&m).unwrap(),
        ProcessedMessage::Application { .. }
    ));
    let out = t.carol.self_update().unwrap();
    t.carol.merge_pending_commit().unwrap();
    t.alice.process_message(&out.commit).unwrap();
    t.bob.process_message(&out.commit).unwrap();
    assert_same_epoch(&t.bob, &t.alice);
    assert_same_epoch(&t.bob, &t.carol);
    // And bob can commit again with the recovered signer and keys.
    let out = t.bob.self_update().unwrap();
    t.bob.merge_pending_commit().unwrap();
    t.alice.process_message(&out.commit).unwrap();
    t.carol.process_message(&out.commit).unwrap();
    assert_same_epoch(&t.bob, &t.alice);
}

#[test]
fn own_private_commit_reapplied_after_restart_lands_on_the_same_epoch() {
    let mut t = three(HandshakeFormat::Private, 1);
    // The state bob persisted before committing; the pending commit is lost with the
    // process (a PrivateMessage consumed a handshake generation, so the pre-commit state is
    // what a restart sees).
    let persisted = t.bob.to_bytes().unwrap();
    let (commit, secrets) = bobs_recorded_self_update(&mut t);
    t.carol.process_message(&commit).unwrap();
    let mut bob = Group::from_bytes(RustCryptoSuite1::new(), &persisted).unwrap();
    let summary = recover(&mut bob, &commit, secrets).unwrap();
    assert_eq!(summary.epoch, 2);
    assert_same_epoch(&bob, &t.alice);
    assert_same_epoch(&bob, &t.carol);
    t.bob = bob;
    exercise(&mut t);
}

#[test]
fn own_public_commit_reapplied_after_discarding_the_pending_commit() {
    let mut t = three(HandshakeFormat::Public, 2);
    let (commit, secrets) = bobs_recorded_self_update(&mut t);
    // bob's own copy: commit, then drop the pending state.
    let before = t.bob.to_bytes().unwrap();
    let _ = t.bob.self_update().unwrap();
    t.bob.discard_pending_commit();
    assert_eq!(*t.bob.to_bytes().unwrap(), *before);
    t.carol.process_message(&commit).unwrap();
    recover(&mut t.bob, &commit, secrets).unwrap();
    assert_same_epoch(&t.bob, &t.alice);
    assert_same_epoch(&t.bob, &t.carol);
    exercise(&mut t);
}

fn rejected(
    bob: &mut Group,
    commit: &[u8],
    secrets: OwnCommitSecrets,
    check: impl Fn(&Error) -> bool,
) {
    let before = bob.to_bytes().unwrap();
    let err = recover(bob, commit, secrets).unwrap_err();
    assert!(check(&err), "unexpected error {err:?}");
    assert_eq!(*bob.to_bytes().unwrap(), *before, "state changed on {err}");
}

#[test]
fn wrong_secrets_and_foreign_commits_are_typed_errors_that_change_nothing() {
    for format in [HandshakeFormat::Private, HandshakeFormat::Public] {
        let mut t = three(format, 3);
        let persisted = t.bob.to_bytes().unwrap();
        let (commit, secrets) = bobs_recorded_self_update(&mut t);
        let mut bob = Group::from_bytes(RustCryptoSuite1::new(), &persisted).unwrap();

        let mut s = secrets_copy(&secrets);
        s.path_secret = Secret::from_slice(&[7u8; 32]);
        rejected(&mut bob, &commit, s, |e| {
            matches!(
                e,
                Error::OwnCommitMismatch {
                    what: "path secret"
                }
            )
        });

        let mut s = secrets_copy(&secrets);
        s.leaf_encryption_private_key = RustCryptoSuite1::new().hpke_generate_key_pair().unwrap().0;
        rejected(&mut bob, &commit, s, |e| {
            matches!(
                e,
                Error::OwnCommitMismatch {
                    what: "leaf encryption private key"
                }
            )
        });

        let mut s = secrets_copy(&secrets);
        s.signature_private_key = SignatureSecretKey::from_bytes([9u8; 32]);
        rejected(&mut bob, &commit, s, |e| {
            matches!(
                e,
                Error::OwnCommitMismatch {
                    what: "signature private key"
                }
            )
        });

        // A commit from another member (alice, in bob's epoch) is not ours.
        let mut t2 = three(format, 3);
        let alices = t2.alice.self_update().unwrap().commit;
        let mut bob2 =
            Group::from_bytes(RustCryptoSuite1::new(), &t2.bob.to_bytes().unwrap()).unwrap();
        rejected(&mut bob2, &alices, secrets_copy(&secrets), |e| {
            matches!(e, Error::InvalidSender { .. })
        });
        // The same commit still processes normally afterwards.
        assert!(matches!(
            bob2.process_message(&alices).unwrap(),
            ProcessedMessage::CommitApplied(_)
        ));

        // With a pending commit of ours the call is misuse.
        let _ = bob.self_update().unwrap();
        rejected(&mut bob, &commit, secrets_copy(&secrets), |e| {
            matches!(e, Error::Misuse(_))
        });
        bob.discard_pending_commit();

        // The genuine secrets still work after all the failed attempts (Public: the
        // pending commit above consumed no handshake generation).
        if format == HandshakeFormat::Public {
            recover(&mut bob, &commit, secrets).unwrap();
            assert_same_epoch(&bob, &t.alice);
        } else {
            let mut fresh = Group::from_bytes(RustCryptoSuite1::new(), &persisted).unwrap();
            recover(&mut fresh, &commit, secrets).unwrap();
            assert_same_epoch(&fresh, &t.alice);
        }
    }
}

#[test]
fn secrets_do_not_print() {
    let s = OwnCommitSecrets {
        leaf_encryption_private_key: HpkePrivateKey::from_slice(&[0xab; 32]),
        signature_private_key: SignatureSecretKey::from_bytes([0xcd; 32]),
        path_secret: Secret::from_slice(&[0xef; 32]),
    };
    let d = format!("{s:?}");
    assert!(!d.contains("ab") && !d.contains("171") && !d.contains("cd") && !d.contains("ef"));
}
