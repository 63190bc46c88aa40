//! GREASE and unknown values in groups (RFC 9420 §12.4.3, §13, §13.5): each rule, quoted,
//! on the paths a value can take: KeyPackages in Adds, leaves in Updates and UpdatePaths,
//! GroupInfos in Welcomes and external joins, GroupContext extensions and required
//! capabilities; and the GREASE we send. Rules that need a forged proposal or commit from a
//! member are tested in the crate (`group::grease_tests`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::rewrap::{Opener, group_info, rewrap, with_proposal_type};
use common::{NOW, config, join_keys, signer_of};
use nipee_keypackage::grease::MAX_GREASE_DATA_LEN;
use nipee_keypackage::{
    CipherSuite, Credential, CredentialType, Extension, ExtensionType, KeyPackage,
    KeyPackageBundle, KeyPackageOptions, LeafNode, ProposalType, ProtocolVersion,
};
use nipee_mls::hazmat::welcome::GroupInfo;
use nipee_mls::{
    CommitOptions, Error, ErrorKind, Group, GroupConfig, GroupId, HandshakeFormat, LeafIndex,
    MlsMessageIn, Proposal, RequiredCapabilities, RustCryptoSuite1,
};
use rand::SeedableRng;
use rand::rngs::StdRng;

fn public() -> GroupConfig {
    config(HandshakeFormat::Public)
}

fn bundle(rng: &mut StdRng, name: &str, options: &KeyPackageOptions) -> KeyPackageBundle {
    KeyPackageBundle::generate(name.as_bytes(), options, rng).unwrap()
}

/// alice's group, alone, and her bundle's signature key (it signs her GroupInfos until her
/// first UpdatePath).
struct Alone {
    alice: Group,
    alice_signer: nipee_mls::SignatureSecretKey,
}

fn alone(rng: &mut StdRng, options: &KeyPackageOptions, cfg: GroupConfig) -> Alone {
    let b = bundle(rng, "alice", options);
    let alice_signer = signer_of(&b);
    let alice = Group::create(
        RustCryptoSuite1::new(),
        cfg,
        GroupId::new(b"grease".to_vec()),
        b,
        vec![],
    )
    .unwrap();
    Alone {
        alice,
        alice_signer,
    }
}

fn join(welcome: &[u8], b: &KeyPackageBundle) -> nipee_mls::Result<Group> {
    Group::join(
        RustCryptoSuite1::new(),
        public(),
        welcome,
        join_keys(b),
        None,
        vec![],
    )
}

fn grease_extensions(list: &[Extension]) -> Vec<&Extension> {
    list.iter()
        .filter(|e| e.extension_type.is_grease())
        .collect()
}

/// A KeyPackage with GREASE and unknown values in every place RFC 9420 lets a KeyPackage
/// carry them, re-signed: all four capability lists and `versions`, a listed leaf
/// extension, and a `KeyPackage.extensions` entry its capabilities do not list.
fn greased(b: &KeyPackageBundle) -> KeyPackage {
    let mut kp = b.key_package().clone();
    let c = &mut kp.leaf_node.capabilities;
    c.versions.push(ProtocolVersion(0x0002));
    c.cipher_suites.push(CipherSuite(0x9A9A));
    c.extensions
        .extend([ExtensionType(0x6A6A), ExtensionType(0xFF66)]);
    c.proposals.push(ProposalType(0x2A2A));
    c.credentials.push(CredentialType(0xBABA));
    kp.leaf_node
        .extensions
        .push(Extension::new(ExtensionType(0x6A6A), vec![6; 12]));
    kp.extensions
        .push(Extension::new(ExtensionType(0x8A8A), vec![8; 300]));
    let leaf = kp
        .leaf_node
        .to_unsigned()
        .sign(b.signature_secret(), &[], 0)
        .unwrap();
    KeyPackage::sign(kp.init_key, leaf, kp.extensions, b.signature_secret()).unwrap()
}

// ----- receiving: ignored -----

/// RFC 9420 §12.4.3: "unknown extensions in `GroupInfo.extensions` MUST be ignored"; §13:
/// "A client processing a GroupInfo object MUST ignore all unrecognized extensions in the
/// `extensions` field." A Welcome whose GroupInfo gains GREASE and unknown extensions
/// (re-signed by its signer) joins to exactly the group the original joins to.
#[test]
fn a_joiner_ignores_grease_and_unknown_group_info_extensions() {
    let mut rng = StdRng::seed_from_u64(1);
    let mut a = alone(&mut rng, &KeyPackageOptions::new(NOW), public());
    let bob = bundle(&mut rng, "bob", &KeyPackageOptions::new(NOW));
    let out = a
        .alice
        .add_members(vec![bob.key_package().clone()])
        .unwrap();
    a.alice.merge_pending_commit().unwrap();
    let welcome = out.welcome.unwrap();
    let keys = join_keys(&bob);
    let changed = rewrap(
        &welcome,
        &[Opener::from(&keys)],
        &[],
        Some(&a.alice_signer),
        |gi| {
            // A GREASE type the GroupInfo does not carry yet (its own GREASE extension is
            // drawn at random; a repeated type would make it invalid).
            let unused = nipee_keypackage::GREASE_VALUES
                .into_iter()
                .find(|v| !gi.extensions.iter().any(|e| e.extension_type.0 == *v))
                .unwrap();
            gi.extensions
                .insert(0, Extension::new(ExtensionType(unused), vec![0xAB; 1000]));
            gi.extensions
                .push(Extension::new(ExtensionType(0xFF10), b"private".to_vec()));
        },
    );
    let original = join(&welcome, &bob).unwrap();
    let with_grease = join(&changed, &bob).unwrap();
    assert_eq!(
        with_grease.epoch_authenticator(),
        original.epoch_authenticator()
    );
    assert_eq!(with_grease.context(), original.context());
    assert_eq!(with_grease.members(), a.alice.members());
}

/// The same rule for an external joiner: the GroupInfo a member publishes carries GREASE by
/// default, and one with more GREASE (re-signed) still lets a new member join by external
/// commit, which the group accepts.
#[test]
fn an_external_joiner_ignores_grease_in_the_group_info() {
    let mut rng = StdRng::seed_from_u64(2);
    let mut a = alone(&mut rng, &KeyPackageOptions::new(NOW), public());
    let published = a.alice.group_info(true, true).unwrap();
    let nipee_mls::hazmat::framing::MlsMessageBody::GroupInfo(mut gi) =
        nipee_mls::hazmat::framing::MlsMessage::from_bytes(&published)
            .unwrap()
            .body
    else {
        panic!("a GroupInfo");
    };
    assert_eq!(grease_extensions(&gi.extensions).len(), 1);
    gi.extensions
        .push(Extension::new(ExtensionType(0xFF11), vec![1, 2, 3]));
    gi.sign(&RustCryptoSuite1::new(), &a.alice_signer).unwrap();
    let more = group_info_bytes(*gi);
    let carol = bundle(&mut rng, "carol", &KeyPackageOptions::new(NOW));
    let (carol_group, commit) = Group::join_external(
        RustCryptoSuite1::new(),
        public(),
        &more,
        None,
        join_keys(&carol),
        None,
        &[],
    )
    .unwrap();
    a.alice.process_message(&commit).unwrap();
    assert_eq!(
        a.alice.epoch_authenticator(),
        carol_group.epoch_authenticator()
    );
}

fn group_info_bytes(gi: GroupInfo) -> Vec<u8> {
    use nipee_mls::hazmat::framing::{MlsMessage, MlsMessageBody};
    MlsMessage {
        body: MlsMessageBody::GroupInfo(Box::new(gi)),
    }
    .to_bytes()
    .unwrap()
}

/// RFC 9420 §13: "A client processing a KeyPackage object MUST ignore all unrecognized
/// values in the `capabilities` field of the LeafNode and all unknown extensions in the
/// `extensions` and `leaf_node.extensions` fields." Such a KeyPackage is added by value and
/// by reference, every member accepts the commit, and its owner joins; the tree keeps its
/// leaf as sent.
#[test]
fn a_key_package_with_grease_everywhere_is_added_and_its_owner_joins() {
    for by_reference in [false, true] {
        let mut rng = StdRng::seed_from_u64(103);
        let mut g = common::members(2, HandshakeFormat::Public, 3);
        let dave = bundle(&mut rng, "dave", &KeyPackageOptions::new(NOW));
        let kp = greased(&dave);
        let out = if by_reference {
            let proposal = g[1].propose_add(kp.clone()).unwrap();
            g[0].process_message(&proposal).unwrap();
            g[0].commit(CommitOptions {
                include_pending: true,
                ..CommitOptions::default()
            })
            .unwrap()
        } else {
            g[0].add_members(vec![kp.clone()]).unwrap()
        };
        g[0].merge_pending_commit().unwrap();
        g[1].process_message(&out.commit).unwrap();
        let mut keys = join_keys(&dave);
        keys.key_package = kp.clone();
        let dave_group = Group::join(
            RustCryptoSuite1::new(),
            public(),
            &out.welcome.unwrap(),
            keys,
            None,
            vec![],
        )
        .unwrap();
        assert_eq!(dave_group.epoch_authenticator(), g[0].epoch_authenticator());
        assert_eq!(g[1].epoch_authenticator(), g[0].epoch_authenticator());
        assert_eq!(
            g[0].tree().leaf(dave_group.own_leaf()).unwrap(),
            &kp.leaf_node
        );
    }
}

/// alice's group with bob and carol added in one commit; bob joins with `bob_config`.
fn three(seed: u64, options: &KeyPackageOptions, bob_config: GroupConfig) -> [Group; 3] {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut a = alone(&mut rng, options, public());
    let bob = bundle(&mut rng, "bob", options);
    let carol = bundle(&mut rng, "carol", options);
    let out = a
        .alice
        .add_members(vec![bob.key_package().clone(), carol.key_package().clone()])
        .unwrap();
    a.alice.merge_pending_commit().unwrap();
    let welcome = out.welcome.unwrap();
    let bob = Group::join(
        RustCryptoSuite1::new(),
        bob_config,
        &welcome,
        join_keys(&bob),
        None,
        vec![],
    )
    .unwrap();
    let carol = join(&welcome, &carol).unwrap();
    [a.alice, bob, carol]
}

/// RFC 9420 §13 (unknown `leaf_node.extensions` ignored) and §7.3 (listed in the
/// capabilities): the leaves of our Update proposals and UpdatePaths, with GREASE in their
/// capabilities and a GREASE leaf extension (`grease_leaf_extensions`), are accepted by the
/// other members.
#[test]
fn leaves_with_grease_in_updates_and_update_paths_are_accepted() {
    let mut cfg = public();
    cfg.grease_leaf_extensions = true;
    let [mut alice, mut bob, mut carol] = three(4, &KeyPackageOptions::new(NOW), cfg);
    let update = bob.propose_update().unwrap();
    alice.process_message(&update).unwrap();
    carol.process_message(&update).unwrap();
    let out = alice
        .commit(CommitOptions {
            include_pending: true,
            ..CommitOptions::default()
        })
        .unwrap();
    alice.merge_pending_commit().unwrap();
    bob.process_message(&out.commit).unwrap();
    carol.process_message(&out.commit).unwrap();
    assert_has_fresh_grease(carol.tree().leaf(LeafIndex(1)).unwrap(), true);

    let path = bob.self_update().unwrap();
    bob.merge_pending_commit().unwrap();
    for g in [&mut alice, &mut carol] {
        g.process_message(&path.commit).unwrap();
        assert_eq!(g.epoch_authenticator(), bob.epoch_authenticator());
    }
    assert_has_fresh_grease(alice.tree().leaf(LeafIndex(1)).unwrap(), true);
}

fn assert_has_fresh_grease(leaf: &LeafNode, with_extension: bool) {
    let c = &leaf.capabilities;
    assert!(c.cipher_suites.iter().any(|v| v.is_grease()));
    assert!(c.extensions.iter().any(|v| v.is_grease()));
    assert!(c.proposals.iter().any(|v| v.is_grease()));
    assert!(c.credentials.iter().any(|v| v.is_grease()));
    let exts = grease_extensions(&leaf.extensions);
    if with_extension {
        assert_eq!(exts.len(), 1);
        assert!(c.extensions.contains(&exts[0].extension_type));
    } else {
        assert!(exts.is_empty());
    }
}

// ----- receiving: refused -----

/// Members whose KeyPackages list the GREASE value 0x3A3A among their extensions (made
/// without generated GREASE, so it stays), and the first one's signature key.
fn listing_3a3a(rng: &mut StdRng) -> (Alone, KeyPackageBundle) {
    let mut options = KeyPackageOptions::new(NOW).without_grease();
    options.capabilities.extensions = vec![ExtensionType(0x3A3A), ExtensionType(0xF2EE)];
    let a = alone(rng, &options, public());
    let bob = bundle(rng, "bob", &options);
    (a, bob)
}

fn welcome_for(a: &mut Alone, bob: &KeyPackageBundle) -> Vec<u8> {
    let out = a
        .alice
        .add_members(vec![bob.key_package().clone()])
        .unwrap();
    a.alice.merge_pending_commit().unwrap();
    out.welcome.unwrap()
}

fn refused(r: nipee_mls::Result<Group>, what: &str, value: u16) {
    match r {
        Err(Error::NotSupportedByUs { what: w, value: v }) if w == what && v == value => {}
        other => panic!("expected NotSupportedByUs {{ {what}, 0x{value:04x} }}: {other:?}"),
    }
}

/// RFC 9420 §13.5: "GREASE values MUST NOT be sent in the following fields, because an
/// unsupported value in one these fields (including a GREASE value) will cause the
/// enclosing message to be rejected: ... `GroupContext.extensions`"; §13: "A client joining
/// a group MUST verify that it supports every extension in the GroupContext for the group.
/// Otherwise, it MUST treat the enclosing GroupInfo message as invalid and not join the
/// group." Refused even though every leaf (ours included) lists the value: our own
/// capabilities do not contain GREASE (§13.5). An unknown extension we do not list is
/// refused the same way.
#[test]
fn a_grease_group_context_extension_in_a_welcome_is_refused() {
    let mut rng = StdRng::seed_from_u64(5);
    let (mut a, bob) = listing_3a3a(&mut rng);
    let welcome = welcome_for(&mut a, &bob);
    let keys = join_keys(&bob);
    for (t, expected) in [(0x3A3A, 0x3A3A), (0xFF21, 0xFF21)] {
        let changed = rewrap(
            &welcome,
            &[Opener::from(&keys)],
            &[],
            Some(&a.alice_signer),
            |gi| {
                gi.group_context
                    .extensions
                    .push(Extension::new(ExtensionType(t), vec![]));
            },
        );
        refused(join(&changed, &bob), "GroupContext extension", expected);
    }
    // The untouched Welcome joins.
    join(&welcome, &bob).unwrap();
}

/// The same rule on the external-join path: a GroupInfo whose GroupContext carries GREASE
/// is refused by the joiner.
#[test]
fn a_grease_group_context_extension_in_a_group_info_is_refused_by_an_external_joiner() {
    let mut rng = StdRng::seed_from_u64(6);
    let (a, bob) = listing_3a3a(&mut rng);
    let nipee_mls::hazmat::framing::MlsMessageBody::GroupInfo(mut gi) =
        nipee_mls::hazmat::framing::MlsMessage::from_bytes(
            &a.alice.group_info(true, true).unwrap(),
        )
        .unwrap()
        .body
    else {
        panic!("a GroupInfo");
    };
    gi.group_context
        .extensions
        .push(Extension::new(ExtensionType(0x3A3A), vec![]));
    gi.sign(&RustCryptoSuite1::new(), &a.alice_signer).unwrap();
    let r = Group::join_external(
        RustCryptoSuite1::new(),
        public(),
        &group_info_bytes(*gi),
        None,
        join_keys(&bob),
        None,
        &[],
    )
    .map(|(g, _)| g);
    refused(r, "GroupContext extension", 0x3A3A);
}

/// RFC 9420 §11.1 with §13.5: a `required_capabilities` extension naming a GREASE type
/// requires what no client supports; a joiner refuses it (normal logic for an unsupported
/// value, by its own capabilities without GREASE), whatever its leaf advertises.
#[test]
fn a_grease_type_in_required_capabilities_is_refused_by_a_joiner() {
    let mut rng = StdRng::seed_from_u64(7);
    let (mut a, bob) = listing_3a3a(&mut rng);
    let welcome = welcome_for(&mut a, &bob);
    let keys = join_keys(&bob);
    let cases: [(RequiredCapabilities, &str, u16); 3] = [
        (
            RequiredCapabilities {
                extension_types: vec![ExtensionType(0x3A3A)],
                ..RequiredCapabilities::default()
            },
            "required extension type",
            0x3A3A,
        ),
        (
            RequiredCapabilities {
                proposal_types: vec![ProposalType(0x4A4A)],
                ..RequiredCapabilities::default()
            },
            "required proposal type",
            0x4A4A,
        ),
        (
            RequiredCapabilities {
                credential_types: vec![CredentialType(0x5A5A)],
                ..RequiredCapabilities::default()
            },
            "required credential type",
            0x5A5A,
        ),
    ];
    for (required, what, value) in cases {
        let changed = rewrap(
            &welcome,
            &[Opener::from(&keys)],
            &[],
            Some(&a.alice_signer),
            |gi| {
                gi.group_context
                    .extensions
                    .push(required.to_extension().unwrap());
            },
        );
        refused(join(&changed, &bob), what, value);
    }
}

/// RFC 9420 §13.5: GREASE "MUST NOT be sent in ... `GroupContext.extensions`,
/// `GroupContextExtensions.extensions`". We never send it: creating a group with one,
/// proposing one and committing one are refused with the same typed error a receiver
/// gives, before anything is sent.
#[test]
fn we_never_send_grease_in_group_context_extensions() {
    let mut rng = StdRng::seed_from_u64(8);
    let mut options = KeyPackageOptions::new(NOW).without_grease();
    options.capabilities.extensions = vec![ExtensionType(0x3A3A)];
    let grease = vec![Extension::new(ExtensionType(0x3A3A), vec![])];
    let r = Group::create(
        RustCryptoSuite1::new(),
        public(),
        GroupId::new(b"g".to_vec()),
        bundle(&mut rng, "alice", &options),
        grease.clone(),
    );
    refused(r, "GroupContext extension", 0x3A3A);

    let mut g = common::members(2, HandshakeFormat::Public, 8);
    let before = common::state(&g[0]);
    let err = g[0]
        .propose_group_context_extensions(grease.clone())
        .unwrap_err();
    assert!(
        matches!(err, Error::NotSupportedByUs { value: 0x3A3A, .. }),
        "{err:?}"
    );
    let err = g[0]
        .commit(CommitOptions {
            proposals: vec![Proposal::GroupContextExtensions(grease)],
            ..CommitOptions::default()
        })
        .unwrap_err();
    assert!(
        matches!(err, Error::NotSupportedByUs { value: 0x3A3A, .. }),
        "{err:?}"
    );
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    assert_eq!(common::state(&g[0]), before, "nothing was sent or stored");
}

/// RFC 9420 §13.5: GREASE "MUST NOT be sent in ... `Proposal.proposal_type`"; "These values
/// MUST only appear in the fields listed above, and not, for example, in the
/// `proposal_type` field of a Proposal." A proposal, or a commit with a proposal by value,
/// whose type is GREASE fails to parse, naming the field and the value.
#[test]
fn a_grease_proposal_type_is_refused_naming_the_field() {
    let mut g = common::members(2, HandshakeFormat::Public, 9);
    let proposal = g[0].propose_remove(LeafIndex(1)).unwrap();
    let commit = g[1].self_update().unwrap().commit;
    for bytes in [proposal, commit] {
        // The genuine message parses.
        MlsMessageIn::parse(&bytes).unwrap();
        for value in [0x0A0A, 0xEAEA] {
            let err = MlsMessageIn::parse(&with_proposal_type(&bytes, value)).unwrap_err();
            assert!(
                matches!(
                    err,
                    Error::UnknownValue {
                        field: "proposal_type",
                        value: v
                    } if v == u64::from(value)
                ),
                "{err:?}"
            );
        }
    }
}

/// RFC 9420 §13.5: GREASE "MUST NOT be sent in ... `Credential.credential_type`": a
/// KeyPackage whose credential has a GREASE type (listed in its capabilities) cannot be
/// added.
#[test]
fn a_key_package_with_a_grease_credential_type_cannot_be_added() {
    let mut rng = StdRng::seed_from_u64(110);
    let mut g = common::members(2, HandshakeFormat::Public, 10);
    let erin = bundle(&mut rng, "erin", &KeyPackageOptions::new(NOW));
    let mut kp = erin.key_package().clone();
    kp.leaf_node.credential = Credential::Unknown {
        credential_type: CredentialType(0xDADA),
        bytes: b"erin".to_vec(),
    };
    kp.leaf_node
        .capabilities
        .credentials
        .push(CredentialType(0xDADA));
    let leaf = kp
        .leaf_node
        .to_unsigned()
        .sign(erin.signature_secret(), &[], 0)
        .unwrap();
    let kp = KeyPackage::sign(kp.init_key, leaf, kp.extensions, erin.signature_secret()).unwrap();
    for err in [
        g[0].add_members(vec![kp.clone()]).unwrap_err(),
        g[1].propose_add(kp).unwrap_err(),
    ] {
        assert!(
            matches!(
                err,
                Error::KeyPackage(nipee_keypackage::Error::UnsupportedCredentialType(
                    CredentialType(0xDADA)
                ))
            ),
            "{err:?}"
        );
    }
}

/// RFC 9420 §13: "Any field containing a list of extensions MUST NOT have more than one
/// extension of any given type." Two GREASE extensions of one type in a GroupInfo are
/// refused.
#[test]
fn a_grease_extension_twice_in_a_group_info_is_refused() {
    let mut rng = StdRng::seed_from_u64(11);
    let mut a = alone(&mut rng, &KeyPackageOptions::new(NOW), public());
    let bob = bundle(&mut rng, "bob", &KeyPackageOptions::new(NOW));
    let welcome = welcome_for(&mut a, &bob);
    let keys = join_keys(&bob);
    let changed = rewrap(
        &welcome,
        &[Opener::from(&keys)],
        &[],
        Some(&a.alice_signer),
        |gi| {
            for data in [vec![1], vec![2]] {
                gi.extensions
                    .push(Extension::new(ExtensionType(0xCACA), data));
            }
        },
    );
    let err = join(&changed, &bob).unwrap_err();
    assert!(
        matches!(
            err,
            Error::MalformedField {
                field: "extensions",
                reason: "duplicate extension type"
            }
        ),
        "{err:?}"
    );
}

// ----- sending -----

/// RFC 9420 §13.5: a client SHOULD include GREASE in "`GroupInfo.extensions`", whose data
/// "MAY have any contents". Every GroupInfo we sign carries one GREASE extension with up to
/// 16 random bytes, in Welcomes and in published GroupInfos; with GREASE off, none.
#[test]
fn our_group_infos_carry_one_grease_extension_unless_grease_is_off() {
    for grease in [true, false] {
        let mut rng = StdRng::seed_from_u64(12);
        let cfg = if grease {
            public()
        } else {
            public().without_grease()
        };
        let mut a = alone(&mut rng, &KeyPackageOptions::new(NOW), cfg);
        let bob = bundle(&mut rng, "bob", &KeyPackageOptions::new(NOW));
        let welcome = welcome_for(&mut a, &bob);
        let keys = join_keys(&bob);
        let gi = group_info(&welcome, &Opener::from(&keys), &[]);
        let published = a.alice.group_info(false, false).unwrap();
        let nipee_mls::hazmat::framing::MlsMessageBody::GroupInfo(published) =
            nipee_mls::hazmat::framing::MlsMessage::from_bytes(&published)
                .unwrap()
                .body
        else {
            panic!("a GroupInfo");
        };
        for exts in [&gi.extensions, &published.extensions] {
            let found = grease_extensions(exts);
            assert_eq!(found.len(), usize::from(grease));
            if let Some(e) = found.first() {
                assert!(e.data.len() <= MAX_GREASE_DATA_LEN);
            }
        }
        assert!(
            gi.extensions
                .iter()
                .any(|e| e.extension_type == ExtensionType::RATCHET_TREE)
        );
        join(&welcome, &bob).unwrap();
    }
}

/// RFC 9420 §13.5: GREASE in "`LeafNode.capabilities.cipher_suites`, `.extensions`,
/// `.proposals`, `.credentials`" of every LeafNode we generate: our UpdatePath leaves get a
/// fresh selection (what we really support stays the same); with GREASE off they keep the
/// KeyPackage's capabilities exactly.
#[test]
fn our_new_leaves_get_a_fresh_grease_selection_unless_grease_is_off() {
    let options = KeyPackageOptions::nip_ee(NOW).without_grease();
    for grease in [true, false] {
        let cfg = if grease {
            public()
        } else {
            public().without_grease()
        };
        let [mut alice, mut bob, _] = three(13, &options, cfg);
        let original = bob.tree().leaf(LeafIndex(1)).unwrap().capabilities.clone();
        assert!(!original.has_grease());
        let out = bob.self_update().unwrap();
        bob.merge_pending_commit().unwrap();
        alice.process_message(&out.commit).unwrap();
        let leaf = alice.tree().leaf(LeafIndex(1)).unwrap();
        if grease {
            assert_has_fresh_grease(leaf, false);
            assert_eq!(leaf.capabilities.without_grease(), original);
        } else {
            assert_eq!(leaf.capabilities, original);
        }
    }
}

/// The GREASE we send comes from the provider's randomness only: with a seeded provider,
/// two runs choose the same GREASE for the Welcome's GroupInfo, the published GroupInfo and
/// the committer's new leaf; another seed chooses differently.
#[test]
fn the_grease_we_send_is_a_function_of_the_provider_randomness() {
    use common::recording::Recording;
    let run = |seed: u64| {
        let mut rng = StdRng::seed_from_u64(14);
        let options = KeyPackageOptions::new(NOW).without_grease();
        let alice = bundle(&mut rng, "alice", &options);
        let bob = bundle(&mut rng, "bob", &options);
        let mut cfg = public();
        cfg.grease_leaf_extensions = true;
        let mut g = Group::create(
            Recording::seeded(seed),
            cfg,
            GroupId::new(b"seeded".to_vec()),
            alice,
            vec![],
        )
        .unwrap();
        let out = g
            .commit(CommitOptions {
                proposals: vec![Proposal::Add(Box::new(bob.key_package().clone()))],
                force_path: true,
                ..CommitOptions::default()
            })
            .unwrap();
        g.merge_pending_commit().unwrap();
        let welcome_gi = group_info(&out.welcome.unwrap(), &Opener::from(&join_keys(&bob)), &[]);
        let nipee_mls::hazmat::framing::MlsMessageBody::GroupInfo(published) =
            nipee_mls::hazmat::framing::MlsMessage::from_bytes(
                &g.group_info(false, false).unwrap(),
            )
            .unwrap()
            .body
        else {
            panic!("a GroupInfo");
        };
        let leaf = g.tree().leaf(LeafIndex(0)).unwrap().clone();
        assert_has_fresh_grease(&leaf, true);
        (
            grease_extensions(&welcome_gi.extensions)[0].clone(),
            grease_extensions(&published.extensions)[0].clone(),
            leaf.capabilities,
            grease_extensions(&leaf.extensions)[0].clone(),
        )
    };
    assert_eq!(run(1), run(1));
    assert_ne!(run(1), run(2));
}

/// State format 3 stores the two GREASE settings after the rest of the config; a version 2
/// state (without them) still loads, with the defaults (GREASE on, no GREASE leaf
/// extensions), and is written back as version 3.
#[test]
fn a_version_2_state_loads_with_the_default_grease_settings() {
    let mut rng = StdRng::seed_from_u64(15);
    let mut cfg = public().without_grease();
    cfg.grease_leaf_extensions = true;
    let a = alone(&mut rng, &KeyPackageOptions::new(NOW), cfg);
    let v3 = a.alice.to_bytes().unwrap().to_vec();
    assert_eq!(u16::from_be_bytes([v3[8], v3[9]]), 3);
    // The magic (8) and the version (2), then the config: 17 bytes of settings, the
    // lifetime check (1 + 8), the maximum lifetime (1 + 8), the credential types (1 + 2);
    // the two GREASE bytes follow, at 48.
    assert_eq!(&v3[48..50], &[0, 1]);
    let mut v2 = v3[..48].to_vec();
    v2.extend_from_slice(&v3[50..]);
    v2[9] = 2;
    let loaded = Group::from_bytes(RustCryptoSuite1::new(), &v2).unwrap();
    assert!(loaded.config().grease);
    assert!(!loaded.config().grease_leaf_extensions);
    let again = loaded.to_bytes().unwrap();
    assert_eq!(again[9], 3);
    assert_eq!(&again[48..50], &[1, 0]);
    assert_eq!(again[50..], v3[50..]);
}
