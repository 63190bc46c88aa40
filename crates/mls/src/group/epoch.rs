//! The state of one epoch (current, staged or retained) and the token that binds a staged
//! result to the exact group state it was computed on.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use nipee_keypackage::{Credential, LeafNode};

use crate::crypto::{CryptoProvider, Secret};
use crate::error::{Error, Result};
use crate::group_id::GroupId;
use crate::schedule::{EpochSecrets, GroupContext, mls_exporter};
use crate::secret_tree::{SecretTree, SecretTreeConfig};
use crate::tree::RatchetTree;
use crate::tree::math::LeafIndex;
use crate::tree::treekem::TreeKemPrivate;

/// A member of the group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Its leaf index.
    pub index: LeafIndex,
    /// Its credential.
    pub credential: Credential,
    /// Its signature public key.
    pub signature_key: [u8; 32],
    /// Its leaf's HPKE public key.
    pub encryption_key: [u8; 32],
}

impl Member {
    pub(crate) fn of(index: LeafIndex, leaf: &LeafNode) -> Self {
        Member {
            index,
            credential: leaf.credential.clone(),
            signature_key: leaf.signature_key,
            encryption_key: leaf.encryption_key,
        }
    }
}

/// The secrets of the current epoch the group keeps. Everything else the key schedule
/// derives (joiner, welcome, confirmation and encryption secrets) is dropped once used.
#[derive(Clone)]
pub(crate) struct EpochKeys {
    pub(crate) sender_data_secret: Secret,
    pub(crate) exporter_secret: Secret,
    pub(crate) membership_key: Secret,
    pub(crate) external_secret: Secret,
    pub(crate) resumption_psk: Secret,
    pub(crate) epoch_authenticator: Secret,
    pub(crate) init_secret: Secret,
    pub(crate) secret_tree: SecretTree,
}

impl EpochKeys {
    pub(crate) fn new(s: EpochSecrets, n_leaves: u32, cfg: SecretTreeConfig) -> Result<Self> {
        let EpochSecrets {
            sender_data_secret,
            encryption_secret,
            exporter_secret,
            external_secret,
            membership_key,
            resumption_psk,
            epoch_authenticator,
            init_secret,
            ..
        } = s;
        Ok(EpochKeys {
            sender_data_secret,
            exporter_secret,
            membership_key,
            external_secret,
            resumption_psk,
            epoch_authenticator,
            init_secret,
            secret_tree: SecretTree::new(encryption_secret, n_leaves, cfg)?,
        })
    }

    /// `MLS-Exporter(label, context, length)` (§8.5) of this epoch.
    pub(crate) fn export<P: CryptoProvider + ?Sized>(
        &self,
        p: &P,
        label: &[u8],
        context: &[u8],
        length: usize,
    ) -> Result<Secret> {
        mls_exporter(p, &self.exporter_secret, label, context, length)
    }

    /// Keys that hold nothing: what a removed member keeps of its last epoch (its secret
    /// tree was retired to the past epochs first).
    pub(crate) fn wiped(cfg: SecretTreeConfig) -> Result<Self> {
        Ok(EpochKeys {
            sender_data_secret: Secret::zero(0),
            exporter_secret: Secret::zero(0),
            membership_key: Secret::zero(0),
            external_secret: Secret::zero(0),
            resumption_psk: Secret::zero(0),
            epoch_authenticator: Secret::zero(0),
            init_secret: Secret::zero(0),
            secret_tree: SecretTree::new(Secret::zero(0), 1, cfg)?,
        })
    }
}

/// The state of one epoch, current or staged.
#[derive(Clone)]
pub(crate) struct EpochState {
    pub(crate) context: GroupContext,
    pub(crate) tree: RatchetTree,
    pub(crate) own: TreeKemPrivate,
    pub(crate) keys: EpochKeys,
    pub(crate) interim_transcript_hash: Vec<u8>,
    pub(crate) confirmation_tag: Vec<u8>,
    /// The node indices whose keys the UpdatePath of the commit that created this epoch
    /// replaced (the committer's leaf first); empty after a path-less commit or a join.
    pub(crate) last_commit_path: Vec<u32>,
}

/// What is kept of a past epoch: exactly what decrypting and authenticating its late
/// application messages needs.
#[derive(Clone)]
pub(crate) struct PastEpoch {
    pub(crate) context: GroupContext,
    pub(crate) sender_data_secret: Secret,
    /// The keys not yet used (consumed keys and split nodes are gone).
    pub(crate) secret_tree: SecretTree,
    /// Every leaf slot of that epoch (blank ones as `None`), shared with the tree they came
    /// from: a sender's signature key and credential are looked up here.
    pub(crate) leaves: Vec<Option<Arc<LeafNode>>>,
}

impl PastEpoch {
    pub(crate) fn leaf(&self, leaf: LeafIndex) -> Result<&Arc<LeafNode>> {
        self.leaves
            .get(leaf.0 as usize)
            .and_then(Option::as_ref)
            .ok_or(Error::InvalidSender {
                reason: "the sender's leaf was blank in that epoch",
            })
    }
}

/// A fresh value for [`Binding::stamp`], unique in this process.
pub(crate) fn next_stamp() -> u64 {
    static STAMPS: AtomicU64 = AtomicU64::new(1);
    STAMPS.fetch_add(1, Ordering::Relaxed)
}

/// Which group state a staged result was computed on: the group, its epoch, and the stamp
/// every change of the state (a merge, a commit, a discard, a message sent) replaces. A
/// staged result merges only into a group whose binding is still the same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Binding {
    pub(crate) group_id: GroupId,
    pub(crate) epoch: u64,
    pub(crate) stamp: u64,
}

impl Binding {
    /// Checks that a staged result with this binding can be merged into `current`.
    pub(crate) fn check(&self, current: &Binding) -> Result<()> {
        let reason = if self.group_id != current.group_id {
            "it was staged for another group"
        } else if self.epoch != current.epoch {
            "it was staged in another epoch"
        } else if self.stamp != current.stamp {
            "the group changed since it was staged"
        } else {
            return Ok(());
        };
        Err(Error::StaleStaged { reason })
    }
}
