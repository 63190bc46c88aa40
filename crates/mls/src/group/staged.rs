//! What staging an incoming message produces ([`Staged`]): every check of RFC 9420 has
//! passed and nothing has changed yet. The application inspects it (who sent it, who a
//! commit adds or removes, the new GroupContext) and either merges it with
//! [`crate::group::Group::merge`] or drops it. Merging returns a [`ProcessedMessage`].

use std::sync::Arc;

use nipee_keypackage::{Credential, LeafNode};

use super::epoch::{Binding, EpochState, Member};
use crate::crypto::{GroupProvider, RustCryptoSuite1, Secret, SignatureSecretKey};
use crate::error::{Error, Result};
use crate::extensions::Extension;
use crate::framing::{Proposal, ReInit, Sender};
use crate::schedule::GroupContext;
use crate::secret_tree::KeyChange;
use crate::tree::math::LeafIndex;

/// A verified incoming message, not yet applied. Merge it with
/// [`crate::group::Group::merge`] into the group it was staged on, in the same state.
#[non_exhaustive]
pub enum Staged<P: GroupProvider = RustCryptoSuite1> {
    /// An application message.
    Application(StagedApplication),
    /// A proposal, to be cached for a commit of this epoch.
    Proposal(StagedProposal),
    /// A commit (another member's, or our own pending commit echoed back).
    Commit(Box<StagedCommit<P>>),
}

impl<P: GroupProvider> core::fmt::Debug for Staged<P> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Staged::Application(a) => f.debug_tuple("Application").field(a).finish(),
            Staged::Proposal(p) => f.debug_tuple("Proposal").field(p).finish(),
            Staged::Commit(c) => f.debug_tuple("Commit").field(c).finish(),
        }
    }
}

/// A decrypted and authenticated application message. Staging did not consume its key:
/// merging does (and moves the sender's ratchet).
pub struct StagedApplication {
    pub(crate) binding: Binding,
    pub(crate) sender: LeafIndex,
    /// The sender's leaf in the message's epoch (shared with that epoch's tree).
    pub(crate) sender_leaf: Arc<LeafNode>,
    pub(crate) epoch: u64,
    pub(crate) data: Vec<u8>,
    pub(crate) authenticated_data: Vec<u8>,
    pub(crate) change: KeyChange,
}

impl StagedApplication {
    /// The sender's leaf.
    pub fn sender(&self) -> LeafIndex {
        self.sender
    }

    /// The sender's credential in the epoch the message belongs to (possibly a retained
    /// past epoch).
    pub fn sender_credential(&self) -> &Credential {
        &self.sender_leaf.credential
    }

    /// The epoch the message was sent in.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The application data.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// The application data, taken out (the staged message can then no longer be merged).
    pub fn into_data(self) -> Vec<u8> {
        self.data
    }

    /// The authenticated (unencrypted) data.
    pub fn authenticated_data(&self) -> &[u8] {
        &self.authenticated_data
    }
}

impl core::fmt::Debug for StagedApplication {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("StagedApplication")
            .field("sender", &self.sender)
            .field("epoch", &self.epoch)
            .field("data_len", &self.data.len())
            .finish_non_exhaustive()
    }
}

/// A validated proposal. Merging stores it in the proposal cache of the epoch.
pub struct StagedProposal {
    pub(crate) binding: Binding,
    pub(crate) sender: Sender,
    pub(crate) sender_credential: Option<Credential>,
    pub(crate) proposal: Proposal,
    pub(crate) reference: Vec<u8>,
    /// The handshake key a PrivateMessage used, deleted on merge.
    pub(crate) change: Option<KeyChange>,
}

impl StagedProposal {
    /// Who proposed it.
    pub fn sender(&self) -> Sender {
        self.sender
    }

    /// The proposer's credential: a member's from the tree, an external sender's from the
    /// `external_senders` extension, a new member's from its KeyPackage.
    pub fn sender_credential(&self) -> Option<&Credential> {
        self.sender_credential.as_ref()
    }

    /// The proposal.
    pub fn proposal(&self) -> &Proposal {
        &self.proposal
    }

    /// Its ProposalRef (how a commit refers to it).
    pub fn reference(&self) -> &[u8] {
        &self.reference
    }
}

impl core::fmt::Debug for StagedProposal {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("StagedProposal")
            .field("sender", &self.sender)
            .field("proposal", &self.proposal)
            .finish_non_exhaustive()
    }
}

/// What a commit did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CommitSummary {
    /// Who committed.
    pub committer: Sender,
    /// The epoch the commit created.
    pub epoch: u64,
    /// Leaves added, in order.
    pub added: Vec<LeafIndex>,
    /// Leaves removed.
    pub removed: Vec<LeafIndex>,
    /// Leaves updated by Update proposals.
    pub updated: Vec<LeafIndex>,
    /// Whether the GroupContext extensions changed.
    pub extensions_changed: bool,
    /// The number of PSKs injected.
    pub psks: usize,
    /// The ReInit proposal, if the commit carried one (the group must then be re-created by
    /// the application; this implementation does not branch automatically).
    pub reinit: Option<ReInit>,
}

/// A verified commit and the epoch it creates, not yet entered: another member's, or our
/// own (see [`crate::group::Group::pending_commit`]), seen the same way.
pub struct StagedCommit<P: GroupProvider = RustCryptoSuite1> {
    pub(crate) provider: P,
    pub(crate) binding: Binding,
    pub(crate) own: bool,
    pub(crate) committer: Sender,
    pub(crate) committer_credential: Option<Credential>,
    pub(crate) committer_new_leaf: Option<LeafNode>,
    pub(crate) proposals: Vec<(Sender, Proposal)>,
    pub(crate) added: Vec<Member>,
    pub(crate) removed: Vec<Member>,
    pub(crate) new_context: GroupContext,
    pub(crate) authenticated_data: Vec<u8>,
    pub(crate) summary: CommitSummary,
    /// The new epoch; `None` when the commit removes us (we cannot derive its secrets).
    pub(crate) next: Option<Box<EpochState>>,
    /// The handshake key the commit's PrivateMessage used, deleted on merge.
    pub(crate) change: Option<KeyChange>,
    /// Our signature key after an own commit that rotated it.
    pub(crate) new_signer: Option<SignatureSecretKey>,
}

impl<P: GroupProvider> StagedCommit<P> {
    /// The epoch the commit creates.
    pub fn epoch(&self) -> u64 {
        self.new_context.epoch
    }

    /// Who committed (for an external commit, the new member's leaf as
    /// `Sender::Member`).
    pub fn committer(&self) -> Sender {
        self.committer
    }

    /// The committer's credential before the commit; for an external commit, the new
    /// leaf's.
    pub fn committer_credential(&self) -> Option<&Credential> {
        self.committer_credential.as_ref()
    }

    /// The committer's new leaf from the commit's UpdatePath (new HPKE key, possibly a new
    /// signature key and credential), if the commit has a path.
    pub fn committer_new_leaf(&self) -> Option<&LeafNode> {
        self.committer_new_leaf.as_ref()
    }

    /// Every proposal the commit applies, those by reference with their original senders.
    pub fn proposals(&self) -> &[(Sender, Proposal)] {
        &self.proposals
    }

    /// The members the commit adds (leaf index, credential, keys).
    pub fn added(&self) -> &[Member] {
        &self.added
    }

    /// The members the commit removes, as they were before it.
    pub fn removed(&self) -> &[Member] {
        &self.removed
    }

    /// The leaves updated by Update proposals.
    pub fn updated(&self) -> &[LeafIndex] {
        &self.summary.updated
    }

    /// The GroupContext of the new epoch.
    pub fn new_context(&self) -> &GroupContext {
        &self.new_context
    }

    /// The GroupContext extensions of the new epoch.
    pub fn extensions(&self) -> &[Extension] {
        &self.new_context.extensions
    }

    /// Whether the commit removes us (merging it makes the group inactive).
    pub fn removes_us(&self) -> bool {
        self.next.is_none()
    }

    /// Whether this is our own commit (our pending commit, or one recovered from its
    /// secrets).
    pub fn is_own(&self) -> bool {
        self.own
    }

    /// An identifier of the commit's authenticated content, the same for every member and
    /// for the committer, whatever encryption carried it: the new epoch's confirmed
    /// transcript hash, which covers the wire format, the FramedContent and its signature.
    /// Two different commits for the same epoch have different identifiers.
    pub fn content_id(&self) -> &[u8] {
        &self.new_context.confirmed_transcript_hash
    }

    /// The commit's authenticated (unencrypted) data.
    pub fn authenticated_data(&self) -> &[u8] {
        &self.authenticated_data
    }

    /// The epoch authenticator (§8.7) of the new epoch; `None` when the commit removes us.
    pub fn epoch_authenticator(&self) -> Option<&Secret> {
        self.next.as_ref().map(|n| &n.keys.epoch_authenticator)
    }

    /// `MLS-Exporter(label, context, length)` (§8.5) of the new epoch.
    ///
    /// # Errors
    /// [`Error::Misuse`] when the commit removes us, [`Error::LengthTooLarge`].
    pub fn export_secret(&self, label: &[u8], context: &[u8], length: usize) -> Result<Secret> {
        let next = self.next.as_ref().ok_or(Error::Misuse(
            "the commit removes us: no secret of its epoch",
        ))?;
        next.keys.export(&self.provider, label, context, length)
    }

    /// The members of the new epoch (empty when the commit removes us: we do not follow
    /// it).
    pub fn members(&self) -> Vec<Member> {
        self.next
            .as_ref()
            .map(|n| n.tree.leaves().map(|(i, l)| Member::of(i, l)).collect())
            .unwrap_or_default()
    }

    /// The ratchet tree of the new epoch, encoded as the `ratchet_tree` extension holds it
    /// (`None` when the commit removes us).
    ///
    /// # Errors
    /// Only for a tree too large to encode.
    pub fn encoded_tree(&self) -> Result<Option<Vec<u8>>> {
        self.next.as_ref().map(|n| n.tree.encode()).transpose()
    }

    /// A summary of what the commit does.
    pub fn summary(&self) -> &CommitSummary {
        &self.summary
    }

    /// A copy bound to `binding` (our pending commit handed out again for its echo).
    pub(crate) fn rebound(&self, binding: Binding) -> Self {
        StagedCommit {
            provider: self.provider.clone(),
            binding,
            own: self.own,
            committer: self.committer,
            committer_credential: self.committer_credential.clone(),
            committer_new_leaf: self.committer_new_leaf.clone(),
            proposals: self.proposals.clone(),
            added: self.added.clone(),
            removed: self.removed.clone(),
            new_context: self.new_context.clone(),
            authenticated_data: self.authenticated_data.clone(),
            summary: self.summary.clone(),
            next: self.next.clone(),
            change: self.change.clone(),
            new_signer: self.new_signer.clone(),
        }
    }
}

impl<P: GroupProvider> core::fmt::Debug for StagedCommit<P> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // No secret of the new epoch is shown.
        f.debug_struct("StagedCommit")
            .field("epoch", &self.epoch())
            .field("committer", &self.committer)
            .field("own", &self.own)
            .field("removes_us", &self.removes_us())
            .field("summary", &self.summary)
            .finish_non_exhaustive()
    }
}

/// What merging a staged message did.
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
