//! Resolving a commit race: resuming this member's snapshot of an earlier epoch without
//! reusing any message key consumed since.

use super::state::Group;
use crate::crypto::GroupProvider;
use crate::error::{Error, Result};

impl<P: GroupProvider> Group<P> {
    /// Resumes `snapshot` (this member's group at epoch N, for example restored with
    /// [`Group::from_bytes`] from the copy taken just before a merge) against `live` (the
    /// same member's group now, at an epoch M > N, which retains epoch N among its past
    /// epochs). The result is at epoch N with the snapshot's tree, private path keys, epoch
    /// secrets, proposal cache and signature key, but epoch N's secret tree is `live`'s
    /// retained one (so every key `live` consumed stays consumed, ours included), the past
    /// epochs before N and their resumption PSKs are `live`'s, and no commit is pending.
    /// A competing commit for epoch N can then be staged and merged on it.
    ///
    /// # Errors
    /// [`Error::CannotResume`] if the groups differ, `live` is not past the snapshot's
    /// epoch, `live` does not retain epoch N (see [`crate::group::GroupConfig::max_past_epochs`])
    /// or retains it with another GroupContext, or the snapshot is inactive.
    pub fn resume_snapshot(snapshot: Group<P>, live: &Group<P>) -> Result<Group<P>> {
        let cannot = |reason| Err(Error::CannotResume { reason });
        if snapshot.group_id() != live.group_id() {
            return cannot("the snapshot is of another group");
        }
        if !snapshot.active {
            return cannot("the snapshot is of a group we had left");
        }
        let n = snapshot.epoch();
        if live.epoch() <= n {
            return cannot("the live group is not past the snapshot's epoch");
        }
        let Some(retained) = live.past_epochs.iter().find(|e| e.context.epoch == n) else {
            return cannot("the live group no longer retains the snapshot's epoch");
        };
        if retained.context != snapshot.state.context {
            return cannot("the live group's epoch differs from the snapshot's");
        }
        let mut resumed = snapshot;
        resumed.state.keys.secret_tree = retained.secret_tree.clone();
        resumed.past_epochs = live
            .past_epochs
            .iter()
            .filter(|e| e.context.epoch < n)
            .cloned()
            .collect();
        resumed.resumption_psks = live
            .resumption_psks
            .iter()
            .filter(|(e, _)| *e < n)
            .cloned()
            .collect();
        resumed.pending = None;
        resumed.touch();
        Ok(resumed)
    }
}
