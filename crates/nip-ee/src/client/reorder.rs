//! Group events that arrive out of order: relays keep no order, so a commit can arrive
//! before a proposal it commits, and a proposal can arrive after its epoch was left (when
//! a competing commit was applied first). The commit waits in the buffer; the proposal is
//! kept in the fork snapshot of its epoch, where a late commit that wins the race for that
//! epoch looks for it.

use nipee_mls::group::{Group, Sender, Staged};
use nipee_mls::{MlsMessageIn, RustCryptoSuite1};
use nipee_nostr::Event;

use super::types::{Effects, IgnoreReason, Outcome};
use super::{Client, policy, storage_err};
use crate::error::{Error, Result};
use crate::ids::GroupId;
use crate::key_package_event::credential_pubkey;
use crate::storage::{Storage, Table, WriteBatch, fork_key, mark_processed};

impl<S: Storage> Client<S> {
    /// A commit that references a proposal we have not received: relays do not keep
    /// order, so it waits in the buffer and is retried after the next event of the group.
    pub(crate) fn wait_for_proposal(&mut self, gid: &GroupId, event: &Event) -> Result<Effects> {
        self.buffer(gid, event)?;
        let mut e = Effects::default();
        e.push(Outcome::Ignored(IgnoreReason::Buffered));
        Ok(e)
    }

    /// A proposal for an epoch we already left: kept in that epoch's fork snapshot, where
    /// a late commit that wins the race for that epoch will look for it.
    pub(crate) fn on_late_proposal(
        &mut self,
        gid: &GroupId,
        epoch: u64,
        msg: &MlsMessageIn,
        event: &Event,
        now: u64,
    ) -> Result<Effects> {
        let live = self.live(gid)?;
        let key = fork_key(gid.as_bytes(), epoch);
        let mut batch = WriteBatch::new();
        mark_processed(&mut batch, &event.id().to_bytes(), now);
        let Some(blob) = self.storage.get(Table::Fork, &key)? else {
            self.storage.apply(batch)?;
            let mut e = Effects::default();
            e.push(Outcome::Ignored(IgnoreReason::TooLate));
            return Ok(e);
        };
        let snapshot =
            Group::from_bytes(RustCryptoSuite1::new(), &blob).map_err(|e| storage_err(e.into()))?;
        let mut resumed = Group::resume_snapshot(snapshot, &live.group)?;
        let Staged::Proposal(p) = resumed.stage(msg)? else {
            return Err(Error::Internal {
                reason: "a proposal staged as something else",
            });
        };
        policy::check_proposal(live.profile, &resumed, &p.sender(), p.proposal())?;
        let sender = p
            .sender_credential()
            .and_then(|c| credential_pubkey(c).ok());
        let leave_request = matches!(
            (p.sender(), p.proposal()),
            (Sender::Member(s), nipee_mls::Proposal::Remove { removed }) if s == *removed
        );
        resumed.merge(Staged::Proposal(p))?;
        batch.put(Table::Fork, key, resumed.to_bytes()?);
        let outcome = Outcome::Proposal {
            group_id: gid.clone(),
            sender,
            leave_request,
        };
        let kept = self.keep(&mut batch, Some(event.id()), &outcome)?;
        self.storage.apply(batch)?;
        let mut e = Effects::default();
        e.push_kept(outcome, kept);
        Ok(e)
    }
}
