//! The ratchet tree (RFC 9420 §7), its array representation (Appendix C) and TreeKEM.

pub mod math;
mod node;
mod ratchet_tree;
pub mod treekem;

pub use node::Node;
#[cfg(feature = "hazmat")]
pub use node::ParentNode;
#[cfg(feature = "hazmat")]
pub use ratchet_tree::MAX_TREE_NODES;
pub use ratchet_tree::RatchetTree;
