//! Leaving a group, and committing the departures of others.
//!
//! A `nip-ee` group, and a Marmot group that does not require SelfRemove, keep the RFC 9420
//! way: the leaver proposes the Remove of its own leaf and an admin commits it. A Marmot
//! group whose `required_capabilities` list SelfRemove (0x000a; MDK and nipee create their
//! groups so when every first member lists it) uses the MLS extensions' SelfRemove
//! proposal, as MDK does: the leaver, who must not be an admin (MIP-03: an admin steps
//! down first), sends it as a PublicMessage, and any member may commit it.

use nipee_keypackage::ProposalType;
use nipee_mls::Proposal;
use nipee_mls::group::{CommitOptions, Group, RequiredCapabilities, Sender};
use rand_core::CryptoRng;

use super::Client;
use super::policy::PolicyViolation;
use super::types::{Outgoing, PendingCommit};
use crate::error::{Error, Result};
use crate::ids::GroupId;
use crate::profile::Profile;
use crate::storage::Storage;

/// Whether the group's `required_capabilities` list SelfRemove: then every member supports
/// it (RFC 9420 §7.2 keeps out leaves that do not), and MDK members leave with it too.
///
/// # Errors
/// [`Error::Mls`] for a malformed `required_capabilities` extension.
pub(crate) fn self_remove_required(group: &Group) -> Result<bool> {
    let Some(ext) = group
        .extensions()
        .iter()
        .find(|e| e.extension_type == nipee_keypackage::ExtensionType::REQUIRED_CAPABILITIES)
    else {
        return Ok(false);
    };
    Ok(RequiredCapabilities::from_bytes(&ext.data)?
        .proposal_types
        .contains(&ProposalType::SELF_REMOVE))
}

impl<S: Storage> Client<S> {
    /// Leaves a group; we are out when a commit of our request arrives.
    ///
    /// In a Marmot group that requires SelfRemove: a SelfRemove proposal, which any member
    /// may commit (MDK members commit it as soon as they receive it). Elsewhere: a Remove
    /// proposal for our own leaf, which an admin commits.
    ///
    /// # Errors
    /// [`Error::Policy`] ([`PolicyViolation::NotAdmin`]) when we are an admin of a Marmot
    /// group that requires SelfRemove (MIP-03: remove ourselves from the admins first, with
    /// [`Client::update_group_data`]); MLS errors (a second SelfRemove in one epoch, a
    /// commit of ours pending).
    pub fn leave<R: CryptoRng + ?Sized>(
        &mut self,
        gid: &GroupId,
        now: u64,
        rng: &mut R,
    ) -> Result<Outgoing> {
        let me = self.keys.public_key();
        let live = self.live_mut(gid)?;
        let msg = if live.profile == Profile::Marmot && self_remove_required(&live.group)? {
            if live.data()?.is_admin(&me) {
                return Err(Error::from(PolicyViolation::NotAdmin {
                    who: me,
                    action: "leave a Marmot group while an admin (MIP-03: step down first)",
                }));
            }
            live.group.propose_self_remove()?
        } else {
            let own = live.group.own_leaf();
            live.group.propose_remove(own)?
        };
        self.wrap_and_persist(gid, &msg, super::outgoing::Saved::Whole, now, rng)
    }

    /// Commits the proposals received in this epoch (for example members who asked to
    /// leave). Admins may commit anything the rules allow. Others: in a `nip-ee` group
    /// self-removals and updates; in a Marmot group only the SelfRemove proposals (other
    /// pending proposals stay for an admin), as MDK's members do.
    ///
    /// # Errors
    /// [`Error::Policy`] for proposals we may not commit; [`Error::Misuse`] for a non-admin
    /// of a Marmot group when nobody asked to leave by SelfRemove; as [`Client::rotate`].
    pub fn commit_pending_proposals<R: CryptoRng + ?Sized>(
        &mut self,
        gid: &GroupId,
        now: u64,
        rng: &mut R,
    ) -> Result<PendingCommit> {
        let me = self.keys.public_key();
        let live = self.live(gid)?;
        let mut options = CommitOptions {
            include_pending: true,
            ..CommitOptions::default()
        };
        if live.profile == Profile::Marmot && !live.data()?.is_admin(&me) {
            let own = Sender::Member(live.group.own_leaf().0);
            let departures = live
                .group
                .pending_proposals()
                .iter()
                .any(|(by, p)| *p == Proposal::SelfRemove && *by != own);
            if !departures {
                return Err(Error::Misuse {
                    what: "no member asked to leave by SelfRemove, and a non-admin of a Marmot group commits nothing else",
                });
            }
            options.pending_types = vec![ProposalType::SELF_REMOVE];
        }
        self.stage_own_commit(gid, options, vec![], now, rng)
    }

    /// HAZMAT (feature `hazmat`, tests only): a SelfRemove proposal WITHOUT our own checks
    /// (sent even by an admin), to prove that receivers refuse what MIP-03 forbids.
    ///
    /// # Errors
    /// MLS errors.
    #[cfg(feature = "hazmat")]
    pub fn self_remove_unchecked<R: CryptoRng + ?Sized>(
        &mut self,
        gid: &GroupId,
        now: u64,
        rng: &mut R,
    ) -> Result<Outgoing> {
        let msg = self.live_mut(gid)?.group.propose_self_remove()?;
        self.wrap_and_persist(gid, &msg, super::outgoing::Saved::Whole, now, rng)
    }

    /// HAZMAT (feature `hazmat`, tests only): a commit of every pending proposal and of
    /// `proposals` by value, WITHOUT our own admin-rule check.
    ///
    /// # Errors
    /// MLS and storage errors.
    #[cfg(feature = "hazmat")]
    pub fn commit_pending_unchecked<R: CryptoRng + ?Sized>(
        &mut self,
        gid: &GroupId,
        proposals: Vec<Proposal>,
        now: u64,
        rng: &mut R,
    ) -> Result<PendingCommit> {
        let options = CommitOptions {
            proposals,
            include_pending: true,
            ..CommitOptions::default()
        };
        let mut batch = crate::storage::WriteBatch::new();
        let pending = self.build_own_commit(gid, options, vec![], false, now, rng, &mut batch)?;
        self.commit_batch(Some(gid), batch)?;
        Ok(pending)
    }
}
