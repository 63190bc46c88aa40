//! Receiving, second phase: [`Group::merge`] applies a staged result to the state it was
//! staged on. Also entering a new epoch (retiring the current one to the past epochs),
//! leaving the group when a commit removed us, and our pending commit's merge or discard.

use super::epoch::{EpochKeys, EpochState, PastEpoch};
use super::message_in::MlsMessageIn;
use super::staged::{CommitSummary, ProcessedMessage, Staged, StagedCommit};
use super::state::{CachedProposal, Group};
use crate::crypto::{GroupProvider, HpkePrivateKey, Secret};
use crate::error::{Error, Result};
use crate::secret_tree::SecretTree;
use crate::tree::treekem::TreeKemPrivate;

impl<P: GroupProvider> Group<P> {
    /// Applies a result of [`Group::stage`] (or `Group::stage_own_commit_with_secrets`):
    /// an application message's key is deleted (the sender's ratchet moves past it), a
    /// proposal is cached, a commit enters its epoch (or, if it removes us, the group
    /// becomes inactive and keeps only what decrypting late messages of retained epochs
    /// needs). Another member's commit discards our pending commit.
    ///
    /// # Errors
    /// [`Error::StaleStaged`] if the group changed since the result was staged (any merge,
    /// commit, discard or message sent in between): stage the message again. The group is
    /// then unchanged.
    pub fn merge(&mut self, staged: Staged<P>) -> Result<ProcessedMessage> {
        let current = self.binding();
        match staged {
            Staged::Application(a) => {
                a.binding.check(&current)?;
                let tree = if a.epoch == self.state.context.epoch && self.active {
                    &mut self.state.keys.secret_tree
                } else {
                    &mut self
                        .past_epochs
                        .iter_mut()
                        .find(|e| e.context.epoch == a.epoch)
                        .ok_or(Error::Internal("the staged message's epoch is gone"))?
                        .secret_tree
                };
                tree.apply(a.change)?;
                self.touch();
                Ok(ProcessedMessage::Application {
                    sender: a.sender,
                    epoch: a.epoch,
                    data: a.data,
                    authenticated_data: a.authenticated_data,
                })
            }
            Staged::Proposal(sp) => {
                sp.binding.check(&current)?;
                if let Some(change) = sp.change {
                    self.state.keys.secret_tree.apply(change)?;
                }
                self.proposals.push(CachedProposal {
                    reference: sp.reference.clone(),
                    sender: sp.sender,
                    proposal: sp.proposal.clone(),
                });
                self.touch();
                Ok(ProcessedMessage::ProposalStored {
                    sender: sp.sender,
                    proposal: sp.proposal,
                    reference: sp.reference,
                })
            }
            Staged::Commit(c) => {
                c.binding.check(&current)?;
                self.apply_commit(*c)
            }
        }
    }

    /// Parses, stages and merges an incoming message in one step (no look at the staged
    /// result). On any error the group is unchanged.
    ///
    /// # Errors
    /// Those of [`MlsMessageIn::parse`], [`Group::stage`] and [`Group::merge`].
    pub fn process_message(&mut self, bytes: &[u8]) -> Result<ProcessedMessage> {
        let msg = MlsMessageIn::parse(bytes)?;
        let staged = self.stage(&msg)?;
        self.merge(staged)
    }

    /// Enters the epoch of a staged (fully checked, fresh) commit, or leaves the group if it
    /// removes us.
    fn apply_commit(&mut self, staged: StagedCommit<P>) -> Result<ProcessedMessage> {
        let StagedCommit {
            own,
            summary,
            next,
            change,
            new_signer,
            ..
        } = staged;
        // The handshake key the commit used belongs to the epoch being retired.
        if let Some(change) = change {
            self.state.keys.secret_tree.apply(change)?;
        }
        // Another member's commit wins over ours.
        self.pending = None;
        self.touch();
        let Some(next) = next else {
            self.retire_current_epoch();
            self.leave()?;
            return Ok(ProcessedMessage::Removed(summary));
        };
        self.advance(*next);
        if let Some(s) = new_signer {
            self.signer = Some(s);
        }
        Ok(if own {
            ProcessedMessage::OwnCommitMerged(summary)
        } else {
            ProcessedMessage::CommitApplied(summary)
        })
    }

    /// Moves the current epoch's decryption secrets (sender-data secret, remaining secret
    /// tree, leaves) to the retained past epochs, dropping the oldest beyond
    /// `max_past_epochs`, and its resumption PSK to the retained PSKs.
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
            self.past_epochs.push_back(PastEpoch {
                context: self.state.context.clone(),
                sender_data_secret: sds,
                secret_tree: st,
                leaves: self.state.tree.shared_leaves(),
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

    /// After a commit removed us (and the current epoch was retired): forget every secret
    /// but the retained past epochs' decryption secrets. The public state (context, tree)
    /// stays readable.
    fn leave(&mut self) -> Result<()> {
        self.active = false;
        self.state.keys = EpochKeys::wiped(self.config.secret_tree)?;
        self.state.own = TreeKemPrivate::new(self.own_leaf(), HpkePrivateKey::new(vec![]));
        self.signer = None;
        self.proposals.clear();
        self.pending_updates.clear();
        self.pending = None;
        self.resumption_psks.clear();
        self.external_psks.clear();
        Ok(())
    }

    /// Applies our pending commit: the group enters the new epoch (with our new signature
    /// key if the commit rotated it).
    ///
    /// # Errors
    /// [`Error::Misuse`] if no commit is pending.
    pub fn merge_pending_commit(&mut self) -> Result<CommitSummary> {
        let pending = self
            .pending
            .take()
            .ok_or(Error::Misuse("no pending commit"))?;
        match self.apply_commit(pending.staged)? {
            ProcessedMessage::OwnCommitMerged(summary) => Ok(summary),
            _ => Err(Error::Internal("a pending commit did not merge as our own")),
        }
    }

    /// Drops our pending commit (for example because the relay rejected it, or the
    /// application's rules refuse [`Group::pending_commit`]); the group stays in its epoch.
    pub fn discard_pending_commit(&mut self) {
        if self.pending.take().is_some() {
            self.touch();
        }
    }
}
