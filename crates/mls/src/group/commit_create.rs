//! Creating a commit (RFC 9420 §12.4.1): choosing the proposals, the UpdatePath (with an
//! optional new signature key), the transcript and key schedule of the new epoch, and the
//! pending state that waits for [`Group::merge_pending_commit`].

use std::collections::HashSet;

use nipee_keypackage::{KeyPackage, LeafNode, ProposalType, SignatureSecretKey};

use super::commit_stage::path_nodes;
use super::config::HandshakeFormat;
use super::epoch::{EpochKeys, EpochState, Member};
use super::grease;
use super::proposals::{Applied, provisional_context, resolve_psk, validate_and_apply};
use super::send::wire_format_of;
use super::staged::{CommitSummary, StagedCommit};
use super::state::{Group, PendingState};
use super::welcome_out::{WelcomeInput, build_welcome};
use crate::crypto::{GroupProvider, HpkePrivateKey, Secret};
use crate::error::{Error, Result};
use crate::framing::{
    AuthenticatedContent, Commit, Content, FramedContent, FramedContentAuthData, Proposal,
    ProposalOrRef, Sender, UpdatePath, sign_framed_content,
};
use crate::schedule::{
    EpochSecrets, GroupContext, Psk, confirmation_tag, confirmed_transcript_hash,
    interim_transcript_hash, psk_secret,
};
use crate::tree::math::{LeafIndex, NodeIndex};
use crate::tree::treekem::{self, TreeKemPrivate};

/// Options for [`Group::commit`].
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    /// Proposals to include by value (Add, Remove, PreSharedKey, GroupContextExtensions).
    pub proposals: Vec<Proposal>,
    /// Whether to include every valid cached proposal of the epoch by reference.
    pub include_pending: bool,
    /// With `include_pending`, take only the cached proposals of these types (every type
    /// when empty). For example `[ProposalType::SELF_REMOVE]` commits the members who
    /// asked to leave and nothing else.
    pub pending_types: Vec<ProposalType>,
    /// Carry an UpdatePath even where none is required.
    pub force_path: bool,
    /// Give our new leaf a fresh signature key (implies an UpdatePath): the path's leaf
    /// carries and is signed with the new key, the commit itself is signed with the current
    /// one (§12.4.1), and the new key becomes ours when the commit is merged.
    pub rotate_signature_key: bool,
    /// Authenticated, unencrypted data of the commit message (its FramedContent's
    /// `authenticated_data`, covered by the signature).
    pub authenticated_data: Vec<u8>,
}

/// Handle for a commit awaiting [`Group::merge_pending_commit`] or
/// [`Group::discard_pending_commit`]. The pending state itself lives in the group (and is
/// persisted with it); [`Group::pending_commit`] shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "merge or discard the pending commit"]
pub struct PendingCommit {
    /// The epoch the commit creates.
    pub epoch: u64,
}

/// The outgoing messages of a commit.
#[derive(Debug, Clone)]
#[must_use = "send the commit, then merge or discard the pending commit"]
pub struct CommitOutput {
    /// The commit (MLSMessage bytes) for the group.
    pub commit: Vec<u8>,
    /// One Welcome (MLSMessage bytes) for all added members, if any.
    pub welcome: Option<Vec<u8>>,
    /// The pending commit.
    pub pending: PendingCommit,
    /// What the commit will do once merged.
    pub summary: CommitSummary,
}

/// The joiner's side of an external commit: the init secret from the GroupInfo's
/// `external_pub`, our new leaf and its HPKE private key.
pub(crate) struct ExternalJoin {
    pub(crate) init_secret: Secret,
    pub(crate) leaf: LeafNode,
    pub(crate) leaf_key: HpkePrivateKey,
}

/// What a commit's proposal list and options decided.
pub(crate) struct CommitPlan {
    pub(crate) applied: Applied,
    pub(crate) list: Vec<(Sender, Proposal)>,
    pub(crate) refs: Vec<ProposalOrRef>,
    pub(crate) with_path: bool,
    pub(crate) rotate: bool,
}

/// Who we are in our commit and what our path's leaf carries.
struct OwnPathLeaf {
    me: LeafIndex,
    path: Option<UpdatePath>,
    new_signer: Option<SignatureSecretKey>,
}

/// Our side of an UpdatePath (or of its absence).
struct OwnPath {
    me: LeafIndex,
    own: TreeKemPrivate,
    init_secret: Secret,
    path: Option<UpdatePath>,
    commit_secret: Option<Secret>,
    path_secrets: Vec<(NodeIndex, Secret)>,
    /// The key our new leaf is signed with (a fresh one when rotating).
    new_signer: Option<SignatureSecretKey>,
}

impl<P: GroupProvider> Group<P> {
    /// Creates a commit (§12.4.1): the given proposals by value, plus (with
    /// `include_pending`) the valid proposals of this epoch by reference; an UpdatePath where
    /// required (or always, per config/options); and one Welcome for every added member.
    /// The group stays in its epoch until [`Group::merge_pending_commit`];
    /// [`Group::pending_commit`] shows the commit as receivers will see it.
    ///
    /// # Errors
    /// [`Error::Misuse`] while another commit is pending, and every validation error of the
    /// proposal list.
    pub fn commit(&mut self, options: CommitOptions) -> Result<CommitOutput> {
        self.check_active()?;
        if self.pending.is_some() {
            return Err(Error::Misuse("a commit of ours is already pending"));
        }
        let me = self.own_leaf();
        let (mut list, mut refs) = if options.include_pending {
            self.pending_proposal_refs(me, &options.pending_types)
        } else {
            (vec![], vec![])
        };
        for prop in &options.proposals {
            if matches!(
                prop,
                Proposal::Update(_) | Proposal::ExternalInit { .. } | Proposal::SelfRemove
            ) {
                return Err(Error::Misuse(
                    "Update, ExternalInit and SelfRemove cannot be committed by value",
                ));
            }
            list.push((Sender::Member(me.0), prop.clone()));
            refs.push(ProposalOrRef::Proposal(prop.clone()));
        }
        let applied = validate_and_apply(self, Some(me), &list)?;
        let with_path = applied.path_required
            || options.force_path
            || options.rotate_signature_key
            || self.config.always_path;
        let plan = CommitPlan {
            applied,
            list,
            refs,
            with_path,
            rotate: options.rotate_signature_key,
        };
        self.build_commit(plan, &options.authenticated_data, None)
    }

    /// The cached proposals of this epoch a commit includes by reference (those of
    /// `types` only, unless it is empty): a member's SelfRemove wins over Removes and
    /// Updates of its leaf (draft-ietf-mls-extensions: the Remove is then invalid), Removes
    /// win over Updates of the same leaf, one proposal per leaf, and our own Updates and
    /// SelfRemove, and Removes of us, are left out (§12.4.1).
    fn pending_proposal_refs(
        &self,
        me: LeafIndex,
        types: &[ProposalType],
    ) -> (Vec<(Sender, Proposal)>, Vec<ProposalOrRef>) {
        let wanted =
            |p: &Proposal| types.is_empty() || types.contains(&ProposalType(p.proposal_type()));
        let candidates = || self.proposals.iter().filter(|c| wanted(&c.proposal));
        let self_removed: HashSet<u32> = candidates()
            .filter_map(|c| match (&c.proposal, c.sender) {
                (Proposal::SelfRemove, Sender::Member(i)) if i != me.0 => Some(i),
                _ => None,
            })
            .collect();
        let removed: HashSet<u32> = candidates()
            .filter_map(|c| match c.proposal {
                Proposal::Remove { removed } if !self_removed.contains(&removed) => Some(removed),
                _ => None,
            })
            .collect();
        let mut seen_remove: HashSet<u32> = HashSet::new();
        let mut list = vec![];
        let mut refs = vec![];
        for c in candidates() {
            let keep = match (&c.proposal, c.sender) {
                (Proposal::Update(_), Sender::Member(i)) => {
                    i != me.0 && !removed.contains(&i) && !self_removed.contains(&i)
                }
                (Proposal::Remove { removed }, _) => {
                    *removed != me.0
                        && !self_removed.contains(removed)
                        && seen_remove.insert(*removed)
                }
                (Proposal::SelfRemove, Sender::Member(i)) => i != me.0 && seen_remove.insert(i),
                (Proposal::SelfRemove, _) => false,
                _ => true,
            };
            if keep {
                list.push((c.sender, c.proposal.clone()));
                refs.push(ProposalOrRef::Reference(c.reference.clone()));
            }
        }
        (list, refs)
    }

    /// Commits adding the owners of `key_packages` (by value), with a path if the config
    /// says so.
    ///
    /// # Errors
    /// See [`Group::commit`].
    pub fn add_members(&mut self, key_packages: Vec<KeyPackage>) -> Result<CommitOutput> {
        self.commit(CommitOptions {
            proposals: key_packages
                .into_iter()
                .map(|kp| Proposal::Add(Box::new(kp)))
                .collect(),
            ..CommitOptions::default()
        })
    }

    /// Commits removing the members at `leaves` (by value).
    ///
    /// # Errors
    /// See [`Group::commit`].
    pub fn remove_members(&mut self, leaves: &[LeafIndex]) -> Result<CommitOutput> {
        self.commit(CommitOptions {
            proposals: leaves
                .iter()
                .map(|l| Proposal::Remove { removed: l.0 })
                .collect(),
            ..CommitOptions::default()
        })
    }

    /// An empty commit with an UpdatePath that refreshes our leaf and path (post-compromise
    /// security) and rotates our signature key.
    ///
    /// # Errors
    /// See [`Group::commit`].
    pub fn self_update(&mut self) -> Result<CommitOutput> {
        self.commit(CommitOptions {
            force_path: true,
            rotate_signature_key: true,
            ..CommitOptions::default()
        })
    }

    /// Our UpdatePath (fresh leaf key and path secrets, merged into `plan.applied.tree`) if
    /// the plan has one. For an external commit our leaf is added first.
    fn make_update_path(
        &self,
        plan: &mut CommitPlan,
        external: Option<&ExternalJoin>,
    ) -> Result<OwnPath> {
        let p = &self.provider;
        let applied = &mut plan.applied;
        let (me, mut own, init_secret) = match external {
            Some(x) => {
                let me = applied.tree.add_leaf(p, x.leaf.clone())?;
                (
                    me,
                    TreeKemPrivate::new(me, x.leaf_key.clone()),
                    x.init_secret.clone(),
                )
            }
            None => (
                self.own_leaf(),
                self.state.own.clone(),
                self.state.keys.init_secret.clone(),
            ),
        };
        if !plan.with_path {
            return Ok(OwnPath {
                me,
                own,
                init_secret,
                path: None,
                commit_secret: None,
                path_secrets: vec![],
                new_signer: None,
            });
        }
        let new_signer = if plan.rotate {
            Some(p.signature_generate_key_pair()?.0)
        } else {
            None
        };
        let leaf_signer = match &new_signer {
            Some(k) => k,
            None => self.signer()?,
        };
        let old_ctx = &self.state.context;
        let extensions = applied.extensions.clone();
        let added: Vec<LeafIndex> = applied.added.iter().map(|(i, _)| *i).collect();
        let grease_random = grease::draw(p, &self.config)?;
        let created = treekem::create_update_path(
            p,
            &mut applied.tree,
            &mut own,
            leaf_signer,
            old_ctx.group_id.as_bytes(),
            &added,
            |leaf| grease::leaf(&self.config, leaf, grease_random.as_ref()),
            |t| provisional_context(old_ctx, t, &extensions).encode(),
        )?;
        Ok(OwnPath {
            me,
            own,
            init_secret,
            path: Some(created.update_path),
            commit_secret: Some(created.commit_secret),
            path_secrets: created.path_secrets,
            new_signer,
        })
    }

    /// Builds, signs and stages a commit over a plan. `external` is the joiner's side of an
    /// external commit (then `self` is a provisional group built from the GroupInfo, and the
    /// commit is sent as a PublicMessage).
    pub(crate) fn build_commit(
        &mut self,
        mut plan: CommitPlan,
        authenticated_data: &[u8],
        external: Option<ExternalJoin>,
    ) -> Result<CommitOutput> {
        let p = self.provider.clone();
        let p = &p;
        let old_ctx = self.state.context.clone();
        let path = self.make_update_path(&mut plan, external.as_ref())?;
        let me = path.me;
        let psks: Vec<Psk> = plan
            .applied
            .psk_ids
            .iter()
            .map(|id| resolve_psk(self, id))
            .collect::<Result<_>>()?;
        let psk = psk_secret(p, &psks)?;

        let content = FramedContent {
            group_id: old_ctx.group_id.as_bytes().to_vec(),
            epoch: old_ctx.epoch,
            sender: if external.is_some() {
                Sender::NewMemberCommit
            } else {
                Sender::Member(me.0)
            },
            authenticated_data: authenticated_data.to_vec(),
            content: Content::Commit(Box::new(Commit {
                proposals: core::mem::take(&mut plan.refs),
                path: path.path.clone(),
            })),
        };
        let format = if external.is_some() {
            HandshakeFormat::Public
        } else {
            self.config.handshake_format
        };
        let context = self.next_context(&content, format, &plan.applied)?;
        let secrets = EpochSecrets::derive(
            p,
            &path.init_secret,
            path.commit_secret.as_ref(),
            Some(&psk),
            &context.encode()?,
        )?;
        let tag = confirmation_tag(
            p,
            &secrets.confirmation_key,
            &context.confirmed_transcript_hash,
        )?;
        let interim = interim_transcript_hash(p, &context.confirmed_transcript_hash, &tag)?;
        // Signed with our current key (the new one, if any, only signs the path's leaf).
        let message = self
            .protect(content, Some(tag.clone()), format)?
            .to_bytes()?;
        let welcome = build_welcome(
            p,
            WelcomeInput {
                config: &self.config,
                signer: match &path.new_signer {
                    Some(k) => k,
                    None => self.signer()?,
                },
                me,
                context: &context,
                confirmation_tag: &tag,
                secrets: &secrets,
                applied: &plan.applied,
                path_secrets: &path.path_secrets,
            },
        )?;
        let last_commit_path = if path.path.is_some() {
            path_nodes(&plan.applied.tree, me)
        } else {
            vec![]
        };
        let mut staged = self.own_staged_commit(
            &plan.applied,
            core::mem::take(&mut plan.list),
            context.clone(),
            OwnPathLeaf {
                me,
                path: path.path,
                new_signer: path.new_signer,
            },
            authenticated_data,
            external.as_ref(),
        );
        // The applied tree moves into the next epoch (no copy of a large tree).
        staged.next = Some(Box::new(EpochState {
            keys: EpochKeys::new(
                secrets,
                plan.applied.tree.n_leaves(),
                self.config.secret_tree,
            )?,
            last_commit_path,
            context,
            tree: plan.applied.tree,
            own: path.own,
            interim_transcript_hash: interim,
            confirmation_tag: tag,
        }));
        let summary = staged.summary.clone();
        let epoch = summary.epoch;
        self.pending = Some(Box::new(PendingState {
            staged,
            message: message.clone(),
        }));
        self.touch();
        Ok(CommitOutput {
            commit: message,
            welcome,
            pending: PendingCommit { epoch },
            summary,
        })
    }

    /// The new GroupContext of a commit we frame as `format`: the applied tree and
    /// extensions with the confirmed transcript hash over the signed content.
    fn next_context(
        &self,
        content: &FramedContent,
        format: HandshakeFormat,
        applied: &Applied,
    ) -> Result<GroupContext> {
        let p = &self.provider;
        let wire_format = wire_format_of(format);
        let signature = sign_framed_content(
            p,
            self.signer()?,
            wire_format,
            content,
            Some(&self.state.context),
        )?;
        let ac = AuthenticatedContent {
            wire_format,
            content: content.clone(),
            auth: FramedContentAuthData {
                signature,
                confirmation_tag: Some(vec![]),
            },
        };
        let confirmed = confirmed_transcript_hash(
            p,
            &self.state.interim_transcript_hash,
            &ac.confirmed_transcript_hash_input()?,
        );
        let mut context =
            provisional_context(&self.state.context, &applied.tree, &applied.extensions);
        context.confirmed_transcript_hash = confirmed;
        Ok(context)
    }

    /// Our commit as a receiver will stage it, but for its next epoch (which the caller
    /// adds).
    fn own_staged_commit(
        &self,
        applied: &Applied,
        proposals: Vec<(Sender, Proposal)>,
        new_context: GroupContext,
        leaf: OwnPathLeaf,
        authenticated_data: &[u8],
        external: Option<&ExternalJoin>,
    ) -> StagedCommit<P> {
        let OwnPathLeaf {
            me,
            path,
            new_signer,
        } = leaf;
        let committer_credential = match external {
            Some(x) => Some(x.leaf.credential.clone()),
            None => self.state.tree.leaf(me).map(|l| l.credential.clone()),
        };
        let summary = CommitSummary {
            committer: Sender::Member(me.0),
            epoch: new_context.epoch,
            added: applied.added.iter().map(|(i, _)| *i).collect(),
            removed: applied.removed.clone(),
            updated: applied.updated.clone(),
            extensions_changed: applied.extensions_changed,
            psks: applied.psk_ids.len(),
            reinit: applied.reinit.clone(),
        };
        StagedCommit {
            provider: self.provider.clone(),
            binding: self.binding(),
            own: true,
            committer: summary.committer,
            committer_credential,
            committer_new_leaf: path.map(|p| p.leaf_node),
            proposals,
            added: applied
                .added
                .iter()
                .map(|(i, kp)| Member::of(*i, &kp.leaf_node))
                .collect(),
            removed: applied
                .removed
                .iter()
                .filter_map(|i| self.state.tree.leaf(*i).map(|l| Member::of(*i, l)))
                .collect(),
            new_context,
            authenticated_data: authenticated_data.to_vec(),
            summary,
            next: None,
            change: None,
            new_signer,
        }
    }
}
