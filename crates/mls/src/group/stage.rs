//! Receiving, first phase: [`Group::stage`] runs every check of RFC 9420 on an incoming
//! message (framing signature, membership tag or AEAD, sender data, proposal and commit
//! validation, UpdatePath decryption, confirmation tag) and returns what merging it would
//! do, without changing the group.

use std::sync::Arc;

use nipee_keypackage::{Credential, ExtensionType, LeafNode};

use super::commit_stage::{PathKeys, stage_commit};
use super::ext;
use super::message_in::MlsMessageIn;
use super::proposals::validate_single;
use super::staged::{Staged, StagedApplication, StagedProposal};
use super::state::Group;
use crate::crypto::{GroupProvider, ct_eq};
use crate::error::{Error, Result};
use crate::framing::{
    AuthenticatedContent, Content, ContentType, FramedContent, MlsMessageBody, PrivateMessage,
    Proposal, PublicMessage, Sender,
};
use crate::secret_tree::KeyChange;
use crate::tree::RatchetTree;
use crate::tree::math::LeafIndex;

/// The leaf of member `leaf`, which must (`from_us`) or must not be our own leaf `own`.
pub(crate) fn member_leaf(
    tree: &RatchetTree,
    own: LeafIndex,
    leaf: LeafIndex,
    from_us: bool,
) -> Result<&Arc<LeafNode>> {
    if (leaf == own) != from_us {
        return Err(Error::InvalidSender {
            reason: if from_us {
                "not a message from our own leaf"
            } else {
                "a message from our own leaf"
            },
        });
    }
    tree.leaf_shared(leaf).ok_or(Error::InvalidSender {
        reason: "the sender's leaf is blank or outside the tree",
    })
}

/// Who signed a handshake message: the key to verify it with and, where one exists, the
/// sender's credential.
struct SignerOf {
    key: Vec<u8>,
    credential: Option<Credential>,
}

impl<P: GroupProvider> Group<P> {
    /// Stages an incoming message (PublicMessage or PrivateMessage): every check runs, and
    /// the result says what [`Group::merge`] would do. The group is not changed, whether
    /// the message is accepted or rejected; a staged application message can be staged
    /// again, its key is consumed only by the merge. Our own pending commit, echoed back
    /// byte for byte, stages as the same view [`Group::pending_commit`] gives.
    ///
    /// # Errors
    /// [`Error::WrongGroup`], [`Error::WrongEpoch`] (also for handshake messages of past
    /// epochs), [`Error::ContentNotAllowed`] for a Welcome, GroupInfo or KeyPackage, every
    /// check of framing, proposals and commits, [`Error::Misuse`] for a handshake message
    /// after we were removed.
    pub fn stage(&self, msg: &MlsMessageIn) -> Result<Staged<P>> {
        if let Some(pending) = &self.pending
            && ct_eq(&pending.message, msg.as_bytes())
        {
            return Ok(Staged::Commit(Box::new(
                pending.staged.rebound(self.binding()),
            )));
        }
        match msg.body() {
            MlsMessageBody::PublicMessage(m) => self.stage_public(m),
            MlsMessageBody::PrivateMessage(m) => self.stage_private(m),
            _ => Err(Error::ContentNotAllowed {
                reason: "only PublicMessage and PrivateMessage are processed by a group",
            }),
        }
    }

    fn signer_of(&self, content: &FramedContent) -> Result<SignerOf> {
        match content.sender {
            Sender::Member(i) => {
                let leaf = member_leaf(&self.state.tree, self.own_leaf(), LeafIndex(i), false)?;
                Ok(SignerOf {
                    key: leaf.signature_key.to_vec(),
                    credential: Some(leaf.credential.clone()),
                })
            }
            Sender::External(i) => {
                let e = ext::find(
                    &self.state.context.extensions,
                    ExtensionType::EXTERNAL_SENDERS,
                )
                .ok_or(Error::InvalidSender {
                    reason: "the group has no external senders",
                })?;
                let senders = ext::external_senders_from_bytes(&e.data)?;
                let s = senders.get(i as usize).ok_or(Error::InvalidSender {
                    reason: "unknown external sender index",
                })?;
                Ok(SignerOf {
                    key: s.signature_key.clone(),
                    credential: Some(s.credential.clone()),
                })
            }
            Sender::NewMemberProposal => match &content.content {
                Content::Proposal(Proposal::Add(kp)) => Ok(SignerOf {
                    key: kp.leaf_node.signature_key.to_vec(),
                    credential: Some(kp.leaf_node.credential.clone()),
                }),
                _ => Err(Error::InvalidSender {
                    reason: "a new_member_proposal sender may only propose its own Add",
                }),
            },
            Sender::NewMemberCommit => match &content.content {
                Content::Commit(c) => c
                    .path
                    .as_ref()
                    .map(|p| SignerOf {
                        key: p.leaf_node.signature_key.to_vec(),
                        credential: Some(p.leaf_node.credential.clone()),
                    })
                    .ok_or(Error::InvalidState {
                        reason: "an external commit must carry a path",
                    }),
                _ => Err(Error::InvalidSender {
                    reason: "a new_member_commit sender may only commit",
                }),
            },
        }
    }

    fn stage_public(&self, m: &PublicMessage) -> Result<Staged<P>> {
        self.check_active()?;
        crate::framing::check_group_epoch(
            &m.content.group_id,
            m.content.epoch,
            &self.state.context,
        )?;
        let signer = self.signer_of(&m.content)?;
        let ac = m.unprotect(
            &self.provider,
            &self.state.context,
            &self.state.keys.membership_key,
            &signer.key,
        )?;
        self.stage_handshake(ac, signer.credential, None)
    }

    fn stage_private(&self, m: &PrivateMessage) -> Result<Staged<P>> {
        if m.group_id != self.state.context.group_id.as_bytes() {
            return Err(Error::WrongGroup);
        }
        if m.epoch < self.state.context.epoch || !self.active {
            return self.stage_past(m);
        }
        if m.epoch != self.state.context.epoch {
            return Err(Error::WrongEpoch {
                expected: self.state.context.epoch,
                found: m.epoch,
            });
        }
        let tree = &self.state.tree;
        let own = self.own_leaf();
        let mut sender_leaf = None;
        let (ac, change) = m.unprotect(
            &self.provider,
            &self.state.context,
            &self.state.keys.secret_tree,
            &self.state.keys.sender_data_secret,
            |leaf| {
                let l = member_leaf(tree, own, leaf, false)?;
                sender_leaf = Some(Arc::clone(l));
                Ok(l.signature_key.to_vec())
            },
        )?;
        let sender_leaf = sender_leaf.ok_or(Error::Internal("sender leaf not looked up"))?;
        if m.content_type == ContentType::Application {
            return Ok(Staged::Application(self.application(
                ac,
                sender_leaf,
                change,
            )?));
        }
        let credential = Some(sender_leaf.credential.clone());
        self.stage_handshake(ac, credential, Some(change))
    }

    /// An application message of a retained past epoch (or of any epoch after we were
    /// removed), authenticated with that epoch's leaves.
    fn stage_past(&self, m: &PrivateMessage) -> Result<Staged<P>> {
        let current = self.state.context.epoch;
        let wrong_epoch = Error::WrongEpoch {
            expected: current,
            found: m.epoch,
        };
        if m.content_type != ContentType::Application {
            return Err(if self.active {
                wrong_epoch
            } else {
                Error::Misuse("we are no longer a member of this group")
            });
        }
        let past = self
            .past_epochs
            .iter()
            .find(|e| e.context.epoch == m.epoch)
            .ok_or(wrong_epoch)?;
        let mut sender_leaf = None;
        let (ac, change) = m.unprotect(
            &self.provider,
            &past.context,
            &past.secret_tree,
            &past.sender_data_secret,
            |leaf| {
                let l = past.leaf(leaf)?;
                sender_leaf = Some(Arc::clone(l));
                Ok(l.signature_key.to_vec())
            },
        )?;
        let sender_leaf = sender_leaf.ok_or(Error::Internal("sender leaf not looked up"))?;
        Ok(Staged::Application(self.application(
            ac,
            sender_leaf,
            change,
        )?))
    }

    fn application(
        &self,
        ac: AuthenticatedContent,
        sender_leaf: Arc<LeafNode>,
        change: KeyChange,
    ) -> Result<StagedApplication> {
        let Sender::Member(sender) = ac.content.sender else {
            return Err(Error::InvalidSender {
                reason: "application data from a non-member",
            });
        };
        let Content::Application(data) = ac.content.content else {
            return Err(Error::ContentNotAllowed {
                reason: "handshake content where application data was expected",
            });
        };
        Ok(StagedApplication {
            binding: self.binding(),
            sender: LeafIndex(sender),
            sender_leaf,
            epoch: ac.content.epoch,
            data,
            authenticated_data: ac.content.authenticated_data,
            change,
        })
    }

    fn stage_handshake(
        &self,
        ac: AuthenticatedContent,
        credential: Option<Credential>,
        change: Option<KeyChange>,
    ) -> Result<Staged<P>> {
        match &ac.content.content {
            Content::Application(_) => Err(Error::ContentNotAllowed {
                reason: "application data must arrive as a PrivateMessage",
            }),
            Content::Proposal(_) => Ok(Staged::Proposal(
                self.stage_proposal(ac, credential, change)?,
            )),
            Content::Commit(_) => {
                let mut staged = stage_commit(self, &ac, credential, &PathKeys::Decrypt)?;
                staged.change = change;
                Ok(Staged::Commit(Box::new(staged)))
            }
        }
    }

    fn stage_proposal(
        &self,
        ac: AuthenticatedContent,
        sender_credential: Option<Credential>,
        change: Option<KeyChange>,
    ) -> Result<StagedProposal> {
        let sender = ac.content.sender;
        let Content::Proposal(proposal) = &ac.content.content else {
            return Err(Error::Internal("not a proposal"));
        };
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
            if matches!(sender, Sender::NewMemberProposal) && !matches!(proposal, Proposal::Add(_))
            {
                return Err(Error::InvalidSender {
                    reason: "new_member_proposal may only propose Add",
                });
            }
        }
        validate_single(self, &sender, proposal)?;
        let reference = ac.proposal_ref(&self.provider)?;
        if self.proposals.iter().any(|c| c.reference == reference) {
            return Err(Error::InvalidState {
                reason: "proposal already received",
            });
        }
        let Content::Proposal(proposal) = ac.content.content else {
            return Err(Error::Internal("not a proposal"));
        };
        Ok(StagedProposal {
            binding: self.binding(),
            sender,
            sender_credential,
            proposal,
            reference,
            change,
        })
    }
}
