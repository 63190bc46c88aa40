//! What a member can see of its group without secrets: every node of its ratchet tree, its
//! own path, the path the last commit replaced, and who signed the Welcome it joins with.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{assert_agree, bundle, config, deliver, members};
use nipee_mls::{Group, HandshakeFormat, LeafIndex, RustCryptoSuite1};
use rand::SeedableRng;
use rand::rngs::StdRng;

#[test]
fn a_path_commit_in_a_five_member_group_is_visible_in_every_members_tree() {
    let mut g = members(5, HandshakeFormat::Private, 41);
    // The Adds of epoch 1 had no path, and joiners start without one.
    for m in &g {
        assert!(m.last_commit_path().is_empty());
    }
    let out = g[2].self_update().unwrap();
    g[2].merge_pending_commit().unwrap();
    deliver(&mut g, 2, &out.commit);
    assert_agree(&g);

    // Leaf 2 is node 4; in a tree of 8 leaves its direct path is 5, 3, 7, none filtered
    // out (each copath child has a member below it).
    for m in &g {
        assert_eq!(m.last_commit_path(), vec![4, 5, 3, 7]);
    }
    assert_eq!(g[0].own_path(), vec![0, 1, 3, 7]);
    // Leaf 4 (node 8) has no member beside it or below its parent's sibling: only the
    // root is left of its direct path 9, 11, 7.
    assert_eq!(g[4].own_path(), vec![8, 7]);

    let nodes = g[0].tree_nodes();
    assert_eq!(nodes.len(), 15);
    assert_eq!(nodes, g[3].tree_nodes(), "every member sees the same tree");
    for (i, n) in nodes.iter().enumerate() {
        assert_eq!(n.index as usize, i);
        assert_eq!(n.is_leaf, i % 2 == 0);
    }
    for leaf in 0..5u32 {
        let n = &nodes[2 * leaf as usize];
        let member = g[0].member(LeafIndex(leaf)).unwrap();
        assert!(!n.blank);
        assert_eq!(n.identity.as_deref(), Some(format!("m{leaf}").as_bytes()));
        assert_eq!(n.signature_key, Some(member.signature_key));
        assert_eq!(n.encryption_key, Some(member.encryption_key));
    }
    for blank in [10, 12, 14] {
        assert!(nodes[blank].blank && nodes[blank].encryption_key.is_none());
    }
    // The committer's new leaf carries a parent hash; its path's parents have keys and
    // parent hashes; parents off the path are still blank.
    assert!(nodes[4].parent_hash.is_some());
    for x in [5, 3, 7] {
        assert!(!nodes[x].blank && nodes[x].encryption_key.is_some());
        assert!(nodes[x].parent_hash.is_some());
        assert!(nodes[x].identity.is_none() && nodes[x].signature_key.is_none());
    }
    assert!(nodes[1].blank && nodes[9].blank && nodes[11].blank);

    // A sixth member added without a path is an unmerged leaf of the root.
    let mut rng = StdRng::seed_from_u64(42);
    let f = bundle(&mut rng, "m5");
    let out = g[0].add_members(vec![f.key_package().clone()]).unwrap();
    g[0].merge_pending_commit().unwrap();
    deliver(&mut g, 0, &out.commit);
    let nodes = g[1].tree_nodes();
    assert_eq!(nodes[7].unmerged_leaves, vec![5]);
    assert!(nodes[5].unmerged_leaves.is_empty());
    assert!(g[1].last_commit_path().is_empty(), "a path-less commit");

    // The last path survives storage.
    let out = g[4].self_update().unwrap();
    g[4].merge_pending_commit().unwrap();
    deliver(&mut g, 4, &out.commit);
    let stored = g[1].to_bytes().unwrap();
    let restored = Group::from_bytes(RustCryptoSuite1::new(), &stored).unwrap();
    assert_eq!(restored.last_commit_path(), g[1].last_commit_path());
    assert_eq!(
        restored.last_commit_path(),
        vec![8, 9, 7],
        "leaf 5 is now beside leaf 4"
    );
    assert_eq!(restored.tree_nodes(), g[1].tree_nodes());
}

#[test]
fn a_staged_join_names_the_member_who_signed_the_welcome() {
    let mut g = members(3, HandshakeFormat::Public, 43);
    let mut rng = StdRng::seed_from_u64(44);
    let dave = bundle(&mut rng, "dave");
    let out = g[1].add_members(vec![dave.key_package().clone()]).unwrap();
    g[1].merge_pending_commit().unwrap();
    let staged = Group::stage_join(
        RustCryptoSuite1::new(),
        config(HandshakeFormat::Public),
        &out.welcome.unwrap(),
        dave.into(),
        None,
        vec![],
    )
    .unwrap();
    assert_eq!(staged.group_info_signer(), LeafIndex(1));
    assert_eq!(
        staged.group_info_signer_credential().identity(),
        Some(&b"m1"[..])
    );
    let seen = staged.group();
    assert_eq!(seen.epoch(), 2);
    assert_eq!(seen.members().len(), 4);
    assert_eq!(seen.own_leaf(), LeafIndex(3));
    assert_eq!(seen.extensions(), g[1].extensions());
    assert!(seen.last_commit_path().is_empty());
    let dave = staged.into_group();
    assert_eq!(dave.epoch_authenticator(), g[1].epoch_authenticator());
}
