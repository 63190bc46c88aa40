//! Staging a received commit (RFC 9420 §12.4.2): resolving its proposals, validating and
//! applying them to a copy of the tree, merging and decrypting its UpdatePath, running the
//! key schedule and checking the confirmation tag. The group itself is never changed.

use nipee_keypackage::Credential;

use super::epoch::{EpochKeys, EpochState, Member};
use super::ext;
use super::proposals::{
    Applied, GroupFacts, check_path_leaf, provisional_context, resolve_psk, validate_and_apply,
};
use super::staged::{CommitSummary, StagedCommit};
use super::state::Group;
#[cfg(feature = "own-commit-recovery")]
use crate::crypto::SignatureSecretKey;
use crate::crypto::{GroupProvider, HpkePrivateKey, Secret};
use crate::error::{Error, Result};
use crate::framing::{
    AuthenticatedContent, Commit, Content, Proposal, ProposalOrRef, Sender, UpdatePath, WireFormat,
};
use crate::schedule::{
    EpochSecrets, GroupContext, Psk, confirmed_transcript_hash, interim_transcript_hash,
    psk_secret, verify_confirmation_tag,
};
use crate::tree::RatchetTree;
use crate::tree::math::{self, LeafIndex, NodeIndex};
use crate::tree::treekem::{self, TreeKemPrivate};

#[cfg(feature = "own-commit-recovery")]
/// What the committer generated for the UpdatePath of one of our commits.
///
/// Holds secrets: not `Debug`-printable beyond its type, zeroized on drop (each field is).
pub struct OwnCommitSecrets {
    /// The HPKE private key of our new leaf (the UpdatePath's `leaf_node.encryption_key`).
    pub leaf_encryption_private_key: HpkePrivateKey,
    /// Our signature private key after the commit: the new one if the commit rotated it,
    /// else the current one. Its public key must be the new leaf's `signature_key`.
    pub signature_private_key: SignatureSecretKey,
    /// The path secret of the first node of our filtered direct path; the nodes above it
    /// and `commit_secret` follow by `DeriveSecret(·, "path")`. With an empty filtered
    /// direct path (we are alone in the group) it is the secret `commit_secret` is derived
    /// from, and only the confirmation tag checks it.
    pub path_secret: Secret,
}

#[cfg(feature = "own-commit-recovery")]
impl core::fmt::Debug for OwnCommitSecrets {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("OwnCommitSecrets").finish_non_exhaustive()
    }
}

/// Where the private side of a commit's UpdatePath comes from.
pub(crate) enum PathKeys {
    /// Another member's path: we decrypt our path secret from it (§12.4.2).
    Decrypt,
    /// Our own path, from the secrets we generated for it (the commit is ours).
    #[cfg(feature = "own-commit-recovery")]
    Own(Box<OwnCommitSecrets>),
}

/// The proposals a commit applies, by-reference ones resolved with their original senders,
/// and the leaf key of our own Update proposal among them, if any.
type Resolved<'a> = (Vec<(Sender, Proposal)>, Option<&'a HpkePrivateKey>);

fn resolve_proposals<'a, P: GroupProvider>(
    g: &'a Group<P>,
    commit: &Commit,
    sender: Sender,
    external: bool,
) -> Result<Resolved<'a>> {
    let mut list: Vec<(Sender, Proposal)> = Vec::with_capacity(commit.proposals.len());
    let mut own_update_key = None;
    for por in &commit.proposals {
        match por {
            ProposalOrRef::Proposal(prop) => {
                if matches!(prop, Proposal::Update(_)) {
                    return Err(Error::InvalidProposal {
                        reason: "an Update proposal by value",
                    });
                }
                // "SelfRemove proposals are only allowed in a Commit by reference": by
                // value its sender would be the committer, who cannot leave this way.
                if matches!(prop, Proposal::SelfRemove) {
                    return Err(Error::InvalidProposal {
                        reason: "a SelfRemove proposal by value",
                    });
                }
                list.push((sender, prop.clone()));
            }
            ProposalOrRef::Reference(r) => {
                let cached = g
                    .proposals
                    .iter()
                    .find(|c| c.reference == *r)
                    .ok_or(Error::UnknownProposalRef)?;
                // An external commit references nothing but SelfRemove proposals (the
                // draft allows those in external commits; RFC 9420 §12.4.3.2 nothing else).
                if external && !matches!(cached.proposal, Proposal::SelfRemove) {
                    return Err(Error::InvalidProposal {
                        reason: "an external commit references only SelfRemove proposals",
                    });
                }
                if let Some((_, k)) = g.pending_updates.iter().find(|(pr, _)| pr == r) {
                    own_update_key = Some(k);
                }
                list.push((cached.sender, cached.proposal.clone()));
            }
        }
    }
    Ok((list, own_update_key))
}

/// [`resolve_proposals`] for tests: the proposals `commit` applies, with their senders
/// (member 0 commits, or a new member when `external`).
#[cfg(test)]
pub(crate) fn resolve_for_test<P: GroupProvider>(
    g: &Group<P>,
    commit: &Commit,
    external: bool,
) -> Result<Vec<(Sender, Proposal)>> {
    let sender = if external {
        Sender::NewMemberCommit
    } else {
        Sender::Member(0)
    };
    resolve_proposals(g, commit, sender, external).map(|(list, _)| list)
}

/// Checks that the keys an UpdatePath introduces are not already in the tree (§7.3, §12.4.2).
fn check_path_keys_unique(
    tree: &RatchetTree,
    sender: LeafIndex,
    path: &UpdatePath,
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

/// The node indices an UpdatePath of `sender` replaced in `tree` (already merged): the
/// sender's leaf, then its filtered direct path.
pub(crate) fn path_nodes(tree: &RatchetTree, sender: LeafIndex) -> Vec<u32> {
    let mut out = vec![sender.node().0];
    out.extend(tree.filtered_direct_path(sender).iter().map(|(x, _)| x.0));
    out
}

/// Checks the public part of an UpdatePath and merges it into `applied.tree` (every check
/// of LeafNode validation but the signature, which `merge_update_path` verifies once).
fn merge_path<P: GroupProvider>(
    g: &Group<P>,
    applied: &mut Applied,
    sender: LeafIndex,
    path: &UpdatePath,
    external: bool,
) -> Result<()> {
    check_path_keys_unique(&applied.tree, sender, path, external)?;
    check_path_leaf(&g.config.leaf_policy(), &path.leaf_node)?;
    let required = ext::required_capabilities(&applied.extensions)?;
    ext::check_leaf_supports(&path.leaf_node, &applied.extensions, &required)?;
    treekem::merge_update_path(
        &g.provider,
        &mut applied.tree,
        sender,
        path,
        g.state.context.group_id.as_bytes(),
    )
}

/// `commit_secret` from a merged UpdatePath: decrypted (another member's commit) or
/// derived from the committer's secrets (our own), updating our private keys `own`.
fn path_commit_secret<P: GroupProvider>(
    g: &Group<P>,
    applied: &Applied,
    sender: LeafIndex,
    path: &UpdatePath,
    own: &mut TreeKemPrivate,
    path_keys: &PathKeys,
) -> Result<Secret> {
    let p = &g.provider;
    match path_keys {
        PathKeys::Decrypt => {
            let provisional =
                provisional_context(&g.state.context, &applied.tree, &applied.extensions);
            let excluded: Vec<LeafIndex> = applied.added.iter().map(|(i, _)| *i).collect();
            Ok(treekem::decrypt_update_path(
                p,
                &applied.tree,
                sender,
                path,
                own,
                &provisional.encode()?,
                &excluded,
            )?
            .commit_secret)
        }
        #[cfg(feature = "own-commit-recovery")]
        PathKeys::Own(s) => {
            if p.signature_public_key(&s.signature_private_key)? != path.leaf_node.signature_key {
                return Err(Error::OwnCommitMismatch {
                    what: "signature private key",
                });
            }
            treekem::apply_own_update_path(
                p,
                &applied.tree,
                path,
                own,
                &s.leaf_encryption_private_key,
                &s.path_secret,
            )
        }
    }
}

/// The new GroupContext: the applied tree and extensions with the confirmed transcript
/// hash over this commit.
fn next_context<P: GroupProvider>(
    g: &Group<P>,
    ac: &AuthenticatedContent,
    applied: &Applied,
) -> Result<GroupContext> {
    let confirmed = confirmed_transcript_hash(
        &g.provider,
        &g.state.interim_transcript_hash,
        &ac.confirmed_transcript_hash_input()?,
    );
    let mut context = provisional_context(&g.state.context, &applied.tree, &applied.extensions);
    context.confirmed_transcript_hash = confirmed;
    Ok(context)
}

/// Our private TreeKEM keys before the commit's path: the current ones, with the leaf key
/// of our own committed Update proposal if the commit applies one.
fn own_keys<P: GroupProvider>(
    g: &Group<P>,
    applied: &Applied,
    own_update_key: Option<&HpkePrivateKey>,
) -> Result<TreeKemPrivate> {
    let me = g.own_leaf();
    if applied.updated.contains(&me) {
        let key = own_update_key.ok_or(Error::InvalidState {
            reason: "our leaf was updated by a proposal we did not send",
        })?;
        return Ok(TreeKemPrivate::new(me, key.clone()));
    }
    Ok(g.state.own.clone())
}

/// What the next epoch is built from, besides the applied proposals.
struct NextEpoch<'a> {
    context: GroupContext,
    own: TreeKemPrivate,
    /// The committer's leaf, its UpdatePath (merged already) and where our keys for it
    /// come from.
    path: Option<(LeafIndex, &'a UpdatePath, &'a PathKeys)>,
    tag: &'a [u8],
    last_commit_path: Vec<u32>,
}

/// Our keys from the commit's path, then the key schedule of the new epoch, checked
/// against the commit's confirmation tag.
fn next_epoch<P: GroupProvider>(
    g: &Group<P>,
    applied: Applied,
    next: NextEpoch<'_>,
) -> Result<EpochState> {
    let p = &g.provider;
    let NextEpoch {
        context,
        mut own,
        path,
        tag,
        last_commit_path,
    } = next;
    let commit_secret = match path {
        Some((sender, path, keys)) => Some(path_commit_secret(
            g, &applied, sender, path, &mut own, keys,
        )?),
        None => None,
    };
    let psks: Vec<Psk> = applied
        .psk_ids
        .iter()
        .map(|id| resolve_psk(g, id))
        .collect::<Result<_>>()?;
    let psk = psk_secret(p, &psks)?;
    let init_secret = match &applied.external_init {
        Some(kem_output) => {
            let (sk, _) = p.hpke_derive_key_pair(g.state.keys.external_secret.as_bytes())?;
            ext::external_init_secret_receiver(p, &sk, kem_output)?
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
    let keys = EpochKeys::new(secrets, applied.tree.n_leaves(), g.config.secret_tree)?;
    Ok(EpochState {
        context,
        tree: applied.tree,
        own,
        keys,
        interim_transcript_hash: interim,
        confirmation_tag: tag.to_vec(),
        last_commit_path,
    })
}

/// The committer's leaf (`None` for an external commit), after the checks on who may
/// commit and how.
fn check_committer<P: GroupProvider>(
    g: &Group<P>,
    ac: &AuthenticatedContent,
    commit: &Commit,
    path_keys: &PathKeys,
) -> Result<Option<LeafIndex>> {
    let committer = match ac.content.sender {
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
    #[cfg(not(feature = "own-commit-recovery"))]
    let _ = (g, commit, path_keys);
    Ok(committer)
}

/// An external commit's new leaf, added at the leftmost blank of the applied tree after
/// the checks every new leaf passes.
fn add_external_leaf<P: GroupProvider>(
    g: &Group<P>,
    applied: &mut Applied,
    commit: &Commit,
) -> Result<LeafIndex> {
    let path = commit.path.as_ref().ok_or(Error::InvalidState {
        reason: "an external commit must carry a path",
    })?;
    let required = ext::required_capabilities(&applied.extensions)?;
    ext::check_leaf_supports(&path.leaf_node, &applied.extensions, &required)?;
    GroupFacts::of(&applied.tree).check_credentials(&path.leaf_node)?;
    applied.tree.add_leaf(&g.provider, path.leaf_node.clone())
}

/// Stages another member's (or an external joiner's) commit, authenticated as `ac` and
/// signed by a member with `credential`, without changing the group. With
/// [`PathKeys::Own`] the commit must be ours and carry a path, which is applied from the
/// given secrets instead of being decrypted. A commit that removes us is checked as far as
/// we can (everything but our path secret and the confirmation tag, which need the new
/// epoch's secrets) and staged without a next epoch.
pub(crate) fn stage_commit<P: GroupProvider>(
    g: &Group<P>,
    ac: &AuthenticatedContent,
    credential: Option<Credential>,
    path_keys: &PathKeys,
) -> Result<StagedCommit<P>> {
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
    let committer = check_committer(g, ac, commit, path_keys)?;
    let external = committer.is_none();
    let (proposals, own_update_key) = resolve_proposals(g, commit, sender, external)?;
    let mut applied = validate_and_apply(g, committer, &proposals)?;
    if applied.path_required && commit.path.is_none() {
        return Err(Error::InvalidState {
            reason: "this commit requires a path",
        });
    }
    let me = g.own_leaf();
    let removes_us = applied.removed.contains(&me);
    let removed: Vec<Member> = applied
        .removed
        .iter()
        .filter_map(|i| g.state.tree.leaf(*i).map(|l| Member::of(*i, l)))
        .collect();

    let sender_leaf = match committer {
        Some(c) => c,
        None => add_external_leaf(g, &mut applied, commit)?,
    };
    let mut last_commit_path = vec![];
    if let Some(path) = &commit.path {
        merge_path(g, &mut applied, sender_leaf, path, external)?;
        last_commit_path = path_nodes(&applied.tree, sender_leaf);
    }
    let context = next_context(g, ac, &applied)?;
    let summary = CommitSummary {
        committer: Sender::Member(sender_leaf.0),
        epoch: context.epoch,
        added: applied.added.iter().map(|(i, _)| *i).collect(),
        removed: applied.removed.clone(),
        updated: applied.updated.clone(),
        extensions_changed: applied.extensions_changed,
        psks: applied.psk_ids.len(),
        reinit: applied.reinit.clone(),
    };
    let added: Vec<Member> = applied
        .added
        .iter()
        .map(|(i, kp)| Member::of(*i, &kp.leaf_node))
        .collect();
    let committer_credential = match committer {
        Some(_) => credential,
        None => commit.path.as_ref().map(|p| p.leaf_node.credential.clone()),
    };

    let next = if removes_us {
        None
    } else {
        let own = own_keys(g, &applied, own_update_key)?;
        Some(Box::new(next_epoch(
            g,
            applied,
            NextEpoch {
                context: context.clone(),
                own,
                path: commit.path.as_ref().map(|p| (sender_leaf, p, path_keys)),
                tag,
                last_commit_path,
            },
        )?))
    };
    #[cfg(feature = "own-commit-recovery")]
    let (own, new_signer) = match path_keys {
        PathKeys::Own(s) => (true, Some(s.signature_private_key.clone())),
        PathKeys::Decrypt => (false, None),
    };
    #[cfg(not(feature = "own-commit-recovery"))]
    let (own, new_signer) = (false, None);
    Ok(StagedCommit {
        provider: p.clone(),
        binding: g.binding(),
        own,
        committer: summary.committer,
        committer_credential,
        committer_new_leaf: commit.path.as_ref().map(|p| p.leaf_node.clone()),
        proposals,
        added,
        removed,
        new_context: context,
        authenticated_data: ac.content.authenticated_data.clone(),
        summary,
        next,
        change: None,
        new_signer,
    })
}
