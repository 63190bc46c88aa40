//! Array-based tree math for left-balanced binary trees (RFC 9420 Appendix C).
//!
//! Nodes are numbered in-order: leaves have even indices (`2 * leaf_index`), parents odd ones.
//! The tree of an MLS group always has a power-of-two number of leaves (§7.8), so every
//! function here is total for nodes inside such a tree and returns `None` where the RFC's
//! pseudo-code would assert.

/// The index of a leaf (0-based, counted among leaves only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LeafIndex(pub u32);

/// The index of a node in the array representation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeIndex(pub u32);

impl LeafIndex {
    /// The node index of this leaf (`2 * i`). Leaf indices are below 2^31 in any tree this
    /// crate accepts, so the multiplication cannot overflow there; it saturates otherwise.
    pub fn node(self) -> NodeIndex {
        NodeIndex(self.0.saturating_mul(2))
    }
}

impl NodeIndex {
    /// Whether this is a leaf node (even index).
    pub fn is_leaf(self) -> bool {
        self.0.is_multiple_of(2)
    }

    /// The leaf index if this is a leaf node.
    pub fn leaf(self) -> Option<LeafIndex> {
        self.is_leaf().then_some(LeafIndex(self.0 / 2))
    }
}

/// `floor(log2(x))`, with `log2(0) = 0` as in the RFC.
pub fn log2(x: u32) -> u32 {
    if x == 0 { 0 } else { 31 - x.leading_zeros() }
}

/// The level of a node: 0 for leaves, the number of trailing one bits otherwise.
pub fn level(x: NodeIndex) -> u32 {
    x.0.trailing_ones()
}

/// The number of nodes in a tree with `n_leaves` leaves (`2n - 1`, 0 for an empty tree).
pub fn node_width(n_leaves: u32) -> u32 {
    if n_leaves == 0 {
        0
    } else {
        2 * (n_leaves - 1) + 1
    }
}

/// The root of a tree with `n_leaves` leaves.
pub fn root(n_leaves: u32) -> NodeIndex {
    let w = node_width(n_leaves);
    NodeIndex((1u32 << log2(w)) - 1)
}

/// The left child of an intermediate node, `None` for a leaf.
pub fn left(x: NodeIndex) -> Option<NodeIndex> {
    let k = level(x);
    if k == 0 {
        None
    } else {
        Some(NodeIndex(x.0 ^ (1 << (k - 1))))
    }
}

/// The right child of an intermediate node, `None` for a leaf.
pub fn right(x: NodeIndex) -> Option<NodeIndex> {
    let k = level(x);
    if k == 0 {
        None
    } else {
        Some(NodeIndex(x.0 ^ (3 << (k - 1))))
    }
}

/// The parent of a node in a tree of `n_leaves` leaves; `None` for the root or a node outside
/// the tree.
pub fn parent(x: NodeIndex, n_leaves: u32) -> Option<NodeIndex> {
    if x == root(n_leaves) || x.0 >= node_width(n_leaves) {
        return None;
    }
    let k = level(x);
    if k >= 30 {
        return None;
    }
    let b = (x.0 >> (k + 1)) & 1;
    Some(NodeIndex((x.0 | (1 << k)) ^ (b << (k + 1))))
}

/// The other child of the node's parent; `None` for the root.
pub fn sibling(x: NodeIndex, n_leaves: u32) -> Option<NodeIndex> {
    let p = parent(x, n_leaves)?;
    if x.0 < p.0 { right(p) } else { left(p) }
}

/// The direct path of a node: its ancestors from its parent up to and including the root
/// (empty for the root).
pub fn direct_path(x: NodeIndex, n_leaves: u32) -> Vec<NodeIndex> {
    let mut path = Vec::with_capacity(log2(n_leaves.max(1)) as usize + 1);
    let mut cur = x;
    while let Some(p) = parent(cur, n_leaves) {
        path.push(p);
        cur = p;
    }
    path
}

/// The copath of a node: the sibling of the node and of each node of its direct path except
/// the root.
pub fn copath(x: NodeIndex, n_leaves: u32) -> Vec<NodeIndex> {
    let mut out = Vec::with_capacity(log2(n_leaves.max(1)) as usize + 1);
    let mut cur = x;
    while let Some(s) = sibling(cur, n_leaves) {
        out.push(s);
        match parent(cur, n_leaves) {
            Some(p) => cur = p,
            None => break,
        }
    }
    out
}

/// Whether `x` is in the subtree rooted at `ancestor` (a node is its own descendant).
pub fn is_in_subtree(ancestor: NodeIndex, x: NodeIndex) -> bool {
    let k = level(ancestor);
    (x.0 >> (k + 1)) == (ancestor.0 >> (k + 1))
}

/// The lowest common ancestor of two nodes.
pub fn common_ancestor(x: NodeIndex, y: NodeIndex) -> NodeIndex {
    let lx = level(x) + 1;
    let ly = level(y) + 1;
    if lx <= ly && x.0 >> ly == y.0 >> ly {
        return y;
    }
    if ly <= lx && x.0 >> lx == y.0 >> lx {
        return x;
    }
    let (mut xn, mut yn, mut k) = (x.0, y.0, 0u32);
    while xn != yn {
        xn >>= 1;
        yn >>= 1;
        k += 1;
    }
    NodeIndex((xn << k) + (1 << (k - 1)) - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaves_and_parents_of_a_four_leaf_tree() {
        assert_eq!(root(4), NodeIndex(3));
        assert_eq!(
            direct_path(NodeIndex(0), 4),
            vec![NodeIndex(1), NodeIndex(3)]
        );
        assert_eq!(copath(NodeIndex(0), 4), vec![NodeIndex(2), NodeIndex(5)]);
        assert_eq!(common_ancestor(NodeIndex(0), NodeIndex(6)), NodeIndex(3));
        assert_eq!(common_ancestor(NodeIndex(4), NodeIndex(6)), NodeIndex(5));
        assert_eq!(common_ancestor(NodeIndex(4), NodeIndex(5)), NodeIndex(5));
        assert_eq!(parent(NodeIndex(3), 4), None);
        assert_eq!(parent(NodeIndex(7), 4), None);
        assert!(is_in_subtree(NodeIndex(5), NodeIndex(6)));
        assert!(!is_in_subtree(NodeIndex(5), NodeIndex(2)));
    }
}
