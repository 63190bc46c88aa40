//! The secret tree (RFC 9420 §9): per-leaf handshake and application hash ratchets derived
//! from the epoch's `encryption_secret`, and the sender-data key and nonce (§6.3.2).
//!
//! Forward secrecy: a node's secret is deleted as soon as both children are derived; a
//! ratchet secret is replaced by its successor as soon as it is used; a key is deleted when
//! it is handed out. Keys of skipped generations are kept for out-of-order delivery, at most
//! [`SecretTreeConfig::out_of_order_window`] of them per ratchet (the oldest are dropped
//! first), and no ratchet advances more than [`SecretTreeConfig::max_forward_distance`]
//! generations in one step.

use std::collections::BTreeMap;

use crate::crypto::{CryptoProvider, Secret, derive_tree_secret, expand_with_label};
use crate::error::{Error, Result};
use crate::tree::math::{self, LeafIndex, NodeIndex};

/// Limits for out-of-order delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecretTreeConfig {
    /// How many keys of skipped generations a ratchet keeps.
    pub out_of_order_window: u32,
    /// How far ahead of the current generation a message may be.
    pub max_forward_distance: u32,
}

impl Default for SecretTreeConfig {
    fn default() -> Self {
        SecretTreeConfig {
            out_of_order_window: 64,
            max_forward_distance: 1024,
        }
    }
}

/// Which of a leaf's two ratchets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RatchetType {
    /// For handshake messages (proposals, commits) sent as PrivateMessage.
    Handshake,
    /// For application messages.
    Application,
}

/// An AEAD key and nonce for one generation of a ratchet.
#[derive(Clone)]
pub struct KeyNonce {
    /// The generation.
    pub generation: u32,
    /// The AEAD key.
    pub key: Secret,
    /// The AEAD nonce (before reuse-guard masking).
    pub nonce: Secret,
}

impl core::fmt::Debug for KeyNonce {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("KeyNonce")
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

/// One hash ratchet (§9.1).
#[derive(Clone)]
struct HashRatchet {
    /// `ratchet_secret` for `next_generation`.
    secret: Secret,
    next_generation: u32,
    /// Keys of skipped generations, kept for late messages.
    skipped: BTreeMap<u32, KeyNonce>,
}

impl HashRatchet {
    fn derive_key<P: CryptoProvider + ?Sized>(&self, p: &P) -> Result<KeyNonce> {
        let g = self.next_generation;
        Ok(KeyNonce {
            generation: g,
            key: derive_tree_secret(p, self.secret.as_bytes(), b"key", g, p.aead_key_len())?,
            nonce: derive_tree_secret(p, self.secret.as_bytes(), b"nonce", g, p.aead_nonce_len())?,
        })
    }

    /// Derives the current generation's key and moves the ratchet forward, deleting the
    /// consumed secret.
    fn step<P: CryptoProvider + ?Sized>(&mut self, p: &P) -> Result<KeyNonce> {
        let g = self.next_generation;
        let next_g = g
            .checked_add(1)
            .ok_or(Error::Misuse("ratchet generation exhausted"))?;
        let kn = self.derive_key(p)?;
        self.secret = derive_tree_secret(p, self.secret.as_bytes(), b"secret", g, p.hash_len())?;
        self.next_generation = next_g;
        Ok(kn)
    }

    fn get<P: CryptoProvider + ?Sized>(
        &mut self,
        p: &P,
        leaf: LeafIndex,
        generation: u32,
        config: &SecretTreeConfig,
    ) -> Result<KeyNonce> {
        if generation < self.next_generation {
            return self
                .skipped
                .remove(&generation)
                .ok_or(Error::GenerationConsumed {
                    leaf: leaf.0,
                    generation,
                });
        }
        if generation - self.next_generation > config.max_forward_distance {
            return Err(Error::GenerationTooFarAhead {
                generation,
                current: self.next_generation,
                window: config.max_forward_distance,
            });
        }
        while self.next_generation < generation {
            let kn = self.step(p)?;
            if config.out_of_order_window > 0 {
                self.skipped.insert(kn.generation, kn);
            }
            while self.skipped.len() > config.out_of_order_window as usize {
                self.skipped.pop_first();
            }
        }
        self.step(p)
    }
}

#[derive(Clone)]
struct LeafRatchets {
    handshake: HashRatchet,
    application: HashRatchet,
}

/// The secret tree of one epoch. Cloning copies every remaining secret (used to process a
/// handshake message on a copy that is kept only if the message is accepted). Only the
/// secrets that exist are stored (a fresh tree holds one), so a copy costs what has been
/// derived so far, not the size of the group.
#[derive(Clone)]
pub struct SecretTree {
    n_leaves: u32,
    /// Secrets of tree nodes not yet split into their children, by node index.
    nodes: BTreeMap<u32, Secret>,
    /// Ratchets of leaves whose leaf secret has been consumed, by leaf index.
    leaves: BTreeMap<u32, LeafRatchets>,
    config: SecretTreeConfig,
}

impl core::fmt::Debug for SecretTree {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SecretTree")
            .field("n_leaves", &self.n_leaves)
            .finish_non_exhaustive()
    }
}

impl SecretTree {
    /// A secret tree for a group whose ratchet tree has `n_leaves` leaves (a power of two, or
    /// 1), rooted at `encryption_secret`.
    ///
    /// # Errors
    /// [`Error::Misuse`] for zero leaves or more than 2^30.
    pub fn new(encryption_secret: Secret, n_leaves: u32, config: SecretTreeConfig) -> Result<Self> {
        if n_leaves == 0 || n_leaves > 1 << 30 {
            return Err(Error::Misuse("secret tree needs between 1 and 2^30 leaves"));
        }
        let mut nodes = BTreeMap::new();
        nodes.insert(math::root(n_leaves).0, encryption_secret);
        Ok(SecretTree {
            n_leaves,
            nodes,
            leaves: BTreeMap::new(),
            config,
        })
    }

    /// The number of leaves.
    pub fn n_leaves(&self) -> u32 {
        self.n_leaves
    }

    fn leaf_ratchets<P: CryptoProvider + ?Sized>(
        &mut self,
        p: &P,
        leaf: LeafIndex,
    ) -> Result<&mut LeafRatchets> {
        if leaf.0 >= self.n_leaves {
            return Err(Error::LeafOutOfRange {
                index: leaf.0,
                leaves: self.n_leaves,
            });
        }
        if !self.leaves.contains_key(&leaf.0) {
            let leaf_node = leaf.node();
            // The lowest node on the leaf's path (itself included) that still holds a secret.
            let mut path = vec![leaf_node];
            path.extend(math::direct_path(leaf_node, self.n_leaves));
            let start = path
                .iter()
                .position(|n| self.nodes.contains_key(&n.0))
                .ok_or(Error::InvalidState {
                    reason: "secret tree leaf already consumed",
                })?;
            // Walk down from there, splitting each node into its children.
            for i in (1..=start).rev() {
                let (Some(&node), Some(&child_on_path)) = (path.get(i), path.get(i - 1)) else {
                    return Err(Error::Internal("secret tree path"));
                };
                let secret = self
                    .nodes
                    .remove(&node.0)
                    .ok_or(Error::Internal("secret tree node"))?;
                let (l, r) = match (math::left(node), math::right(node)) {
                    (Some(l), Some(r)) => (l, r),
                    _ => return Err(Error::Internal("secret tree: leaf has no children")),
                };
                let ls = expand_with_label(p, secret.as_bytes(), b"tree", b"left", p.hash_len())?;
                let rs = expand_with_label(p, secret.as_bytes(), b"tree", b"right", p.hash_len())?;
                self.set_node(l, ls)?;
                self.set_node(r, rs)?;
                debug_assert!(child_on_path == l || child_on_path == r);
            }
            let leaf_secret = self
                .nodes
                .remove(&leaf_node.0)
                .ok_or(Error::Internal("secret tree leaf"))?;
            let hs = expand_with_label(p, leaf_secret.as_bytes(), b"handshake", &[], p.hash_len())?;
            let app =
                expand_with_label(p, leaf_secret.as_bytes(), b"application", &[], p.hash_len())?;
            let ratchets = LeafRatchets {
                handshake: HashRatchet {
                    secret: hs,
                    next_generation: 0,
                    skipped: BTreeMap::new(),
                },
                application: HashRatchet {
                    secret: app,
                    next_generation: 0,
                    skipped: BTreeMap::new(),
                },
            };
            self.leaves.insert(leaf.0, ratchets);
        }
        self.leaves
            .get_mut(&leaf.0)
            .ok_or(Error::Internal("secret tree leaf ratchets"))
    }

    fn set_node(&mut self, node: NodeIndex, secret: Secret) -> Result<()> {
        if node.0 >= math::node_width(self.n_leaves) {
            return Err(Error::Internal("secret tree node index"));
        }
        self.nodes.insert(node.0, secret);
        Ok(())
    }

    /// The key and nonce of `generation` for a message received from `leaf`. The key is
    /// deleted from the tree: asking twice for the same generation fails with
    /// [`Error::GenerationConsumed`].
    ///
    /// # Errors
    /// [`Error::GenerationConsumed`], [`Error::GenerationTooFarAhead`],
    /// [`Error::LeafOutOfRange`].
    pub fn key_for_generation<P: CryptoProvider + ?Sized>(
        &mut self,
        p: &P,
        leaf: LeafIndex,
        ratchet: RatchetType,
        generation: u32,
    ) -> Result<KeyNonce> {
        let config = self.config;
        let r = self.leaf_ratchets(p, leaf)?;
        let r = match ratchet {
            RatchetType::Handshake => &mut r.handshake,
            RatchetType::Application => &mut r.application,
        };
        r.get(p, leaf, generation, &config)
    }

    /// Returns a key taken with [`SecretTree::key_for_generation`] whose message failed to
    /// decrypt, so that a forged copy cannot burn the key of the genuine message. The key is
    /// kept like a skipped generation (within the out-of-order window).
    pub fn put_back(&mut self, leaf: LeafIndex, ratchet: RatchetType, key: KeyNonce) {
        let window = self.config.out_of_order_window as usize;
        if let Some(r) = self.leaves.get_mut(&leaf.0) {
            let r = match ratchet {
                RatchetType::Handshake => &mut r.handshake,
                RatchetType::Application => &mut r.application,
            };
            if key.generation < r.next_generation && window > 0 {
                r.skipped.insert(key.generation, key);
                while r.skipped.len() > window {
                    r.skipped.pop_first();
                }
            }
        }
    }

    /// The next key and nonce for a message we send from `leaf`.
    ///
    /// # Errors
    /// [`Error::LeafOutOfRange`], or a ratchet that ran out of generations.
    pub fn next_key<P: CryptoProvider + ?Sized>(
        &mut self,
        p: &P,
        leaf: LeafIndex,
        ratchet: RatchetType,
    ) -> Result<KeyNonce> {
        let r = self.leaf_ratchets(p, leaf)?;
        let r = match ratchet {
            RatchetType::Handshake => &mut r.handshake,
            RatchetType::Application => &mut r.application,
        };
        r.step(p)
    }
}

/// The key and nonce that protect a PrivateMessage's sender data (§6.3.2), derived from the
/// `sender_data_secret` and the first `Nh` bytes of the content ciphertext.
///
/// # Errors
/// Only for impossible lengths.
pub fn sender_data_key_nonce<P: CryptoProvider + ?Sized>(
    p: &P,
    sender_data_secret: &Secret,
    ciphertext: &[u8],
) -> Result<(Secret, Secret)> {
    let sample = ciphertext.get(..p.hash_len()).unwrap_or(ciphertext);
    let key = expand_with_label(
        p,
        sender_data_secret.as_bytes(),
        b"key",
        sample,
        p.aead_key_len(),
    )?;
    let nonce = expand_with_label(
        p,
        sender_data_secret.as_bytes(),
        b"nonce",
        sample,
        p.aead_nonce_len(),
    )?;
    Ok((key, nonce))
}

// ----- persistence (used by the group state machine) -----

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
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::RustCryptoSuite1;

    #[test]
    fn a_replayed_generation_is_rejected() {
        let p = RustCryptoSuite1::new();
        let mut t = SecretTree::new(Secret::zero(32), 4, SecretTreeConfig::default()).unwrap();
        t.key_for_generation(&p, LeafIndex(1), RatchetType::Application, 3)
            .unwrap();
        let err = t
            .key_for_generation(&p, LeafIndex(1), RatchetType::Application, 3)
            .unwrap_err();
        assert!(matches!(
            err,
            Error::GenerationConsumed {
                leaf: 1,
                generation: 3
            }
        ));
        // Skipped generations are still available once, in any order.
        t.key_for_generation(&p, LeafIndex(1), RatchetType::Application, 1)
            .unwrap();
        t.key_for_generation(&p, LeafIndex(1), RatchetType::Application, 0)
            .unwrap();
        let err = t
            .key_for_generation(&p, LeafIndex(1), RatchetType::Application, 0)
            .unwrap_err();
        assert!(matches!(err, Error::GenerationConsumed { .. }));
    }

    #[test]
    fn a_generation_too_far_ahead_is_rejected() {
        let p = RustCryptoSuite1::new();
        let config = SecretTreeConfig {
            out_of_order_window: 2,
            max_forward_distance: 10,
        };
        let mut t = SecretTree::new(Secret::zero(32), 2, config).unwrap();
        let err = t
            .key_for_generation(&p, LeafIndex(0), RatchetType::Handshake, 11)
            .unwrap_err();
        assert!(matches!(
            err,
            Error::GenerationTooFarAhead { generation: 11, .. }
        ));
        // Only the newest two skipped keys are kept.
        t.key_for_generation(&p, LeafIndex(0), RatchetType::Handshake, 10)
            .unwrap();
        assert!(
            t.key_for_generation(&p, LeafIndex(0), RatchetType::Handshake, 7)
                .is_err()
        );
        t.key_for_generation(&p, LeafIndex(0), RatchetType::Handshake, 8)
            .unwrap();
        t.key_for_generation(&p, LeafIndex(0), RatchetType::Handshake, 9)
            .unwrap();
    }

    #[test]
    fn a_leaf_outside_the_tree_is_rejected() {
        let p = RustCryptoSuite1::new();
        let mut t = SecretTree::new(Secret::zero(32), 2, SecretTreeConfig::default()).unwrap();
        let err = t
            .next_key(&p, LeafIndex(2), RatchetType::Handshake)
            .unwrap_err();
        assert!(matches!(
            err,
            Error::LeafOutOfRange {
                index: 2,
                leaves: 2
            }
        ));
    }

    #[test]
    fn consumed_node_secrets_are_deleted() {
        let p = RustCryptoSuite1::new();
        let mut t = SecretTree::new(Secret::zero(32), 4, SecretTreeConfig::default()).unwrap();
        t.next_key(&p, LeafIndex(0), RatchetType::Handshake)
            .unwrap();
        // Root (3) and node 1 were split; leaf 0's secret became its ratchets.
        assert!(
            !t.nodes.contains_key(&3) && !t.nodes.contains_key(&1) && !t.nodes.contains_key(&0)
        );
        assert!(t.nodes.contains_key(&2) && t.nodes.contains_key(&5));
    }
}
