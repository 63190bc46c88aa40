//! The NIP-EE admin rules, applied to a staged MLS message before it is merged, and to our
//! own commits before they are published (the same function both ways, so a commit we
//! would refuse from others we never send).
//!
//! * Only admins (the `admin_pubkeys` of the current `nostr_group_data`) may add members,
//!   remove other members, or change the GroupContext extensions (the group data).
//! * Any member may update its own leaf and propose its own removal; a non-admin may commit
//!   only path updates, Updates and self-removals proposed by the removed member.
//! * No commit may leave the group without an admin member.
//! * No credential changes its identity: an Update, and the committer's new leaf, keep the
//!   Nostr key of the leaf they replace.
//! * Only Add, Remove, Update and GroupContextExtensions proposals (and SelfRemove in a
//!   Marmot group); no external commits.
//!
//! A Marmot group adds what MDK enforces on receive, so that nipee never applies (or
//! sends) a commit MDK members refuse:
//! * a non-admin may commit only a pure self-update (an UpdatePath and no proposal at all)
//!   or a commit of SelfRemove proposals and nothing else (MIP-03). A SelfRemove removes
//!   exactly the member who signed it and is committed by reference only (nipee-mls
//!   refuses one by value, one from a non-member and the committer's own), so such a
//!   commit removes nobody who did not ask to leave;
//! * an admin may not send SelfRemove (MIP-03: an admin steps down first), so receivers
//!   refuse an admin's SelfRemove and any commit that carries one;
//! * no Update proposals (MDK ignores them, so a commit that names one cannot be applied
//!   by MDK members): leaves rotate through path-only commits;
//! * every credential identity is the raw 32-byte key (the only form MDK reads).

use std::collections::BTreeSet;

use nipee_keypackage::Credential;
use nipee_mls::LeafIndex;
use nipee_mls::Proposal;
use nipee_mls::group::{Group, Sender, StagedCommit};
use nipee_nostr::PublicKey;

use crate::error::{Error, Result};
use crate::group_data::NostrGroupData;
use crate::key_package_event::credential_pubkey;
use crate::profile::Profile;

/// Which admin rule a message broke.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyViolation {
    /// The sender or committer is not a member (external senders and commits are not used
    /// by NIP-EE).
    #[error("the sender is not a member of the group")]
    NotAMember,
    /// A non-admin tried what only admins may do.
    #[error("{who} is not an admin and may not {action}")]
    NotAdmin {
        /// The Nostr key.
        who: PublicKey,
        /// What was attempted.
        action: &'static str,
    },
    /// The commit would leave no admin in the group.
    #[error("the commit would leave the group without an admin")]
    NoAdminLeft,
    /// A credential's identity changed.
    #[error("leaf {leaf} changes its identity from {from} to {to}")]
    IdentityChanged {
        /// The leaf.
        leaf: u32,
        /// The identity before.
        from: PublicKey,
        /// The identity after.
        to: PublicKey,
    },
    /// A proposal type NIP-EE does not use.
    #[error("proposal type not allowed in a NIP-EE group: {0}")]
    ProposalNotAllowed(&'static str),
    /// New group data that drops or breaks `nostr_group_data`.
    #[error("the new group data is unusable: {0}")]
    BadGroupData(String),
    /// A credential identity the group's profile does not read (a Marmot group reads only
    /// the raw 32-byte key).
    #[error("credential identity not of the {profile} form: {reason}")]
    IdentityForm {
        /// The group's profile.
        profile: &'static str,
        /// What is wrong.
        reason: String,
    },
}

/// Checks that a credential's identity has the form the group's profile reads.
///
/// # Errors
/// [`Error::Policy`] ([`PolicyViolation::IdentityForm`]).
pub(crate) fn check_identity_form(profile: Profile, credential: &Credential) -> Result<()> {
    let identity = credential.identity().ok_or_else(|| {
        Error::from(PolicyViolation::IdentityForm {
            profile: profile.name(),
            reason: "not a BasicCredential".to_owned(),
        })
    })?;
    profile
        .identity_to_pubkey(identity)
        .map(|_| ())
        .map_err(|e| {
            Error::from(PolicyViolation::IdentityForm {
                profile: profile.name(),
                reason: e.to_string(),
            })
        })
}

fn member_key(group: &Group, sender: &Sender) -> Result<PublicKey> {
    match sender {
        Sender::Member(i) => {
            let m = group
                .member(LeafIndex(*i))
                .ok_or(Error::from(PolicyViolation::NotAMember))?;
            credential_pubkey(&m.credential)
        }
        _ => Err(Error::from(PolicyViolation::NotAMember)),
    }
}

fn leaf_of(sender: &Sender) -> Option<u32> {
    match sender {
        Sender::Member(i) => Some(*i),
        _ => None,
    }
}

fn proposal_name(p: &Proposal) -> &'static str {
    match p {
        Proposal::Add(_) => "add",
        Proposal::Update(_) => "update",
        Proposal::Remove { .. } => "remove",
        Proposal::PreSharedKey(_) => "psk",
        Proposal::ReInit(_) => "reinit",
        Proposal::ExternalInit { .. } => "external_init",
        Proposal::GroupContextExtensions(_) => "group_context_extensions",
        Proposal::SelfRemove => "self_remove",
    }
}

/// Checks one proposal from `sender` against the group as it is now.
///
/// # Errors
/// [`Error::Policy`] naming the rule.
pub(crate) fn check_proposal(
    profile: Profile,
    group: &Group,
    sender: &Sender,
    proposal: &Proposal,
) -> Result<()> {
    let data = profile.group_data(group.extensions())?;
    let who = member_key(group, sender)?;
    match proposal {
        // SelfRemove only in a Marmot group, and not from an admin (MIP-03).
        Proposal::SelfRemove if profile == Profile::Marmot => {
            if data.is_admin(&who) {
                Err(Error::from(PolicyViolation::NotAdmin {
                    who,
                    action: "leave by SelfRemove while an admin (MIP-03: step down first)",
                }))
            } else {
                Ok(())
            }
        }
        Proposal::Update(_) if profile == Profile::Marmot => Err(Error::from(
            PolicyViolation::ProposalNotAllowed("update (MDK ignores Update proposals)"),
        )),
        Proposal::Add(kp) if profile == Profile::Marmot => {
            check_identity_form(profile, &kp.leaf_node.credential)?;
            if data.is_admin(&who) {
                Ok(())
            } else {
                Err(Error::from(PolicyViolation::NotAdmin {
                    who,
                    action: "add, remove others or change the group data",
                }))
            }
        }
        Proposal::Update(leaf) => {
            let new = credential_pubkey(&leaf.credential)?;
            if new == who {
                Ok(())
            } else {
                Err(Error::from(PolicyViolation::IdentityChanged {
                    leaf: leaf_of(sender).unwrap_or(u32::MAX),
                    from: who,
                    to: new,
                }))
            }
        }
        Proposal::Remove { removed } if Some(*removed) == leaf_of(sender) => Ok(()),
        Proposal::Add(_) | Proposal::Remove { .. } | Proposal::GroupContextExtensions(_) => {
            if data.is_admin(&who) {
                Ok(())
            } else {
                Err(Error::from(PolicyViolation::NotAdmin {
                    who,
                    action: "add, remove others or change the group data",
                }))
            }
        }
        other => Err(Error::from(PolicyViolation::ProposalNotAllowed(
            proposal_name(other),
        ))),
    }
}

/// Checks a staged commit (another member's, or our own pending one) against the group as
/// it is before the commit. Returns the new group data.
///
/// # Errors
/// [`Error::Policy`] naming the rule.
pub(crate) fn check_commit(
    profile: Profile,
    group: &Group,
    staged: &StagedCommit,
) -> Result<NostrGroupData> {
    let data = profile.group_data(group.extensions())?;
    let committer = staged.committer();
    let who = member_key(group, &committer)?;
    let admin = data.is_admin(&who);
    let mut new_data = data.clone();
    let mut self_removes_only = !staged.proposals().is_empty();
    for (by, p) in staged.proposals() {
        check_proposal(profile, group, by, p)?;
        self_removes_only &= matches!(p, Proposal::SelfRemove);
        match p {
            // Checked above (Marmot only, never an admin's); it removes its own sender.
            Proposal::SelfRemove | Proposal::Update(_) => {}
            Proposal::Remove { removed } => {
                if !admin && Some(*removed) != leaf_of(by) {
                    return Err(Error::from(PolicyViolation::NotAdmin {
                        who,
                        action: "commit the removal of another member",
                    }));
                }
            }
            Proposal::Add(_) => {
                if !admin {
                    return Err(Error::from(PolicyViolation::NotAdmin {
                        who,
                        action: "commit an Add",
                    }));
                }
            }
            Proposal::GroupContextExtensions(_) => {
                if !admin {
                    return Err(Error::from(PolicyViolation::NotAdmin {
                        who,
                        action: "commit a change of the group data",
                    }));
                }
                new_data = profile
                    .group_data(staged.extensions())
                    .map_err(|e| Error::from(PolicyViolation::BadGroupData(e.to_string())))?;
            }
            other => {
                return Err(Error::from(PolicyViolation::ProposalNotAllowed(
                    proposal_name(other),
                )));
            }
        }
    }
    // In a Marmot group a non-admin commits pure self-updates or SelfRemoves only (what
    // MDK accepts).
    let self_update = staged.proposals().is_empty() && staged.committer_new_leaf().is_some();
    if profile == Profile::Marmot && !admin && !self_update && !self_removes_only {
        return Err(Error::from(PolicyViolation::NotAdmin {
            who,
            action: "commit anything but a path-only self-update or SelfRemoves in a Marmot group",
        }));
    }
    // The committer's new leaf (an UpdatePath) keeps the committer's identity.
    if let Some(leaf) = staged.committer_new_leaf() {
        check_identity_form(profile, &leaf.credential)?;
        let new = credential_pubkey(&leaf.credential)?;
        if new != who {
            return Err(Error::from(PolicyViolation::IdentityChanged {
                leaf: leaf_of(&committer).unwrap_or(u32::MAX),
                from: who,
                to: new,
            }));
        }
    }
    // At least one admin remains a member.
    let admins: BTreeSet<PublicKey> = new_data.admins.iter().copied().collect();
    let any_admin = staged
        .members()
        .iter()
        .filter_map(|m| credential_pubkey(&m.credential).ok())
        .any(|pk| admins.contains(&pk));
    if !any_admin && !staged.removes_us() {
        return Err(Error::from(PolicyViolation::NoAdminLeft));
    }
    if !any_admin {
        // Seen from a member being removed the new member list is unknown to us; the rule
        // is checked on what is known: the admins who remain among current members.
        let removed: BTreeSet<u32> = staged.removed().iter().map(|m| m.index.0).collect();
        let remains = group
            .members()
            .into_iter()
            .filter(|m| !removed.contains(&m.index.0))
            .filter_map(|m| credential_pubkey(&m.credential).ok())
            .any(|pk| admins.contains(&pk));
        if !remains {
            return Err(Error::from(PolicyViolation::NoAdminLeft));
        }
    }
    Ok(new_data)
}
