//! Shared setup of the group tests: KeyPackages, a group of `n` members, staging helpers.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod recording;
pub mod rewrap;

use nipee_keypackage::{KeyPackageBundle, KeyPackageOptions};
use nipee_mls::{
    Group, GroupConfig, GroupId, HandshakeFormat, JoinKeys, MlsMessageIn, ProcessedMessage,
    RustCryptoSuite1, SignatureSecretKey, Staged, StagedCommit,
};
use rand::SeedableRng;
use rand::rngs::StdRng;

pub const NOW: u64 = 1_750_000_000;

pub fn config(format: HandshakeFormat) -> GroupConfig {
    let mut c = GroupConfig::new(NOW);
    c.handshake_format = format;
    c
}

pub fn bundle(rng: &mut StdRng, name: &str) -> KeyPackageBundle {
    KeyPackageBundle::generate(name.as_bytes(), &KeyPackageOptions::new(NOW), rng).unwrap()
}

/// A group of `n` members named m0, m1, ...: m0 creates it and adds the others in one
/// commit; every member is at epoch 1.
pub fn members(n: usize, format: HandshakeFormat, seed: u64) -> Vec<Group> {
    members_of(b"test group", n, format, seed)
}

/// [`members`] of the group `group_id`.
pub fn members_of(group_id: &[u8], n: usize, format: HandshakeFormat, seed: u64) -> Vec<Group> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut creator = Group::create(
        RustCryptoSuite1::new(),
        config(format),
        GroupId::new(group_id.to_vec()),
        bundle(&mut rng, "m0"),
        vec![],
    )
    .unwrap();
    let bundles: Vec<_> = (1..n).map(|i| bundle(&mut rng, &format!("m{i}"))).collect();
    let mut all = vec![];
    if !bundles.is_empty() {
        let out = creator
            .add_members(bundles.iter().map(|b| b.key_package().clone()).collect())
            .unwrap();
        creator.merge_pending_commit().unwrap();
        let welcome = out.welcome.unwrap();
        for b in bundles {
            all.push(
                Group::join(
                    RustCryptoSuite1::new(),
                    config(format),
                    &welcome,
                    b.into(),
                    None,
                    vec![],
                )
                .unwrap(),
            );
        }
    }
    all.insert(0, creator);
    all
}

pub fn parse(bytes: &[u8]) -> MlsMessageIn {
    MlsMessageIn::parse(bytes).unwrap()
}

/// Stages `bytes` on `g`, which must accept it as a commit.
pub fn stage_commit(g: &Group, bytes: &[u8]) -> Box<StagedCommit> {
    match g.stage(&parse(bytes)).unwrap() {
        Staged::Commit(c) => c,
        other => panic!("expected a commit, got {other:?}"),
    }
}

/// Delivers `bytes` to every member but `from`.
pub fn deliver(members: &mut [Group], from: usize, bytes: &[u8]) -> Vec<ProcessedMessage> {
    members
        .iter_mut()
        .enumerate()
        .filter(|(i, _)| *i != from)
        .map(|(_, g)| g.process_message(bytes).unwrap())
        .collect()
}

/// Every member is in the same epoch with the same secrets.
pub fn assert_agree(members: &[Group]) {
    for g in &members[1..] {
        assert_eq!(g.epoch(), members[0].epoch());
        assert_eq!(g.epoch_authenticator(), members[0].epoch_authenticator());
        assert_eq!(g.context(), members[0].context());
    }
}

/// The serialized state, to compare before and after.
pub fn state(g: &Group) -> Vec<u8> {
    g.to_bytes().unwrap().to_vec()
}

/// The join keys of a bundle, leaving the bundle usable (through its storage bytes).
pub fn join_keys(b: &KeyPackageBundle) -> JoinKeys {
    JoinKeys::from(KeyPackageBundle::from_storage_bytes(&b.to_storage_bytes().unwrap()).unwrap())
}

/// A copy of a bundle's signature key.
pub fn signer_of(b: &KeyPackageBundle) -> SignatureSecretKey {
    SignatureSecretKey::from_bytes(*b.signature_secret().expose_secret())
}
