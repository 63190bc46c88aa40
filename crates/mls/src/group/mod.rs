//! The group state machine (RFC 9420 §11–§12): creating a group, joining from a Welcome or
//! by external commit, proposals (by value and by reference), commits, Welcome messages,
//! application messages with retained past epochs, exporter and epoch authenticator, and
//! versioned persistence.
//!
//! Receiving is two-phase: [`MlsMessageIn::parse`] decodes a message once,
//! [`Group::stage`] runs every check and returns a [`Staged`] result without changing the
//! group, the application applies its own rules to it (who sent it, who a commit adds or
//! removes, the new GroupContext), and [`Group::merge`] applies it. Our own commits are
//! two-phase too: [`Group::commit`] leaves a pending commit, shown by
//! [`Group::pending_commit`] exactly as receivers will see it, until
//! [`Group::merge_pending_commit`] or [`Group::discard_pending_commit`].
//!
//! Invariants:
//! * Staging never changes the group: a rejected message leaves nothing behind, and a
//!   staged one changes the group only when merged, into the exact state it was staged on
//!   (a stale staged result is refused with [`crate::Error::StaleStaged`]).
//! * A commit we create is not applied until it is merged; until then the group stays in
//!   its epoch and the pending commit is part of the persisted state.
//! * Secrets of past epochs are kept for [`GroupConfig::max_past_epochs`] epochs (only
//!   what decrypting late application messages needs) and then dropped.
//!
//! Modules, each with one job and no two importing each other: `config` and `epoch`
//! (plain state), `ext` (interpreted extensions), `staged` (the staged views), `state`
//! (the [`Group`] and its queries), `proposals` (validation and application of proposal
//! lists), `send`, `stage` and `commit_stage` (receiving, first phase), `merge` (second
//! phase), `commit_create` and `welcome_out` (our commits), `grease` (GREASE on what we
//! send), `join`, `fork`
//! (resuming a snapshot), `introspect` (tree view), `persist` (the whole state) and `pieces`
//! (the state with its secret trees stored apart, piece by piece).

mod commit_create;
mod commit_stage;
mod config;
mod epoch;
mod ext;
mod fork;
mod grease;
#[cfg(test)]
mod grease_tests;
mod introspect;
mod join;
mod merge;
mod message_in;
#[cfg(feature = "own-commit-recovery")]
mod own_commit;
mod persist;
mod pieces;
mod proposals;
#[cfg(test)]
mod self_remove_tests;
mod send;
mod stage;
mod staged;
mod state;
#[cfg(test)]
mod tests;
mod welcome_out;
mod welcome_split;

pub use crate::extensions::Extension;
pub use crate::framing::{ContentType, Proposal, ReInit, Sender, WireFormat};
pub use crate::group_id::GroupId;
pub use crate::schedule::{GroupContext, PreSharedKeyId, ResumptionPskUsage};
pub use crate::tree::math::LeafIndex;
pub use commit_create::{CommitOptions, CommitOutput, PendingCommit};
#[cfg(feature = "own-commit-recovery")]
pub use commit_stage::OwnCommitSecrets;
pub use config::{GroupConfig, HandshakeFormat};
pub use epoch::Member;
pub use ext::{ExternalSender, RequiredCapabilities};
pub use introspect::TreeNodeView;
pub use join::{JoinKeys, StagedJoin, welcome_key_package_refs};
pub use message_in::MlsMessageIn;
pub use persist::{OLDEST_STATE_VERSION, SPLIT_STATE_VERSION, STATE_MAGIC, STATE_VERSION};
pub use pieces::RatchetPiece;
pub use staged::{
    CommitSummary, ProcessedMessage, Staged, StagedApplication, StagedCommit, StagedProposal,
};
pub use state::Group;
pub use welcome_split::WelcomeSplit;
