//! [`Group`]: one member's state of one group, how it is created, and what can be read from
//! it.

use std::collections::VecDeque;

use nipee_keypackage::{KeyPackageBundle, LeafNodeContext, LifetimeCheck, SignatureSecretKey};

use super::config::GroupConfig;
use super::epoch::{Binding, EpochKeys, EpochState, Member, PastEpoch, next_stamp};
use super::ext;
use super::staged::StagedCommit;
use crate::crypto::{GroupProvider, HpkePrivateKey, RustCryptoSuite1, Secret};
use crate::error::{Error, Result};
use crate::extensions::Extension;
use crate::framing::{Proposal, Sender};
use crate::group_id::GroupId;
use crate::schedule::{EpochSecrets, GroupContext};
use crate::tree::RatchetTree;
use crate::tree::math::LeafIndex;
use crate::tree::treekem::TreeKemPrivate;

/// A proposal received (or sent) in the current epoch, by reference.
#[derive(Debug, Clone)]
pub(crate) struct CachedProposal {
    pub(crate) reference: Vec<u8>,
    pub(crate) sender: Sender,
    pub(crate) proposal: Proposal,
}

/// Our commit, staged until it is merged or discarded: the same view a receiver gets, and
/// the bytes we sent (to recognise the echo).
pub(crate) struct PendingState<P: GroupProvider> {
    pub(crate) staged: StagedCommit<P>,
    pub(crate) message: Vec<u8>,
}

/// An MLS group as seen by one member.
///
/// What it keeps, and for how long, is listed in the crate documentation ("What a group
/// keeps").
pub struct Group<P: GroupProvider = RustCryptoSuite1> {
    pub(crate) provider: P,
    pub(crate) config: GroupConfig,
    pub(crate) state: EpochState,
    /// Our signature private key; `None` once a commit removed us.
    pub(crate) signer: Option<SignatureSecretKey>,
    pub(crate) proposals: Vec<CachedProposal>,
    /// Leaf private keys of our Update proposals of this epoch, by ProposalRef.
    pub(crate) pending_updates: Vec<(Vec<u8>, HpkePrivateKey)>,
    /// Retained past epochs, oldest first, at most `config.max_past_epochs`.
    pub(crate) past_epochs: VecDeque<PastEpoch>,
    /// Resumption PSKs of past epochs, oldest first.
    pub(crate) resumption_psks: VecDeque<(u64, Secret)>,
    /// External PSKs known to this member.
    pub(crate) external_psks: Vec<(Vec<u8>, Secret)>,
    pub(crate) pending: Option<Box<PendingState<P>>>,
    pub(crate) active: bool,
    /// Replaced on every change of the state, so that a staged result computed before the
    /// change no longer merges (see [`Binding`]). Not persisted: a loaded group gets a
    /// fresh one.
    pub(crate) stamp: u64,
}

impl<P: GroupProvider> core::fmt::Debug for Group<P> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Group")
            .field("group_id", &self.state.context.group_id)
            .field("epoch", &self.state.context.epoch)
            .field("own_leaf", &self.own_leaf())
            .field("members", &self.state.tree.leaves().count())
            .field("active", &self.active)
            .finish_non_exhaustive()
    }
}

impl<P: GroupProvider> Group<P> {
    /// A group in `state` with nothing else yet (no proposals, past epochs or PSKs).
    pub(crate) fn assemble(
        provider: P,
        config: GroupConfig,
        state: EpochState,
        signer: SignatureSecretKey,
        external_psks: Vec<(Vec<u8>, Secret)>,
    ) -> Self {
        Group {
            provider,
            config,
            state,
            signer: Some(signer),
            proposals: vec![],
            pending_updates: vec![],
            past_epochs: VecDeque::new(),
            resumption_psks: VecDeque::new(),
            external_psks,
            pending: None,
            active: true,
            stamp: next_stamp(),
        }
    }

    /// Creates a one-member group (§11) with the leaf of `bundle` (whose KeyPackage supplies
    /// our LeafNode, its private key and our signature key) and the GroupContext
    /// `extensions` (for example `required_capabilities` and NIP-EE's `nostr_group_data`).
    ///
    /// # Errors
    /// [`Error::NotSupportedByUs`] if our leaf, without its GREASE values, does not
    /// support the extensions (a GREASE extension among them included),
    /// [`Error::KeyPackage`] for an invalid leaf, and crypto failures.
    pub fn create(
        provider: P,
        config: GroupConfig,
        group_id: GroupId,
        bundle: KeyPackageBundle,
        extensions: Vec<Extension>,
    ) -> Result<Self> {
        let (key_package, _, encryption_secret, signature_secret) = bundle.into_parts();
        let p = &provider;
        let leaf = key_package.leaf_node;
        leaf.validate(&config.leaf_policy(), LeafNodeContext::KeyPackage)?;
        ext::check_extensions_list(&extensions)?;
        let required = ext::required_capabilities(&extensions)?;
        // GREASE "MUST NOT be sent in ... `GroupContext.extensions`" (§13.5): by our own
        // capabilities without GREASE, we support none.
        let in_use = [leaf.credential.credential_type()];
        ext::check_we_support(&leaf.capabilities, &extensions, &required, in_use)?;
        ext::check_leaf_supports(&leaf, &extensions, &required)?;
        let tree = RatchetTree::new(p, leaf)?;
        let context = GroupContext {
            version: crate::framing::MLS10,
            cipher_suite: p.cipher_suite(),
            group_id,
            epoch: 0,
            tree_hash: tree.tree_hash().to_vec(),
            confirmed_transcript_hash: vec![],
            extensions,
        };
        let mut init = Secret::zero(p.hash_len());
        p.random_fill(init.as_mut_bytes())?;
        let secrets = EpochSecrets::derive(p, &init, None, None, &context.encode()?)?;
        let confirmation_tag = crate::schedule::confirmation_tag(
            p,
            &secrets.confirmation_key,
            &context.confirmed_transcript_hash,
        )?;
        let interim = crate::schedule::interim_transcript_hash(
            p,
            &context.confirmed_transcript_hash,
            &confirmation_tag,
        )?;
        let own = TreeKemPrivate::new(
            LeafIndex(0),
            HpkePrivateKey::from_slice(encryption_secret.expose_secret()),
        );
        let epoch_keys = EpochKeys::new(secrets, tree.n_leaves(), config.secret_tree)?;
        let state = EpochState {
            context,
            tree,
            own,
            keys: epoch_keys,
            interim_transcript_hash: interim,
            confirmation_tag,
            last_commit_path: vec![],
        };
        Ok(Group::assemble(
            provider,
            config,
            state,
            signature_secret,
            vec![],
        ))
    }

    // ----- queries -----

    /// The group identifier.
    pub fn group_id(&self) -> &GroupId {
        &self.state.context.group_id
    }

    /// The current epoch (after a commit removed us, the epoch we were removed from).
    pub fn epoch(&self) -> u64 {
        self.state.context.epoch
    }

    /// The current GroupContext.
    pub fn context(&self) -> &GroupContext {
        &self.state.context
    }

    /// The GroupContext extensions.
    pub fn extensions(&self) -> &[Extension] {
        &self.state.context.extensions
    }

    /// The current ratchet tree (feature `hazmat`; [`Group::tree_nodes`] is the public
    /// view).
    #[cfg(feature = "hazmat")]
    pub fn tree(&self) -> &RatchetTree {
        &self.state.tree
    }

    /// The current ratchet tree, encoded as the `ratchet_tree` extension holds it: for a
    /// tree sent out of band (§12.4.3.3), which a joiner passes to [`Group::join`].
    ///
    /// # Errors
    /// Only for a tree too large to encode.
    pub fn encoded_tree(&self) -> Result<Vec<u8>> {
        self.state.tree.encode()
    }

    /// The configuration.
    pub fn config(&self) -> &GroupConfig {
        &self.config
    }

    /// Changes the configuration (for example the `now` of the KeyPackage policy). Staged
    /// results stay mergeable: they were checked under the configuration of their staging.
    pub fn set_config(&mut self, config: GroupConfig) {
        self.config = config;
    }

    /// Sets the time (seconds since the Unix epoch) KeyPackage lifetimes are checked
    /// against; the caller owns the clock.
    pub fn set_now(&mut self, now: u64) {
        self.config.key_package_policy.lifetime = LifetimeCheck::At(now);
    }

    /// Our leaf index.
    pub fn own_leaf(&self) -> LeafIndex {
        self.state.own.own_leaf()
    }

    /// Whether we are still a member (false after a commit removed us).
    pub fn is_active(&self) -> bool {
        self.active
    }

    /// Whether one of our commits awaits [`Group::merge_pending_commit`].
    pub fn has_pending_commit(&self) -> bool {
        self.pending.is_some()
    }

    /// Our pending commit as every receiver will see it (the same [`StagedCommit`] view,
    /// with [`StagedCommit::is_own`]), so that the application can check it against its
    /// rules before publishing it, and [`Group::discard_pending_commit`] if it refuses.
    pub fn pending_commit(&self) -> Option<&StagedCommit<P>> {
        self.pending.as_ref().map(|p| &p.staged)
    }

    /// The members with their leaf indices and credentials.
    pub fn members(&self) -> Vec<Member> {
        self.state
            .tree
            .leaves()
            .map(|(index, l)| Member::of(index, l))
            .collect()
    }

    /// The member at `index`, if the leaf is not blank.
    pub fn member(&self, index: LeafIndex) -> Option<Member> {
        self.state.tree.leaf(index).map(|l| Member::of(index, l))
    }

    /// The epoch authenticator (§8.7) of the current epoch (empty after a commit removed
    /// us).
    pub fn epoch_authenticator(&self) -> &Secret {
        &self.state.keys.epoch_authenticator
    }

    /// `MLS-Exporter(label, context, length)` (§8.5) of the current epoch.
    ///
    /// # Errors
    /// [`Error::Misuse`] after a commit removed us, [`Error::LengthTooLarge`].
    pub fn export_secret(&self, label: &[u8], context: &[u8], length: usize) -> Result<Secret> {
        self.check_active()?;
        self.state
            .keys
            .export(&self.provider, label, context, length)
    }

    /// The resumption PSK of the current epoch (empty after a commit removed us).
    pub fn resumption_psk(&self) -> &Secret {
        &self.state.keys.resumption_psk
    }

    /// The proposals received (or sent) in this epoch and not yet committed.
    pub fn pending_proposals(&self) -> Vec<(Sender, Proposal)> {
        self.proposals
            .iter()
            .map(|c| (c.sender, c.proposal.clone()))
            .collect()
    }

    /// Stores an external PSK (§8.4) for use in PreSharedKey proposals.
    pub fn add_external_psk(&mut self, psk_id: Vec<u8>, secret: Secret) {
        self.external_psks.retain(|(id, _)| *id != psk_id);
        self.external_psks.push((psk_id, secret));
    }

    // ----- internals shared by the other modules -----

    pub(crate) fn check_active(&self) -> Result<()> {
        if self.active {
            Ok(())
        } else {
            Err(Error::Misuse("we are no longer a member of this group"))
        }
    }

    /// Our signature private key.
    pub(crate) fn signer(&self) -> Result<&SignatureSecretKey> {
        self.signer
            .as_ref()
            .ok_or(Error::Misuse("we are no longer a member of this group"))
    }

    /// The binding of a result staged on the current state.
    pub(crate) fn binding(&self) -> Binding {
        Binding {
            group_id: self.state.context.group_id.clone(),
            epoch: self.state.context.epoch,
            stamp: self.stamp,
        }
    }

    /// Records that the state changed: results staged before no longer merge.
    pub(crate) fn touch(&mut self) {
        self.stamp = next_stamp();
    }

    /// The resumption PSK of `epoch` of this group, if retained.
    pub(crate) fn resumption_psk_of(&self, epoch: u64) -> Option<&Secret> {
        if epoch == self.state.context.epoch {
            return Some(&self.state.keys.resumption_psk);
        }
        self.resumption_psks
            .iter()
            .find(|(e, _)| *e == epoch)
            .map(|(_, s)| s)
    }
}
