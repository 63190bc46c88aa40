//! The group state stored in two parts, so that an application message costs a write of
//! what it changed, not of the group: [`Group::to_split_bytes`] gives the state without the
//! secret trees (format 4) and every piece of those trees (a node secret, or one leaf's
//! ratchets, of one epoch); [`Group::ratchet_pieces`] gives the O(log n) pieces a message
//! of one leaf can change; [`Group::from_split_bytes`] puts the two parts back together.
//!
//! Forward secrecy holds in what is stored as long as the caller replaces each piece it is
//! given (and deletes those given as `None`): a consumed key or ratchet secret lives only
//! in the piece that a message of its leaf rewrites.

use zeroize::Zeroizing;

use super::state::Group;
use crate::crypto::GroupProvider;
use crate::error::{Error, Result};
use crate::secret_tree::{SecretTree, TreeSlot};
use crate::tree::math::LeafIndex;

/// One piece of the secret tree of one epoch, as stored apart from the group state.
/// Secret material: its `Debug` shows where it belongs, not its bytes.
#[derive(Clone)]
pub struct RatchetPiece {
    /// The epoch whose secret tree it belongs to.
    pub epoch: u64,
    /// Where in that tree.
    pub slot: TreeSlot,
    /// Its bytes, or `None` when the tree no longer holds it (delete the stored piece).
    pub bytes: Option<Zeroizing<Vec<u8>>>,
}

impl core::fmt::Debug for RatchetPiece {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RatchetPiece")
            .field("epoch", &self.epoch)
            .field("slot", &self.slot)
            .field("len", &self.bytes.as_ref().map(|b| b.len()))
            .finish()
    }
}

impl<P: GroupProvider> Group<P> {
    /// The secret tree a message of `epoch` is read with: the current epoch's while we are
    /// a member, otherwise the retained past epoch's (as [`Group::merge`] picks it).
    fn tree_of(&self, epoch: u64) -> Option<&SecretTree> {
        if epoch == self.state.context.epoch && self.active {
            Some(&self.state.keys.secret_tree)
        } else {
            self.past_epochs
                .iter()
                .find(|e| e.context.epoch == epoch)
                .map(|e| &e.secret_tree)
        }
    }

    fn tree_of_mut(&mut self, epoch: u64) -> Option<&mut SecretTree> {
        if epoch == self.state.context.epoch && self.active {
            Some(&mut self.state.keys.secret_tree)
        } else {
            self.past_epochs
                .iter_mut()
                .find(|e| e.context.epoch == epoch)
                .map(|e| &mut e.secret_tree)
        }
    }

    /// The state without the secret trees of the current epoch (while we are a member) and
    /// of the retained past epochs, and every piece of those trees. The pending commit's
    /// next epoch keeps its tree inline. Both parts hold secrets: encrypt them at rest.
    ///
    /// # Errors
    /// Only for fields too long to encode.
    pub fn to_split_bytes(&self) -> Result<(Zeroizing<Vec<u8>>, Vec<RatchetPiece>)> {
        let state = self.encode_state(true)?;
        let mut pieces = Vec::new();
        let mut add = |epoch: u64, tree: &SecretTree| -> Result<()> {
            for (slot, bytes) in tree.pieces()? {
                pieces.push(RatchetPiece {
                    epoch,
                    slot,
                    bytes: Some(bytes),
                });
            }
            Ok(())
        };
        if self.active {
            add(self.state.context.epoch, &self.state.keys.secret_tree)?;
        }
        for e in &self.past_epochs {
            add(e.context.epoch, &e.secret_tree)?;
        }
        Ok((state, pieces))
    }

    /// The pieces of `epoch`'s secret tree that receiving a message of `leaf` in that
    /// epoch, or sending one from our own leaf, changed: the leaf's ratchets, and after the
    /// leaf's first message of the epoch the node secrets that first use consumed and
    /// created (O(log n), once per leaf and epoch). Store each (delete those whose bytes
    /// are `None`) to persist the message's effect. Call it after every message merged or
    /// sent, before the next one: which nodes a first use changed is reported only while
    /// it is the tree's last change (a state that was not persisted must be reloaded).
    ///
    /// # Errors
    /// [`Error::InvalidState`] for an epoch whose tree is neither current nor retained;
    /// [`Error::LeafOutOfRange`].
    pub fn ratchet_pieces(&self, epoch: u64, leaf: LeafIndex) -> Result<Vec<RatchetPiece>> {
        let tree = self.tree_of(epoch).ok_or(Error::InvalidState {
            reason: "no secret tree of that epoch is kept",
        })?;
        Ok(tree
            .pieces_of_leaf(leaf)?
            .into_iter()
            .map(|(slot, bytes)| RatchetPiece { epoch, slot, bytes })
            .collect())
    }

    /// Loads a state written by [`Group::to_split_bytes`] with the pieces stored since
    /// (each `(epoch, slot, bytes)` once). A whole state ([`Group::to_bytes`], formats 2
    /// and 3) loads too, with no pieces.
    ///
    /// # Errors
    /// As [`Group::from_bytes`]; [`Error::InvalidState`] for a piece of an epoch whose tree
    /// is not stored apart, or a piece stored twice;
    /// [`Error::MalformedField`], [`Error::Malformed`].
    pub fn from_split_bytes<'a>(
        provider: P,
        bytes: &[u8],
        pieces: impl IntoIterator<Item = (u64, TreeSlot, &'a [u8])>,
    ) -> Result<Self> {
        let (mut group, split) = Self::decode_state(provider, bytes)?;
        for (epoch, slot, piece) in pieces {
            let tree = if split {
                group.tree_of_mut(epoch)
            } else {
                // A whole state (format 2 or 3) has no pieces stored apart.
                None
            };
            tree.ok_or(Error::InvalidState {
                reason: "a stored secret-tree piece of an epoch whose tree is not stored apart",
            })?
            .insert_piece(slot, piece)?;
        }
        Ok(group)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::collections::BTreeMap;

    use nipee_keypackage::KeyPackageOptions;

    use super::super::tests::{NOW, members_with};
    use super::*;
    use crate::crypto::RustCryptoSuite1;
    use crate::group::{HandshakeFormat, MlsMessageIn, Staged};

    type Store = BTreeMap<(u64, TreeSlot), Zeroizing<Vec<u8>>>;

    fn store_all(pieces: Vec<RatchetPiece>) -> Store {
        pieces
            .into_iter()
            .map(|p| ((p.epoch, p.slot), p.bytes.unwrap()))
            .collect()
    }

    fn update(store: &mut Store, pieces: Vec<RatchetPiece>) {
        for p in pieces {
            match p.bytes {
                Some(b) => store.insert((p.epoch, p.slot), b),
                None => store.remove(&(p.epoch, p.slot)),
            };
        }
    }

    fn load(state: &[u8], store: &Store) -> Group {
        Group::from_split_bytes(
            RustCryptoSuite1::new(),
            state,
            store.iter().map(|((e, s), b)| (*e, *s, b.as_slice())),
        )
        .unwrap()
    }

    /// Receives `bytes` in `g` and stores what it changed.
    fn receive(g: &mut Group, store: &mut Store, bytes: &[u8]) -> crate::error::Result<()> {
        let staged = g.stage(&MlsMessageIn::parse(bytes).unwrap())?;
        let Staged::Application(app) = staged else {
            panic!("not an application message")
        };
        let (epoch, leaf) = (app.epoch(), app.sender());
        g.merge(Staged::Application(app)).unwrap();
        update(store, g.ratchet_pieces(epoch, leaf).unwrap());
        Ok(())
    }

    #[test]
    fn a_group_stored_in_pieces_reloads_to_the_same_state_and_keeps_no_used_key() {
        let mut g = members_with(8, HandshakeFormat::Private, &KeyPackageOptions::new(NOW));
        let (state, pieces) = g[1].to_split_bytes().unwrap();
        let mut store = store_all(pieces);
        let m1 = g[0].create_message(b"one", &[]).unwrap();
        let m2 = g[0].create_message(b"two", &[]).unwrap();
        let m3 = g[0].create_message(b"three", &[]).unwrap();
        let late = g[5].create_message(b"late", &[]).unwrap();
        receive(&mut g[1], &mut store, &m1).unwrap();
        receive(&mut g[1], &mut store, &m3).unwrap();
        // Sending: our own leaf's pieces.
        let epoch = g[1].epoch();
        let own = g[1].create_message(b"from one", &[]).unwrap();
        update(
            &mut store,
            g[1].ratchet_pieces(epoch, g[1].own_leaf()).unwrap(),
        );

        // The state (written before the messages) with the pieces is the state now.
        let mut reloaded = load(&state, &store);
        assert_eq!(
            reloaded.to_bytes().unwrap().as_slice(),
            g[1].to_bytes().unwrap().as_slice()
        );
        // Used keys are gone from what is stored; the skipped one is still there once.
        assert!(receive(&mut reloaded, &mut store, &m3).is_err());
        assert!(receive(&mut reloaded, &mut store, &m1).is_err());
        receive(&mut reloaded, &mut store, &m2).unwrap();
        assert!(matches!(
            g[0].stage(&MlsMessageIn::parse(&own).unwrap()),
            Ok(Staged::Application(_))
        ));
        let next = reloaded.create_message(b"again", &[]).unwrap();
        assert!(g[0].stage(&MlsMessageIn::parse(&next).unwrap()).is_ok());

        // After a commit the whole state is written again; a late message of the past
        // epoch then changes only that epoch's pieces.
        let out = g[0].self_update().unwrap();
        g[0].merge_pending_commit().unwrap();
        let Staged::Commit(c) = reloaded
            .stage(&MlsMessageIn::parse(&out.commit).unwrap())
            .unwrap()
        else {
            panic!("not a commit")
        };
        reloaded.merge(Staged::Commit(c)).unwrap();
        let (state, pieces) = reloaded.to_split_bytes().unwrap();
        let mut store = store_all(pieces);
        assert!(
            store.keys().any(|(e, _)| *e == epoch) && store.keys().any(|(e, _)| *e == epoch + 1)
        );
        receive(&mut reloaded, &mut store, &late).unwrap();
        let mut again = load(&state, &store);
        assert_eq!(
            again.to_bytes().unwrap().as_slice(),
            reloaded.to_bytes().unwrap().as_slice()
        );
        assert!(receive(&mut again, &mut store, &late).is_err());
        // Whole states load through the same door; a split state does not load whole.
        assert!(Group::from_bytes(RustCryptoSuite1::new(), &state).is_err());
        let whole = again.to_bytes().unwrap();
        let none: [(u64, TreeSlot, &[u8]); 0] = [];
        assert!(Group::from_split_bytes(RustCryptoSuite1::new(), &whole, none).is_ok());
        let one = [(epoch, TreeSlot::Node(0), &[0u8][..])];
        assert!(Group::from_split_bytes(RustCryptoSuite1::new(), &whole, one).is_err());
    }

    #[test]
    fn the_pieces_of_one_message_do_not_grow_with_the_group() {
        let small = members_with(4, HandshakeFormat::Private, &KeyPackageOptions::new(NOW));
        let large = members_with(64, HandshakeFormat::Private, &KeyPackageOptions::new(NOW));
        let bytes = |p: &[RatchetPiece]| {
            p.iter()
                .filter_map(|p| p.bytes.as_ref())
                .map(|b| b.len())
                .sum::<usize>()
        };
        let size = |mut g: Vec<Group>| {
            let m = g[2].create_message(b"hello", &[]).unwrap();
            let mut store = Store::new();
            receive(&mut g[1], &mut store, &m).unwrap();
            let leaf = g[2].own_leaf();
            let first = g[1].ratchet_pieces(g[1].epoch(), leaf).unwrap();
            // The same leaf's next message: its ratchets only.
            let next = g[2].create_message(b"next", &[]).unwrap();
            receive(&mut g[1], &mut store, &next).unwrap();
            let again = g[1].ratchet_pieces(g[1].epoch(), leaf).unwrap();
            assert_eq!(again.len(), 1);
            // Another leaf's first use, then the first leaf's next message.
            let other = g[3].create_message(b"other", &[]).unwrap();
            receive(&mut g[1], &mut store, &other).unwrap();
            let m = g[2].create_message(b"again", &[]).unwrap();
            receive(&mut g[1], &mut store, &m).unwrap();
            assert_eq!(g[1].ratchet_pieces(g[1].epoch(), leaf).unwrap().len(), 1);
            (first.len(), bytes(&first), bytes(&again))
        };
        let (n_small, b_small, again_small) = size(small);
        let (n_large, b_large, again_large) = size(large);
        // A leaf's first message splits the tree down to it: one node secret more per
        // level. Its next messages rewrite its ratchets only, whatever the group's size.
        assert_eq!(again_small, again_large);
        assert!(n_large <= n_small + 4, "{n_small} -> {n_large}");
        assert!(b_large <= b_small + 4 * 33, "{b_small} -> {b_large}");
    }
}
