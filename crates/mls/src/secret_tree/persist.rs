//! Persistence of a secret tree (used by the group state machine): every remaining node
//! secret, each used leaf's ratchets and their skipped keys.

use std::collections::BTreeMap;

use super::{HashRatchet, KeyNonce, LeafRatchets, SecretTree, SecretTreeConfig};
use crate::crypto::Secret;
use crate::error::{Error, Result};
use crate::tree::math;

const MAX_PERSISTED: usize = 1 << 24;

fn write_ratchet(w: &mut nipee_codec::Writer, r: &HashRatchet) -> Result<()> {
    w.vl_bytes("ratchet_secret", r.secret.as_bytes())?;
    w.u32(r.next_generation);
    w.vl("skipped", |w| {
        for kn in r.skipped.values() {
            w.u32(kn.generation);
            w.vl_bytes("key", kn.key.as_bytes())?;
            w.vl_bytes("nonce", kn.nonce.as_bytes())?;
        }
        Ok::<(), Error>(())
    })
}

fn read_ratchet(r: &mut nipee_codec::Reader<'_>) -> Result<HashRatchet> {
    let secret = Secret::from_slice(r.vl_bytes("ratchet_secret")?);
    let next_generation = r.u32("next_generation")?;
    let list = r.vl_vec("skipped", MAX_PERSISTED, |r| {
        Ok::<_, Error>(KeyNonce {
            generation: r.u32("generation")?,
            key: Secret::from_slice(r.vl_bytes("key")?),
            nonce: Secret::from_slice(r.vl_bytes("nonce")?),
        })
    })?;
    Ok(HashRatchet {
        secret,
        next_generation,
        skipped: list.into_iter().map(|kn| (kn.generation, kn)).collect(),
    })
}

impl SecretTree {
    /// Appends the tree's whole state (remaining node secrets, ratchets, skipped keys).
    ///
    /// # Errors
    /// Only for fields too long to encode.
    pub fn write_state(&self, w: &mut nipee_codec::Writer) -> Result<()> {
        w.u32(self.n_leaves);
        w.u32(self.config.out_of_order_window);
        w.u32(self.config.max_forward_distance);
        // The stored form lists every node and leaf slot (blank ones as absent).
        w.vl("nodes", |w| {
            for i in 0..math::node_width(self.n_leaves) {
                w.optional(self.nodes.get(&i), |w, s| {
                    w.vl_bytes("node_secret", s.as_bytes())
                })?;
            }
            Ok::<(), Error>(())
        })?;
        w.vl("leaves", |w| {
            for i in 0..self.n_leaves {
                w.optional(self.leaves.get(&i), |w, l| {
                    write_ratchet(w, &l.handshake)?;
                    write_ratchet(w, &l.application)
                })?;
            }
            Ok::<(), Error>(())
        })
    }

    /// Reads a state written by [`SecretTree::write_state`].
    ///
    /// # Errors
    /// [`Error::Malformed`], [`Error::InvalidState`] for inconsistent sizes.
    pub fn read_state(r: &mut nipee_codec::Reader<'_>) -> Result<Self> {
        let n_leaves = r.u32("n_leaves")?;
        let config = SecretTreeConfig {
            out_of_order_window: r.u32("out_of_order_window")?,
            max_forward_distance: r.u32("max_forward_distance")?,
        };
        let nodes = r.vl_vec("nodes", MAX_PERSISTED, |r| {
            r.optional("node", |r| {
                Ok::<_, Error>(Secret::from_slice(r.vl_bytes("node_secret")?))
            })
        })?;
        let leaves = r.vl_vec("leaves", MAX_PERSISTED, |r| {
            r.optional("leaf", |r| {
                Ok::<_, Error>(LeafRatchets {
                    handshake: read_ratchet(r)?,
                    application: read_ratchet(r)?,
                })
            })
        })?;
        if n_leaves == 0
            || n_leaves > 1 << 30
            || nodes.len() != math::node_width(n_leaves) as usize
            || leaves.len() != n_leaves as usize
        {
            return Err(Error::InvalidState {
                reason: "stored secret tree has inconsistent sizes",
            });
        }
        let index = |i: usize| u32::try_from(i).map_err(|_| Error::Internal("secret tree index"));
        let mut node_map = BTreeMap::new();
        for (i, n) in nodes.into_iter().enumerate() {
            if let Some(n) = n {
                node_map.insert(index(i)?, n);
            }
        }
        let mut leaf_map = BTreeMap::new();
        for (i, l) in leaves.into_iter().enumerate() {
            if let Some(l) = l {
                leaf_map.insert(index(i)?, l);
            }
        }
        Ok(SecretTree {
            n_leaves,
            nodes: node_map,
            leaves: leaf_map,
            config,
            changes: 0,
            last_split: None,
        })
    }
}

/// One stored piece of a secret tree: a node secret not yet split, or one leaf's two
/// ratchets (with their skipped keys). A tree stored in pieces is rewritten piece by piece:
/// a message changes only the pieces on its sender's path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TreeSlot {
    /// The secret of the tree node with this index.
    Node(u32),
    /// The ratchets of the leaf with this index.
    Leaf(u32),
}

/// The stored bytes of one piece (secret).
type PieceBytes = zeroize::Zeroizing<Vec<u8>>;

impl SecretTree {
    /// Appends what is stored of the tree besides its pieces: the leaf count and limits.
    pub(crate) fn write_header(&self, w: &mut nipee_codec::Writer) {
        w.u32(self.n_leaves);
        w.u32(self.config.out_of_order_window);
        w.u32(self.config.max_forward_distance);
    }

    /// Reads a header written by [`SecretTree::write_header`]: a tree without pieces yet.
    pub(crate) fn read_header(r: &mut nipee_codec::Reader<'_>) -> Result<Self> {
        let n_leaves = r.u32("n_leaves")?;
        let config = SecretTreeConfig {
            out_of_order_window: r.u32("out_of_order_window")?,
            max_forward_distance: r.u32("max_forward_distance")?,
        };
        if n_leaves == 0 || n_leaves > 1 << 30 {
            return Err(Error::InvalidState {
                reason: "stored secret tree has inconsistent sizes",
            });
        }
        Ok(SecretTree {
            n_leaves,
            nodes: BTreeMap::new(),
            leaves: BTreeMap::new(),
            config,
            changes: 0,
            last_split: None,
        })
    }

    fn encode_piece(&self, slot: TreeSlot) -> Result<Option<PieceBytes>> {
        let mut w = nipee_codec::Writer::new();
        match slot {
            TreeSlot::Node(i) => match self.nodes.get(&i) {
                Some(s) => w.vl_bytes("node_secret", s.as_bytes())?,
                None => return Ok(None),
            },
            TreeSlot::Leaf(i) => match self.leaves.get(&i) {
                Some(l) => {
                    write_ratchet(&mut w, &l.handshake)?;
                    write_ratchet(&mut w, &l.application)?;
                }
                None => return Ok(None),
            },
        }
        Ok(Some(zeroize::Zeroizing::new(w.into_bytes())))
    }

    /// Every piece the tree holds, in slot order.
    ///
    /// # Errors
    /// Only for fields too long to encode.
    pub(crate) fn pieces(&self) -> Result<Vec<(TreeSlot, PieceBytes)>> {
        let slots = self
            .nodes
            .keys()
            .map(|i| TreeSlot::Node(*i))
            .chain(self.leaves.keys().map(|i| TreeSlot::Leaf(*i)));
        let mut out = Vec::with_capacity(self.nodes.len() + self.leaves.len());
        for slot in slots {
            if let Some(bytes) = self.encode_piece(slot)? {
                out.push((slot, bytes));
            }
        }
        Ok(out)
    }

    /// The pieces that the last key taken for `leaf` changed, each with its bytes or
    /// `None` when the tree no longer holds it (to be deleted): the leaf's ratchets, and
    /// when that key was the leaf's first, the node secret it consumed and the ones it
    /// created on the leaf's copath (O(log n), once per leaf and epoch). Call it after
    /// each key taken, before the next one: which nodes a first use changed is reported
    /// only while it is the tree's last change.
    ///
    /// # Errors
    /// [`Error::LeafOutOfRange`]; fields too long to encode.
    pub(crate) fn pieces_of_leaf(
        &self,
        leaf: math::LeafIndex,
    ) -> Result<Vec<(TreeSlot, Option<PieceBytes>)>> {
        self.check_leaf(leaf)?;
        let mut slots = vec![TreeSlot::Leaf(leaf.0)];
        if let Some((split_leaf, nodes, at)) = &self.last_split
            && *split_leaf == leaf.0
            && *at == self.changes
        {
            slots.extend(nodes.iter().map(|n| TreeSlot::Node(*n)));
        }
        slots
            .into_iter()
            .map(|s| Ok((s, self.encode_piece(s)?)))
            .collect()
    }

    /// Puts back one piece read from storage.
    ///
    /// # Errors
    /// [`Error::InvalidState`] for a slot outside the tree or a piece stored twice;
    /// [`Error::Malformed`].
    pub(crate) fn insert_piece(&mut self, slot: TreeSlot, bytes: &[u8]) -> Result<()> {
        let mut r = nipee_codec::Reader::new(bytes);
        let fresh = match slot {
            TreeSlot::Node(i) if i < math::node_width(self.n_leaves) => self
                .nodes
                .insert(i, Secret::from_slice(r.vl_bytes("node_secret")?))
                .is_none(),
            TreeSlot::Leaf(i) if i < self.n_leaves => self
                .leaves
                .insert(
                    i,
                    LeafRatchets {
                        handshake: read_ratchet(&mut r)?,
                        application: read_ratchet(&mut r)?,
                    },
                )
                .is_none(),
            _ => {
                return Err(Error::InvalidState {
                    reason: "a stored secret-tree piece outside the tree",
                });
            }
        };
        r.finish()?;
        if !fresh {
            return Err(Error::InvalidState {
                reason: "a secret-tree piece stored twice",
            });
        }
        Ok(())
    }
}
