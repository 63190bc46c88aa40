//! Nodes of the ratchet tree (RFC 9420 §7.1) and their encoding.

use nipee_codec::{Decode, Encode, Reader, Writer};
use nipee_keypackage::LeafNode;

use crate::error::{Error, Result};

/// Upper bound on the unmerged leaves of one parent node.
pub const MAX_UNMERGED_LEAVES: usize = 1 << 20;

/// `ParentNode` (§7.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParentNode {
    /// The node's HPKE public key.
    pub encryption_key: Vec<u8>,
    /// The parent hash binding this node to its parent (§7.9).
    pub parent_hash: Vec<u8>,
    /// Leaves added below this node since it was last updated, in increasing order.
    pub unmerged_leaves: Vec<u32>,
}

impl Encode for ParentNode {
    type Error = Error;

    fn encode(&self, w: &mut Writer) -> Result<()> {
        w.vl_bytes("encryption_key", &self.encryption_key)?;
        w.vl_bytes("parent_hash", &self.parent_hash)?;
        w.vl("unmerged_leaves", |w| {
            for l in &self.unmerged_leaves {
                w.u32(*l);
            }
            Ok::<(), Error>(())
        })
    }
}

impl Decode for ParentNode {
    type Error = Error;

    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        Ok(ParentNode {
            encryption_key: r.vl_bytes("encryption_key")?.to_vec(),
            parent_hash: r.vl_bytes("parent_hash")?.to_vec(),
            unmerged_leaves: r.vl_vec("unmerged_leaves", MAX_UNMERGED_LEAVES, |r| {
                Ok::<_, Error>(r.u32("unmerged_leaf")?)
            })?,
        })
    }
}

/// A non-blank node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A leaf (even node index).
    Leaf(std::sync::Arc<LeafNode>),
    /// A parent (odd node index). Shared like leaves, so copying a tree to stage a commit
    /// copies pointers; a change goes through `Arc::make_mut`.
    Parent(std::sync::Arc<ParentNode>),
}

impl Node {
    /// The node's HPKE public key.
    pub fn encryption_key(&self) -> &[u8] {
        match self {
            Node::Leaf(l) => &l.encryption_key,
            Node::Parent(p) => &p.encryption_key,
        }
    }

    /// The node's `parent_hash` (for a leaf, only the commit source carries one).
    pub fn parent_hash(&self) -> Option<&[u8]> {
        match self {
            Node::Leaf(l) => match &l.leaf_node_source {
                nipee_keypackage::LeafNodeSource::Commit { parent_hash } => Some(parent_hash),
                _ => None,
            },
            Node::Parent(p) => Some(&p.parent_hash),
        }
    }
}

impl Encode for Node {
    type Error = Error;

    fn encode(&self, w: &mut Writer) -> Result<()> {
        match self {
            Node::Leaf(l) => {
                w.u8(1);
                Ok(w.encode(l.as_ref())?)
            }
            Node::Parent(p) => {
                w.u8(2);
                w.encode(p.as_ref())
            }
        }
    }
}

impl Decode for Node {
    type Error = Error;

    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        match r.u8("node_type")? {
            1 => Ok(Node::Leaf(std::sync::Arc::new(r.decode::<LeafNode>()?))),
            2 => Ok(Node::Parent(std::sync::Arc::new(r.decode()?))),
            v => Err(Error::UnknownValue {
                field: "node_type",
                value: u64::from(v),
            }),
        }
    }
}
