//! Live, in-process interoperability with OpenMLS 0.9: groups created on either side, Welcome
//! joins, application messages both ways, commits by value and by reference (several
//! proposals by reference in one commit), updates, removals and additions, with both sides
//! agreeing on the epoch authenticator and `export_secret("nostr", b"nostr", 32)` at every
//! epoch. Each scenario runs with handshake messages as PrivateMessages (OpenMLS's
//! pure-ciphertext policy) and as PublicMessages (pure plaintext).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{SystemTime, UNIX_EPOCH};

use nipee_keypackage::{
    Encode as _, KeyPackage as NKeyPackage, KeyPackageBundle, KeyPackageOptions,
};
use nipee_mls::{
    CommitOptions, Group, GroupConfig, GroupId, HandshakeFormat, LeafIndex,
    ProcessedMessage as NProcessed, Proposal as NProposal, RustCryptoSuite1,
};
use openmls::prelude::tls_codec::{Deserialize as _, Serialize as _};
use openmls::prelude::*;
use openmls_basic_credential::SignatureKeyPair;
use openmls_rust_crypto::OpenMlsRustCrypto;

const SUITE: Ciphersuite = Ciphersuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519;

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

thread_local! {
    static PUBLIC: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn public() -> bool {
    PUBLIC.with(std::cell::Cell::get)
}

fn policy() -> WireFormatPolicy {
    if public() {
        PURE_PLAINTEXT_WIRE_FORMAT_POLICY
    } else {
        PURE_CIPHERTEXT_WIRE_FORMAT_POLICY
    }
}

fn our_config() -> GroupConfig {
    let mut c = GroupConfig::new(now());
    c.handshake_format = if public() {
        HandshakeFormat::Public
    } else {
        HandshakeFormat::Private
    };
    c
}

fn our_bundle(name: &str) -> KeyPackageBundle {
    let mut rng = rand::rng();
    KeyPackageBundle::generate(name.as_bytes(), &KeyPackageOptions::new(now()), &mut rng).unwrap()
}

/// An OpenMLS member with its own provider (storage) and signer.
struct Om {
    provider: OpenMlsRustCrypto,
    signer: SignatureKeyPair,
    credential: CredentialWithKey,
    group: Option<MlsGroup>,
}

impl Om {
    fn new(name: &str) -> Self {
        let provider = OpenMlsRustCrypto::default();
        let signer = SignatureKeyPair::new(SUITE.signature_algorithm()).unwrap();
        signer.store(provider.storage()).unwrap();
        let credential = CredentialWithKey {
            credential: BasicCredential::new(name.as_bytes().to_vec()).into(),
            signature_key: signer.public().into(),
        };
        Om {
            provider,
            signer,
            credential,
            group: None,
        }
    }

    fn key_package(&self) -> KeyPackage {
        KeyPackage::builder()
            .build(SUITE, &self.provider, &self.signer, self.credential.clone())
            .unwrap()
            .key_package()
            .clone()
    }

    fn g(&mut self) -> &mut MlsGroup {
        self.group.as_mut().unwrap()
    }

    fn create(&mut self) {
        let cfg = MlsGroupCreateConfig::builder()
            .ciphersuite(SUITE)
            .wire_format_policy(policy())
            .use_ratchet_tree_extension(true)
            .build();
        self.group = Some(
            MlsGroup::new(&self.provider, &self.signer, &cfg, self.credential.clone()).unwrap(),
        );
    }

    fn join(&mut self, welcome: &[u8]) {
        let msg = MlsMessageIn::tls_deserialize_exact(welcome).unwrap();
        let MlsMessageBodyIn::Welcome(w) = msg.extract() else {
            panic!("not a welcome")
        };
        let cfg = MlsGroupJoinConfig::builder()
            .wire_format_policy(policy())
            .use_ratchet_tree_extension(true)
            .build();
        let staged = StagedWelcome::new_from_welcome(&self.provider, &cfg, w, None).unwrap();
        self.group = Some(staged.into_group(&self.provider).unwrap());
    }

    /// Processes a message; returns application data if it was one.
    fn process(&mut self, bytes: &[u8]) -> Option<Vec<u8>> {
        let msg = MlsMessageIn::tls_deserialize_exact(bytes).unwrap();
        let pm = msg.try_into_protocol_message().unwrap();
        let provider = &self.provider;
        let group = self.group.as_mut().unwrap();
        let processed = group.process_message(provider, pm).unwrap();
        match processed.into_content() {
            ProcessedMessageContent::ApplicationMessage(m) => Some(m.into_bytes()),
            ProcessedMessageContent::ProposalMessage(p) => {
                group
                    .store_pending_proposal(provider.storage(), *p)
                    .unwrap();
                None
            }
            ProcessedMessageContent::StagedCommitMessage(s) => {
                group.merge_staged_commit(provider, *s).unwrap();
                None
            }
            _ => panic!("unexpected message"),
        }
    }

    fn send(&mut self, data: &[u8]) -> Vec<u8> {
        let provider = &self.provider;
        let signer = &self.signer;
        self.group
            .as_mut()
            .unwrap()
            .create_message(provider, signer, data)
            .unwrap()
            .to_bytes()
            .unwrap()
    }

    fn merge(&mut self) {
        let provider = &self.provider;
        self.group
            .as_mut()
            .unwrap()
            .merge_pending_commit(provider)
            .unwrap();
    }
}

fn to_theirs(om: &Om, kp: &NKeyPackage) -> KeyPackage {
    let bytes = kp.to_bytes().unwrap();
    KeyPackageIn::tls_deserialize_exact(&bytes)
        .unwrap()
        .validate(om.provider.crypto(), ProtocolVersion::Mls10)
        .unwrap()
}

fn to_ours(kp: &KeyPackage) -> NKeyPackage {
    NKeyPackage::from_bytes(&kp.tls_serialize_detached().unwrap()).unwrap()
}

fn om_bytes(m: &MlsMessageOut) -> Vec<u8> {
    m.to_bytes().unwrap()
}

/// Both sides agree on the epoch, the epoch authenticator and the NIP-EE exporter secret.
fn agree(ours: &Group, theirs: &mut [&mut Om]) {
    let mine = ours.export_secret(b"nostr", b"nostr", 32).unwrap();
    for om in theirs.iter_mut() {
        let provider = &om.provider;
        let g = om.group.as_ref().unwrap();
        assert_eq!(g.epoch().as_u64(), ours.epoch(), "epoch");
        assert_eq!(
            g.epoch_authenticator().as_slice(),
            ours.epoch_authenticator().as_bytes(),
            "epoch authenticator at epoch {}",
            ours.epoch()
        );
        assert_eq!(
            g.export_secret(provider.crypto(), "nostr", b"nostr", 32)
                .unwrap(),
            mine.as_bytes(),
            "exporter at epoch {}",
            ours.epoch()
        );
    }
}

fn expect_app(r: NProcessed, want: &[u8]) {
    match r {
        NProcessed::Application { data, .. } => assert_eq!(data, want),
        other => panic!("expected application data, got {other:?}"),
    }
}

#[test]
fn openmls_creates_and_we_follow_then_commit() {
    openmls_creates_and_we_follow_then_commit_with(false);
}

#[test]
fn openmls_creates_and_we_follow_then_commit_with_public_handshakes() {
    openmls_creates_and_we_follow_then_commit_with(true);
}

#[test]
fn we_create_and_openmls_follows_then_commits() {
    we_create_and_openmls_follows_then_commits_with(false);
}

#[test]
fn we_create_and_openmls_follows_then_commits_with_public_handshakes() {
    we_create_and_openmls_follows_then_commits_with(true);
}

fn openmls_creates_and_we_follow_then_commit_with(public: bool) {
    PUBLIC.with(|p| p.set(public));
    let mut alice = Om::new("alice");
    let mut carol = Om::new("carol");
    let mut dave = Om::new("dave");
    alice.create();

    // Alice adds us and Carol in one commit.
    let bob_bundle = our_bundle("bob");
    let bob_kp = to_theirs(&alice, bob_bundle.key_package());
    let carol_kp = carol.key_package();
    let (_commit, welcome, _) = {
        let provider = &alice.provider;
        let signer = &alice.signer;
        alice
            .group
            .as_mut()
            .unwrap()
            .add_members(provider, signer, &[bob_kp, carol_kp])
            .unwrap()
    };
    alice.merge();
    let w = om_bytes(&welcome);
    let mut bob = Group::join(
        RustCryptoSuite1::new(),
        our_config(),
        &w,
        bob_bundle.into(),
        None,
        vec![],
    )
    .unwrap();
    carol.join(&w);
    agree(&bob, &mut [&mut alice, &mut carol]);

    // Application messages both ways.
    let m = alice.send(b"hello bob");
    expect_app(bob.process_message(&m).unwrap(), b"hello bob");
    carol.process(&m);
    let m = bob.create_message(b"hello openmls", b"").unwrap();
    assert_eq!(alice.process(&m).unwrap(), b"hello openmls");
    assert_eq!(carol.process(&m).unwrap(), b"hello openmls");

    // We propose an update, Alice proposes removing Carol, Alice commits both by reference.
    let upd = bob.propose_update().unwrap();
    alice.process(&upd);
    carol.process(&upd);
    let carol_index = carol.g().own_leaf_index();
    let (rm, _) = {
        let provider = &alice.provider;
        let signer = &alice.signer;
        alice
            .group
            .as_mut()
            .unwrap()
            .propose_remove_member(provider, signer, carol_index)
            .unwrap()
    };
    let rm = om_bytes(&rm);
    assert!(matches!(
        bob.process_message(&rm).unwrap(),
        NProcessed::ProposalStored { .. }
    ));
    carol.process(&rm);
    let (commit, _, _) = {
        let provider = &alice.provider;
        let signer = &alice.signer;
        alice
            .group
            .as_mut()
            .unwrap()
            .commit_to_pending_proposals(provider, signer)
            .unwrap()
    };
    alice.merge();
    let commit = om_bytes(&commit);
    match bob.process_message(&commit).unwrap() {
        NProcessed::CommitApplied(s) => {
            assert_eq!(s.removed, vec![LeafIndex(carol_index.u32())]);
            assert_eq!(s.updated, vec![bob.own_leaf()]);
        }
        other => panic!("{other:?}"),
    }
    agree(&bob, &mut [&mut alice]);

    // Alice commits a self-update (with a path).
    let (commit, _, _) = {
        let provider = &alice.provider;
        let signer = &alice.signer;
        alice
            .group
            .as_mut()
            .unwrap()
            .self_update(provider, signer, LeafNodeParameters::default())
            .unwrap()
            .into_contents()
    };
    alice.merge();
    bob.process_message(&om_bytes(&commit)).unwrap();
    agree(&bob, &mut [&mut alice]);

    // Alice proposes an update; we commit it by reference together with our own path
    // (update) and the addition of Dave, an OpenMLS member.
    let (upd, _) = {
        let provider = &alice.provider;
        let signer = &alice.signer;
        alice
            .group
            .as_mut()
            .unwrap()
            .propose_self_update(provider, signer, LeafNodeParameters::default())
            .unwrap()
    };
    bob.process_message(&om_bytes(&upd)).unwrap();
    let dave_kp = to_ours(&dave.key_package());
    let out = bob
        .commit(CommitOptions {
            proposals: vec![NProposal::Add(Box::new(dave_kp))],
            include_pending: true,
            force_path: true,
            ..CommitOptions::default()
        })
        .unwrap();
    bob.merge_pending_commit().unwrap();
    alice.process(&out.commit);
    dave.join(&out.welcome.unwrap());
    agree(&bob, &mut [&mut alice, &mut dave]);

    // Messages in the new epoch.
    let m = dave.send(b"hi from dave");
    expect_app(bob.process_message(&m).unwrap(), b"hi from dave");
    assert_eq!(alice.process(&m).unwrap(), b"hi from dave");
    let m = bob.create_message(b"welcome dave", b"").unwrap();
    assert_eq!(dave.process(&m).unwrap(), b"welcome dave");
    assert_eq!(alice.process(&m).unwrap(), b"welcome dave");
}

fn we_create_and_openmls_follows_then_commits_with(public: bool) {
    PUBLIC.with(|p| p.set(public));
    let mut alice = Om::new("alice");
    let mut carol = Om::new("carol");
    let mut dave = Om::new("dave");
    let mut bob = Group::create(
        RustCryptoSuite1::new(),
        our_config(),
        GroupId::new(b"nipee interop group".to_vec()),
        our_bundle("bob"),
        vec![],
    )
    .unwrap();

    // We add Alice and Carol (OpenMLS) in one commit with a path.
    let out = bob
        .commit(CommitOptions {
            proposals: vec![
                NProposal::Add(Box::new(to_ours(&alice.key_package()))),
                NProposal::Add(Box::new(to_ours(&carol.key_package()))),
            ],
            force_path: true,
            ..CommitOptions::default()
        })
        .unwrap();
    bob.merge_pending_commit().unwrap();
    let w = out.welcome.unwrap();
    alice.join(&w);
    carol.join(&w);
    agree(&bob, &mut [&mut alice, &mut carol]);

    let m = bob.create_message(b"hello openmls", b"").unwrap();
    assert_eq!(alice.process(&m).unwrap(), b"hello openmls");
    assert_eq!(carol.process(&m).unwrap(), b"hello openmls");
    let m = alice.send(b"hello bob");
    expect_app(bob.process_message(&m).unwrap(), b"hello bob");
    carol.process(&m);

    // OpenMLS commits an update and the removal of a third member: we propose an update,
    // Alice proposes removing Carol, and Alice commits both by reference (with her path).
    let upd = bob.propose_update().unwrap();
    alice.process(&upd);
    carol.process(&upd);
    let carol_index = carol.g().own_leaf_index();
    let (rm, _) = {
        let provider = &alice.provider;
        let signer = &alice.signer;
        alice
            .group
            .as_mut()
            .unwrap()
            .propose_remove_member(provider, signer, carol_index)
            .unwrap()
    };
    let rm = om_bytes(&rm);
    bob.process_message(&rm).unwrap();
    carol.process(&rm);
    let (commit, _, _) = {
        let provider = &alice.provider;
        let signer = &alice.signer;
        alice
            .group
            .as_mut()
            .unwrap()
            .commit_to_pending_proposals(provider, signer)
            .unwrap()
    };
    alice.merge();
    bob.process_message(&om_bytes(&commit)).unwrap();
    agree(&bob, &mut [&mut alice]);

    // We commit an update (path) and the addition of Dave.
    let out = bob
        .commit(CommitOptions {
            proposals: vec![NProposal::Add(Box::new(to_ours(&dave.key_package())))],
            force_path: true,
            ..CommitOptions::default()
        })
        .unwrap();
    bob.merge_pending_commit().unwrap();
    alice.process(&out.commit);
    dave.join(&out.welcome.unwrap());
    agree(&bob, &mut [&mut alice, &mut dave]);

    // A self-update from us (it rotates our signature key), and one from Dave.
    let old_key = bob.member(bob.own_leaf()).unwrap().signature_key;
    let out = bob.self_update().unwrap();
    bob.merge_pending_commit().unwrap();
    alice.process(&out.commit);
    dave.process(&out.commit);
    agree(&bob, &mut [&mut alice, &mut dave]);
    let new_key = bob.member(bob.own_leaf()).unwrap().signature_key;
    assert_ne!(new_key, old_key);
    for om in [&mut alice, &mut dave] {
        let theirs = om
            .g()
            .members()
            .find(|m| m.index.u32() == bob.own_leaf().0)
            .unwrap();
        assert_eq!(
            theirs.signature_key,
            new_key.to_vec(),
            "OpenMLS sees the new key"
        );
    }
    // Signed with the new key, our messages still verify on their side.
    let m = bob.create_message(b"after rotation", b"").unwrap();
    assert_eq!(alice.process(&m).as_deref(), Some(&b"after rotation"[..]));
    assert_eq!(dave.process(&m).as_deref(), Some(&b"after rotation"[..]));
    let (commit, _, _) = {
        let provider = &dave.provider;
        let signer = &dave.signer;
        dave.group
            .as_mut()
            .unwrap()
            .self_update(provider, signer, LeafNodeParameters::default())
            .unwrap()
            .into_contents()
    };
    dave.merge();
    let c = om_bytes(&commit);
    bob.process_message(&c).unwrap();
    alice.process(&c);
    agree(&bob, &mut [&mut alice, &mut dave]);

    let m = dave.send(b"bye");
    expect_app(bob.process_message(&m).unwrap(), b"bye");
}
