//! GREASE across implementations, live with OpenMLS 0.9: OpenMLS joins from our Welcomes,
//! whose GroupInfo carries a GREASE extension and whose leaves carry GREASE in their
//! capabilities, and follows our commits; we join OpenMLS groups whose leaves carry
//! OpenMLS's GREASE. GREASE leaf extensions, which OpenMLS 0.9.2 refuses, are off by
//! default; the last test shows why, and fails once the OpenMLS in use accepts them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod openmls_peer;

use common::rewrap::{Opener, group_info};
use nipee_mls::{CommitOptions, Group, GroupId, Proposal as NProposal, RustCryptoSuite1};
use openmls::prelude::tls_codec::Deserialize as _;
use openmls::prelude::*;
use openmls_peer::*;

/// alice (us) creates a group with our default GREASE and, in one commit with a path, adds
/// bob (us) and carol (OpenMLS); the Welcome, its GroupInfo as bob decrypts it, and
/// everyone's group.
fn we_add_openmls(
    cfg: nipee_mls::GroupConfig,
) -> (
    Group,
    Group,
    Om,
    Vec<u8>,
    nipee_mls::hazmat::welcome::GroupInfo,
) {
    let mut alice = Group::create(
        RustCryptoSuite1::new(),
        cfg,
        GroupId::new(b"grease interop".to_vec()),
        our_bundle("alice"),
        vec![],
    )
    .unwrap();
    let bob_bundle = our_bundle("bob");
    let carol = Om::new("carol");
    let carol_kp = to_ours(&carol.key_package());
    let out = alice
        .commit(CommitOptions {
            proposals: vec![
                NProposal::Add(Box::new(bob_bundle.key_package().clone())),
                NProposal::Add(Box::new(carol_kp)),
            ],
            force_path: true,
            ..CommitOptions::default()
        })
        .unwrap();
    alice.merge_pending_commit().unwrap();
    let welcome = out.welcome.unwrap();
    let keys = common::join_keys(&bob_bundle);
    let gi = group_info(&welcome, &Opener::from(&keys), &[]);
    let bob = Group::join(
        RustCryptoSuite1::new(),
        our_config(),
        &welcome,
        bob_bundle.into(),
        None,
        vec![],
    )
    .unwrap();
    (alice, bob, carol, welcome, gi)
}

fn try_join(om: &mut Om, welcome: &[u8]) -> Result<(), String> {
    let msg = MlsMessageIn::tls_deserialize_exact(welcome).unwrap();
    let MlsMessageBodyIn::Welcome(w) = msg.extract() else {
        panic!("not a welcome")
    };
    let cfg = MlsGroupJoinConfig::builder()
        .wire_format_policy(policy())
        .use_ratchet_tree_extension(true)
        .build();
    let staged = StagedWelcome::new_from_welcome(&om.provider, &cfg, w, None)
        .map_err(|e| format!("{e:?}"))?;
    om.group = Some(
        staged
            .into_group(&om.provider)
            .map_err(|e| format!("{e:?}"))?,
    );
    Ok(())
}

/// RFC 9420 §13.5 GREASE, as we send it by default, in `GroupInfo.extensions` and in the
/// capabilities of every leaf we made (our KeyPackages', our UpdatePath's): OpenMLS joins
/// from the Welcome, and follows our next commits.
#[test]
fn openmls_joins_from_our_welcome_carrying_grease_and_follows_our_commits() {
    let (mut alice, mut bob, mut carol, welcome, gi) = we_add_openmls(our_config());
    let grease: Vec<_> = gi
        .extensions
        .iter()
        .filter(|e| e.extension_type.is_grease())
        .collect();
    assert_eq!(
        grease.len(),
        1,
        "the GroupInfo carries one GREASE extension"
    );
    for leaf in [0, 1] {
        let caps = &alice
            .tree()
            .leaf(nipee_mls::LeafIndex(leaf))
            .unwrap()
            .capabilities;
        assert!(caps.has_grease(), "leaf {leaf}");
    }
    carol.join(&welcome);
    agree(&alice, &mut [&mut carol]);

    // Our commits with fresh GREASE in the path leaf, from both of us.
    let out = alice.self_update().unwrap();
    alice.merge_pending_commit().unwrap();
    bob.process_message(&out.commit).unwrap();
    carol.process(&out.commit);
    agree(&alice, &mut [&mut carol]);
    let out = bob.self_update().unwrap();
    bob.merge_pending_commit().unwrap();
    alice.process_message(&out.commit).unwrap();
    carol.process(&out.commit);
    agree(&bob, &mut [&mut carol]);
    let m = bob.create_message(b"greased", b"").unwrap();
    assert_eq!(carol.process(&m).unwrap(), b"greased");
}

/// OpenMLS's own GREASE (`Capabilities::with_grease`) in its group's leaves and in the
/// KeyPackage of another OpenMLS member: we join from its Welcome and follow its commits
/// (RFC 9420 §7.2: "unknown values in `capabilities` MUST be ignored").
#[test]
fn we_join_an_openmls_group_whose_leaves_carry_grease() {
    let mut alice = Om::new("alice");
    let caps = Capabilities::builder()
        .with_grease(alice.provider.rand())
        .build();
    let cfg = MlsGroupCreateConfig::builder()
        .ciphersuite(SUITE)
        .wire_format_policy(policy())
        .use_ratchet_tree_extension(true)
        .capabilities(caps.clone())
        .build();
    alice.group = Some(
        MlsGroup::new(
            &alice.provider,
            &alice.signer,
            &cfg,
            alice.credential.clone(),
        )
        .unwrap(),
    );
    let mut dave = Om::new("dave");
    let dave_kp = KeyPackage::builder()
        .leaf_node_capabilities(caps)
        .build(SUITE, &dave.provider, &dave.signer, dave.credential.clone())
        .unwrap()
        .key_package()
        .clone();
    let bob_bundle = our_bundle("bob");
    let bob_kp = to_theirs(&alice, bob_bundle.key_package());
    let (commit, welcome, _) = {
        let provider = &alice.provider;
        let signer = &alice.signer;
        alice
            .group
            .as_mut()
            .unwrap()
            .add_members(provider, signer, &[bob_kp, dave_kp])
            .unwrap()
    };
    let _ = commit;
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
    dave.join(&w);
    assert!(
        bob.tree()
            .leaf(nipee_mls::LeafIndex(0))
            .unwrap()
            .capabilities
            .has_grease(),
        "OpenMLS's leaf carries GREASE"
    );
    agree(&bob, &mut [&mut alice, &mut dave]);
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
    let commit = om_bytes(&commit);
    bob.process_message(&commit).unwrap();
    dave.process(&commit);
    agree(&bob, &mut [&mut alice, &mut dave]);
}

/// Why `GroupConfig::grease_leaf_extensions` is off by default: OpenMLS up to 0.9.2 refuses
/// a Welcome whose tree holds a leaf with a GREASE extension, although RFC 9420 §13.5 lists
/// `LeafNode.extensions` (openmls issue 2156). When this test fails, the OpenMLS in use
/// accepts them and the default can change.
#[test]
fn openmls_0_9_refuses_our_leaves_with_grease_extensions_which_is_why_they_are_off() {
    let mut cfg = our_config();
    cfg.grease_leaf_extensions = true;
    let (alice, _bob, mut carol, welcome, _) = we_add_openmls(cfg);
    let ours = alice.tree().leaf(nipee_mls::LeafIndex(0)).unwrap();
    assert!(ours.extensions.iter().any(|e| e.extension_type.is_grease()));
    let err = try_join(&mut carol, &welcome).unwrap_err();
    assert!(err.contains("UnsupportedExtension"), "{err}");
}
