//! The NIP-EE admin rules as an MLS policy, consulted by `nipee-mls` before any proposal
//! or commit is stored or applied, on every path (received proposals, received commits,
//! proposals committed by reference).
//!
//! * Only admins (the `admin_pubkeys` of the current 0xF2EE) may add members, remove other
//!   members, or change the GroupContext extensions (the group data).
//! * Any member may update its own leaf, and may leave (propose its own removal); a
//!   non-admin may commit only Updates and self-removals proposed by the removed member.
//! * A commit that leaves the group without an admin member is rejected.
//! * No credential changes its identity (Update proposals here; the committer's own new
//!   leaf is checked by the client after staging, before anything is stored).

use std::collections::BTreeSet;

use nipee_mls::framing::Proposal;
use nipee_mls::group::{GroupPolicy, PolicyView, Sender};
use nipee_nostr::PublicKey;

use crate::group_data::NostrGroupData;
use crate::key_package_event::credential_pubkey;

/// The admin-rule policy.
#[derive(Debug, Clone, Copy, Default)]
pub struct AdminPolicy;

fn group_data(view: &PolicyView<'_>) -> Result<NostrGroupData, String> {
    let ext = view
        .context
        .extensions
        .iter()
        .find(|e| e.extension_type == crate::group_data::NOSTR_GROUP_DATA)
        .ok_or("the group has no nostr_group_data extension")?;
    NostrGroupData::decode(&ext.data).map_err(|e| format!("bad nostr_group_data: {e}"))
}

fn sender_pubkey(view: &PolicyView<'_>, sender: &Sender) -> Result<PublicKey, String> {
    let cred = view
        .credential_of(sender)
        .ok_or("the sender is not a member")?;
    credential_pubkey(cred).map_err(|e| format!("sender credential: {e}"))
}

fn leaf_of(sender: &Sender) -> Option<u32> {
    match sender {
        Sender::Member(i) => Some(*i),
        _ => None,
    }
}

impl GroupPolicy for AdminPolicy {
    fn check_proposal(
        &self,
        view: &PolicyView<'_>,
        sender: &Sender,
        proposal: &Proposal,
    ) -> Result<(), String> {
        let data = group_data(view)?;
        let who = sender_pubkey(view, sender)?;
        let admin = data.is_admin(&who);
        match proposal {
            Proposal::Update(leaf) => {
                // The identity of a credential never changes.
                let new = credential_pubkey(&leaf.credential)
                    .map_err(|e| format!("updated credential: {e}"))?;
                if new == who {
                    Ok(())
                } else {
                    Err(format!(
                        "an Update may not change the identity {who} to {new}"
                    ))
                }
            }
            Proposal::Remove { removed } if Some(*removed) == leaf_of(sender) => Ok(()),
            Proposal::Add(_) | Proposal::Remove { .. } | Proposal::GroupContextExtensions(_) => {
                if admin {
                    Ok(())
                } else {
                    Err(format!("{who} is not an admin"))
                }
            }
            _ => Err("proposal type not allowed in a NIP-EE group".to_owned()),
        }
    }

    fn check_commit(
        &self,
        view: &PolicyView<'_>,
        committer: &Sender,
        proposals: &[(Sender, Proposal)],
    ) -> Result<(), String> {
        let data = group_data(view)?;
        let who = sender_pubkey(view, committer)?;
        let committer_is_admin = data.is_admin(&who);
        let mut admins: BTreeSet<PublicKey> = data.admins.iter().copied().collect();
        let mut removed = BTreeSet::new();
        let mut added = Vec::new();
        for (by, p) in proposals {
            // Each proposal must be acceptable from its own sender.
            self.check_proposal(view, by, p)?;
            match p {
                Proposal::Update(_) => {}
                Proposal::Remove { removed: leaf } => {
                    let self_removal = Some(*leaf) == leaf_of(by);
                    if !committer_is_admin && !self_removal {
                        return Err(format!("{who} is not an admin and cannot commit a removal"));
                    }
                    removed.insert(*leaf);
                }
                Proposal::Add(kp) => {
                    if !committer_is_admin {
                        return Err(format!("{who} is not an admin and cannot commit an Add"));
                    }
                    added.push(
                        credential_pubkey(&kp.leaf_node.credential)
                            .map_err(|e| format!("added member's credential: {e}"))?,
                    );
                }
                Proposal::GroupContextExtensions(exts) => {
                    if !committer_is_admin {
                        return Err(format!(
                            "{who} is not an admin and cannot change the group data"
                        ));
                    }
                    let ext = exts
                        .iter()
                        .find(|e| e.extension_type == crate::group_data::NOSTR_GROUP_DATA)
                        .ok_or("the new extensions drop nostr_group_data")?;
                    let new = NostrGroupData::decode(&ext.data)
                        .map_err(|e| format!("bad new nostr_group_data: {e}"))?;
                    if new.nostr_group_id != data.nostr_group_id {
                        return Err("the nostr_group_id may not change".to_owned());
                    }
                    admins = new.admins.into_iter().collect();
                }
                _ => return Err("proposal type not allowed in a NIP-EE group".to_owned()),
            }
        }
        // At least one admin must remain a member.
        let remaining = view
            .tree
            .leaves()
            .filter(|(i, _)| !removed.contains(&i.0))
            .filter_map(|(_, l)| credential_pubkey(&l.credential).ok())
            .chain(added);
        let mut any_admin = false;
        for pk in remaining {
            if admins.contains(&pk) {
                any_admin = true;
                break;
            }
        }
        if !any_admin {
            return Err("the commit would leave the group without an admin".to_owned());
        }
        Ok(())
    }
}
