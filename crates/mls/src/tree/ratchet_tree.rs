//! The ratchet tree (RFC 9420 §7): nodes in array order, resolutions, tree hashes (cached per
//! node and recomputed only along changed paths), parent hashes and their verification, the
//! structural checks made when joining (§12.4.3.1), and the tree changes made by Add, Update
//! and Remove proposals (§12.1) including extension and truncation (§7.7).

use std::collections::HashSet;
use std::sync::Arc;

use nipee_codec::{Reader, Writer};
use nipee_keypackage::LeafNode;

use super::math::{self, LeafIndex, NodeIndex};
use super::node::{Node, ParentNode};
use crate::crypto::CryptoProvider;
use crate::error::{Error, Result};

/// Upper bound on the number of nodes accepted when decoding a tree (2^21 nodes, about a
/// million leaves).
pub const MAX_TREE_NODES: usize = 1 << 21;

/// A ratchet tree with cached tree hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RatchetTree {
    /// `node_width(n_leaves)` entries; `None` is a blank node.
    nodes: Vec<Option<Node>>,
    /// The tree hash of every node; empty while not yet computed. Inline, so that copying
    /// a tree (to stage a commit) is one copy of this vector, not one allocation per node.
    hashes: Vec<HashSlot>,
}

/// A cached tree hash: up to 64 bytes inline (SHA-512 suites included).
#[derive(Clone, Copy, PartialEq, Eq)]
struct HashSlot {
    len: u8,
    bytes: [u8; 64],
}

impl HashSlot {
    const EMPTY: HashSlot = HashSlot {
        len: 0,
        bytes: [0; 64],
    };

    fn new(h: &[u8]) -> Result<Self> {
        let mut slot = HashSlot::EMPTY;
        let dst = slot
            .bytes
            .get_mut(..h.len())
            .ok_or(Error::Internal("hash longer than 64 bytes"))?;
        dst.copy_from_slice(h);
        slot.len = u8::try_from(h.len()).map_err(|_| Error::Internal("hash length"))?;
        Ok(slot)
    }

    fn as_slice(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or(&[])
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn clear(&mut self) {
        self.len = 0;
    }
}

impl core::fmt::Debug for HashSlot {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("HashSlot(")?;
        for b in self.as_slice() {
            write!(f, "{b:02x}")?;
        }
        f.write_str(")")
    }
}

fn get<T>(v: &[T], i: NodeIndex) -> Result<&T> {
    v.get(i.0 as usize)
        .ok_or(Error::Internal("node index outside the tree"))
}

impl RatchetTree {
    /// A one-member tree holding `leaf`.
    ///
    /// # Errors
    /// Only for encoding failures while hashing.
    pub fn new<P: CryptoProvider + ?Sized>(p: &P, leaf: LeafNode) -> Result<Self> {
        let mut t = RatchetTree {
            nodes: vec![Some(Node::Leaf(std::sync::Arc::new(leaf)))],
            hashes: vec![HashSlot::EMPTY],
        };
        t.rehash(p)?;
        Ok(t)
    }

    /// Decodes `optional<Node> ratchet_tree<V>` (§12.4.3.3), consuming the whole input: the
    /// last node must be non-blank, leaves sit at even and parents at odd positions, and the
    /// tree is extended with blanks to a power-of-two width.
    ///
    /// # Errors
    /// [`Error::Malformed`], [`Error::InvalidTree`].
    pub fn decode<P: CryptoProvider + ?Sized>(p: &P, bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(bytes);
        let t = Self::read(p, &mut r)?;
        r.finish()?;
        Ok(t)
    }

    /// Reads a ratchet tree from `r` (see [`RatchetTree::decode`]).
    ///
    /// # Errors
    /// [`Error::Malformed`], [`Error::InvalidTree`].
    pub fn read<P: CryptoProvider + ?Sized>(p: &P, r: &mut Reader<'_>) -> Result<Self> {
        let mut nodes: Vec<Option<Node>> = r.vl_vec("ratchet_tree", MAX_TREE_NODES, |r| {
            r.optional("node", |r| r.decode::<Node>())
        })?;
        match nodes.last() {
            None => {
                return Err(Error::InvalidTree {
                    reason: "empty ratchet tree",
                });
            }
            Some(None) => {
                return Err(Error::InvalidTree {
                    reason: "last node is blank",
                });
            }
            Some(Some(_)) => {}
        }
        // A truncated tree ends with a leaf: an even node count would end with a parent
        // whose whole right subtree is blank, which no valid tree has (§12.4.3.3).
        if nodes.len().is_multiple_of(2) {
            return Err(Error::InvalidTree {
                reason: "node count of a ratchet tree must be odd",
            });
        }
        for (i, n) in nodes.iter().enumerate() {
            match (i % 2, n) {
                (0, Some(Node::Parent(_))) => {
                    return Err(Error::InvalidTree {
                        reason: "parent node at a leaf position",
                    });
                }
                (1, Some(Node::Leaf(_))) => {
                    return Err(Error::InvalidTree {
                        reason: "leaf node at a parent position",
                    });
                }
                _ => {}
            }
        }
        let leaves = u32::try_from(nodes.len().div_ceil(2)).map_err(|_| Error::InvalidTree {
            reason: "tree too large",
        })?;
        let n_leaves = leaves.next_power_of_two();
        nodes.resize_with(math::node_width(n_leaves) as usize, || None);
        let hashes = vec![HashSlot::EMPTY; nodes.len()];
        let mut t = RatchetTree { nodes, hashes };
        t.rehash(p)?;
        Ok(t)
    }

    /// Encodes the tree as `optional<Node> ratchet_tree<V>`, omitting trailing blanks.
    ///
    /// # Errors
    /// Only for fields too long to encode.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let last = self
            .nodes
            .iter()
            .rposition(Option::is_some)
            .map_or(0, |i| i + 1);
        let mut w = Writer::new();
        w.vl("ratchet_tree", |w| {
            for n in self.nodes.iter().take(last) {
                w.optional(n.as_ref(), |w, n| w.encode(n))?;
            }
            Ok::<(), Error>(())
        })?;
        Ok(w.into_bytes())
    }

    /// The number of leaves (a power of two).
    pub fn n_leaves(&self) -> u32 {
        u32::try_from(self.nodes.len().div_ceil(2)).unwrap_or(u32::MAX)
    }

    /// The node at `x`, `None` if blank or outside the tree.
    pub fn node(&self, x: NodeIndex) -> Option<&Node> {
        self.nodes.get(x.0 as usize).and_then(Option::as_ref)
    }

    /// The leaf at `i`, `None` if blank or outside the tree.
    pub fn leaf(&self, i: LeafIndex) -> Option<&LeafNode> {
        match self.node(i.node()) {
            Some(Node::Leaf(l)) => Some(l),
            _ => None,
        }
    }

    /// The leaf at `i` as the shared pointer the tree holds, so that a past epoch or a staged
    /// message can keep it without copying it.
    pub fn leaf_shared(&self, i: LeafIndex) -> Option<&Arc<LeafNode>> {
        match self.node(i.node()) {
            Some(Node::Leaf(l)) => Some(l),
            _ => None,
        }
    }

    /// Every leaf slot in order (blank ones as `None`), sharing the tree's leaves.
    pub fn shared_leaves(&self) -> Vec<Option<Arc<LeafNode>>> {
        self.nodes
            .iter()
            .step_by(2)
            .map(|n| match n {
                Some(Node::Leaf(l)) => Some(Arc::clone(l)),
                _ => None,
            })
            .collect()
    }

    /// The parent node at `x`, `None` if blank, a leaf or outside the tree.
    pub fn parent_node(&self, x: NodeIndex) -> Option<&ParentNode> {
        match self.node(x) {
            Some(Node::Parent(pn)) => Some(pn),
            _ => None,
        }
    }

    /// The non-blank leaves with their indices.
    pub fn leaves(&self) -> impl Iterator<Item = (LeafIndex, &LeafNode)> {
        self.nodes
            .iter()
            .step_by(2)
            .enumerate()
            .filter_map(|(i, n)| match n {
                Some(Node::Leaf(l)) => {
                    Some((LeafIndex(u32::try_from(i).unwrap_or(u32::MAX)), l.as_ref()))
                }
                _ => None,
            })
    }

    /// The tree hash of the root.
    pub fn tree_hash(&self) -> &[u8] {
        self.node_tree_hash(math::root(self.n_leaves()))
            .unwrap_or(&[])
    }

    /// The cached tree hash of node `x`.
    pub fn node_tree_hash(&self, x: NodeIndex) -> Option<&[u8]> {
        self.hashes.get(x.0 as usize).map(HashSlot::as_slice)
    }

    // ----- tree hashes -----

    fn leaf_hash_input(&self, x: NodeIndex, blank: bool) -> Result<Vec<u8>> {
        let mut w = Writer::new();
        w.u8(1);
        w.u32(x.0 / 2);
        let leaf = if blank { None } else { self.node(x) };
        match leaf {
            Some(Node::Leaf(l)) => {
                w.u8(1);
                w.encode(l.as_ref())?;
            }
            Some(Node::Parent(_)) => return Err(Error::Internal("parent at leaf position")),
            None => w.u8(0),
        }
        Ok(w.into_bytes())
    }

    fn parent_hash_input(
        &self,
        x: NodeIndex,
        parent: Option<&ParentNode>,
        left_hash: &[u8],
        right_hash: &[u8],
    ) -> Result<Vec<u8>> {
        let mut w = Writer::new();
        w.u8(2);
        w.optional(parent, |w, pn| w.encode(pn))?;
        w.vl_bytes("left_hash", left_hash)?;
        w.vl_bytes("right_hash", right_hash)?;
        let _ = x;
        Ok(w.into_bytes())
    }

    /// Recomputes every missing tree hash (those cleared by a change), bottom-up.
    fn rehash<P: CryptoProvider + ?Sized>(&mut self, p: &P) -> Result<()> {
        let root = math::root(self.n_leaves());
        self.rehash_node(p, root)
    }

    fn rehash_node<P: CryptoProvider + ?Sized>(&mut self, p: &P, x: NodeIndex) -> Result<()> {
        if !get(&self.hashes, x)?.is_empty() {
            return Ok(());
        }
        let h = match (math::left(x), math::right(x)) {
            (Some(l), Some(r)) => {
                self.rehash_node(p, l)?;
                self.rehash_node(p, r)?;
                let input = self.parent_hash_input(
                    x,
                    self.parent_node(x),
                    get(&self.hashes, l)?.as_slice(),
                    get(&self.hashes, r)?.as_slice(),
                )?;
                p.hash(&input)
            }
            _ => p.hash(&self.leaf_hash_input(x, false)?),
        };
        if let Some(slot) = self.hashes.get_mut(x.0 as usize) {
            *slot = HashSlot::new(&h)?;
        }
        Ok(())
    }

    /// Marks `x` and its ancestors as changed.
    fn invalidate(&mut self, x: NodeIndex) {
        let n = self.n_leaves();
        if let Some(h) = self.hashes.get_mut(x.0 as usize) {
            h.clear();
        }
        for a in math::direct_path(x, n) {
            if let Some(h) = self.hashes.get_mut(a.0 as usize) {
                h.clear();
            }
        }
    }

    /// The tree hash of `x` as if the leaves in `excluded` were blank and removed from every
    /// `unmerged_leaves` list (the "original" tree hash of §7.9).
    fn tree_hash_excluding<P: CryptoProvider + ?Sized>(
        &self,
        p: &P,
        x: NodeIndex,
        excluded: &[u32],
    ) -> Result<Vec<u8>> {
        let touches = excluded
            .iter()
            .any(|&l| math::is_in_subtree(x, LeafIndex(l).node()));
        if !touches {
            return Ok(get(&self.hashes, x)?.as_slice().to_vec());
        }
        match (math::left(x), math::right(x)) {
            (Some(l), Some(r)) => {
                let lh = self.tree_hash_excluding(p, l, excluded)?;
                let rh = self.tree_hash_excluding(p, r, excluded)?;
                let filtered = self.parent_node(x).map(|pn| ParentNode {
                    encryption_key: pn.encryption_key.clone(),
                    parent_hash: pn.parent_hash.clone(),
                    unmerged_leaves: pn
                        .unmerged_leaves
                        .iter()
                        .copied()
                        .filter(|u| !excluded.contains(u))
                        .collect(),
                });
                Ok(p.hash(&self.parent_hash_input(x, filtered.as_ref(), &lh, &rh)?))
            }
            _ => Ok(p.hash(&self.leaf_hash_input(x, true)?)),
        }
    }

    // ----- resolution and paths -----

    /// The resolution of `x` (§4.1.1), in left-to-right order.
    pub fn resolution(&self, x: NodeIndex) -> Vec<NodeIndex> {
        let mut out = Vec::new();
        self.resolve_into(x, &mut out);
        out
    }

    fn resolve_into(&self, x: NodeIndex, out: &mut Vec<NodeIndex>) {
        match self.node(x) {
            Some(Node::Leaf(_)) => out.push(x),
            Some(Node::Parent(pn)) => {
                out.push(x);
                out.extend(pn.unmerged_leaves.iter().map(|&l| LeafIndex(l).node()));
            }
            None => {
                if let (Some(l), Some(r)) = (math::left(x), math::right(x)) {
                    self.resolve_into(l, out);
                    self.resolve_into(r, out);
                }
            }
        }
    }

    fn resolution_is_empty(&self, x: NodeIndex) -> bool {
        match self.node(x) {
            Some(_) => false,
            None => match (math::left(x), math::right(x)) {
                (Some(l), Some(r)) => self.resolution_is_empty(l) && self.resolution_is_empty(r),
                _ => true,
            },
        }
    }

    /// The filtered direct path of a leaf (§4.1.2) as `(parent, copath child)` pairs from the
    /// bottom up: direct-path nodes whose copath child has an empty resolution are left out.
    pub fn filtered_direct_path(&self, leaf: LeafIndex) -> Vec<(NodeIndex, NodeIndex)> {
        let n = self.n_leaves();
        let x = leaf.node();
        math::direct_path(x, n)
            .into_iter()
            .zip(math::copath(x, n))
            .filter(|(_, c)| !self.resolution_is_empty(*c))
            .collect()
    }

    // ----- parent hashes -----

    /// The parent hash of parent node `parent` with copath child `sibling` (§7.9).
    ///
    /// # Errors
    /// [`Error::InvalidTree`] if `parent` is blank.
    pub fn parent_hash<P: CryptoProvider + ?Sized>(
        &self,
        p: &P,
        parent: NodeIndex,
        sibling: NodeIndex,
    ) -> Result<Vec<u8>> {
        let pn = self.parent_node(parent).ok_or(Error::InvalidTree {
            reason: "parent hash of a blank node",
        })?;
        let original = self.tree_hash_excluding(p, sibling, &pn.unmerged_leaves)?;
        parent_hash_value(p, &pn.encryption_key, &pn.parent_hash, &original)
    }

    /// Checks that every non-blank parent node is parent-hash valid (§7.9.2, "top down":
    /// exactly one child side holds a descendant whose parent hash chains to it).
    ///
    /// # Errors
    /// [`Error::InvalidTree`] naming the failure.
    pub fn verify_parent_hashes<P: CryptoProvider + ?Sized>(&self, p: &P) -> Result<()> {
        for (i, n) in self.nodes.iter().enumerate() {
            let Some(Node::Parent(pn)) = n else { continue };
            let x = NodeIndex(u32::try_from(i).map_err(|_| Error::Internal("node index"))?);
            let (Some(l), Some(r)) = (math::left(x), math::right(x)) else {
                return Err(Error::Internal("parent without children"));
            };
            let mut valid = 0;
            for (c, s) in [(l, r), (r, l)] {
                let res = self.resolution(c);
                let unmerged_in_c: HashSet<NodeIndex> = pn
                    .unmerged_leaves
                    .iter()
                    .map(|&u| LeafIndex(u).node())
                    .filter(|&u| math::is_in_subtree(c, u))
                    .collect();
                let mut rest = res.iter().filter(|d| !unmerged_in_c.contains(d));
                let (Some(&d), None) = (rest.next(), rest.next()) else {
                    continue;
                };
                if res.len() != unmerged_in_c.len() + 1
                    || !unmerged_in_c.iter().all(|u| res.contains(u))
                {
                    continue;
                }
                let Some(ph) = self.node(d).and_then(Node::parent_hash) else {
                    continue;
                };
                if ph == self.parent_hash(p, x, s)?.as_slice() {
                    valid += 1;
                }
            }
            if valid != 1 {
                return Err(Error::InvalidTree {
                    reason: "a parent node is not parent-hash valid",
                });
            }
        }
        Ok(())
    }

    // ----- validation -----

    /// Verifies the signature of every leaf (with `group_id` and the leaf index as context for
    /// update and commit sources), in one batch where the provider supports it.
    ///
    /// # Errors
    /// [`Error::BadSignature`] naming "LeafNode", or [`Error::KeyPackage`] for encoding
    /// failures.
    pub fn verify_leaf_signatures<P: CryptoProvider + ?Sized>(
        &self,
        p: &P,
        group_id: &[u8],
    ) -> Result<()> {
        let mut messages = Vec::new();
        let mut keys = Vec::new();
        let mut sigs = Vec::new();
        for (i, leaf) in self.leaves() {
            let tbs = leaf.tbs_bytes(group_id, i.0)?;
            messages.push(crate::crypto::sign_content(b"LeafNodeTBS", &tbs)?);
            keys.push(leaf.signature_key.as_slice());
            sigs.push(leaf.signature.as_slice());
        }
        let msgs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
        p.verify_many(&msgs, &sigs, &keys, "LeafNode")
    }

    /// The structural checks of §12.4.3.1 and §7.9: parent-hash validity, unmerged leaves
    /// (non-blank descendants, listed at every non-blank node in between), unique encryption
    /// keys across the tree and unique signature keys among leaves, and leaf signatures.
    ///
    /// # Errors
    /// [`Error::InvalidTree`], [`Error::BadSignature`].
    pub fn validate<P: CryptoProvider + ?Sized>(&self, p: &P, group_id: &[u8]) -> Result<()> {
        let n = self.n_leaves();
        let mut enc_keys = HashSet::new();
        let mut sig_keys = HashSet::new();
        for (i, node) in self.nodes.iter().enumerate() {
            let Some(node) = node else { continue };
            if !enc_keys.insert(node.encryption_key()) {
                return Err(Error::InvalidTree {
                    reason: "duplicate encryption key",
                });
            }
            match node {
                Node::Leaf(l) => {
                    if !sig_keys.insert(l.signature_key) {
                        return Err(Error::InvalidTree {
                            reason: "duplicate signature key",
                        });
                    }
                }
                Node::Parent(pn) => {
                    let x = NodeIndex(u32::try_from(i).map_err(|_| Error::Internal("node index"))?);
                    for (k, &u) in pn.unmerged_leaves.iter().enumerate() {
                        if pn.unmerged_leaves.iter().skip(k + 1).any(|&v| v == u) {
                            return Err(Error::InvalidTree {
                                reason: "duplicate unmerged leaf",
                            });
                        }
                        let leaf = LeafIndex(u).node();
                        if u >= n
                            || !math::is_in_subtree(x, leaf)
                            || self.leaf(LeafIndex(u)).is_none()
                        {
                            return Err(Error::InvalidTree {
                                reason: "unmerged leaf is blank or not a descendant",
                            });
                        }
                        for a in math::direct_path(leaf, n) {
                            if a == x {
                                break;
                            }
                            if let Some(apn) = self.parent_node(a)
                                && !apn.unmerged_leaves.contains(&u)
                            {
                                return Err(Error::InvalidTree {
                                    reason: "unmerged leaf missing at an intermediate node",
                                });
                            }
                        }
                    }
                }
            }
        }
        self.verify_parent_hashes(p)?;
        self.verify_leaf_signatures(p, group_id)
    }

    // ----- changes -----

    fn set(&mut self, x: NodeIndex, node: Option<Node>) -> Result<()> {
        let slot = self
            .nodes
            .get_mut(x.0 as usize)
            .ok_or(Error::Internal("node index outside the tree"))?;
        *slot = node;
        self.invalidate(x);
        Ok(())
    }

    fn blank_direct_path(&mut self, leaf: LeafIndex) -> Result<()> {
        for a in math::direct_path(leaf.node(), self.n_leaves()) {
            self.set(a, None)?;
        }
        Ok(())
    }

    /// Adds a member at the leftmost blank leaf, extending the tree if there is none, and
    /// records it as unmerged at every non-blank node of its direct path (§12.1.1).
    ///
    /// # Errors
    /// [`Error::InvalidTree`] if the tree cannot grow further.
    pub fn add_leaf<P: CryptoProvider + ?Sized>(
        &mut self,
        p: &P,
        leaf: LeafNode,
    ) -> Result<LeafIndex> {
        let n = self.n_leaves();
        let index = match (0..n).find(|&i| self.leaf(LeafIndex(i)).is_none()) {
            Some(i) => LeafIndex(i),
            None => {
                if n >= 1 << 30 {
                    return Err(Error::InvalidTree {
                        reason: "tree cannot grow further",
                    });
                }
                let width = math::node_width(n * 2) as usize;
                self.nodes.resize_with(width, || None);
                self.hashes.resize(width, HashSlot::EMPTY);
                LeafIndex(n)
            }
        };
        self.set(index.node(), Some(Node::Leaf(std::sync::Arc::new(leaf))))?;
        for a in math::direct_path(index.node(), self.n_leaves()) {
            if let Some(Some(Node::Parent(pn))) = self.nodes.get_mut(a.0 as usize)
                && let Err(pos) = pn.unmerged_leaves.binary_search(&index.0)
            {
                std::sync::Arc::make_mut(pn)
                    .unmerged_leaves
                    .insert(pos, index.0);
                self.invalidate(a);
            }
        }
        self.rehash(p)?;
        Ok(index)
    }

    /// Replaces a member's leaf and blanks its direct path (§12.1.2).
    ///
    /// # Errors
    /// [`Error::LeafOutOfRange`], [`Error::InvalidSender`] for a blank leaf.
    pub fn update_leaf<P: CryptoProvider + ?Sized>(
        &mut self,
        p: &P,
        index: LeafIndex,
        leaf: LeafNode,
    ) -> Result<()> {
        self.check_member(index)?;
        self.set(index.node(), Some(Node::Leaf(std::sync::Arc::new(leaf))))?;
        self.blank_direct_path(index)?;
        self.rehash(p)
    }

    /// Removes a member: blanks its leaf and direct path, then truncates the tree (§12.1.3).
    ///
    /// # Errors
    /// [`Error::LeafOutOfRange`], [`Error::InvalidSender`] for a blank leaf.
    pub fn remove_leaf<P: CryptoProvider + ?Sized>(
        &mut self,
        p: &P,
        index: LeafIndex,
    ) -> Result<()> {
        self.check_member(index)?;
        self.set(index.node(), None)?;
        self.blank_direct_path(index)?;
        self.truncate();
        self.rehash(p)
    }

    fn check_member(&self, index: LeafIndex) -> Result<()> {
        if index.0 >= self.n_leaves() {
            return Err(Error::LeafOutOfRange {
                index: index.0,
                leaves: self.n_leaves(),
            });
        }
        if self.leaf(index).is_none() {
            return Err(Error::InvalidSender {
                reason: "the leaf is blank",
            });
        }
        Ok(())
    }

    /// Halves the tree while its right half is entirely blank (§7.7).
    fn truncate(&mut self) {
        loop {
            let n = self.n_leaves();
            if n <= 1 {
                return;
            }
            let half = math::node_width(n / 2) as usize;
            if self.nodes.iter().skip(half + 1).any(Option::is_some) {
                return;
            }
            self.nodes.truncate(half);
            self.hashes.truncate(half);
        }
    }

    /// Merges an UpdatePath's public part (§7.5, §12.4.2): the sender's new leaf, the new
    /// keys of its filtered direct path with parent hashes chained from the root down, and
    /// blanks on the rest of its direct path. `keys` lists one public key per filtered
    /// direct-path node, bottom-up. Returns the parent hash the leaf must carry.
    ///
    /// # Errors
    /// [`Error::InvalidState`] if the number of keys does not match the filtered direct path.
    pub fn merge_path_keys<P: CryptoProvider + ?Sized>(
        &mut self,
        p: &P,
        sender: LeafIndex,
        keys: &[Vec<u8>],
    ) -> Result<Vec<u8>> {
        self.check_member(sender)?;
        let fdp = self.filtered_direct_path(sender);
        if fdp.len() != keys.len() {
            return Err(Error::InvalidState {
                reason: "UpdatePath length differs from the filtered direct path",
            });
        }
        self.blank_direct_path(sender)?;
        for ((x, _), key) in fdp.iter().zip(keys) {
            self.set(
                *x,
                Some(Node::Parent(std::sync::Arc::new(ParentNode {
                    encryption_key: key.clone(),
                    parent_hash: vec![],
                    unmerged_leaves: vec![],
                }))),
            )?;
        }
        // Chain parent hashes from the top: each node's parent_hash is the parent hash of the
        // next filtered node above it, computed with that node's copath child as sibling
        // (whose tree hash this change does not touch).
        let mut above: Vec<u8> = vec![];
        for &(x, sibling) in fdp.iter().rev() {
            if let Some(Some(Node::Parent(pn))) = self.nodes.get_mut(x.0 as usize) {
                std::sync::Arc::make_mut(pn).parent_hash = core::mem::take(&mut above);
            }
            above = self.parent_hash(p, x, sibling)?;
        }
        self.rehash(p)?;
        Ok(above)
    }

    /// Replaces the sender's leaf after [`RatchetTree::merge_path_keys`].
    ///
    /// # Errors
    /// [`Error::LeafOutOfRange`].
    pub fn set_leaf<P: CryptoProvider + ?Sized>(
        &mut self,
        p: &P,
        index: LeafIndex,
        leaf: LeafNode,
    ) -> Result<()> {
        if index.0 >= self.n_leaves() {
            return Err(Error::LeafOutOfRange {
                index: index.0,
                leaves: self.n_leaves(),
            });
        }
        self.set(index.node(), Some(Node::Leaf(std::sync::Arc::new(leaf))))?;
        self.rehash(p)
    }
}

/// `Hash(ParentHashInput)` (§7.9).
pub(crate) fn parent_hash_value<P: CryptoProvider + ?Sized>(
    p: &P,
    encryption_key: &[u8],
    parent_hash: &[u8],
    original_sibling_tree_hash: &[u8],
) -> Result<Vec<u8>> {
    let mut w = Writer::new();
    w.vl_bytes("encryption_key", encryption_key)?;
    w.vl_bytes("parent_hash", parent_hash)?;
    w.vl_bytes("original_sibling_tree_hash", original_sibling_tree_hash)?;
    Ok(p.hash(w.as_bytes()))
}
