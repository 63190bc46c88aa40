//! Self-tests of the group state machine: lifecycle, seeded random operations over 200
//! epochs, removal, retention of past epochs, and atomicity of rejected commits.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use nipee_keypackage::{KeyPackageBundle, KeyPackageOptions};
use nipee_mls::{
    CommitOptions, Error, Group, GroupConfig, GroupId, HandshakeFormat, LeafIndex, MlsMessageIn,
    ProcessedMessage, Proposal, RustCryptoSuite1, Sender, Staged,
};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

const NOW: u64 = 1_750_000_000;

fn config() -> GroupConfig {
    GroupConfig::new(NOW)
}

fn bundle(rng: &mut StdRng, name: &str) -> KeyPackageBundle {
    KeyPackageBundle::generate(name.as_bytes(), &KeyPackageOptions::new(NOW), rng).unwrap()
}

fn join(welcome: &[u8], b: KeyPackageBundle, cfg: GroupConfig) -> Group {
    Group::join(
        RustCryptoSuite1::new(),
        cfg,
        welcome,
        b.into(),
        None,
        vec![],
    )
    .unwrap()
}

fn create(rng: &mut StdRng, cfg: GroupConfig) -> Group {
    Group::create(
        RustCryptoSuite1::new(),
        cfg,
        GroupId::new(b"group".to_vec()),
        bundle(rng, "creator"),
        vec![],
    )
    .unwrap()
}

/// Alice creates a group with `cfg` and adds Bob and Carol in one commit; both join.
fn alice_bob_carol(rng: &mut StdRng, cfg: GroupConfig) -> (Group, Group, Group) {
    let mut alice = create(rng, cfg.clone());
    let (b, c) = (bundle(rng, "bob"), bundle(rng, "carol"));
    let out = alice
        .add_members(vec![b.key_package().clone(), c.key_package().clone()])
        .unwrap();
    alice.merge_pending_commit().unwrap();
    let w = out.welcome.unwrap();
    let bob = join(&w, b, cfg.clone());
    let carol = join(&w, c, cfg);
    (alice, bob, carol)
}

#[test]
fn create_add_join_and_exchange_messages() {
    let mut rng = StdRng::seed_from_u64(1);
    let mut alice = create(&mut rng, config());
    let bob_kp = bundle(&mut rng, "bob");
    let out = alice
        .add_members(vec![bob_kp.key_package().clone()])
        .unwrap();
    alice.merge_pending_commit().unwrap();
    let mut bob = join(out.welcome.as_ref().unwrap(), bob_kp, config());
    assert_eq!(alice.epoch(), 1);
    assert_eq!(bob.epoch(), 1);
    assert_eq!(alice.epoch_authenticator(), bob.epoch_authenticator());
    assert_eq!(
        alice.export_secret(b"nostr", b"nostr", 32).unwrap(),
        bob.export_secret(b"nostr", b"nostr", 32).unwrap()
    );
    assert_eq!(bob.own_leaf(), LeafIndex(1));
    assert_eq!(bob.members().len(), 2);

    let m = alice.create_message(b"hi bob", b"ad").unwrap();
    match bob.process_message(&m).unwrap() {
        ProcessedMessage::Application {
            sender,
            data,
            authenticated_data,
            ..
        } => {
            assert_eq!(sender, LeafIndex(0));
            assert_eq!(data, b"hi bob");
            assert_eq!(authenticated_data, b"ad");
        }
        other => panic!("{other:?}"),
    }
    // A replay is rejected.
    assert!(matches!(
        bob.process_message(&m),
        Err(Error::GenerationConsumed { .. })
    ));
    let m = bob.create_message(b"hi alice", b"").unwrap();
    assert!(matches!(
        alice.process_message(&m).unwrap(),
        ProcessedMessage::Application { .. }
    ));
}

#[test]
fn a_welcome_for_another_key_package_is_rejected() {
    let mut rng = StdRng::seed_from_u64(2);
    let mut alice = create(&mut rng, config());
    let bob_kp = bundle(&mut rng, "bob");
    let carol_kp = bundle(&mut rng, "carol");
    let out = alice
        .add_members(vec![bob_kp.key_package().clone()])
        .unwrap();
    let err = Group::join(
        RustCryptoSuite1::new(),
        config(),
        out.welcome.as_ref().unwrap(),
        carol_kp.into(),
        None,
        vec![],
    )
    .unwrap_err();
    assert!(matches!(err, Error::InvalidState { .. }), "{err:?}");
}

/// A tiny in-memory "network" of members of one group.
struct World {
    rng: StdRng,
    members: Vec<Group>,
    next_name: u32,
}

impl World {
    fn new(seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let creator = create(&mut rng, config());
        World {
            rng,
            members: vec![creator],
            next_name: 0,
        }
    }

    fn cfg(&mut self) -> GroupConfig {
        let mut c = config();
        if self.rng.random_bool(0.5) {
            c.handshake_format = HandshakeFormat::Public;
        }
        c.padding_block = if self.rng.random_bool(0.3) { 32 } else { 0 };
        c
    }

    /// Delivers `msg` from member `from` to every other member; returns the indices (in
    /// `members`) of those removed.
    fn deliver(&mut self, from: usize, msg: &[u8]) -> Vec<usize> {
        let mut removed = vec![];
        for (i, g) in self.members.iter_mut().enumerate() {
            if i == from {
                continue;
            }
            match g.process_message(msg).unwrap() {
                ProcessedMessage::Removed(_) => removed.push(i),
                ProcessedMessage::CommitApplied(_) | ProcessedMessage::ProposalStored { .. } => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        removed
    }

    fn commit(&mut self, committer: usize, options: CommitOptions, new: Vec<KeyPackageBundle>) {
        let out = self.members[committer].commit(options).unwrap();
        let removed = self.deliver(committer, &out.commit);
        self.members[committer].merge_pending_commit().unwrap();
        for &r in removed.iter().rev() {
            let g = self.members.remove(r);
            assert!(!g.is_active());
        }
        if !new.is_empty() {
            let w = out.welcome.clone().unwrap();
            for b in new {
                let cfg = self.cfg();
                self.members.push(join(&w, b, cfg));
            }
        }
        self.check_agreement();
    }

    fn check_agreement(&self) {
        let first = &self.members[0];
        for g in &self.members[1..] {
            assert_eq!(g.epoch(), first.epoch());
            assert_eq!(g.epoch_authenticator(), first.epoch_authenticator());
            assert_eq!(g.tree().tree_hash(), first.tree().tree_hash());
        }
    }

    fn random_member(&mut self) -> usize {
        self.rng.random_range(0..self.members.len())
    }

    fn fresh(&mut self, k: usize) -> Vec<KeyPackageBundle> {
        (0..k)
            .map(|_| {
                self.next_name += 1;
                let name = format!("m{}", self.next_name);
                bundle(&mut self.rng, &name)
            })
            .collect()
    }
}

#[test]
fn random_operations_keep_every_member_in_agreement_for_200_epochs() {
    let mut w = World::new(7);
    let new = w.fresh(2);
    let kps = new
        .iter()
        .map(|b| Proposal::Add(Box::new(b.key_package().clone())));
    let opts = CommitOptions {
        proposals: kps.collect(),
        ..CommitOptions::default()
    };
    w.commit(0, opts, new);
    let mut kinds = [0usize; 5];
    while w.members[0].epoch() < 200 {
        let n = w.members.len();
        let roll: f64 = w.rng.random();
        let committer = w.random_member();
        if n < 20 && (n < 4 || roll < 0.3) {
            kinds[0] += 1;
            let k = w.rng.random_range(1..=3usize.min(20 - n));
            let new = w.fresh(k);
            let opts = CommitOptions {
                proposals: new
                    .iter()
                    .map(|b| Proposal::Add(Box::new(b.key_package().clone())))
                    .collect(),
                force_path: w.rng.random_bool(0.5),
                ..CommitOptions::default()
            };
            w.commit(committer, opts, new);
        } else if n > 3 && roll < 0.55 {
            kinds[1] += 1;
            let me = w.members[committer].own_leaf();
            let victims: Vec<LeafIndex> = w.members[committer]
                .members()
                .into_iter()
                .map(|m| m.index)
                .filter(|i| *i != me)
                .collect();
            let v = victims[w.rng.random_range(0..victims.len())];
            w.commit(
                committer,
                CommitOptions {
                    proposals: vec![Proposal::Remove { removed: v.0 }],
                    ..CommitOptions::default()
                },
                vec![],
            );
        } else if roll < 0.8 && n > 3 {
            // Proposals by reference: an Update from one member, a Remove or an Add from
            // another, committed by a third.
            kinds[2] += 1;
            let a = w.random_member();
            let msg = w.members[a].propose_update().unwrap();
            w.deliver(a, &msg);
            let b = w.random_member();
            let mut new = vec![];
            if n < 20 && w.rng.random_bool(0.5) {
                new = w.fresh(1);
                let msg = w.members[b]
                    .propose_add(new[0].key_package().clone())
                    .unwrap();
                w.deliver(b, &msg);
            }
            let mut c = w.random_member();
            while c == a {
                c = w.random_member();
            }
            w.commit(
                c,
                CommitOptions {
                    include_pending: true,
                    ..CommitOptions::default()
                },
                new,
            );
        } else {
            kinds[3] += 1;
            w.commit(
                committer,
                CommitOptions {
                    force_path: true,
                    ..CommitOptions::default()
                },
                vec![],
            );
        }
        // Some application traffic.
        if w.rng.random_bool(0.3) {
            let s = w.random_member();
            let m = w.members[s].create_message(b"hello", b"").unwrap();
            for (i, g) in w.members.iter_mut().enumerate() {
                if i != s {
                    assert!(matches!(
                        g.process_message(&m).unwrap(),
                        ProcessedMessage::Application { .. }
                    ));
                }
            }
            kinds[4] += 1;
        }
    }
    assert!(kinds.iter().all(|k| *k > 0), "{kinds:?}");
}

#[test]
fn a_removed_member_cannot_decrypt_later_messages() {
    let mut rng = StdRng::seed_from_u64(3);
    let (mut alice, mut bob, mut carol) = alice_bob_carol(&mut rng, config());
    let out = alice.remove_members(&[carol.own_leaf()]).unwrap();
    alice.merge_pending_commit().unwrap();
    assert!(matches!(
        bob.process_message(&out.commit).unwrap(),
        ProcessedMessage::CommitApplied(_)
    ));
    assert!(matches!(
        carol.process_message(&out.commit).unwrap(),
        ProcessedMessage::Removed(_)
    ));
    assert!(!carol.is_active());
    let m = alice.create_message(b"secret", b"").unwrap();
    assert!(bob.process_message(&m).is_ok());
    assert!(carol.process_message(&m).is_err());
    assert!(carol.create_message(b"x", b"").is_err());
}

#[test]
fn past_epoch_secrets_are_kept_for_the_window_then_deleted() {
    let mut rng = StdRng::seed_from_u64(4);
    let mut cfg = config();
    cfg.max_past_epochs = 2;
    let mut alice = create(&mut rng, cfg.clone());
    let b = bundle(&mut rng, "bob");
    let out = alice.add_members(vec![b.key_package().clone()]).unwrap();
    alice.merge_pending_commit().unwrap();
    let mut bob = join(&out.welcome.unwrap(), b, cfg);
    // Two messages of epoch 1, delivered late.
    let late1 = alice.create_message(b"late 1", b"").unwrap();
    let late2 = alice.create_message(b"late 2", b"").unwrap();
    for _ in 0..2 {
        let out = alice.self_update().unwrap();
        alice.merge_pending_commit().unwrap();
        bob.process_message(&out.commit).unwrap();
    }
    // Epoch 1 is two epochs back: still retained.
    match bob.process_message(&late1).unwrap() {
        ProcessedMessage::Application { epoch, data, .. } => {
            assert_eq!(epoch, 1);
            assert_eq!(data, b"late 1");
        }
        other => panic!("{other:?}"),
    }
    let out = alice.self_update().unwrap();
    alice.merge_pending_commit().unwrap();
    bob.process_message(&out.commit).unwrap();
    // Now three epochs back: gone.
    assert!(matches!(
        bob.process_message(&late2),
        Err(Error::WrongEpoch { .. })
    ));
}

/// The application's rule in these tests: only the creator adds members.
fn adds_members(staged: &Staged) -> bool {
    match staged {
        Staged::Commit(c) => c
            .proposals()
            .iter()
            .any(|(_, p)| matches!(p, Proposal::Add(_))),
        _ => false,
    }
}

#[test]
fn the_application_rejects_a_staged_commit_before_it_is_applied() {
    let mut rng = StdRng::seed_from_u64(5);
    let mut alice = create(&mut rng, config());
    let b = bundle(&mut rng, "bob");
    let out = alice.add_members(vec![b.key_package().clone()]).unwrap();
    alice.merge_pending_commit().unwrap();
    let mut bob = join(&out.welcome.unwrap(), b, config());
    let c = bundle(&mut rng, "carol");
    let out = alice.add_members(vec![c.key_package().clone()]).unwrap();
    let before = bob.to_bytes().unwrap();
    let staged = bob
        .stage(&MlsMessageIn::parse(&out.commit).unwrap())
        .unwrap();
    // The application's rule refuses it: dropping the staged commit changes nothing.
    assert!(adds_members(&staged));
    drop(staged);
    assert_eq!(bob.epoch(), 1);
    assert_eq!(*bob.to_bytes().unwrap(), *before);
    // The same commit, accepted by a more lenient application, applies.
    assert!(matches!(
        bob.process_message(&out.commit).unwrap(),
        ProcessedMessage::CommitApplied(_)
    ));
}

#[test]
fn an_external_joiner_commits_and_the_members_follow() {
    let mut rng = StdRng::seed_from_u64(6);
    let mut alice = create(&mut rng, config());
    let b = bundle(&mut rng, "bob");
    let out = alice.add_members(vec![b.key_package().clone()]).unwrap();
    alice.merge_pending_commit().unwrap();
    let mut bob = join(&out.welcome.unwrap(), b, config());
    let gi = alice.group_info(true, true).unwrap();
    let (mut carol, commit) = Group::join_external(
        RustCryptoSuite1::new(),
        config(),
        &gi,
        None,
        bundle(&mut rng, "carol").into(),
        None,
        b"",
    )
    .unwrap();
    for g in [&mut alice, &mut bob] {
        match g.process_message(&commit).unwrap() {
            ProcessedMessage::CommitApplied(s) => assert_eq!(s.committer, Sender::Member(2)),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(carol.epoch(), 2);
    assert_eq!(alice.epoch_authenticator(), carol.epoch_authenticator());
    assert_eq!(bob.epoch_authenticator(), carol.epoch_authenticator());
    let m = carol.create_message(b"hi, I joined", b"").unwrap();
    assert!(matches!(
        alice.process_message(&m).unwrap(),
        ProcessedMessage::Application { .. }
    ));
    // The new member can commit too.
    let out = carol.self_update().unwrap();
    carol.merge_pending_commit().unwrap();
    alice.process_message(&out.commit).unwrap();
    bob.process_message(&out.commit).unwrap();
    assert_eq!(alice.epoch_authenticator(), carol.epoch_authenticator());
}

#[test]
fn a_commit_failing_any_check_leaves_the_state_byte_for_byte_unchanged() {
    use nipee_mls::Secret;
    for format in [HandshakeFormat::Public, HandshakeFormat::Private] {
        let mut rng = StdRng::seed_from_u64(8);
        let mut cfg = config();
        cfg.handshake_format = format;
        let (mut alice, mut bob, mut carol) = alice_bob_carol(&mut rng, cfg.clone());

        // A commit with a PSK bob does not have: rejected after path decryption.
        alice.add_external_psk(b"psk".to_vec(), Secret::new(vec![1; 32]));
        let msg = alice.propose_external_psk(b"psk".to_vec());
        // Bob cannot even validate the proposal without the PSK id being well-formed; it
        // is, so he stores it (the secret is only needed at commit time).
        let msg = msg.unwrap();
        bob.process_message(&msg).unwrap();
        carol.process_message(&msg).unwrap();
        let out = alice
            .commit(CommitOptions {
                include_pending: true,
                force_path: true,
                ..CommitOptions::default()
            })
            .unwrap();
        let before = bob.to_bytes().unwrap();
        let err = bob.process_message(&out.commit).unwrap_err();
        assert!(matches!(err, Error::PskNotFound), "{err:?}");
        assert_eq!(
            *bob.to_bytes().unwrap(),
            *before,
            "{format:?}: state changed"
        );

        // With the wrong PSK value every other check passes, the confirmation tag fails.
        bob.add_external_psk(b"psk".to_vec(), Secret::new(vec![2; 32]));
        let before = bob.to_bytes().unwrap();
        let err = bob.process_message(&out.commit).unwrap_err();
        assert!(matches!(err, Error::BadConfirmationTag), "{err:?}");
        assert_eq!(
            *bob.to_bytes().unwrap(),
            *before,
            "{format:?}: state changed"
        );

        // Staged and then refused by the application, too.
        let before = carol.to_bytes().unwrap();
        carol.add_external_psk(b"psk".to_vec(), Secret::new(vec![1; 32]));
        let before_psk = carol.to_bytes().unwrap();
        assert_ne!(*before, *before_psk);
        let staged = carol
            .stage(&MlsMessageIn::parse(&out.commit).unwrap())
            .unwrap();
        assert!(matches!(staged, Staged::Commit(_)));
        drop(staged);
        assert_eq!(*carol.to_bytes().unwrap(), *before_psk);

        // With the right PSK the same commit applies.
        bob.add_external_psk(b"psk".to_vec(), Secret::new(vec![1; 32]));
        alice.merge_pending_commit().unwrap();
        bob.process_message(&out.commit).unwrap();
        carol.process_message(&out.commit).unwrap();
        assert_eq!(alice.epoch_authenticator(), bob.epoch_authenticator());
        assert_eq!(alice.epoch_authenticator(), carol.epoch_authenticator());

        // A tampered commit is rejected without any change.
        let out = alice.self_update().unwrap();
        let mut bad = out.commit.clone();
        let n = bad.len();
        bad[n - 5] ^= 1;
        let before = bob.to_bytes().unwrap();
        assert!(bob.process_message(&bad).is_err());
        assert_eq!(*bob.to_bytes().unwrap(), *before);
        alice.merge_pending_commit().unwrap();
        bob.process_message(&out.commit).unwrap();
        assert_eq!(alice.epoch_authenticator(), bob.epoch_authenticator());
    }
}

#[test]
fn the_state_round_trips_through_bytes_with_a_pending_commit() {
    let mut rng = StdRng::seed_from_u64(9);
    let mut alice = create(&mut rng, config());
    let b = bundle(&mut rng, "bob");
    let out = alice.add_members(vec![b.key_package().clone()]).unwrap();
    alice.merge_pending_commit().unwrap();
    let mut bob = join(&out.welcome.unwrap(), b, config());
    let late = alice.create_message(b"late", b"").unwrap();
    let out = alice.self_update().unwrap();
    let stored = alice.to_bytes().unwrap();
    let mut alice = Group::from_bytes(RustCryptoSuite1::new(), &stored).unwrap();
    assert!(alice.has_pending_commit());
    assert_eq!(*alice.to_bytes().unwrap(), *stored);
    alice.merge_pending_commit().unwrap();
    let stored = bob.to_bytes().unwrap();
    bob = Group::from_bytes(RustCryptoSuite1::new(), &stored).unwrap();
    bob.process_message(&out.commit).unwrap();
    assert_eq!(alice.epoch_authenticator(), bob.epoch_authenticator());
    // A past epoch survives storage too.
    let stored = bob.to_bytes().unwrap();
    let mut bob = Group::from_bytes(RustCryptoSuite1::new(), &stored).unwrap();
    assert!(matches!(
        bob.process_message(&late).unwrap(),
        ProcessedMessage::Application { epoch: 1, .. }
    ));

    // Another format version fails clearly: an old one (1) and a future one (4). Version 2
    // still loads (tests/grease.rs).
    for version in [1u8, 4] {
        let mut other = stored.to_vec();
        other[9] = version;
        assert!(matches!(
            Group::from_bytes(RustCryptoSuite1::new(), &other),
            Err(Error::StateVersion {
                expected: 3,
                found
            }) if found == u16::from(version)
        ));
    }
    assert!(Group::from_bytes(RustCryptoSuite1::new(), b"garbage").is_err());
}

#[test]
fn out_of_order_messages_decrypt_within_the_window_and_replays_fail() {
    let mut rng = StdRng::seed_from_u64(10);
    let mut cfg = config();
    cfg.secret_tree.out_of_order_window = 4;
    cfg.secret_tree.max_forward_distance = 8;
    let mut alice = create(&mut rng, cfg.clone());
    let b = bundle(&mut rng, "bob");
    let out = alice.add_members(vec![b.key_package().clone()]).unwrap();
    alice.merge_pending_commit().unwrap();
    let mut bob = join(&out.welcome.unwrap(), b, cfg);
    let msgs: Vec<Vec<u8>> = (0..12)
        .map(|i| {
            alice
                .create_message(format!("m{i}").as_bytes(), b"")
                .unwrap()
        })
        .collect();
    // Generation 3 first, then 1, 2 and 0: all within the window.
    for i in [3usize, 1, 2, 0] {
        match bob.process_message(&msgs[i]).unwrap() {
            ProcessedMessage::Application { data, .. } => {
                assert_eq!(data, format!("m{i}").as_bytes());
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(matches!(
        bob.process_message(&msgs[2]),
        Err(Error::GenerationConsumed { .. })
    ));
    // Generation 11 is 7 ahead of the next expected (4): allowed; 4..=10 are kept only
    // within the 4-key window, so the oldest skipped ones are gone.
    assert!(bob.process_message(&msgs[11]).is_ok());
    assert!(bob.process_message(&msgs[10]).is_ok());
    assert!(matches!(
        bob.process_message(&msgs[4]),
        Err(Error::GenerationConsumed { .. })
    ));
}

#[test]
fn a_required_capability_missing_from_a_key_package_is_rejected() {
    use nipee_keypackage::ExtensionType;
    use nipee_mls::group::RequiredCapabilities;
    let mut rng = StdRng::seed_from_u64(11);
    let required = RequiredCapabilities {
        extension_types: vec![ExtensionType::NOSTR_GROUP_DATA],
        ..RequiredCapabilities::default()
    };
    let mut options = KeyPackageOptions::new(NOW);
    options
        .capabilities
        .add_extension(ExtensionType::NOSTR_GROUP_DATA);
    let creator = KeyPackageBundle::generate(b"admin", &options, &mut rng).unwrap();
    let mut alice = Group::create(
        RustCryptoSuite1::new(),
        config(),
        GroupId::new(b"nip-ee group".to_vec()),
        creator,
        vec![
            required.to_extension().unwrap(),
            nipee_mls::Extension::new(ExtensionType::NOSTR_GROUP_DATA, vec![1, 2, 3]),
        ],
    )
    .unwrap();
    // A KeyPackage without nostr_group_data support cannot be added.
    let plain = bundle(&mut rng, "plain");
    let err = alice
        .add_members(vec![plain.key_package().clone()])
        .unwrap_err();
    assert!(matches!(err, Error::CapabilityMissing { .. }), "{err:?}");
    assert!(!alice.has_pending_commit());
    // One that supports it joins and sees the extension.
    let ok = KeyPackageBundle::generate(b"member", &options, &mut rng).unwrap();
    let out = alice.add_members(vec![ok.key_package().clone()]).unwrap();
    alice.merge_pending_commit().unwrap();
    let bob = join(&out.welcome.unwrap(), ok, config());
    assert_eq!(bob.extensions(), alice.extensions());
}

#[test]
fn a_welcome_names_the_key_packages_it_is_for() {
    let mut rng = StdRng::seed_from_u64(12);
    let mut alice = create(&mut rng, config());
    let b = bundle(&mut rng, "bob");
    let out = alice.add_members(vec![b.key_package().clone()]).unwrap();
    let refs = nipee_mls::group::welcome_key_package_refs(&out.welcome.unwrap()).unwrap();
    let bob_ref = b.key_package().reference().unwrap().0.to_vec();
    assert_eq!(refs, vec![bob_ref]);
    assert!(nipee_mls::group::welcome_key_package_refs(&out.commit).is_err());
}

#[test]
fn invalid_key_packages_are_rejected_with_the_failed_check() {
    let mut rng = StdRng::seed_from_u64(13);
    let mut alice = create(&mut rng, config());
    let good = bundle(&mut rng, "good").key_package().clone();
    let mut bad_sig = bundle(&mut rng, "bad").key_package().clone();
    bad_sig.signature[0] ^= 1;
    let err = alice.add_members(vec![good.clone(), bad_sig]).unwrap_err();
    assert!(
        matches!(
            err,
            Error::KeyPackage(nipee_keypackage::Error::InvalidKeyPackageSignature)
        ),
        "{err:?}"
    );
    let mut bad_leaf = bundle(&mut rng, "bad leaf").key_package().clone();
    bad_leaf.leaf_node.signature[5] ^= 1;
    let err = alice.add_members(vec![bad_leaf]).unwrap_err();
    assert!(matches!(err, Error::KeyPackage(_)), "{err:?}");
    // Expired: checked against the group's clock.
    alice.set_now(NOW + 365 * 24 * 3600);
    let err = alice.add_members(vec![good.clone()]).unwrap_err();
    assert!(
        matches!(
            err,
            Error::KeyPackage(nipee_keypackage::Error::LifetimeExpired { .. })
        ),
        "{err:?}"
    );
    alice.set_now(NOW);
    assert!(alice.add_members(vec![good]).is_ok());
}

#[test]
fn a_resumption_psk_of_an_earlier_epoch_is_proposed_committed_and_followed() {
    let mut rng = StdRng::seed_from_u64(21);
    let (mut alice, mut bob, mut carol) = alice_bob_carol(&mut rng, config());
    let earlier = alice.epoch();
    let out = bob.self_update().unwrap();
    bob.merge_pending_commit().unwrap();
    alice.process_message(&out.commit).unwrap();
    carol.process_message(&out.commit).unwrap();

    // dave joins now: he never held the resumption PSK of `earlier`.
    let d = bundle(&mut rng, "dave");
    let out = alice.add_members(vec![d.key_package().clone()]).unwrap();
    alice.merge_pending_commit().unwrap();
    bob.process_message(&out.commit).unwrap();
    carol.process_message(&out.commit).unwrap();
    let mut dave = join(&out.welcome.unwrap(), d, config());

    assert!(matches!(
        alice.propose_resumption_psk(earlier + 1000),
        Err(Error::PskNotFound)
    ));
    let proposal = alice.propose_resumption_psk(earlier).unwrap();
    for m in [&mut bob, &mut carol, &mut dave] {
        m.process_message(&proposal).unwrap();
    }
    let out = alice
        .commit(CommitOptions {
            include_pending: true,
            ..CommitOptions::default()
        })
        .unwrap();
    alice.merge_pending_commit().unwrap();
    bob.process_message(&out.commit).unwrap();
    carol.process_message(&out.commit).unwrap();
    assert_eq!(alice.epoch_authenticator(), bob.epoch_authenticator());
    assert_eq!(alice.epoch_authenticator(), carol.epoch_authenticator());
    // dave cannot follow, and his state is unchanged.
    let before = dave.to_bytes().unwrap();
    assert!(matches!(
        dave.process_message(&out.commit),
        Err(Error::PskNotFound)
    ));
    assert_eq!(*dave.to_bytes().unwrap(), *before);
}
