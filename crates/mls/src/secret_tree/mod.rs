//! The secret tree (RFC 9420 §9): per-leaf handshake and application hash ratchets derived
//! from the epoch's `encryption_secret`, and the sender-data key and nonce (§6.3.2).
//!
//! Forward secrecy: a node's secret is deleted as soon as both children are derived; a
//! ratchet secret is replaced by its successor as soon as it is used; a key is deleted when
//! it is handed out. Keys of skipped generations are kept for out-of-order delivery, at most
//! [`SecretTreeConfig::out_of_order_window`] of them per ratchet (the oldest are dropped
//! first), and no ratchet advances more than [`SecretTreeConfig::max_forward_distance`]
//! generations in one step.

use std::collections::{BTreeMap, VecDeque};

use crate::crypto::{CryptoProvider, Secret, derive_tree_secret, expand_with_label};
use crate::error::{Error, Result};
use crate::tree::math::{self, LeafIndex};

mod persist;

pub use persist::TreeSlot;

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
    fn fresh(secret: Secret) -> Self {
        HashRatchet {
            secret,
            next_generation: 0,
            skipped: BTreeMap::new(),
        }
    }

    /// The key of generation `generation` of the ratchet whose secret for that generation is
    /// `secret`, and the ratchet secret of the generation after it.
    fn derive<P: CryptoProvider + ?Sized>(
        p: &P,
        secret: &Secret,
        generation: u32,
    ) -> Result<(KeyNonce, Secret)> {
        let kn = KeyNonce {
            generation,
            key: derive_tree_secret(p, secret.as_bytes(), b"key", generation, p.aead_key_len())?,
            nonce: derive_tree_secret(
                p,
                secret.as_bytes(),
                b"nonce",
                generation,
                p.aead_nonce_len(),
            )?,
        };
        let next = derive_tree_secret(p, secret.as_bytes(), b"secret", generation, p.hash_len())?;
        Ok((kn, next))
    }

    /// Derives the current generation's key and moves the ratchet forward, deleting the
    /// consumed secret (sending).
    fn step<P: CryptoProvider + ?Sized>(&mut self, p: &P) -> Result<KeyNonce> {
        let g = self.next_generation;
        let next_g = g
            .checked_add(1)
            .ok_or(Error::Misuse("ratchet generation exhausted"))?;
        let (kn, next) = Self::derive(p, &self.secret, g)?;
        self.secret = next;
        self.next_generation = next_g;
        Ok(kn)
    }

    /// The key of `generation` for a received message and what taking it changes, without
    /// changing the ratchet.
    fn peek<P: CryptoProvider + ?Sized>(
        &self,
        p: &P,
        leaf: LeafIndex,
        generation: u32,
        config: &SecretTreeConfig,
    ) -> Result<(KeyNonce, Step)> {
        if generation < self.next_generation {
            return self
                .skipped
                .get(&generation)
                .map(|kn| (kn.clone(), Step::TakeSkipped(generation)))
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
        let window = config.out_of_order_window as usize;
        // Only the newest `window` keys of the skipped generations would survive the
        // window on merge (they are all newer than the ones already kept), so only those
        // are carried.
        let mut skipped =
            VecDeque::with_capacity(window.min((generation - self.next_generation) as usize));
        let mut g = self.next_generation;
        let mut secret = self.secret.clone();
        while g < generation {
            let (kn, next) = Self::derive(p, &secret, g)?;
            if window > 0 {
                if skipped.len() == window {
                    skipped.pop_front();
                }
                skipped.push_back(kn);
            }
            secret = next;
            g += 1;
        }
        let (kn, next) = Self::derive(p, &secret, generation)?;
        let next_generation = generation
            .checked_add(1)
            .ok_or(Error::Misuse("ratchet generation exhausted"))?;
        Ok((
            kn,
            Step::Advance {
                secret: next,
                next_generation,
                skipped,
            },
        ))
    }

    /// Whether `step` (computed on this ratchet in an earlier state or in this one) still
    /// applies.
    fn check(&self, step: &Step) -> Result<()> {
        let fits = match step {
            Step::TakeSkipped(g) => self.skipped.contains_key(g),
            Step::Advance {
                next_generation, ..
            } => *next_generation > self.next_generation,
        };
        if fits {
            Ok(())
        } else {
            Err(Error::InvalidState {
                reason: "a key change for a ratchet that already moved past it",
            })
        }
    }

    /// Applies a step that [`HashRatchet::check`] accepted.
    fn apply(&mut self, step: Step, window: usize) {
        match step {
            Step::TakeSkipped(g) => {
                self.skipped.remove(&g);
            }
            Step::Advance {
                secret,
                next_generation,
                skipped,
            } => {
                self.secret = secret;
                self.next_generation = next_generation;
                for kn in skipped {
                    self.skipped.insert(kn.generation, kn);
                }
                while self.skipped.len() > window {
                    self.skipped.pop_first();
                }
            }
        }
    }
}

#[derive(Clone)]
struct LeafRatchets {
    handshake: HashRatchet,
    application: HashRatchet,
}

impl LeafRatchets {
    fn get(&self, ratchet: RatchetType) -> &HashRatchet {
        match ratchet {
            RatchetType::Handshake => &self.handshake,
            RatchetType::Application => &self.application,
        }
    }

    fn get_mut(&mut self, ratchet: RatchetType) -> &mut HashRatchet {
        match ratchet {
            RatchetType::Handshake => &mut self.handshake,
            RatchetType::Application => &mut self.application,
        }
    }
}

/// How one ratchet moves when a received key is taken from it.
#[derive(Clone)]
enum Step {
    /// The key of an earlier, skipped generation is deleted.
    TakeSkipped(u32),
    /// The ratchet moves past the message's generation, keeping the keys it skipped.
    Advance {
        secret: Secret,
        next_generation: u32,
        skipped: VecDeque<KeyNonce>,
    },
}

/// The first use of a leaf's ratchets: the tree node that still held a secret on the leaf's
/// path is split down to the leaf, whose secret becomes its two ratchets.
#[derive(Clone)]
struct Split {
    /// The node whose secret is consumed.
    consumed: u32,
    /// The siblings of the path below it, with their new secrets.
    created: Vec<(u32, Secret)>,
    ratchets: LeafRatchets,
}

/// What receiving one message changes in a secret tree: computed without changing the tree
/// by [`SecretTree::peek_key`], applied by [`SecretTree::apply`]. It holds O(log n) node
/// secrets and one ratchet's new state (at most `out_of_order_window` skipped keys), never
/// a copy of the tree. Secret material: no `Debug` beyond the leaf and generation.
#[derive(Clone)]
pub struct KeyChange {
    leaf: u32,
    ratchet: RatchetType,
    split: Option<Split>,
    step: Step,
}

impl core::fmt::Debug for KeyChange {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("KeyChange")
            .field("leaf", &self.leaf)
            .field("ratchet", &self.ratchet)
            .finish_non_exhaustive()
    }
}

/// The secret tree of one epoch. Only the secrets that exist are stored (a fresh tree holds
/// one), so a copy costs what has been derived so far, not the size of the group; receiving
/// never copies it (see [`KeyChange`]).
#[derive(Clone)]
pub struct SecretTree {
    n_leaves: u32,
    /// Secrets of tree nodes not yet split into their children, by node index.
    nodes: BTreeMap<u32, Secret>,
    /// Ratchets of leaves whose leaf secret has been consumed, by leaf index.
    leaves: BTreeMap<u32, LeafRatchets>,
    config: SecretTreeConfig,
    /// How many keys have been taken from the tree since it was created or loaded.
    changes: u64,
    /// When the last key taken was a leaf's first: that leaf, the node indices its split
    /// removed or created (what a store of the tree in pieces must rewrite besides the
    /// leaf's ratchets, see [`SecretTree::pieces_of_leaf`]) and the value of `changes`
    /// after it. Not stored: a loaded tree has none.
    last_split: Option<(u32, Vec<u32>, u64)>,
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
            changes: 0,
            last_split: None,
        })
    }

    fn check_leaf(&self, leaf: LeafIndex) -> Result<()> {
        if leaf.0 >= self.n_leaves {
            return Err(Error::LeafOutOfRange {
                index: leaf.0,
                leaves: self.n_leaves,
            });
        }
        Ok(())
    }

    /// Derives, without changing the tree, how the first use of `leaf` splits the lowest
    /// node on its path that still holds a secret.
    fn split_for<P: CryptoProvider + ?Sized>(&self, p: &P, leaf: LeafIndex) -> Result<Split> {
        let leaf_node = leaf.node();
        let mut path = vec![leaf_node];
        path.extend(math::direct_path(leaf_node, self.n_leaves));
        let start = path
            .iter()
            .position(|n| self.nodes.contains_key(&n.0))
            .ok_or(Error::InvalidState {
                reason: "secret tree leaf already consumed",
            })?;
        let top = *path.get(start).ok_or(Error::Internal("secret tree path"))?;
        let mut secret = self
            .nodes
            .get(&top.0)
            .ok_or(Error::Internal("secret tree node"))?
            .clone();
        let mut created = Vec::with_capacity(start);
        // Walk down from there: each node's secret splits into its children's; the child
        // off the path keeps its secret, the one on the path is split further.
        for i in (1..=start).rev() {
            let (Some(&node), Some(&on_path)) = (path.get(i), path.get(i - 1)) else {
                return Err(Error::Internal("secret tree path"));
            };
            let (l, r) = match (math::left(node), math::right(node)) {
                (Some(l), Some(r)) => (l, r),
                _ => return Err(Error::Internal("secret tree: leaf has no children")),
            };
            let ls = expand_with_label(p, secret.as_bytes(), b"tree", b"left", p.hash_len())?;
            let rs = expand_with_label(p, secret.as_bytes(), b"tree", b"right", p.hash_len())?;
            let (keep, off) = if on_path == l {
                (ls, (r, rs))
            } else {
                (rs, (l, ls))
            };
            if off.0.0 >= math::node_width(self.n_leaves) {
                return Err(Error::Internal("secret tree node index"));
            }
            created.push((off.0.0, off.1));
            secret = keep;
        }
        let hs = expand_with_label(p, secret.as_bytes(), b"handshake", &[], p.hash_len())?;
        let app = expand_with_label(p, secret.as_bytes(), b"application", &[], p.hash_len())?;
        Ok(Split {
            consumed: top.0,
            created,
            ratchets: LeafRatchets {
                handshake: HashRatchet::fresh(hs),
                application: HashRatchet::fresh(app),
            },
        })
    }

    /// Whether a first use of `leaf` that consumes node `consumed` still applies.
    fn check_split(&self, leaf: u32, consumed: u32) -> Result<()> {
        if self.leaves.contains_key(&leaf) || !self.nodes.contains_key(&consumed) {
            return Err(Error::InvalidState {
                reason: "a key change for a secret tree that already moved past it",
            });
        }
        Ok(())
    }

    /// Applies a split that [`SecretTree::check_split`] accepted.
    /// Returns the node indices it removed or created.
    fn apply_split(&mut self, leaf: u32, split: Split) -> Vec<u32> {
        self.nodes.remove(&split.consumed);
        let mut touched = vec![split.consumed];
        touched.extend(split.created.iter().map(|(i, _)| *i));
        self.nodes.extend(split.created);
        self.leaves.insert(leaf, split.ratchets);
        touched
    }

    /// Counts a key taken from `leaf`, remembering the nodes its split touched if any.
    fn count_change(&mut self, leaf: u32, split: Option<Vec<u32>>) {
        self.changes += 1;
        if let Some(nodes) = split {
            self.last_split = Some((leaf, nodes, self.changes));
        }
    }

    /// The key and nonce of `generation` for a message received from `leaf`, and the change
    /// that deletes it (and moves the ratchet past it) once the message is accepted. The
    /// tree is not changed, so staging a message twice yields the same key; after
    /// [`SecretTree::apply`] asking again fails with [`Error::GenerationConsumed`].
    ///
    /// # Errors
    /// [`Error::GenerationConsumed`], [`Error::GenerationTooFarAhead`],
    /// [`Error::LeafOutOfRange`].
    pub fn peek_key<P: CryptoProvider + ?Sized>(
        &self,
        p: &P,
        leaf: LeafIndex,
        ratchet: RatchetType,
        generation: u32,
    ) -> Result<(KeyNonce, KeyChange)> {
        self.check_leaf(leaf)?;
        let (split, (kn, step)) = match self.leaves.get(&leaf.0) {
            Some(r) => (
                None,
                r.get(ratchet).peek(p, leaf, generation, &self.config)?,
            ),
            None => {
                let split = self.split_for(p, leaf)?;
                let peeked = split
                    .ratchets
                    .get(ratchet)
                    .peek(p, leaf, generation, &self.config)?;
                (Some(split), peeked)
            }
        };
        Ok((
            kn,
            KeyChange {
                leaf: leaf.0,
                ratchet,
                split,
                step,
            },
        ))
    }

    /// Applies a change computed by [`SecretTree::peek_key`] on this tree in the same state.
    /// It is checked first: on error the tree is unchanged.
    ///
    /// # Errors
    /// [`Error::InvalidState`] for a change computed on a state this tree has moved past.
    pub fn apply(&mut self, change: KeyChange) -> Result<()> {
        let window = self.config.out_of_order_window as usize;
        let KeyChange {
            leaf,
            ratchet,
            split,
            step,
        } = change;
        match &split {
            // A fresh leaf's ratchets start at generation 0: every step applies to them.
            Some(split) => self.check_split(leaf, split.consumed)?,
            None => self
                .leaves
                .get(&leaf)
                .ok_or(Error::InvalidState {
                    reason: "a key change for a leaf whose ratchets do not exist",
                })?
                .get(ratchet)
                .check(&step)?,
        }
        let touched = split.map(|split| self.apply_split(leaf, split));
        if let Some(r) = self.leaves.get_mut(&leaf) {
            r.get_mut(ratchet).apply(step, window);
        }
        self.count_change(leaf, touched);
        Ok(())
    }

    /// [`SecretTree::peek_key`] and [`SecretTree::apply`] in one step: the key is deleted
    /// from the tree, so asking twice for the same generation fails with
    /// [`Error::GenerationConsumed`].
    ///
    /// # Errors
    /// As [`SecretTree::peek_key`].
    #[cfg(any(test, feature = "hazmat"))]
    pub fn key_for_generation<P: CryptoProvider + ?Sized>(
        &mut self,
        p: &P,
        leaf: LeafIndex,
        ratchet: RatchetType,
        generation: u32,
    ) -> Result<KeyNonce> {
        let (kn, change) = self.peek_key(p, leaf, ratchet, generation)?;
        self.apply(change)?;
        Ok(kn)
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
        self.check_leaf(leaf)?;
        let mut touched = None;
        if !self.leaves.contains_key(&leaf.0) {
            let split = self.split_for(p, leaf)?;
            self.check_split(leaf.0, split.consumed)?;
            touched = Some(self.apply_split(leaf.0, split));
        }
        let kn = self
            .leaves
            .get_mut(&leaf.0)
            .ok_or(Error::Internal("secret tree leaf ratchets"))?
            .get_mut(ratchet)
            .step(p);
        self.count_change(leaf.0, touched);
        kn
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

    #[test]
    fn peeking_changes_nothing_and_applying_consumes_the_key() {
        let p = RustCryptoSuite1::new();
        let config = SecretTreeConfig {
            out_of_order_window: 2,
            max_forward_distance: 10,
        };
        let mut t = SecretTree::new(Secret::zero(32), 8, config).unwrap();
        let mut reference = t.clone();
        let (a, change) = t
            .peek_key(&p, LeafIndex(5), RatchetType::Application, 4)
            .unwrap();
        let (b, _) = t
            .peek_key(&p, LeafIndex(5), RatchetType::Application, 4)
            .unwrap();
        assert_eq!(a.key, b.key);
        assert_eq!(t.nodes.len(), 1, "peeking split no node");
        assert!(t.leaves.is_empty());
        t.apply(change).unwrap();
        // The same key as the mutating path, and the same state after it.
        let c = reference
            .key_for_generation(&p, LeafIndex(5), RatchetType::Application, 4)
            .unwrap();
        assert_eq!(a.key, c.key);
        assert_eq!(a.nonce, c.nonce);
        let mut w1 = nipee_codec::Writer::new();
        let mut w2 = nipee_codec::Writer::new();
        t.write_state(&mut w1).unwrap();
        reference.write_state(&mut w2).unwrap();
        assert_eq!(w1.as_bytes(), w2.as_bytes());
        assert!(matches!(
            t.peek_key(&p, LeafIndex(5), RatchetType::Application, 4),
            Err(Error::GenerationConsumed { .. })
        ));
        // Of the skipped generations 0..4 only the newest two (the window) are kept.
        assert!(
            t.peek_key(&p, LeafIndex(5), RatchetType::Application, 1)
                .is_err()
        );
        let (_, ch) = t
            .peek_key(&p, LeafIndex(5), RatchetType::Application, 3)
            .unwrap();
        // A change computed before another one was applied is refused, not applied twice.
        let (_, stale) = t
            .peek_key(&p, LeafIndex(5), RatchetType::Application, 3)
            .unwrap();
        t.apply(ch).unwrap();
        assert!(matches!(t.apply(stale), Err(Error::InvalidState { .. })));
    }
}
