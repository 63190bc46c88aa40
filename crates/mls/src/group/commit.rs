//! Proposal validation (§12.1, §12.2), applying a proposal list (§12.3), creating a commit
//! (§12.4.1) with its Welcome (§12.4.3), and processing one (§12.4.2).

use std::collections::HashSet;

use nipee_keypackage::{
    CredentialType, ExtensionType, KeyPackage, LeafNodeContext, ProposalType, ValidationPolicy,
};

use super::ext::{self, RequiredCapabilities};
use super::{
    CachedProposal, EpochKeys, EpochState, Group, GroupPolicy, GroupProvider, HandshakeFormat,
    PendingState, encode_kp, validate_leaf,
};
use crate::crypto::{HpkePrivateKey, Secret, key_package_ref};
use crate::error::{Error, Result};
use crate::extensions::Extension;
use crate::framing::{
    AuthenticatedContent, Commit, Content, FramedContent, FramedContentAuthData, Proposal,
    ProposalOrRef, Sender, WireFormat, sign_framed_content,
};
use crate::schedule::{
    EpochSecrets, GroupContext, PreSharedKeyId, Psk, ResumptionPskUsage, confirmation_tag,
    confirmed_transcript_hash, interim_transcript_hash, psk_secret, verify_confirmation_tag,
};
use crate::tree::RatchetTree;
use crate::tree::math::{self, LeafIndex, NodeIndex};
use crate::tree::treekem::{self, TreeKemPrivate};
use crate::welcome::{EncryptedGroupSecrets, GroupInfo, GroupSecrets, Welcome};

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
    pub reinit: Option<crate::framing::ReInit>,
}

/// Options for [`Group::commit`].
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    /// Proposals to include by value (Add, Remove, PreSharedKey, GroupContextExtensions).
    pub proposals: Vec<Proposal>,
    /// Whether to include every valid cached proposal of the epoch by reference.
    pub include_pending: bool,
    /// Carry an UpdatePath even where none is required.
    pub force_path: bool,
    /// Authenticated, unencrypted data of the commit message.
    pub authenticated_data: Vec<u8>,
}

/// Handle for a commit awaiting [`Group::merge_pending_commit`] or
/// [`Group::discard_pending_commit`]. The pending state itself lives in the group (and is
/// persisted with it).
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

pub(crate) enum Staged {
    Next(Box<EpochState>, CommitSummary),
    Removed(CommitSummary),
}

/// Where the private side of a commit's UpdatePath comes from.
pub(crate) enum PathKeys {
    /// Another member's path: we decrypt our path secret from it (§12.4.2).
    Decrypt,
    /// Our own path, from the secrets we generated for it (the commit is ours).
    #[cfg(feature = "own-commit-recovery")]
    Own(super::own_commit::OwnCommitSecrets),
}

/// Duplicate extension types in a GroupContext list are invalid (§13.4).
pub(crate) fn check_extensions_list(list: &[Extension]) -> Result<()> {
    for (i, a) in list.iter().enumerate() {
        if list
            .iter()
            .skip(i + 1)
            .any(|b| b.extension_type == a.extension_type)
        {
            return Err(Error::MalformedField {
                field: "extensions",
                reason: "duplicate extension type",
            });
        }
    }
    if let Some(e) = ext::find(list, ExtensionType::REQUIRED_CAPABILITIES) {
        RequiredCapabilities::from_bytes(&e.data)?;
    }
    if let Some(e) = ext::find(list, ExtensionType::EXTERNAL_SENDERS) {
        ext::external_senders_from_bytes(&e.data)?;
    }
    Ok(())
}

/// Group-wide facts computed once per commit (no quadratic work over members).
pub(crate) struct GroupFacts {
    /// Credential types supported by every member.
    common_credentials: Option<Vec<CredentialType>>,
    /// Credential types in use.
    used_credentials: HashSet<CredentialType>,
}

impl GroupFacts {
    pub(crate) fn of(tree: &RatchetTree) -> Self {
        let mut common: Option<Vec<CredentialType>> = None;
        let mut used = HashSet::new();
        for (_, l) in tree.leaves() {
            used.insert(l.credential.credential_type());
            common = Some(match common {
                None => l.capabilities.credentials.clone(),
                Some(c) => c
                    .into_iter()
                    .filter(|t| l.capabilities.credentials.contains(t))
                    .collect(),
            });
        }
        GroupFacts {
            common_credentials: common,
            used_credentials: used,
        }
    }

    /// §7.3: the new leaf's credential type is supported by all members and the leaf
    /// supports every credential type in use.
    pub(crate) fn check_credentials(&self, leaf: &nipee_keypackage::LeafNode) -> Result<()> {
        let t = leaf.credential.credential_type();
        if let Some(c) = &self.common_credentials
            && !c.contains(&t)
        {
            return Err(Error::CapabilityMissing {
                what: "credential type not supported by every member",
            });
        }
        if self
            .used_credentials
            .iter()
            .any(|u| !leaf.capabilities.supports_credential(*u))
        {
            return Err(Error::CapabilityMissing {
                what: "a credential type in use",
            });
        }
        Ok(())
    }
}

fn check_psk_id<P: GroupProvider>(g: &Group<P>, id: &PreSharedKeyId) -> Result<()> {
    let nonce = match id {
        PreSharedKeyId::External { psk_nonce, .. } => psk_nonce,
        PreSharedKeyId::Resumption {
            usage, psk_nonce, ..
        } => {
            if *usage != ResumptionPskUsage::Application {
                return Err(Error::InvalidProposal {
                    reason: "resumption PSK with reinit/branch usage outside reinit/branch",
                });
            }
            psk_nonce
        }
    };
    if nonce.len() != g.provider.hash_len() {
        return Err(Error::BadLength {
            field: "psk_nonce",
            expected: g.provider.hash_len(),
            found: nonce.len(),
        });
    }
    Ok(())
}

fn resolve_psk<P: GroupProvider>(g: &Group<P>, id: &PreSharedKeyId) -> Result<Psk> {
    let secret = match id {
        PreSharedKeyId::External { psk_id, .. } => g
            .external_psks
            .iter()
            .find(|(i, _)| i == psk_id)
            .map(|(_, s)| s.clone()),
        PreSharedKeyId::Resumption {
            psk_group_id,
            psk_epoch,
            ..
        } => {
            if *psk_group_id == g.state.context.group_id {
                g.resumption_psk_of(*psk_epoch).cloned()
            } else {
                None
            }
        }
    };
    Ok(Psk {
        id: id.clone(),
        secret: secret.ok_or(Error::PskNotFound)?,
    })
}

/// Checks one proposal on its own (§12.1) against the current epoch.
pub(crate) fn validate_single<P: GroupProvider>(
    g: &Group<P>,
    sender: &Sender,
    proposal: &Proposal,
) -> Result<()> {
    let ctx = &g.state.context;
    let tree = &g.state.tree;
    match proposal {
        Proposal::Add(kp) => {
            kp.validate(&g.config.key_package_policy)?;
            if kp.cipher_suite.0 != ctx.cipher_suite.0 {
                return Err(Error::InvalidProposal {
                    reason: "KeyPackage of another cipher suite",
                });
            }
            let required = ext::required_capabilities(&ctx.extensions)?;
            ext::check_leaf_supports(&kp.leaf_node, &ctx.extensions, &required)?;
            GroupFacts::of(tree).check_credentials(&kp.leaf_node)?;
        }
        Proposal::Update(leaf) => {
            let Sender::Member(i) = sender else {
                return Err(Error::InvalidSender {
                    reason: "only members send Update proposals",
                });
            };
            validate_leaf(
                &g.config.leaf_policy(),
                leaf,
                LeafNodeContext::Update {
                    group_id: &ctx.group_id,
                    leaf_index: *i,
                },
            )?;
            let required = ext::required_capabilities(&ctx.extensions)?;
            ext::check_leaf_supports(leaf, &ctx.extensions, &required)?;
        }
        Proposal::Remove { removed } => {
            if tree.leaf(LeafIndex(*removed)).is_none() {
                return Err(Error::InvalidProposal {
                    reason: "Remove of a blank or out-of-range leaf",
                });
            }
        }
        Proposal::PreSharedKey(id) => check_psk_id(g, id)?,
        Proposal::GroupContextExtensions(list) => {
            check_extensions_list(list)?;
            let required = ext::required_capabilities(list)?;
            for (_, l) in tree.leaves() {
                ext::check_leaf_supports(l, list, &required)?;
            }
        }
        Proposal::ReInit(r) => {
            if r.version < ctx.version {
                return Err(Error::InvalidProposal {
                    reason: "ReInit to an older protocol version",
                });
            }
        }
        Proposal::ExternalInit { .. } => {
            return Err(Error::InvalidProposal {
                reason: "ExternalInit is only valid inside an external commit",
            });
        }
    }
    Ok(())
}

/// The result of applying a proposal list to copies of the tree and context.
pub(crate) struct Applied {
    pub(crate) tree: RatchetTree,
    pub(crate) extensions: Vec<Extension>,
    pub(crate) extensions_changed: bool,
    pub(crate) added: Vec<(LeafIndex, KeyPackage)>,
    pub(crate) removed: Vec<LeafIndex>,
    pub(crate) updated: Vec<LeafIndex>,
    pub(crate) psk_ids: Vec<PreSharedKeyId>,
    pub(crate) external_init: Option<Vec<u8>>,
    pub(crate) reinit: Option<crate::framing::ReInit>,
    pub(crate) path_required: bool,
}

/// Validates the proposal list of a commit (§12.2) and applies it (§12.3) to copies of the
/// tree and extensions. `committer` is `None` for an external commit.
pub(crate) fn validate_and_apply<P: GroupProvider>(
    g: &Group<P>,
    committer: Option<LeafIndex>,
    list: &[(Sender, Proposal)],
) -> Result<Applied> {
    let p = &g.provider;
    let ctx = &g.state.context;
    let old_tree = &g.state.tree;
    let external = committer.is_none();

    let mut gce: Option<&Vec<Extension>> = None;
    let mut updates: Vec<(LeafIndex, &nipee_keypackage::LeafNode)> = vec![];
    let mut removes: Vec<LeafIndex> = vec![];
    let mut adds: Vec<&KeyPackage> = vec![];
    let mut psk_ids: Vec<PreSharedKeyId> = vec![];
    let mut external_init: Option<Vec<u8>> = None;
    let mut reinit = None;
    let mut path_required = list.is_empty();
    let mut touched: HashSet<u32> = HashSet::new();

    for (sender, proposal) in list {
        match proposal {
            Proposal::Add(kp) => {
                if external {
                    return Err(Error::InvalidProposal {
                        reason: "an external commit cannot add members",
                    });
                }
                adds.push(kp);
            }
            Proposal::Update(leaf) => {
                path_required = true;
                let Sender::Member(i) = sender else {
                    return Err(Error::InvalidSender {
                        reason: "Update from a non-member",
                    });
                };
                if external || Some(LeafIndex(*i)) == committer {
                    return Err(Error::InvalidProposal {
                        reason: "the committer's own Update proposal",
                    });
                }
                if old_tree.leaf(LeafIndex(*i)).is_none() {
                    return Err(Error::InvalidSender {
                        reason: "Update from a blank leaf",
                    });
                }
                if !touched.insert(*i) {
                    return Err(Error::InvalidProposal {
                        reason: "several Update/Remove proposals for one leaf",
                    });
                }
                updates.push((LeafIndex(*i), leaf));
            }
            Proposal::Remove { removed } => {
                path_required = true;
                if Some(LeafIndex(*removed)) == committer {
                    return Err(Error::InvalidProposal {
                        reason: "a Remove of the committer",
                    });
                }
                if old_tree.leaf(LeafIndex(*removed)).is_none() {
                    return Err(Error::InvalidProposal {
                        reason: "Remove of a blank or out-of-range leaf",
                    });
                }
                if !touched.insert(*removed) {
                    return Err(Error::InvalidProposal {
                        reason: "several Update/Remove proposals for one leaf",
                    });
                }
                if external && !removes.is_empty() {
                    return Err(Error::InvalidProposal {
                        reason: "an external commit removes at most one leaf",
                    });
                }
                removes.push(LeafIndex(*removed));
            }
            Proposal::PreSharedKey(id) => {
                check_psk_id(g, id)?;
                if psk_ids.contains(id) {
                    return Err(Error::InvalidProposal {
                        reason: "the same PSK twice",
                    });
                }
                psk_ids.push(id.clone());
            }
            Proposal::GroupContextExtensions(list) => {
                path_required = true;
                if external {
                    return Err(Error::InvalidProposal {
                        reason: "GroupContextExtensions in an external commit",
                    });
                }
                if gce.is_some() {
                    return Err(Error::InvalidProposal {
                        reason: "several GroupContextExtensions proposals",
                    });
                }
                check_extensions_list(list)?;
                gce = Some(list);
            }
            Proposal::ReInit(r) => {
                if external {
                    return Err(Error::InvalidProposal {
                        reason: "ReInit in an external commit",
                    });
                }
                reinit = Some(r.clone());
            }
            Proposal::ExternalInit { kem_output } => {
                path_required = true;
                if !external {
                    return Err(Error::InvalidProposal {
                        reason: "ExternalInit in a member's commit",
                    });
                }
                if external_init.is_some() {
                    return Err(Error::InvalidProposal {
                        reason: "several ExternalInit proposals",
                    });
                }
                external_init = Some(kem_output.clone());
            }
        }
    }
    if reinit.is_some() && list.len() != 1 {
        return Err(Error::InvalidProposal {
            reason: "ReInit together with other proposals",
        });
    }
    if external && external_init.is_none() {
        return Err(Error::InvalidProposal {
            reason: "an external commit needs exactly one ExternalInit",
        });
    }

    // 1. GroupContextExtensions: the new list governs the rest of the checks.
    let extensions = gce.cloned().unwrap_or_else(|| ctx.extensions.clone());
    let required = ext::required_capabilities(&extensions)?;
    let leaf_policy = g.config.leaf_policy();
    let mut tree = old_tree.clone();

    // 2. Updates.
    for (i, leaf) in &updates {
        validate_leaf(
            &leaf_policy,
            leaf,
            LeafNodeContext::Update {
                group_id: &ctx.group_id,
                leaf_index: i.0,
            },
        )?;
        if let Some(old) = old_tree.leaf(*i)
            && old.encryption_key == leaf.encryption_key
        {
            return Err(Error::InvalidProposal {
                reason: "Update keeps the old encryption key",
            });
        }
        tree.update_leaf(p, *i, (*leaf).clone())?;
    }
    // 3. Removes.
    for i in &removes {
        tree.remove_leaf(p, *i)?;
    }
    // 4. Adds, in order. The group-wide sets are built once, and only when needed.
    let mut added = Vec::with_capacity(adds.len());
    let mut new_sig_keys: HashSet<[u8; 32]> = HashSet::new();
    let (facts, existing, existing_enc) = if adds.is_empty() {
        (None, HashSet::new(), HashSet::new())
    } else {
        (
            Some(GroupFacts::of(&tree)),
            tree.leaves()
                .map(|(_, l)| l.signature_key)
                .collect::<HashSet<[u8; 32]>>(),
            tree.leaves()
                .map(|(_, l)| l.encryption_key)
                .collect::<HashSet<[u8; 32]>>(),
        )
    };
    validate_key_packages(p, &g.config.key_package_policy, &adds)?;
    for kp in adds {
        if kp.cipher_suite.0 != ctx.cipher_suite.0 {
            return Err(Error::InvalidProposal {
                reason: "KeyPackage of another cipher suite",
            });
        }
        ext::check_leaf_supports(&kp.leaf_node, &extensions, &required)?;
        if let Some(f) = &facts {
            f.check_credentials(&kp.leaf_node)?;
        }
        if existing.contains(&kp.leaf_node.signature_key)
            || !new_sig_keys.insert(kp.leaf_node.signature_key)
        {
            return Err(Error::InvalidProposal {
                reason: "Add of a client already in the group (same signature key)",
            });
        }
        if existing_enc.contains(&kp.leaf_node.encryption_key) {
            return Err(Error::InvalidProposal {
                reason: "Add of a leaf whose encryption key is already in the tree",
            });
        }
        let index = tree.add_leaf(p, kp.leaf_node.clone())?;
        added.push((index, kp.clone()));
    }
    // Every remaining member must support a changed extension list; updated leaves must
    // support the (possibly new) requirements.
    if gce.is_some() {
        for (_, l) in tree.leaves() {
            ext::check_leaf_supports(l, &extensions, &required)?;
        }
    } else {
        for (i, _) in &updates {
            if let Some(l) = tree.leaf(*i) {
                ext::check_leaf_supports(l, &extensions, &required)?;
            }
        }
    }
    // Non-default proposal types are rejected at decoding; default ones every member
    // supports by definition.
    let _ = ProposalType::ADD;

    Ok(Applied {
        tree,
        extensions,
        extensions_changed: gce.is_some(),
        added,
        removed: removes,
        updated: updates.iter().map(|(i, _)| *i).collect(),
        psk_ids,
        external_init,
        reinit,
        path_required,
    })
}

fn provisional_context(
    old: &GroupContext,
    tree: &RatchetTree,
    extensions: &[Extension],
) -> GroupContext {
    GroupContext {
        version: old.version,
        cipher_suite: old.cipher_suite,
        group_id: old.group_id.clone(),
        epoch: old.epoch.wrapping_add(1),
        tree_hash: tree.tree_hash().to_vec(),
        confirmed_transcript_hash: old.confirmed_transcript_hash.clone(),
        extensions: extensions.to_vec(),
    }
}

/// Checks that the keys an UpdatePath introduces are not already in the tree (§7.3, §12.4.2).
fn check_path_keys_unique(
    tree: &RatchetTree,
    sender: LeafIndex,
    path: &crate::framing::UpdatePath,
    external: bool,
) -> Result<()> {
    // The path's few keys, sorted; the tree's leaves are then scanned once against them
    // (no per-commit set of every key in the group).
    let mut new: Vec<&[u8]> = Vec::with_capacity(path.nodes.len() + 1);
    new.push(&path.leaf_node.encryption_key);
    new.extend(path.nodes.iter().map(|n| n.encryption_key.as_slice()));
    new.sort_unstable();
    if new.windows(2).any(|w| w.first() == w.get(1)) {
        return Err(Error::InvalidTree {
            reason: "duplicate encryption key in an UpdatePath",
        });
    }
    for (i, l) in tree.leaves() {
        if i != sender && new.binary_search(&l.encryption_key.as_slice()).is_ok() {
            return Err(Error::InvalidTree {
                reason: "an UpdatePath key is already in the tree",
            });
        }
        if i != sender && l.signature_key == path.leaf_node.signature_key {
            return Err(Error::InvalidTree {
                reason: "the committer's signature key is already in the tree",
            });
        }
    }
    // Parent nodes too (§16.8: "the keys in an UpdatePath are not found elsewhere in the
    // tree"); the sender's direct path is about to be replaced, so it does not count.
    let replaced = math::direct_path(sender.node(), tree.n_leaves());
    for x in (1..math::node_width(tree.n_leaves())).step_by(2) {
        let x = NodeIndex(x);
        if let Some(pn) = tree.parent_node(x)
            && !replaced.contains(&x)
            && new.binary_search(&pn.encryption_key.as_slice()).is_ok()
        {
            return Err(Error::InvalidTree {
                reason: "an UpdatePath key is already in the tree",
            });
        }
    }
    if !external
        && let Some(old) = tree.leaf(sender)
        && old.encryption_key == path.leaf_node.encryption_key
    {
        return Err(Error::InvalidTree {
            reason: "the committer's new leaf keeps its encryption key",
        });
    }
    Ok(())
}

/// Processes another member's (or an external joiner's) commit without changing the group:
/// returns the next epoch's state if every check passes. With [`PathKeys::Own`] the commit
/// must be ours and carry a path, which is applied from the given secrets instead of being
/// decrypted.
pub(crate) fn stage_commit<P: GroupProvider>(
    g: &Group<P>,
    ac: &AuthenticatedContent,
    policy: &dyn GroupPolicy,
    path_keys: &PathKeys,
) -> Result<Staged> {
    let p = &g.provider;
    let Content::Commit(commit) = &ac.content.content else {
        return Err(Error::Internal("not a commit"));
    };
    let tag = ac
        .auth
        .confirmation_tag
        .as_deref()
        .ok_or(Error::BadConfirmationTag)?;
    let sender = ac.content.sender;
    let committer = match sender {
        Sender::Member(i) => Some(LeafIndex(i)),
        Sender::NewMemberCommit => None,
        _ => {
            return Err(Error::InvalidSender {
                reason: "a commit must come from a member or a new member",
            });
        }
    };
    if committer.is_none() && ac.wire_format != WireFormat::PublicMessage {
        return Err(Error::ContentNotAllowed {
            reason: "an external commit must be a PublicMessage",
        });
    }
    #[cfg(feature = "own-commit-recovery")]
    if let PathKeys::Own(_) = path_keys {
        if committer != Some(g.own_leaf()) {
            return Err(Error::InvalidSender {
                reason: "not a commit from our own leaf",
            });
        }
        if commit.path.is_none() {
            return Err(Error::Misuse(
                "own-commit recovery applies commits with an UpdatePath",
            ));
        }
    }

    // Resolve the proposals.
    let mut list: Vec<(Sender, Proposal)> = Vec::with_capacity(commit.proposals.len());
    let mut own_update_key: Option<&HpkePrivateKey> = None;
    for por in &commit.proposals {
        match por {
            ProposalOrRef::Proposal(prop) => {
                if matches!(prop, Proposal::Update(_)) {
                    return Err(Error::InvalidProposal {
                        reason: "an Update proposal by value",
                    });
                }
                list.push((sender, prop.clone()));
            }
            ProposalOrRef::Reference(r) => {
                if committer.is_none() {
                    return Err(Error::InvalidProposal {
                        reason: "an external commit carries proposals by value only",
                    });
                }
                let cached: &CachedProposal = g
                    .proposals
                    .iter()
                    .find(|c| c.reference == *r)
                    .ok_or(Error::UnknownProposalRef)?;
                if let Some((_, k)) = g.pending_updates.iter().find(|(pr, _)| pr == r) {
                    own_update_key = Some(k);
                }
                list.push((cached.sender, cached.proposal.clone()));
            }
        }
    }
    policy
        .check_commit(&g.view(), &sender, &list)
        .map_err(|reason| Error::RejectedByPolicy { reason })?;

    let mut applied = validate_and_apply(g, committer, &list)?;
    if applied.path_required && commit.path.is_none() {
        return Err(Error::InvalidState {
            reason: "this commit requires a path",
        });
    }
    let me = g.own_leaf();
    let summary = |epoch: u64, applied: &Applied, committer_leaf: LeafIndex| CommitSummary {
        committer: if committer.is_some() {
            sender
        } else {
            Sender::Member(committer_leaf.0)
        },
        epoch,
        added: applied.added.iter().map(|(i, _)| *i).collect(),
        removed: applied.removed.clone(),
        updated: applied.updated.clone(),
        extensions_changed: applied.extensions_changed,
        psks: applied.psk_ids.len(),
        reinit: applied.reinit.clone(),
    };
    if applied.removed.contains(&me) {
        let c = committer.unwrap_or(LeafIndex(u32::MAX));
        return Ok(Staged::Removed(summary(
            g.state.context.epoch.wrapping_add(1),
            &applied,
            c,
        )));
    }

    // The private keys: ours, with the leaf key of our own committed Update if any.
    let mut own = g.state.own.clone();
    if applied.updated.contains(&me) {
        let key = own_update_key.ok_or(Error::InvalidState {
            reason: "our leaf was updated by a proposal we did not send",
        })?;
        own = TreeKemPrivate::new(me, key.clone());
    }

    // External commit: the joiner's leaf goes to the leftmost blank.
    let sender_leaf = match committer {
        Some(c) => c,
        None => {
            let path = commit.path.as_ref().ok_or(Error::InvalidState {
                reason: "an external commit must carry a path",
            })?;
            let required = ext::required_capabilities(&applied.extensions)?;
            ext::check_leaf_supports(&path.leaf_node, &applied.extensions, &required)?;
            GroupFacts::of(&applied.tree).check_credentials(&path.leaf_node)?;
            applied.tree.add_leaf(p, path.leaf_node.clone())?
        }
    };

    let mut commit_secret: Option<Secret> = None;
    if let Some(path) = &commit.path {
        check_path_keys_unique(&applied.tree, sender_leaf, path, committer.is_none())?;
        // Every check of LeafNode validation but the signature, which `merge_update_path`
        // verifies (once).
        check_path_leaf(&g.config.leaf_policy(), &path.leaf_node)?;
        let required = ext::required_capabilities(&applied.extensions)?;
        ext::check_leaf_supports(&path.leaf_node, &applied.extensions, &required)?;
        treekem::merge_update_path(
            p,
            &mut applied.tree,
            sender_leaf,
            path,
            &g.state.context.group_id,
        )?;
        commit_secret = Some(match path_keys {
            PathKeys::Decrypt => {
                let provisional =
                    provisional_context(&g.state.context, &applied.tree, &applied.extensions);
                let excluded: Vec<LeafIndex> = applied.added.iter().map(|(i, _)| *i).collect();
                treekem::decrypt_update_path(
                    p,
                    &applied.tree,
                    sender_leaf,
                    path,
                    &mut own,
                    &provisional.encode()?,
                    &excluded,
                )?
                .commit_secret
            }
            #[cfg(feature = "own-commit-recovery")]
            PathKeys::Own(s) => {
                if p.signature_public_key(&s.signature_private_key)? != path.leaf_node.signature_key
                {
                    return Err(Error::OwnCommitMismatch {
                        what: "signature private key",
                    });
                }
                treekem::apply_own_update_path(
                    p,
                    &applied.tree,
                    path,
                    &mut own,
                    &s.leaf_encryption_private_key,
                    &s.path_secret,
                )?
            }
        });
    }

    let psks: Vec<Psk> = applied
        .psk_ids
        .iter()
        .map(|id| resolve_psk(g, id))
        .collect::<Result<_>>()?;
    let psk = psk_secret(p, &psks)?;

    let confirmed = confirmed_transcript_hash(
        p,
        &g.state.interim_transcript_hash,
        &ac.confirmed_transcript_hash_input()?,
    );
    let mut context = provisional_context(&g.state.context, &applied.tree, &applied.extensions);
    context.confirmed_transcript_hash = confirmed;
    let init_secret = match &applied.external_init {
        Some(kem_output) => {
            let (sk, _) = p.hpke_derive_key_pair(g.state.keys.external_secret.as_bytes())?;
            super::join::external_init_secret_receiver(p, &sk, kem_output)?
        }
        None => g.state.keys.init_secret.clone(),
    };
    let secrets = EpochSecrets::derive(
        p,
        &init_secret,
        commit_secret.as_ref(),
        Some(&psk),
        &context.encode()?,
    )?;
    verify_confirmation_tag(
        p,
        &secrets.confirmation_key,
        &context.confirmed_transcript_hash,
        tag,
    )?;
    let interim = interim_transcript_hash(p, &context.confirmed_transcript_hash, tag)?;
    let s = summary(context.epoch, &applied, sender_leaf);
    let keys = EpochKeys::new(secrets, applied.tree.n_leaves(), g.config.secret_tree)?;
    Ok(Staged::Next(
        Box::new(EpochState {
            context,
            tree: applied.tree,
            own,
            keys,
            interim_transcript_hash: interim,
            confirmation_tag: tag.to_vec(),
        }),
        s,
    ))
}

impl<P: GroupProvider> Group<P> {
    /// Creates a commit (§12.4.1): the given proposals by value, plus (with
    /// `include_pending`) the valid proposals of this epoch by reference; an UpdatePath where
    /// required (or always, per config/options); and one Welcome for every added member.
    /// The group stays in its epoch until [`Group::merge_pending_commit`].
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
        let mut list: Vec<(Sender, Proposal)> = vec![];
        let mut refs: Vec<ProposalOrRef> = vec![];
        if options.include_pending {
            // Prefer Removes over Updates for the same leaf; skip our own Updates.
            let removed: HashSet<u32> = self
                .proposals
                .iter()
                .filter_map(|c| match c.proposal {
                    Proposal::Remove { removed } => Some(removed),
                    _ => None,
                })
                .collect();
            let mut seen_remove: HashSet<u32> = HashSet::new();
            for c in &self.proposals {
                let keep = match (&c.proposal, c.sender) {
                    (Proposal::Update(_), Sender::Member(i)) => i != me.0 && !removed.contains(&i),
                    (Proposal::Remove { removed }, _) => {
                        *removed != me.0 && seen_remove.insert(*removed)
                    }
                    _ => true,
                };
                if keep {
                    list.push((c.sender, c.proposal.clone()));
                    refs.push(ProposalOrRef::Reference(c.reference.clone()));
                }
            }
        }
        for prop in &options.proposals {
            if matches!(prop, Proposal::Update(_) | Proposal::ExternalInit { .. }) {
                return Err(Error::Misuse(
                    "Update and ExternalInit cannot be committed by value",
                ));
            }
            list.push((Sender::Member(me.0), prop.clone()));
            refs.push(ProposalOrRef::Proposal(prop.clone()));
        }
        let applied = validate_and_apply(self, Some(me), &list)?;
        let with_path = applied.path_required || options.force_path || self.config.always_path;
        self.build_commit(applied, refs, with_path, &options.authenticated_data, None)
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

    /// An empty commit with an UpdatePath: refreshes our leaf and path (PCS).
    ///
    /// # Errors
    /// See [`Group::commit`].
    pub fn self_update(&mut self) -> Result<CommitOutput> {
        self.commit(CommitOptions {
            force_path: true,
            ..CommitOptions::default()
        })
    }

    /// Builds, signs and stages a commit over an applied proposal list. `external` carries
    /// the ExternalInit secret for an external commit (then `self` is a provisional group
    /// built from the GroupInfo, and the commit is sent as a PublicMessage).
    pub(crate) fn build_commit(
        &mut self,
        mut applied: Applied,
        refs: Vec<ProposalOrRef>,
        with_path: bool,
        authenticated_data: &[u8],
        external: Option<(Secret, nipee_keypackage::LeafNode, HpkePrivateKey)>,
    ) -> Result<CommitOutput> {
        let p = self.provider.clone();
        let p = &p;
        let old_ctx = self.state.context.clone();
        let mut own = self.state.own.clone();
        let added: Vec<LeafIndex> = applied.added.iter().map(|(i, _)| *i).collect();
        let (me, init_secret) = match &external {
            Some((init, leaf, leaf_key)) => {
                let me = applied.tree.add_leaf(p, leaf.clone())?;
                own = TreeKemPrivate::new(me, leaf_key.clone());
                (me, init.clone())
            }
            None => (self.own_leaf(), self.state.keys.init_secret.clone()),
        };
        let mut path_secrets = vec![];
        let mut commit_secret = None;
        let mut path = None;
        if with_path {
            let extensions = applied.extensions.clone();
            let created = treekem::create_update_path(
                p,
                &mut applied.tree,
                &mut own,
                &self.signer,
                &old_ctx.group_id,
                &added,
                |t| provisional_context(&old_ctx, t, &extensions).encode(),
            )?;
            commit_secret = Some(created.commit_secret);
            path_secrets = created.path_secrets;
            path = Some(created.update_path);
        }
        let psks: Vec<Psk> = applied
            .psk_ids
            .iter()
            .map(|id| resolve_psk(self, id))
            .collect::<Result<_>>()?;
        let psk = psk_secret(p, &psks)?;

        let sender = if external.is_some() {
            Sender::NewMemberCommit
        } else {
            Sender::Member(me.0)
        };
        let content = FramedContent {
            group_id: old_ctx.group_id.clone(),
            epoch: old_ctx.epoch,
            sender,
            authenticated_data: authenticated_data.to_vec(),
            content: Content::Commit(Box::new(Commit {
                proposals: refs,
                path,
            })),
        };
        let format = if external.is_some() {
            HandshakeFormat::Public
        } else {
            self.config.handshake_format
        };
        let wire_format = match format {
            HandshakeFormat::Public => WireFormat::PublicMessage,
            HandshakeFormat::Private => WireFormat::PrivateMessage,
        };
        let signature =
            sign_framed_content(p, &self.signer, wire_format, &content, Some(&old_ctx))?;
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
        let mut context = provisional_context(&old_ctx, &applied.tree, &applied.extensions);
        context.confirmed_transcript_hash = confirmed;
        let ctx_bytes = context.encode()?;
        let secrets = EpochSecrets::derive(
            p,
            &init_secret,
            commit_secret.as_ref(),
            Some(&psk),
            &ctx_bytes,
        )?;
        let tag = confirmation_tag(
            p,
            &secrets.confirmation_key,
            &context.confirmed_transcript_hash,
        )?;
        let interim = interim_transcript_hash(p, &context.confirmed_transcript_hash, &tag)?;
        let message = self
            .protect(content, Some(tag.clone()), format)?
            .to_bytes()?;

        // One Welcome for all new members.
        let welcome = if applied.added.is_empty() {
            None
        } else {
            let mut extensions = vec![];
            if self.config.ratchet_tree_extension {
                extensions.push(Extension::new(
                    ExtensionType::RATCHET_TREE,
                    applied.tree.encode()?,
                ));
            }
            let mut gi = GroupInfo {
                group_context: context.clone(),
                extensions,
                confirmation_tag: tag.clone(),
                signer: me.0,
                signature: vec![],
            };
            gi.sign(p, &self.signer)?;
            let egi = Welcome::encrypt_group_info(p, &secrets.welcome_secret, &gi)?;
            // EncryptWithLabel(init_key, "Welcome", encrypted_group_info, GroupSecrets): the
            // HPKE info is the same for every new member, so it is hashed once.
            let info_hash = p.hpke_info_hash(&crate::crypto::sign_content(b"Welcome", &egi)?);
            // Every new member's GroupSecrets are encoded first (zeroized when dropped), then
            // sealed in one batch the provider may spread over threads.
            let mut plaintexts = Vec::with_capacity(applied.added.len());
            for (leaf, _) in &applied.added {
                let path_secret = if path_secrets.is_empty() {
                    None
                } else {
                    let anc = math::common_ancestor(leaf.node(), me.node());
                    path_secrets
                        .iter()
                        .find(|(x, _)| *x == anc)
                        .map(|(_, s)| s.clone())
                };
                let gs = GroupSecrets {
                    joiner_secret: secrets.joiner_secret.clone(),
                    path_secret,
                    psks: applied.psk_ids.clone(),
                };
                let mut pt = nipee_codec::Writer::new();
                nipee_codec::Encode::encode(&gs, &mut pt)?;
                plaintexts.push(zeroize::Zeroizing::new(pt.into_bytes()));
            }
            let jobs: Vec<crate::group::SealJob<'_>> = applied
                .added
                .iter()
                .zip(&plaintexts)
                .map(|((_, kp), pt)| crate::group::SealJob {
                    public_key: &kp.init_key,
                    plaintext: pt,
                })
                .collect();
            let cts = p.hpke_seal_many_prehashed(&info_hash, &[], &jobs)?;
            drop(jobs);
            drop(plaintexts);
            let mut entries = Vec::with_capacity(applied.added.len());
            for ((_, kp), ct) in applied.added.iter().zip(cts) {
                entries.push(EncryptedGroupSecrets {
                    new_member: key_package_ref(p, &encode_kp(kp)?)?,
                    encrypted_group_secrets: ct,
                });
            }
            let w = Welcome {
                cipher_suite: context.cipher_suite,
                secrets: entries,
                encrypted_group_info: egi,
            };
            Some(
                crate::framing::MlsMessage {
                    body: crate::framing::MlsMessageBody::Welcome(w),
                }
                .to_bytes()?,
            )
        };

        let summary = CommitSummary {
            committer: Sender::Member(me.0),
            epoch: context.epoch,
            added,
            removed: applied.removed.clone(),
            updated: applied.updated.clone(),
            extensions_changed: applied.extensions_changed,
            psks: applied.psk_ids.len(),
            reinit: applied.reinit.clone(),
        };
        let keys = EpochKeys::new(secrets, applied.tree.n_leaves(), self.config.secret_tree)?;
        let epoch = context.epoch;
        self.pending = Some(Box::new(PendingState {
            next: EpochState {
                context,
                tree: applied.tree,
                own,
                keys,
                interim_transcript_hash: interim,
                confirmation_tag: tag,
            },
            message: message.clone(),
            summary: summary.clone(),
            new_signer: None,
        }));
        Ok(CommitOutput {
            commit: message,
            welcome,
            pending: PendingCommit { epoch },
            summary,
        })
    }
}

/// KeyPackage validation (§10.1 with §7.3 for the leaf, the checks of
/// `KeyPackage::validate`) for many KeyPackages at once: the structural checks per
/// KeyPackage, then the 2n signatures (leaf and KeyPackage) in one batch. After a failed
/// batch, each KeyPackage is validated on its own so the error names the failed check.
pub(crate) fn validate_key_packages<P: GroupProvider>(
    p: &P,
    policy: &ValidationPolicy,
    kps: &[&KeyPackage],
) -> Result<()> {
    use nipee_keypackage::{
        Error as KpError, ExtensionLocation, LeafNodeSource, LeafNodeSourceType, ProtocolVersion,
        SUITE,
    };
    let mut messages: Vec<Vec<u8>> = Vec::with_capacity(kps.len() * 2);
    let mut signatures: Vec<&[u8]> = Vec::with_capacity(kps.len() * 2);
    let mut keys: Vec<&[u8]> = Vec::with_capacity(kps.len() * 2);
    for kp in kps {
        if kp.version != ProtocolVersion::MLS10 {
            return Err(KpError::UnsupportedProtocolVersion(kp.version.0).into());
        }
        if kp.cipher_suite != SUITE {
            return Err(KpError::CipherSuiteMismatch {
                expected: SUITE,
                found: kp.cipher_suite,
            }
            .into());
        }
        let leaf = &kp.leaf_node;
        let LeafNodeSource::KeyPackage { lifetime } = &leaf.leaf_node_source else {
            return Err(KpError::WrongLeafNodeSource {
                expected: LeafNodeSourceType::KeyPackage,
                found: leaf.leaf_node_source.source_type(),
            }
            .into());
        };
        check_leaf_credential_and_extensions(policy, leaf)?;
        let Some(duration) = lifetime.duration() else {
            return Err(KpError::LifetimeInverted {
                not_before: lifetime.not_before,
                not_after: lifetime.not_after,
            }
            .into());
        };
        if let Some(max) = policy.max_lifetime_secs
            && duration > max
        {
            return Err(KpError::LifetimeTooLong { duration, max }.into());
        }
        if let nipee_keypackage::LifetimeCheck::At(now) = policy.lifetime {
            lifetime.check(now)?;
        }
        if !leaf.capabilities.supports_version(kp.version) {
            return Err(KpError::VersionNotInCapabilities(kp.version).into());
        }
        if !leaf.capabilities.supports_cipher_suite(kp.cipher_suite) {
            return Err(KpError::CipherSuiteNotInCapabilities(kp.cipher_suite).into());
        }
        check_exts(
            &kp.extensions,
            &leaf.capabilities,
            ExtensionLocation::KeyPackage,
        )?;
        if kp.init_key == leaf.encryption_key {
            return Err(KpError::InitKeyEqualsEncryptionKey.into());
        }
        messages.push(crate::crypto::sign_content(
            b"LeafNodeTBS",
            &leaf.tbs_bytes(&[], 0)?,
        )?);
        signatures.push(&leaf.signature);
        keys.push(&leaf.signature_key);
        messages.push(crate::crypto::sign_content(
            b"KeyPackageTBS",
            &kp.tbs_bytes()?,
        )?);
        signatures.push(&kp.signature);
        keys.push(&leaf.signature_key);
    }
    let msgs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
    if p.verify_many(&msgs, &signatures, &keys, "KeyPackage")
        .is_err()
    {
        for kp in kps {
            kp.validate(policy)?;
        }
        return Err(Error::BadSignature { what: "KeyPackage" });
    }
    Ok(())
}

/// No extension type twice, and each listed in the leaf's capabilities (§7.3, §13.4).
fn check_exts(
    list: &[nipee_keypackage::Extension],
    caps: &nipee_keypackage::Capabilities,
    location: nipee_keypackage::ExtensionLocation,
) -> core::result::Result<(), nipee_keypackage::Error> {
    for (i, e) in list.iter().enumerate() {
        if list
            .iter()
            .take(i)
            .any(|o| o.extension_type == e.extension_type)
        {
            return Err(nipee_keypackage::Error::DuplicateExtension {
                location,
                extension_type: e.extension_type,
            });
        }
        if !caps.supports_extension(e.extension_type) {
            return Err(nipee_keypackage::Error::ExtensionNotInCapabilities {
                location,
                extension_type: e.extension_type,
            });
        }
    }
    Ok(())
}

/// The checks of `LeafNode::validate` for the leaf of an UpdatePath, except the signature:
/// the commit source, the credential type (accepted by the policy and in the leaf's
/// capabilities) and the leaf's extensions.
fn check_path_leaf(policy: &ValidationPolicy, leaf: &nipee_keypackage::LeafNode) -> Result<()> {
    use nipee_keypackage::{Error as KpError, LeafNodeSourceType};
    let found = leaf.leaf_node_source.source_type();
    if found != LeafNodeSourceType::Commit {
        return Err(KpError::WrongLeafNodeSource {
            expected: LeafNodeSourceType::Commit,
            found,
        }
        .into());
    }
    check_leaf_credential_and_extensions(policy, leaf)
}

/// The leaf checks shared by KeyPackage leaves and UpdatePath leaves: the credential type is
/// accepted by the policy and listed in the leaf's capabilities, and the leaf's extensions
/// are allowed by them.
fn check_leaf_credential_and_extensions(
    policy: &ValidationPolicy,
    leaf: &nipee_keypackage::LeafNode,
) -> Result<()> {
    use nipee_keypackage::{Error as KpError, ExtensionLocation};
    let ct = leaf.credential.credential_type();
    if !policy.credential_types.contains(&ct) {
        return Err(KpError::UnsupportedCredentialType(ct).into());
    }
    if !leaf.capabilities.supports_credential(ct) {
        return Err(KpError::CredentialNotInCapabilities(ct).into());
    }
    check_exts(
        &leaf.extensions,
        &leaf.capabilities,
        ExtensionLocation::LeafNode,
    )?;
    Ok(())
}
