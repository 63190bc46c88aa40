//! Proposal validation (RFC 9420 §12.1, §12.2) and applying a commit's proposal list to a
//! copy of the tree (§12.3), shared by commits we create and commits we receive.

use std::collections::HashSet;

use nipee_keypackage::{
    CredentialType, KeyPackage, LeafNode, LeafNodeContext, ProposalType, ValidationPolicy,
};

use super::ext;
use super::state::Group;
use crate::crypto::GroupProvider;
use crate::error::{Error, Result};
use crate::extensions::Extension;
use crate::framing::{Proposal, ReInit, Sender};
use crate::schedule::{GroupContext, PreSharedKeyId, Psk, ResumptionPskUsage};
use crate::tree::RatchetTree;
use crate::tree::math::LeafIndex;

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

    /// The credential types the members use.
    pub(crate) fn credentials_in_use(&self) -> impl Iterator<Item = CredentialType> + '_ {
        self.used_credentials.iter().copied()
    }

    /// §7.3: the new leaf's credential type is supported by all members and the leaf
    /// supports every credential type in use.
    pub(crate) fn check_credentials(&self, leaf: &LeafNode) -> Result<()> {
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

/// The secret of a PSK named by a proposal: an external PSK we hold, or a retained
/// resumption PSK of this group.
pub(crate) fn resolve_psk<P: GroupProvider>(g: &Group<P>, id: &PreSharedKeyId) -> Result<Psk> {
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

/// SelfRemove (draft-ietf-mls-extensions) is a non-default proposal type: it is valid only
/// in a group whose every member lists it in its capabilities (RFC 9420 §12.2: a commit
/// carries only proposal types every member supports; the draft's "self-remove-capable
/// group"). Our own leaf is one of them, so a client that does not advertise SelfRemove
/// neither sends nor accepts one.
pub(crate) fn check_self_remove_capable(tree: &RatchetTree) -> Result<()> {
    if tree
        .leaves()
        .all(|(_, l)| l.capabilities.supports_proposal(ProposalType::SELF_REMOVE))
    {
        Ok(())
    } else {
        Err(Error::CapabilityMissing {
            what: "SelfRemove (0x000a) in every member's capabilities",
        })
    }
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
            leaf.validate(
                &g.config.leaf_policy(),
                LeafNodeContext::Update {
                    group_id: ctx.group_id.as_bytes(),
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
            ext::check_extensions_list(list)?;
            let required = ext::required_capabilities(list)?;
            check_we_support_extensions(g, tree, list, &required)?;
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
        Proposal::SelfRemove => {
            // "SelfRemove cannot be sent as an external proposal": only a member, about
            // its own (non-blank) leaf, which is the sender's leaf by construction.
            let Sender::Member(i) = sender else {
                return Err(Error::InvalidSender {
                    reason: "only members send SelfRemove proposals",
                });
            };
            if tree.leaf(LeafIndex(*i)).is_none() {
                return Err(Error::InvalidSender {
                    reason: "SelfRemove from a blank leaf",
                });
            }
            check_self_remove_capable(tree)?;
        }
    }
    Ok(())
}

/// A new GroupContext extension list must be supported by us, by our own capabilities
/// without GREASE (§13.5), when we are a member of `tree` (a commit that removes us is
/// processed whatever it sets: we leave the group). GREASE "MUST NOT be sent in ...
/// `GroupContextExtensions.extensions`", so one there, or a GREASE type its
/// `required_capabilities` names, is refused here even when every member's advertised
/// capabilities happen to list it. This covers the commits we make and those we receive.
fn check_we_support_extensions<P: GroupProvider>(
    g: &Group<P>,
    tree: &RatchetTree,
    extensions: &[Extension],
    required: &ext::RequiredCapabilities,
) -> Result<()> {
    let me = g.own_leaf();
    let (Some(own), Some(_)) = (g.state.tree.leaf(me), tree.leaf(me)) else {
        return Ok(());
    };
    ext::check_we_support(&own.capabilities, extensions, required, [])
}

/// The result of applying a proposal list to copies of the tree and context.
pub(crate) struct Applied {
    pub(crate) tree: RatchetTree,
    pub(crate) extensions: Vec<Extension>,
    pub(crate) extensions_changed: bool,
    pub(crate) added: Vec<(LeafIndex, KeyPackage)>,
    /// Leaves removed: those of SelfRemove senders first, then those of Remove proposals.
    pub(crate) removed: Vec<LeafIndex>,
    pub(crate) updated: Vec<LeafIndex>,
    pub(crate) psk_ids: Vec<PreSharedKeyId>,
    pub(crate) external_init: Option<Vec<u8>>,
    pub(crate) reinit: Option<ReInit>,
    pub(crate) path_required: bool,
}

/// A commit's proposals sorted by type, in the order they are applied (§12.3), after the
/// checks of §12.2 that look at the list as a whole.
struct Sorted<'a> {
    gce: Option<&'a Vec<Extension>>,
    updates: Vec<(LeafIndex, &'a LeafNode)>,
    /// The senders of SelfRemove proposals (applied after Updates, before Removes).
    self_removes: Vec<LeafIndex>,
    removes: Vec<LeafIndex>,
    adds: Vec<&'a KeyPackage>,
    psk_ids: Vec<PreSharedKeyId>,
    external_init: Option<Vec<u8>>,
    reinit: Option<ReInit>,
    path_required: bool,
}

/// Sorts and checks a proposal list (§12.2). `committer` is `None` for an external commit.
fn sort_proposals<'a, P: GroupProvider>(
    g: &Group<P>,
    committer: Option<LeafIndex>,
    list: &'a [(Sender, Proposal)],
) -> Result<Sorted<'a>> {
    let old_tree = &g.state.tree;
    let external = committer.is_none();
    let invalid = |reason| Err(Error::InvalidProposal { reason });
    let mut s = Sorted {
        gce: None,
        updates: vec![],
        self_removes: vec![],
        removes: vec![],
        adds: vec![],
        psk_ids: vec![],
        external_init: None,
        reinit: None,
        path_required: list.is_empty(),
    };
    let mut touched: HashSet<u32> = HashSet::new();
    for (sender, proposal) in list {
        match proposal {
            Proposal::Add(kp) => {
                if external {
                    return invalid("an external commit cannot add members");
                }
                s.adds.push(kp);
            }
            Proposal::Update(leaf) => {
                s.path_required = true;
                let Sender::Member(i) = sender else {
                    return Err(Error::InvalidSender {
                        reason: "Update from a non-member",
                    });
                };
                if external || Some(LeafIndex(*i)) == committer {
                    return invalid("the committer's own Update proposal");
                }
                if old_tree.leaf(LeafIndex(*i)).is_none() {
                    return Err(Error::InvalidSender {
                        reason: "Update from a blank leaf",
                    });
                }
                if !touched.insert(*i) {
                    return invalid("several Update/Remove/SelfRemove proposals for one leaf");
                }
                s.updates.push((LeafIndex(*i), leaf));
            }
            Proposal::Remove { removed } => {
                s.path_required = true;
                if Some(LeafIndex(*removed)) == committer {
                    return invalid("a Remove of the committer");
                }
                if old_tree.leaf(LeafIndex(*removed)).is_none() {
                    return invalid("Remove of a blank or out-of-range leaf");
                }
                if !touched.insert(*removed) {
                    return invalid("several Update/Remove/SelfRemove proposals for one leaf");
                }
                if external && !s.removes.is_empty() {
                    return invalid("an external commit removes at most one leaf");
                }
                s.removes.push(LeafIndex(*removed));
            }
            Proposal::PreSharedKey(id) => {
                check_psk_id(g, id)?;
                if s.psk_ids.contains(id) {
                    return invalid("the same PSK twice");
                }
                s.psk_ids.push(id.clone());
            }
            Proposal::GroupContextExtensions(list) => {
                s.path_required = true;
                if external {
                    return invalid("GroupContextExtensions in an external commit");
                }
                if s.gce.is_some() {
                    return invalid("several GroupContextExtensions proposals");
                }
                ext::check_extensions_list(list)?;
                s.gce = Some(list);
            }
            Proposal::ReInit(r) => {
                if external {
                    return invalid("ReInit in an external commit");
                }
                s.reinit = Some(r.clone());
            }
            Proposal::ExternalInit { kem_output } => {
                s.path_required = true;
                if !external {
                    return invalid("ExternalInit in a member's commit");
                }
                if s.external_init.is_some() {
                    return invalid("several ExternalInit proposals");
                }
                s.external_init = Some(kem_output.clone());
            }
            Proposal::SelfRemove => {
                s.path_required = true;
                let Sender::Member(i) = sender else {
                    return Err(Error::InvalidSender {
                        reason: "SelfRemove from a non-member",
                    });
                };
                // The committer knows the next epoch's secrets, so it cannot be the member
                // who leaves.
                if Some(LeafIndex(*i)) == committer {
                    return invalid("the committer's own SelfRemove");
                }
                if old_tree.leaf(LeafIndex(*i)).is_none() {
                    return Err(Error::InvalidSender {
                        reason: "SelfRemove from a blank leaf",
                    });
                }
                // "If there is a pending SelfRemove proposal for a specific leaf node and
                // a pending Remove proposal for the same leaf node, the Remove proposal is
                // invalid": a commit carrying both (or two SelfRemoves of one member) is.
                if !touched.insert(*i) {
                    return invalid("several Update/Remove/SelfRemove proposals for one leaf");
                }
                s.self_removes.push(LeafIndex(*i));
            }
        }
    }
    if !s.self_removes.is_empty() {
        check_self_remove_capable(old_tree)?;
    }
    if s.reinit.is_some() && list.len() != 1 {
        return invalid("ReInit together with other proposals");
    }
    if external && s.external_init.is_none() {
        return invalid("an external commit needs exactly one ExternalInit");
    }
    Ok(s)
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
    let sorted = sort_proposals(g, committer, list)?;

    // 1. GroupContextExtensions: the new list governs the rest of the checks.
    let extensions = sorted
        .gce
        .cloned()
        .unwrap_or_else(|| ctx.extensions.clone());
    let required = ext::required_capabilities(&extensions)?;
    let leaf_policy = g.config.leaf_policy();
    let mut tree = old_tree.clone();

    // 2. Updates.
    for (i, leaf) in &sorted.updates {
        leaf.validate(
            &leaf_policy,
            LeafNodeContext::Update {
                group_id: ctx.group_id.as_bytes(),
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
    // 3. SelfRemoves (the sender's leaf), then Removes.
    for i in sorted.self_removes.iter().chain(&sorted.removes) {
        tree.remove_leaf(p, *i)?;
    }
    // 4. Adds, in order.
    let added = apply_adds(g, &mut tree, &sorted.adds, &extensions)?;
    // Every remaining member must support a changed extension list; updated leaves must
    // support the (possibly new) requirements.
    if sorted.gce.is_some() {
        check_we_support_extensions(g, &tree, &extensions, &required)?;
        for (_, l) in tree.leaves() {
            ext::check_leaf_supports(l, &extensions, &required)?;
        }
    } else {
        for (i, _) in &sorted.updates {
            if let Some(l) = tree.leaf(*i) {
                ext::check_leaf_supports(l, &extensions, &required)?;
            }
        }
    }
    // Unknown proposal types are rejected at decoding; default ones every member supports
    // by definition; SelfRemove, the one non-default type, was checked against every
    // member's capabilities above.
    Ok(Applied {
        tree,
        extensions,
        extensions_changed: sorted.gce.is_some(),
        added,
        removed: sorted
            .self_removes
            .into_iter()
            .chain(sorted.removes)
            .collect(),
        updated: sorted.updates.iter().map(|(i, _)| *i).collect(),
        psk_ids: sorted.psk_ids,
        external_init: sorted.external_init,
        reinit: sorted.reinit,
        path_required: sorted.path_required,
    })
}

/// Validates the KeyPackages of a commit's Adds (in one signature batch) and adds their
/// leaves to `tree` in order. The group-wide sets are built once, and only when needed.
fn apply_adds<P: GroupProvider>(
    g: &Group<P>,
    tree: &mut RatchetTree,
    adds: &[&KeyPackage],
    extensions: &[Extension],
) -> Result<Vec<(LeafIndex, KeyPackage)>> {
    let p = &g.provider;
    if adds.is_empty() {
        return Ok(vec![]);
    }
    let required = ext::required_capabilities(extensions)?;
    let facts = GroupFacts::of(tree);
    let existing: HashSet<[u8; 32]> = tree.leaves().map(|(_, l)| l.signature_key).collect();
    let existing_enc: HashSet<[u8; 32]> = tree.leaves().map(|(_, l)| l.encryption_key).collect();
    let mut new_sig_keys: HashSet<[u8; 32]> = HashSet::new();
    validate_key_packages(p, &g.config.key_package_policy, adds)?;
    let mut added = Vec::with_capacity(adds.len());
    for kp in adds {
        if kp.cipher_suite.0 != g.state.context.cipher_suite.0 {
            return Err(Error::InvalidProposal {
                reason: "KeyPackage of another cipher suite",
            });
        }
        ext::check_leaf_supports(&kp.leaf_node, extensions, &required)?;
        facts.check_credentials(&kp.leaf_node)?;
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
        added.push((index, (*kp).clone()));
    }
    Ok(added)
}

/// The GroupContext of the next epoch before its confirmed transcript hash is known.
pub(crate) fn provisional_context(
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

/// KeyPackage validation (§10.1 with §7.3 for the leaf, the checks of
/// `KeyPackage::validate`) for many KeyPackages at once: the structural checks per
/// KeyPackage, then the 2n signatures (leaf and KeyPackage) in one batch. After a failed
/// batch, each KeyPackage is validated on its own so the error names the failed check.
pub(crate) fn validate_key_packages<P: GroupProvider>(
    p: &P,
    policy: &ValidationPolicy,
    kps: &[&KeyPackage],
) -> Result<()> {
    let mut messages: Vec<Vec<u8>> = Vec::with_capacity(kps.len() * 2);
    let mut signatures: Vec<&[u8]> = Vec::with_capacity(kps.len() * 2);
    let mut keys: Vec<&[u8]> = Vec::with_capacity(kps.len() * 2);
    for kp in kps {
        // One implementation of §10.1 (with §7.3 for the leaf) for the whole workspace:
        // nipee-keypackage's, signatures apart.
        kp.validate_structure(policy)?;
        let leaf = &kp.leaf_node;
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

/// The checks of the leaf of an UpdatePath that `LeafNode::validate` makes, except the
/// signature, which the path's merge verifies: the `commit` source, the credential type
/// (accepted by the policy and listed in the leaf's capabilities) and the leaf's
/// extensions (no type twice, each listed in its capabilities, §7.3).
pub(crate) fn check_path_leaf(policy: &ValidationPolicy, leaf: &LeafNode) -> Result<()> {
    // The group id and leaf index only matter to the signature, which is not checked here.
    leaf.validate_structure(
        policy,
        LeafNodeContext::Commit {
            group_id: &[],
            leaf_index: 0,
        },
    )?;
    Ok(())
}
