//! A read-only view of a member's ratchet tree (for visualizers and debugging): every node
//! with its public data, our own path, and the path the last commit replaced.

use super::state::Group;
use crate::crypto::GroupProvider;
use crate::tree::Node;
use crate::tree::math::{self, NodeIndex};

/// One node of the ratchet tree as [`Group::tree_nodes`] shows it. Public data only.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TreeNodeView {
    /// The node index (leaves even, parents odd; leaf `i` is node `2i`).
    pub index: u32,
    /// Whether it is a leaf.
    pub is_leaf: bool,
    /// Whether it is blank.
    pub blank: bool,
    /// Its HPKE public key (X25519, 32 bytes), if not blank.
    pub encryption_key: Option<[u8; 32]>,
    /// Its parent hash: a parent node's, or a leaf's that was last set by a commit.
    pub parent_hash: Option<Vec<u8>>,
    /// A parent node's unmerged leaves (leaf indices).
    pub unmerged_leaves: Vec<u32>,
    /// A leaf's credential identity (the basic credential's bytes).
    pub identity: Option<Vec<u8>>,
    /// A leaf's signature public key.
    pub signature_key: Option<[u8; 32]>,
}

impl<P: GroupProvider> Group<P> {
    /// Every node of our current ratchet tree, in node-index order.
    pub fn tree_nodes(&self) -> Vec<TreeNodeView> {
        let tree = &self.state.tree;
        (0..math::node_width(tree.n_leaves()))
            .map(|i| {
                let x = NodeIndex(i);
                let mut view = TreeNodeView {
                    index: i,
                    is_leaf: x.is_leaf(),
                    blank: true,
                    encryption_key: None,
                    parent_hash: None,
                    unmerged_leaves: vec![],
                    identity: None,
                    signature_key: None,
                };
                if let Some(node) = tree.node(x) {
                    view.blank = false;
                    view.encryption_key = node.encryption_key().try_into().ok();
                    view.parent_hash = node.parent_hash().map(<[u8]>::to_vec);
                    match node {
                        Node::Leaf(l) => {
                            view.identity = l.credential.identity().map(<[u8]>::to_vec);
                            view.signature_key = Some(l.signature_key);
                        }
                        Node::Parent(pn) => view.unmerged_leaves = pn.unmerged_leaves.clone(),
                    }
                }
                view
            })
            .collect()
    }

    /// Our leaf's node index, then the node indices of our filtered direct path (the nodes
    /// whose private keys we may hold), bottom up.
    pub fn own_path(&self) -> Vec<u32> {
        let me = self.own_leaf();
        let mut out = vec![me.node().0];
        out.extend(
            self.state
                .tree
                .filtered_direct_path(me)
                .iter()
                .map(|(x, _)| x.0),
        );
        out
    }

    /// The node indices whose keys the UpdatePath of the last merged commit replaced (the
    /// committer's leaf first, then its filtered direct path); empty after a commit without
    /// a path and right after joining.
    pub fn last_commit_path(&self) -> Vec<u32> {
        self.state.last_commit_path.clone()
    }
}
