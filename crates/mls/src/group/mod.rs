//! The group state machine (RFC 9420 §11–§12): creating a group, joining from a Welcome or
//! by external commit, proposals (by value and by reference), commits (two-phase for the
//! committer, atomic for receivers), Welcome messages, application messages with retained
//! past epochs, exporter and epoch authenticator, an application policy hook, and versioned
//! persistence.
//!
//! Invariants:
//! * Processing an incoming message either succeeds or leaves the group exactly as it was: a
//!   commit is staged on copies of the tree, the private path keys and the secret tree, and
//!   swapped in only after every check of §12.4.2 passed (including the confirmation tag).
//! * A commit we create is not applied until [`Group::merge_pending_commit`]; until then the
//!   group stays in its epoch and the pending state is part of the persisted state.
//! * Secrets of past epochs are kept for [`GroupConfig::max_past_epochs`] epochs (only what
//!   decrypting late application messages needs) and then dropped.

mod commit;
pub mod ext;
mod join;
#[cfg(feature = "own-commit-recovery")]
mod own_commit;
mod persist;
#[cfg(test)]
mod tests;
#[cfg(feature = "test-vectors")]
pub mod vectors;

use std::collections::VecDeque;

use nipee_codec::Encode;
use nipee_keypackage::{
    Credential, KeyPackage, KeyPackageBundle, LeafNode, LeafNodeContext, LeafNodeSource,
    LifetimeCheck, SignatureSecretKey, ValidationPolicy,
};

use crate::crypto::{
    HpkePrivateKey, RustCryptoSuite1, Secret, ct_eq, derive_secret, expand_with_label,
};
use crate::error::{Error, Result};
use crate::framing::{
    AuthenticatedContent, Content, ContentType, FramedContent, FramedContentAuthData, MlsMessage,
    MlsMessageBody, PrivateMessage, Proposal, PublicMessage, WireFormat, sign_framed_content,
};
use crate::schedule::{EpochSecrets, GroupContext, PreSharedKeyId};
use crate::secret_tree::{SecretTree, SecretTreeConfig};
use crate::tree::RatchetTree;
use crate::tree::math::LeafIndex;
use crate::tree::treekem::TreeKemPrivate;

pub use crate::crypto::{GroupProvider, SealJob};
pub use crate::framing::Sender;
pub use commit::{CommitOptions, CommitOutput, CommitSummary, PendingCommit};
pub use ext::{ExternalSender, RequiredCapabilities};
pub use join::{JoinKeys, welcome_key_package_refs};
#[cfg(feature = "own-commit-recovery")]
pub use own_commit::OwnCommitSecrets;
pub use persist::{STATE_MAGIC, STATE_VERSION};

/// How handshake messages (proposals and commits) are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeFormat {
    /// As PublicMessage (signed, membership tag).
    Public,
    /// As PrivateMessage (encrypted under the handshake ratchet).
    Private,
}

/// Settings of a group member. Not part of the protocol: each member chooses its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupConfig {
    /// How our proposals and commits are sent.
    pub handshake_format: HandshakeFormat,
    /// PrivateMessage plaintexts are padded with zero bytes to a multiple of this many bytes
    /// (0 or 1: no padding).
    pub padding_block: u16,
    /// How many past epochs' decryption secrets are kept for late application messages.
    pub max_past_epochs: u16,
    /// Out-of-order window and forward distance of the secret tree ratchets.
    pub secret_tree: SecretTreeConfig,
    /// Whether GroupInfos (in Welcomes) carry the `ratchet_tree` extension.
    pub ratchet_tree_extension: bool,
    /// Whether every commit we create carries an UpdatePath, even where §12.4 allows none.
    pub always_path: bool,
    /// How many past epochs' resumption PSKs are kept.
    pub max_resumption_psks: u16,
    /// How KeyPackages in Add proposals and Welcomes are validated (lifetime at the caller's
    /// `now`). LeafNodes received inside a tree or a commit are never checked against the
    /// clock (§7.3 makes that optional; they may have expired in transit).
    pub key_package_policy: ValidationPolicy,
}

impl GroupConfig {
    /// Defaults: handshake as PrivateMessage, no padding, 3 past epochs, the ratchet tree in
    /// Welcomes, a path only where required, 16 resumption PSKs, KeyPackage lifetimes
    /// checked at `now` (seconds since the Unix epoch).
    pub fn new(now: u64) -> Self {
        GroupConfig {
            handshake_format: HandshakeFormat::Private,
            padding_block: 0,
            max_past_epochs: 3,
            secret_tree: SecretTreeConfig::default(),
            ratchet_tree_extension: true,
            always_path: false,
            max_resumption_psks: 16,
            key_package_policy: ValidationPolicy::at(now),
        }
    }

    fn leaf_policy(&self) -> ValidationPolicy {
        let mut p = self.key_package_policy.clone();
        p.lifetime = LifetimeCheck::Skip;
        p.max_lifetime_secs = None;
        p
    }
}

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

/// What the application sees when its policy is asked (read-only view of the group in the
/// epoch the message belongs to).
#[derive(Debug, Clone, Copy)]
pub struct PolicyView<'a> {
    /// The current GroupContext.
    pub context: &'a GroupContext,
    /// The current ratchet tree.
    pub tree: &'a RatchetTree,
    /// Our leaf.
    pub own_leaf: LeafIndex,
}

impl PolicyView<'_> {
    /// The credential of a member sender, if the sender is a member.
    pub fn credential_of(&self, sender: &Sender) -> Option<&Credential> {
        match sender {
            Sender::Member(i) => self.tree.leaf(LeafIndex(*i)).map(|l| &l.credential),
            _ => None,
        }
    }
}

/// The application's rules (for NIP-EE, the admin rules), consulted BEFORE anything is
/// stored or applied. Returning `Err(reason)` rejects the message with
/// [`Error::RejectedByPolicy`] and leaves the group unchanged.
pub trait GroupPolicy {
    /// Decides on a proposal received on its own (to be cached for a later commit).
    ///
    /// # Errors
    /// The reason for rejecting it.
    fn check_proposal(
        &self,
        view: &PolicyView<'_>,
        sender: &Sender,
        proposal: &Proposal,
    ) -> core::result::Result<(), String> {
        let _ = (view, sender, proposal);
        Ok(())
    }

    /// Decides on a commit: its sender and every proposal it carries with each proposal's
    /// original sender.
    ///
    /// # Errors
    /// The reason for rejecting it.
    fn check_commit(
        &self,
        view: &PolicyView<'_>,
        committer: &Sender,
        proposals: &[(Sender, Proposal)],
    ) -> core::result::Result<(), String> {
        let _ = (view, committer, proposals);
        Ok(())
    }
}

/// The policy that accepts everything RFC 9420 accepts.
#[derive(Debug, Clone, Copy, Default)]
pub struct AcceptAll;

impl GroupPolicy for AcceptAll {}

/// What processing an incoming message did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProcessedMessage {
    /// An application message.
    Application {
        /// The sender's leaf.
        sender: LeafIndex,
        /// The epoch it was sent in (possibly a retained past epoch).
        epoch: u64,
        /// The application data.
        data: Vec<u8>,
        /// The authenticated (unencrypted) data.
        authenticated_data: Vec<u8>,
    },
    /// A proposal, validated and stored for a later commit of this epoch.
    ProposalStored {
        /// Who proposed it.
        sender: Sender,
        /// The proposal.
        proposal: Proposal,
        /// Its ProposalRef.
        reference: Vec<u8>,
    },
    /// Another member's commit, verified and applied: the group is in a new epoch.
    CommitApplied(CommitSummary),
    /// Our own commit came back (e.g. echoed by a relay) and our pending commit was merged.
    OwnCommitMerged(CommitSummary),
    /// A commit removed us: the group is no longer active (past epochs still decrypt).
    Removed(CommitSummary),
}

/// The secrets of the current epoch the group keeps.
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
}

/// What is kept of a past epoch: enough to decrypt late application messages.
pub(crate) struct PastEpoch {
    pub(crate) context: GroupContext,
    pub(crate) sender_data_secret: Secret,
    pub(crate) secret_tree: SecretTree,
    /// The signature key of every leaf of that epoch (None for blanks).
    pub(crate) signature_keys: Vec<Option<[u8; 32]>>,
}

/// A proposal received (or sent) in the current epoch, by reference.
#[derive(Debug, Clone)]
pub(crate) struct CachedProposal {
    pub(crate) reference: Vec<u8>,
    pub(crate) sender: Sender,
    pub(crate) proposal: Proposal,
}

/// The state of one epoch, current or staged.
pub(crate) struct EpochState {
    pub(crate) context: GroupContext,
    pub(crate) tree: RatchetTree,
    pub(crate) own: TreeKemPrivate,
    pub(crate) keys: EpochKeys,
    pub(crate) interim_transcript_hash: Vec<u8>,
    pub(crate) confirmation_tag: Vec<u8>,
}

/// Our commit, staged until the application confirms or discards it.
pub(crate) struct PendingState {
    pub(crate) next: EpochState,
    pub(crate) message: Vec<u8>,
    pub(crate) summary: CommitSummary,
    /// Set when the commit removed us... never for our own commit; kept for symmetry.
    pub(crate) new_signer: Option<SignatureSecretKey>,
}

/// An MLS group as seen by one member.
pub struct Group<P: GroupProvider = RustCryptoSuite1> {
    pub(crate) provider: P,
    pub(crate) config: GroupConfig,
    pub(crate) state: EpochState,
    pub(crate) signer: SignatureSecretKey,
    pub(crate) proposals: Vec<CachedProposal>,
    /// Leaf private keys of our Update proposals of this epoch, by ProposalRef.
    pub(crate) pending_updates: Vec<(Vec<u8>, HpkePrivateKey)>,
    pub(crate) past_epochs: VecDeque<PastEpoch>,
    /// Resumption PSKs of past epochs, oldest first.
    pub(crate) resumption_psks: VecDeque<(u64, Secret)>,
    /// External PSKs known to this member.
    pub(crate) external_psks: Vec<(Vec<u8>, Secret)>,
    pub(crate) pending: Option<Box<PendingState>>,
    pub(crate) active: bool,
}

impl<P: GroupProvider> core::fmt::Debug for Group<P> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Group")
            .field("group_id", &self.state.context.group_id)
            .field("epoch", &self.state.context.epoch)
            .field("own_leaf", &self.own_leaf())
            .field("members", &self.state.tree.leaves().count())
            .finish_non_exhaustive()
    }
}

impl<P: GroupProvider> Group<P> {
    /// Creates a one-member group (§11) with the leaf of `bundle` (whose KeyPackage supplies
    /// our LeafNode, its private key and our signature key) and the GroupContext
    /// `extensions` (for example `required_capabilities` and NIP-EE's `nostr_group_data`).
    ///
    /// # Errors
    /// [`Error::CapabilityMissing`] if our leaf does not support the extensions,
    /// [`Error::KeyPackage`] for an invalid leaf, and crypto failures.
    pub fn create(
        provider: P,
        config: GroupConfig,
        group_id: Vec<u8>,
        bundle: KeyPackageBundle,
        extensions: Vec<Extension>,
    ) -> Result<Self> {
        let keys = JoinKeys::from(bundle);
        let p = &provider;
        let leaf = keys.key_package.leaf_node.clone();
        leaf.validate(&config.leaf_policy(), LeafNodeContext::KeyPackage)?;
        crate::group::commit::check_extensions_list(&extensions)?;
        let required = ext::required_capabilities(&extensions)?;
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
        let own = TreeKemPrivate::new(LeafIndex(0), keys.encryption_secret);
        let epoch_keys = EpochKeys::new(secrets, tree.n_leaves(), config.secret_tree)?;
        Ok(Group {
            provider,
            config,
            state: EpochState {
                context,
                tree,
                own,
                keys: epoch_keys,
                interim_transcript_hash: interim,
                confirmation_tag,
            },
            signer: keys.signature_secret,
            proposals: vec![],
            pending_updates: vec![],
            past_epochs: VecDeque::new(),
            resumption_psks: VecDeque::new(),
            external_psks: vec![],
            pending: None,
            active: true,
        })
    }

    // ----- queries -----

    /// The group identifier.
    pub fn group_id(&self) -> &[u8] {
        &self.state.context.group_id
    }

    /// The current epoch.
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

    /// The current ratchet tree.
    pub fn tree(&self) -> &RatchetTree {
        &self.state.tree
    }

    /// The configuration.
    pub fn config(&self) -> &GroupConfig {
        &self.config
    }

    /// Changes the configuration (for example the `now` of the KeyPackage policy).
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

    /// The members with their leaf indices and credentials.
    pub fn members(&self) -> Vec<Member> {
        self.state
            .tree
            .leaves()
            .map(|(index, l)| Member {
                index,
                credential: l.credential.clone(),
                signature_key: l.signature_key,
                encryption_key: l.encryption_key,
            })
            .collect()
    }

    /// The member at `index`, if the leaf is not blank.
    pub fn member(&self, index: LeafIndex) -> Option<Member> {
        self.state.tree.leaf(index).map(|l| Member {
            index,
            credential: l.credential.clone(),
            signature_key: l.signature_key,
            encryption_key: l.encryption_key,
        })
    }

    /// The epoch authenticator (§8.7) of the current epoch.
    pub fn epoch_authenticator(&self) -> &Secret {
        &self.state.keys.epoch_authenticator
    }

    /// `MLS-Exporter(label, context, length)` (§8.5) of the current epoch.
    ///
    /// # Errors
    /// [`Error::LengthTooLarge`].
    pub fn export_secret(&self, label: &[u8], context: &[u8], length: usize) -> Result<Secret> {
        let p = &self.provider;
        let derived = derive_secret(p, self.state.keys.exporter_secret.as_bytes(), label)?;
        expand_with_label(p, derived.as_bytes(), b"exported", &p.hash(context), length)
    }

    /// The resumption PSK of the current epoch.
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

    fn view(&self) -> PolicyView<'_> {
        PolicyView {
            context: &self.state.context,
            tree: &self.state.tree,
            own_leaf: self.own_leaf(),
        }
    }

    fn check_active(&self) -> Result<()> {
        if self.active {
            Ok(())
        } else {
            Err(Error::Misuse("we are no longer a member of this group"))
        }
    }

    // ----- sending -----

    fn padding_for(&self, content: &FramedContent) -> Result<usize> {
        let block = usize::from(self.config.padding_block);
        if block <= 1 {
            return Ok(0);
        }
        let mut w = nipee_codec::Writer::new();
        content.content.write_body(&mut w)?;
        // Signature (64 bytes + 1 length byte) and, for commits, the tag (32 + 1).
        let mut len = w.len() + 65;
        if content.content.content_type() == ContentType::Commit {
            len += 33;
        }
        Ok((block - len % block) % block)
    }

    /// Frames `content` in our current epoch as `format` and returns the MLSMessage with the
    /// signature (for ProposalRefs and transcript hashes).
    pub(crate) fn protect(
        &mut self,
        content: FramedContent,
        confirmation_tag: Option<Vec<u8>>,
        format: HandshakeFormat,
    ) -> Result<MlsMessage> {
        let p = &self.provider;
        let body = match format {
            HandshakeFormat::Public => {
                MlsMessageBody::PublicMessage(Box::new(PublicMessage::protect(
                    p,
                    content,
                    &self.signer,
                    &self.state.context,
                    &self.state.keys.membership_key,
                    confirmation_tag,
                )?))
            }
            HandshakeFormat::Private => {
                let padding = self.padding_for(&content)?;
                let p = &self.provider;
                MlsMessageBody::PrivateMessage(Box::new(PrivateMessage::protect(
                    p,
                    &content,
                    &self.signer,
                    &self.state.context,
                    &mut self.state.keys.secret_tree,
                    &self.state.keys.sender_data_secret,
                    confirmation_tag,
                    padding,
                )?))
            }
        };
        Ok(MlsMessage { body })
    }

    fn framed(&self, content: Content, authenticated_data: &[u8]) -> FramedContent {
        FramedContent {
            group_id: self.state.context.group_id.clone(),
            epoch: self.state.context.epoch,
            sender: Sender::Member(self.own_leaf().0),
            authenticated_data: authenticated_data.to_vec(),
            content,
        }
    }

    /// Encrypts an application message (§6.3) in the current epoch.
    ///
    /// # Errors
    /// [`Error::Misuse`] if proposals of this epoch are still uncommitted (§12.4: a member
    /// that has seen proposals must commit before sending application data) or we were
    /// removed.
    pub fn create_message(&mut self, data: &[u8], authenticated_data: &[u8]) -> Result<Vec<u8>> {
        self.check_active()?;
        if !self.proposals.is_empty() {
            return Err(Error::Misuse(
                "commit the pending proposals before sending application data",
            ));
        }
        let content = self.framed(Content::Application(data.to_vec()), authenticated_data);
        self.protect(content, None, HandshakeFormat::Private)?
            .to_bytes()
    }

    /// Sends a proposal by itself (to be committed by reference later) and caches it.
    fn send_proposal(
        &mut self,
        proposal: Proposal,
        authenticated_data: &[u8],
    ) -> Result<(Vec<u8>, Vec<u8>)> {
        self.check_active()?;
        if self.pending.is_some() {
            return Err(Error::Misuse("a commit of ours is pending"));
        }
        let content = self.framed(Content::Proposal(proposal.clone()), authenticated_data);
        let format = self.config.handshake_format;
        let wire_format = match format {
            HandshakeFormat::Public => WireFormat::PublicMessage,
            HandshakeFormat::Private => WireFormat::PrivateMessage,
        };
        let signature = sign_framed_content(
            &self.provider,
            &self.signer,
            wire_format,
            &content,
            Some(&self.state.context),
        )?;
        let ac = AuthenticatedContent {
            wire_format,
            content: content.clone(),
            auth: FramedContentAuthData {
                signature,
                confirmation_tag: None,
            },
        };
        let reference = ac.proposal_ref(&self.provider)?;
        let msg = self.protect(content, None, format)?.to_bytes()?;
        self.proposals.push(CachedProposal {
            reference: reference.clone(),
            sender: Sender::Member(self.own_leaf().0),
            proposal,
        });
        Ok((msg, reference))
    }

    /// Proposes adding the owner of `key_package`. Returns the message to send.
    ///
    /// # Errors
    /// [`Error::KeyPackage`] for an invalid KeyPackage, and those of framing.
    pub fn propose_add(&mut self, key_package: KeyPackage) -> Result<Vec<u8>> {
        let proposal = Proposal::Add(Box::new(key_package));
        commit::validate_single(self, &Sender::Member(self.own_leaf().0), &proposal)?;
        Ok(self.send_proposal(proposal, &[])?.0)
    }

    /// Proposes removing the member at `leaf`.
    ///
    /// # Errors
    /// [`Error::InvalidSender`] for a blank leaf, [`Error::Misuse`] for ourselves.
    pub fn propose_remove(&mut self, leaf: LeafIndex) -> Result<Vec<u8>> {
        let proposal = Proposal::Remove { removed: leaf.0 };
        commit::validate_single(self, &Sender::Member(self.own_leaf().0), &proposal)?;
        Ok(self.send_proposal(proposal, &[])?.0)
    }

    /// Proposes replacing our leaf with a fresh HPKE key (an Update proposal, §12.1.2).
    ///
    /// # Errors
    /// Crypto and framing failures.
    pub fn propose_update(&mut self) -> Result<Vec<u8>> {
        let p = &self.provider;
        let me = self.own_leaf();
        let old = self
            .state
            .tree
            .leaf(me)
            .ok_or(Error::InvalidState {
                reason: "our leaf is blank",
            })?
            .clone();
        let (sk, pk) = p.hpke_generate_key_pair()?;
        let mut unsigned = old.to_unsigned();
        unsigned.encryption_key = pk
            .as_slice()
            .try_into()
            .map_err(|_| Error::Internal("HPKE public key length"))?;
        unsigned.leaf_node_source = LeafNodeSource::Update;
        let leaf = unsigned.sign(&self.signer, &self.state.context.group_id, me.0)?;
        let (msg, reference) = self.send_proposal(Proposal::Update(Box::new(leaf)), &[])?;
        self.pending_updates.push((reference, sk));
        Ok(msg)
    }

    /// Proposes injecting a PSK (§12.1.4); `psk_id` must be known (external PSKs via
    /// [`Group::add_external_psk`], resumption PSKs of retained epochs). A fresh nonce is
    /// chosen.
    ///
    /// # Errors
    /// [`Error::PskNotFound`].
    pub fn propose_external_psk(&mut self, psk_id: Vec<u8>) -> Result<Vec<u8>> {
        let mut nonce = vec![0u8; self.provider.hash_len()];
        self.provider.random_fill(&mut nonce)?;
        let id = PreSharedKeyId::External {
            psk_id,
            psk_nonce: nonce,
        };
        let proposal = Proposal::PreSharedKey(id);
        commit::validate_single(self, &Sender::Member(self.own_leaf().0), &proposal)?;
        Ok(self.send_proposal(proposal, &[])?.0)
    }

    /// Proposes injecting the resumption PSK of `epoch` of this group (§8.6, usage
    /// `application`): the current epoch or one whose resumption PSK is still retained. A
    /// fresh nonce is chosen. Every member that processes the commit needs the same epoch's
    /// resumption PSK, so a member who joined later cannot follow such a commit.
    ///
    /// # Errors
    /// [`Error::PskNotFound`] for an epoch whose resumption PSK is not held.
    pub fn propose_resumption_psk(&mut self, epoch: u64) -> Result<Vec<u8>> {
        if self.resumption_psk_of(epoch).is_none() {
            return Err(Error::PskNotFound);
        }
        let mut nonce = vec![0u8; self.provider.hash_len()];
        self.provider.random_fill(&mut nonce)?;
        let id = PreSharedKeyId::Resumption {
            usage: crate::schedule::ResumptionPskUsage::Application,
            psk_group_id: self.state.context.group_id.clone(),
            psk_epoch: epoch,
            psk_nonce: nonce,
        };
        let proposal = Proposal::PreSharedKey(id);
        commit::validate_single(self, &Sender::Member(self.own_leaf().0), &proposal)?;
        Ok(self.send_proposal(proposal, &[])?.0)
    }

    /// Proposes new GroupContext extensions (§12.1.7).
    ///
    /// # Errors
    /// [`Error::CapabilityMissing`] if some member does not support them.
    pub fn propose_group_context_extensions(
        &mut self,
        extensions: Vec<Extension>,
    ) -> Result<Vec<u8>> {
        let proposal = Proposal::GroupContextExtensions(extensions);
        commit::validate_single(self, &Sender::Member(self.own_leaf().0), &proposal)?;
        Ok(self.send_proposal(proposal, &[])?.0)
    }

    // ----- receiving -----

    /// Processes an incoming MLSMessage (PublicMessage or PrivateMessage) with the policy
    /// that accepts everything RFC 9420 accepts.
    ///
    /// # Errors
    /// See [`Group::process_message_with_policy`].
    pub fn process_message(&mut self, bytes: &[u8]) -> Result<ProcessedMessage> {
        self.process_message_with_policy(bytes, &AcceptAll)
    }

    /// Processes an incoming MLSMessage, asking `policy` before a proposal is stored or a
    /// commit applied. On any error the group is unchanged.
    ///
    /// # Errors
    /// [`Error::Malformed`], [`Error::WrongGroup`], [`Error::WrongEpoch`], every check of
    /// framing, proposals and commits, [`Error::RejectedByPolicy`].
    pub fn process_message_with_policy(
        &mut self,
        bytes: &[u8],
        policy: &dyn GroupPolicy,
    ) -> Result<ProcessedMessage> {
        if let Some(pending) = &self.pending
            && ct_eq(&pending.message, bytes)
        {
            let summary = self.merge_pending_commit()?;
            return Ok(ProcessedMessage::OwnCommitMerged(summary));
        }
        let msg = MlsMessage::from_bytes(bytes)?;
        match msg.body {
            MlsMessageBody::PublicMessage(m) => self.process_public(*m, policy),
            MlsMessageBody::PrivateMessage(m) => self.process_private(*m, policy),
            _ => Err(Error::ContentNotAllowed {
                reason: "only PublicMessage and PrivateMessage are processed by a group",
            }),
        }
    }

    fn sender_signature_key(&self, content: &FramedContent) -> Result<Vec<u8>> {
        match content.sender {
            Sender::Member(i) => {
                member_signature_key(&self.state.tree, self.own_leaf(), LeafIndex(i), false)
            }
            Sender::External(i) => {
                let e = ext::find(
                    &self.state.context.extensions,
                    nipee_keypackage::ExtensionType::EXTERNAL_SENDERS,
                )
                .ok_or(Error::InvalidSender {
                    reason: "the group has no external senders",
                })?;
                let senders = ext::external_senders_from_bytes(&e.data)?;
                senders
                    .get(i as usize)
                    .map(|s| s.signature_key.clone())
                    .ok_or(Error::InvalidSender {
                        reason: "unknown external sender index",
                    })
            }
            Sender::NewMemberProposal => match &content.content {
                Content::Proposal(Proposal::Add(kp)) => Ok(kp.leaf_node.signature_key.to_vec()),
                _ => Err(Error::InvalidSender {
                    reason: "a new_member_proposal sender may only propose its own Add",
                }),
            },
            Sender::NewMemberCommit => match &content.content {
                Content::Commit(c) => c
                    .path
                    .as_ref()
                    .map(|p| p.leaf_node.signature_key.to_vec())
                    .ok_or(Error::InvalidState {
                        reason: "an external commit must carry a path",
                    }),
                _ => Err(Error::InvalidSender {
                    reason: "a new_member_commit sender may only commit",
                }),
            },
        }
    }

    fn process_public(
        &mut self,
        m: PublicMessage,
        policy: &dyn GroupPolicy,
    ) -> Result<ProcessedMessage> {
        self.check_active()?;
        crate::framing::check_group_epoch(
            &m.content.group_id,
            m.content.epoch,
            &self.state.context,
        )?;
        let key = self.sender_signature_key(&m.content)?;
        let ac = m.unprotect(
            &self.provider,
            &self.state.context,
            &self.state.keys.membership_key,
            &key,
        )?;
        self.dispatch(ac, None, policy)
    }

    fn process_private(
        &mut self,
        m: PrivateMessage,
        policy: &dyn GroupPolicy,
    ) -> Result<ProcessedMessage> {
        if m.group_id != self.state.context.group_id {
            return Err(Error::WrongGroup);
        }
        if m.epoch < self.state.context.epoch || !self.active {
            return self.process_past(&m);
        }
        if m.epoch != self.state.context.epoch {
            return Err(Error::WrongEpoch {
                expected: self.state.context.epoch,
                found: m.epoch,
            });
        }
        let tree = &self.state.tree;
        let own = self.own_leaf();
        let lookup = |leaf: LeafIndex| member_signature_key(tree, own, leaf, false);
        let (ac, change) = m.unprotect(
            &self.provider,
            &self.state.context,
            &self.state.keys.secret_tree,
            &self.state.keys.sender_data_secret,
            lookup,
        )?;
        if m.content_type == ContentType::Application {
            let out = application(ac)?;
            self.state.keys.secret_tree.apply(change)?;
            return Ok(out);
        }
        // Handshake: the key is deleted only if the message is accepted.
        let mut st = self.state.keys.secret_tree.clone();
        st.apply(change)?;
        self.dispatch(ac, Some(st), policy)
    }

    fn process_past(&mut self, m: &PrivateMessage) -> Result<ProcessedMessage> {
        if m.content_type != ContentType::Application {
            return Err(Error::WrongEpoch {
                expected: self.state.context.epoch,
                found: m.epoch,
            });
        }
        let current = self.state.context.epoch;
        let past = self
            .past_epochs
            .iter_mut()
            .find(|e| e.context.epoch == m.epoch)
            .ok_or(Error::WrongEpoch {
                expected: current,
                found: m.epoch,
            })?;
        let keys = &past.signature_keys;
        let (ac, change) = m.unprotect(
            &self.provider,
            &past.context,
            &past.secret_tree,
            &past.sender_data_secret,
            |leaf| {
                keys.get(leaf.0 as usize)
                    .copied()
                    .flatten()
                    .map(|k| k.to_vec())
                    .ok_or(Error::InvalidSender {
                        reason: "the sender's leaf was blank in that epoch",
                    })
            },
        )?;
        let out = application(ac)?;
        past.secret_tree.apply(change)?;
        Ok(out)
    }

    fn dispatch(
        &mut self,
        ac: AuthenticatedContent,
        secret_tree: Option<SecretTree>,
        policy: &dyn GroupPolicy,
    ) -> Result<ProcessedMessage> {
        match &ac.content.content {
            Content::Application(_) => Err(Error::ContentNotAllowed {
                reason: "application data must arrive as a PrivateMessage",
            }),
            Content::Proposal(proposal) => {
                let sender = ac.content.sender;
                if matches!(sender, Sender::NewMemberCommit) {
                    return Err(Error::InvalidSender {
                        reason: "new_member_commit cannot send proposals",
                    });
                }
                if let Sender::External(_) | Sender::NewMemberProposal = sender {
                    if !matches!(
                        proposal,
                        Proposal::Add(_)
                            | Proposal::Remove { .. }
                            | Proposal::PreSharedKey(_)
                            | Proposal::ReInit(_)
                            | Proposal::GroupContextExtensions(_)
                    ) {
                        return Err(Error::InvalidSender {
                            reason: "an external sender cannot send this proposal type",
                        });
                    }
                    if matches!(sender, Sender::NewMemberProposal)
                        && !matches!(proposal, Proposal::Add(_))
                    {
                        return Err(Error::InvalidSender {
                            reason: "new_member_proposal may only propose Add",
                        });
                    }
                }
                policy
                    .check_proposal(&self.view(), &sender, proposal)
                    .map_err(|reason| Error::RejectedByPolicy { reason })?;
                commit::validate_single(self, &sender, proposal)?;
                let reference = ac.proposal_ref(&self.provider)?;
                if self.proposals.iter().any(|c| c.reference == reference) {
                    return Err(Error::InvalidState {
                        reason: "proposal already received",
                    });
                }
                let proposal = proposal.clone();
                self.proposals.push(CachedProposal {
                    reference: reference.clone(),
                    sender,
                    proposal: proposal.clone(),
                });
                if let Some(st) = secret_tree {
                    self.state.keys.secret_tree = st;
                }
                Ok(ProcessedMessage::ProposalStored {
                    sender,
                    proposal,
                    reference,
                })
            }
            Content::Commit(_) => {
                let staged = commit::stage_commit(self, &ac, policy, &commit::PathKeys::Decrypt)?;
                Ok(self.apply_staged(staged, secret_tree))
            }
        }
    }

    /// Enters the epoch of a staged (fully checked) commit, or leaves the group if it removed
    /// us. `secret_tree` is the copy of this epoch's secret tree that decrypted the commit.
    pub(crate) fn apply_staged(
        &mut self,
        staged: commit::Staged,
        secret_tree: Option<SecretTree>,
    ) -> ProcessedMessage {
        // Accepted: the copy of the secret tree of the old epoch is what gets retained.
        if let Some(st) = secret_tree {
            self.state.keys.secret_tree = st;
        }
        // Another member's commit wins over ours.
        self.pending = None;
        match staged {
            commit::Staged::Next(next, summary) => {
                self.advance(*next);
                ProcessedMessage::CommitApplied(summary)
            }
            commit::Staged::Removed(summary) => {
                self.retire_current_epoch();
                self.active = false;
                ProcessedMessage::Removed(summary)
            }
        }
    }

    /// Moves the current epoch's decryption secrets to the retained past epochs.
    fn retire_current_epoch(&mut self) {
        let max = usize::from(self.config.max_past_epochs);
        let cfg = self.config.secret_tree;
        let sds = core::mem::replace(&mut self.state.keys.sender_data_secret, Secret::zero(0));
        let emptied = SecretTree::new(Secret::zero(0), 1, cfg);
        let st = match emptied {
            Ok(ph) => core::mem::replace(&mut self.state.keys.secret_tree, ph),
            Err(_) => return,
        };
        if max > 0 {
            let signature_keys = (0..self.state.tree.n_leaves())
                .map(|i| self.state.tree.leaf(LeafIndex(i)).map(|l| l.signature_key))
                .collect();
            self.past_epochs.push_back(PastEpoch {
                context: self.state.context.clone(),
                sender_data_secret: sds,
                secret_tree: st,
                signature_keys,
            });
        }
        while self.past_epochs.len() > max {
            self.past_epochs.pop_front();
        }
        let rmax = usize::from(self.config.max_resumption_psks);
        if rmax > 0 {
            self.resumption_psks.push_back((
                self.state.context.epoch,
                self.state.keys.resumption_psk.clone(),
            ));
        }
        while self.resumption_psks.len() > rmax {
            self.resumption_psks.pop_front();
        }
    }

    /// Enters the next epoch.
    pub(crate) fn advance(&mut self, next: EpochState) {
        self.retire_current_epoch();
        self.state = next;
        self.proposals.clear();
        self.pending_updates.clear();
    }

    /// Applies our pending commit: the group enters the new epoch.
    ///
    /// # Errors
    /// [`Error::Misuse`] if no commit is pending.
    pub fn merge_pending_commit(&mut self) -> Result<CommitSummary> {
        let pending = self
            .pending
            .take()
            .ok_or(Error::Misuse("no pending commit"))?;
        let PendingState {
            next,
            summary,
            new_signer,
            ..
        } = *pending;
        self.advance(next);
        if let Some(s) = new_signer {
            self.signer = s;
        }
        Ok(summary)
    }

    /// Drops our pending commit (for example because the relay rejected it); the group
    /// stays in its epoch.
    pub fn discard_pending_commit(&mut self) {
        self.pending = None;
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

/// The signature key of member `leaf`; `from_us` says whether the message must come from
/// our own leaf `own` (own-commit recovery) or must not (everything else).
pub(crate) fn member_signature_key(
    tree: &RatchetTree,
    own: LeafIndex,
    leaf: LeafIndex,
    from_us: bool,
) -> Result<Vec<u8>> {
    if (leaf == own) != from_us {
        return Err(Error::InvalidSender {
            reason: if from_us {
                "not a message from our own leaf"
            } else {
                "a message from our own leaf"
            },
        });
    }
    tree.leaf(leaf)
        .map(|l| l.signature_key.to_vec())
        .ok_or(Error::InvalidSender {
            reason: "the sender's leaf is blank or outside the tree",
        })
}

fn application(ac: AuthenticatedContent) -> Result<ProcessedMessage> {
    let Sender::Member(sender) = ac.content.sender else {
        return Err(Error::InvalidSender {
            reason: "application data from a non-member",
        });
    };
    match ac.content.content {
        Content::Application(data) => Ok(ProcessedMessage::Application {
            sender: LeafIndex(sender),
            epoch: ac.content.epoch,
            data,
            authenticated_data: ac.content.authenticated_data,
        }),
        _ => Err(Error::ContentNotAllowed {
            reason: "handshake content from a past epoch",
        }),
    }
}

pub use crate::extensions::Extension;

/// Checks the signature of a LeafNode received in an Update or a path, for `group_id`.
pub(crate) fn validate_leaf(
    policy: &ValidationPolicy,
    leaf: &LeafNode,
    ctx: LeafNodeContext<'_>,
) -> Result<()> {
    leaf.validate(policy, ctx)?;
    Ok(())
}

/// The encoding of a value implementing [`Encode`] with the crate's error.
pub(crate) fn encode_kp(kp: &KeyPackage) -> Result<Vec<u8>> {
    let mut w = nipee_codec::Writer::new();
    kp.encode(&mut w)?;
    Ok(w.into_bytes())
}
