//! An in-process OpenMLS 0.9 peer for the interop tests: a member with its own provider
//! (storage) and signer, and the helpers both sides use.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{SystemTime, UNIX_EPOCH};

use nipee_keypackage::{
    Encode as _, KeyPackage as NKeyPackage, KeyPackageBundle, KeyPackageOptions,
};
use nipee_mls::{Group, GroupConfig, HandshakeFormat, ProcessedMessage as NProcessed};
use openmls::prelude::tls_codec::{Deserialize as _, Serialize as _};
use openmls::prelude::*;
use openmls_basic_credential::SignatureKeyPair;
use openmls_rust_crypto::OpenMlsRustCrypto;

pub const SUITE: Ciphersuite = Ciphersuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519;

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

thread_local! {
    pub static PUBLIC: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

pub fn public() -> bool {
    PUBLIC.with(std::cell::Cell::get)
}

pub fn policy() -> WireFormatPolicy {
    if public() {
        PURE_PLAINTEXT_WIRE_FORMAT_POLICY
    } else {
        PURE_CIPHERTEXT_WIRE_FORMAT_POLICY
    }
}

pub fn our_config() -> GroupConfig {
    let mut c = GroupConfig::new(now());
    c.handshake_format = if public() {
        HandshakeFormat::Public
    } else {
        HandshakeFormat::Private
    };
    c
}

pub fn our_bundle(name: &str) -> KeyPackageBundle {
    let mut rng = rand::rng();
    KeyPackageBundle::generate(name.as_bytes(), &KeyPackageOptions::new(now()), &mut rng).unwrap()
}

/// An OpenMLS member with its own provider (storage) and signer.
pub struct Om {
    pub provider: OpenMlsRustCrypto,
    pub signer: SignatureKeyPair,
    pub credential: CredentialWithKey,
    pub group: Option<MlsGroup>,
}

impl Om {
    pub fn new(name: &str) -> Self {
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

    pub fn key_package(&self) -> KeyPackage {
        KeyPackage::builder()
            .build(SUITE, &self.provider, &self.signer, self.credential.clone())
            .unwrap()
            .key_package()
            .clone()
    }

    pub fn g(&mut self) -> &mut MlsGroup {
        self.group.as_mut().unwrap()
    }

    pub fn create(&mut self) {
        let cfg = MlsGroupCreateConfig::builder()
            .ciphersuite(SUITE)
            .wire_format_policy(policy())
            .use_ratchet_tree_extension(true)
            .build();
        self.group = Some(
            MlsGroup::new(&self.provider, &self.signer, &cfg, self.credential.clone()).unwrap(),
        );
    }

    pub fn join(&mut self, welcome: &[u8]) {
        self.join_with_tree(welcome, None);
    }

    /// Joins from `welcome`, with the ratchet tree supplied out of band when the GroupInfo
    /// does not carry it (`tree`: the encoded `ratchet_tree` extension data).
    pub fn join_with_tree(&mut self, welcome: &[u8], tree: Option<&[u8]>) {
        let tree = tree.map(|t| RatchetTreeIn::tls_deserialize_exact(t).unwrap());
        let msg = MlsMessageIn::tls_deserialize_exact(welcome).unwrap();
        let MlsMessageBodyIn::Welcome(w) = msg.extract() else {
            panic!("not a welcome")
        };
        let cfg = MlsGroupJoinConfig::builder()
            .wire_format_policy(policy())
            .use_ratchet_tree_extension(true)
            .build();
        let staged = StagedWelcome::new_from_welcome(&self.provider, &cfg, w, tree).unwrap();
        self.group = Some(staged.into_group(&self.provider).unwrap());
    }

    /// Processes a message; returns application data if it was one.
    pub fn process(&mut self, bytes: &[u8]) -> Option<Vec<u8>> {
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

    pub fn send(&mut self, data: &[u8]) -> Vec<u8> {
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

    pub fn merge(&mut self) {
        let provider = &self.provider;
        self.group
            .as_mut()
            .unwrap()
            .merge_pending_commit(provider)
            .unwrap();
    }
}

pub fn to_theirs(om: &Om, kp: &NKeyPackage) -> KeyPackage {
    let bytes = kp.to_bytes().unwrap();
    KeyPackageIn::tls_deserialize_exact(&bytes)
        .unwrap()
        .validate(om.provider.crypto(), ProtocolVersion::Mls10)
        .unwrap()
}

pub fn to_ours(kp: &KeyPackage) -> NKeyPackage {
    NKeyPackage::from_bytes(&kp.tls_serialize_detached().unwrap()).unwrap()
}

pub fn om_bytes(m: &MlsMessageOut) -> Vec<u8> {
    m.to_bytes().unwrap()
}

/// Both sides agree on the epoch, the epoch authenticator and the NIP-EE exporter secret.
pub fn agree(ours: &Group, theirs: &mut [&mut Om]) {
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

pub fn expect_app(r: NProcessed, want: &[u8]) {
    match r {
        NProcessed::Application { data, .. } => assert_eq!(data, want),
        other => panic!("expected application data, got {other:?}"),
    }
}
