//! Commit races: which of two authenticated commits for one epoch the group keeps.
//!
//! NIP-EE's rule is "lowest `created_at`, then lowest event id". A kind-445 event's
//! `created_at` and signer are not authenticated (the outer key is thrown away), so the
//! plain rule lets anyone who can copy an event re-date it. nipee applies the same order,
//! but only to facts an attacker cannot change:
//!
//! 1. A candidate is considered only after it authenticated as a commit for that epoch
//!    (staged against the epoch's state: signature, membership tag or AEAD, confirmation
//!    tag, UpdatePath). Forged bytes never roll anything back.
//! 2. Commits are identified by their authenticated MLS content (the new epoch's confirmed
//!    transcript hash), not by their outer bytes: a replayed, re-signed or re-encrypted
//!    copy of a commit already seen (applied or lost) is a duplicate and changes nothing,
//!    not even the recorded order key.
//! 3. nipee's own commits carry a binding in the MLS authenticated data: the `created_at`
//!    and the signer of the kind-445 event they are published in. A copy of such a commit
//!    under another `created_at` or signer is refused, so its order key cannot be forged.
//! 4. A late commit replaces the applied one only if its order key is lower, it is at most
//!    `rollback_epochs` behind, its `created_at` is within `race_window_secs` of the
//!    applied commit's and not before the commit that opened its epoch by more than the
//!    allowed clock skew (`max_future_skew_secs`), and it was not
//!    committed by a member whom the applied commit, or a commit applied after it, removes
//!    (a removed member cannot undo its removal, not even from an earlier epoch).
//!
//! In a genuine race among honest members every member ends on the same commit as a peer
//! applying the plain rule: honest commits are bound to their one event, arrive within
//! seconds of each other, and the extra conditions only refuse copies and stragglers.

use crate::error::{Error, Result};

use super::session::{OrderKey, RaceRecord};
use super::types::IgnoreReason;

/// The magic prefix of a commit binding in the MLS authenticated data.
pub(crate) const BINDING_MAGIC: &[u8; 8] = b"nipee/c1";
/// Length of a binding: magic, `created_at` (u64, big-endian), signer (x-only key).
pub(crate) const BINDING_LEN: usize = 8 + 8 + 32;

/// The authenticated data of a commit published at `created_at` by `signer`.
pub(crate) fn binding(created_at: u64, signer: &[u8; 32]) -> Vec<u8> {
    let mut v = Vec::with_capacity(BINDING_LEN);
    v.extend_from_slice(BINDING_MAGIC);
    v.extend_from_slice(&created_at.to_be_bytes());
    v.extend_from_slice(signer);
    v
}

/// Reads a binding from a commit's authenticated data: `None` for a commit without one
/// (from an implementation that applies the plain rule).
///
/// # Errors
/// [`Error::Malformed`] for a binding of the wrong length.
pub(crate) fn read_binding(authenticated_data: &[u8]) -> Result<Option<(u64, [u8; 32])>> {
    if !authenticated_data.starts_with(BINDING_MAGIC) {
        return Ok(None);
    }
    if authenticated_data.len() != BINDING_LEN {
        return Err(Error::malformed("commit binding", "wrong length"));
    }
    let mut ts = [0u8; 8];
    ts.copy_from_slice(&authenticated_data[8..16]);
    let mut signer = [0u8; 32];
    signer.copy_from_slice(&authenticated_data[16..]);
    Ok(Some((u64::from_be_bytes(ts), signer)))
}

/// Checks that a commit event is the one its binding names.
///
/// # Errors
/// [`Error::CommitCopy`] when the event's `created_at` or signer differs from the binding.
pub(crate) fn check_binding(
    authenticated_data: &[u8],
    created_at: u64,
    signer: &[u8; 32],
) -> Result<()> {
    match read_binding(authenticated_data)? {
        Some((ts, pk)) if ts != created_at || &pk != signer => Err(Error::CommitCopy),
        _ => Ok(()),
    }
}

/// The facts about a late candidate commit for epoch `epoch` (already authenticated).
pub(crate) struct LateCandidate<'a> {
    pub(crate) epoch: u64,
    pub(crate) content_id: &'a [u8],
    pub(crate) key: OrderKey,
    pub(crate) committer: Option<u32>,
}

/// The rule's limits.
pub(crate) struct Limits {
    pub(crate) current_epoch: u64,
    pub(crate) rollback_epochs: usize,
    pub(crate) race_window_secs: u64,
    /// `created_at` of the commit that opened the candidate's epoch, if known.
    pub(crate) opened_at: Option<u64>,
    /// How far members' clocks may differ (seconds): an honest commit can be dated up to
    /// this much before the commit that opened its epoch.
    pub(crate) clock_skew_secs: u64,
    /// Leaves removed by the commits applied after the candidate's epoch (the branch a
    /// rollback would abandon).
    pub(crate) removed_later: Vec<u32>,
}

/// The decision on a late candidate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Keep what is applied; remember the candidate as a loser when `remember`.
    Keep {
        reason: IgnoreReason,
        remember: bool,
    },
    /// Roll back to the candidate's epoch and apply it.
    Replace,
}

/// Decides on a late candidate against the record of its epoch.
pub(crate) fn decide_late(c: &LateCandidate<'_>, record: &RaceRecord, limits: &Limits) -> Decision {
    if record.knows(c.content_id) {
        return Decision::Keep {
            reason: IgnoreReason::Duplicate,
            remember: false,
        };
    }
    let applied = &record.applied;
    if c.key >= applied.key {
        return Decision::Keep {
            reason: IgnoreReason::LostRace,
            remember: true,
        };
    }
    if let Some(committer) = c.committer
        && (applied.removed.contains(&committer) || limits.removed_later.contains(&committer))
    {
        return Decision::Keep {
            reason: IgnoreReason::RemovedMemberCannotUndo,
            remember: true,
        };
    }
    let depth = limits.current_epoch.saturating_sub(c.epoch);
    let too_deep = depth > limits.rollback_epochs as u64;
    let outside_window = applied.key.0.saturating_sub(c.key.0) > limits.race_window_secs;
    // Only what an honest committer never does may refuse a lower key here: whoever saw
    // the candidate first applied it whatever its date, so refusing an honest one forks.
    let before_epoch = limits
        .opened_at
        .is_some_and(|t| c.key.0.saturating_add(limits.clock_skew_secs) < t);
    if too_deep || outside_window || before_epoch {
        return Decision::Keep {
            reason: IgnoreReason::TooLate,
            remember: true,
        };
    }
    Decision::Replace
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::client::session::CommitRecord;

    fn record() -> RaceRecord {
        RaceRecord {
            applied: CommitRecord {
                content_id: vec![1],
                key: (1_000, [5; 32]),
                committer: Some(0),
                removed: vec![2],
            },
            losers: vec![(vec![9], (1_010, [1; 32]))],
            digests: vec![],
        }
    }

    fn limits() -> Limits {
        Limits {
            current_epoch: 6,
            rollback_epochs: 2,
            race_window_secs: 600,
            opened_at: Some(900),
            clock_skew_secs: 0,
            removed_later: vec![],
        }
    }

    fn cand(content: &[u8], key: OrderKey, committer: Option<u32>) -> LateCandidate<'_> {
        LateCandidate {
            epoch: 5,
            content_id: content,
            key,
            committer,
        }
    }

    #[test]
    fn a_copy_of_the_applied_commit_is_a_duplicate_whatever_its_timestamp() {
        let d = decide_late(&cand(&[1], (1, [0; 32]), Some(0)), &record(), &limits());
        assert_eq!(
            d,
            Decision::Keep {
                reason: IgnoreReason::Duplicate,
                remember: false
            }
        );
    }

    #[test]
    fn a_copy_of_a_known_loser_stays_a_loser_even_backdated() {
        let d = decide_late(&cand(&[9], (950, [0; 32]), Some(1)), &record(), &limits());
        assert!(matches!(
            d,
            Decision::Keep {
                reason: IgnoreReason::Duplicate,
                ..
            }
        ));
    }

    #[test]
    fn a_later_commit_loses_and_an_earlier_one_replaces() {
        assert!(matches!(
            decide_late(&cand(&[3], (1_001, [0; 32]), Some(1)), &record(), &limits()),
            Decision::Keep {
                reason: IgnoreReason::LostRace,
                ..
            }
        ));
        // Same second, lower id: wins.
        assert_eq!(
            decide_late(&cand(&[3], (1_000, [4; 32]), Some(1)), &record(), &limits()),
            Decision::Replace
        );
    }

    #[test]
    fn the_removed_member_cannot_undo_its_removal() {
        assert!(matches!(
            decide_late(&cand(&[3], (999, [0; 32]), Some(2)), &record(), &limits()),
            Decision::Keep {
                reason: IgnoreReason::RemovedMemberCannotUndo,
                ..
            }
        ));
    }

    #[test]
    fn a_member_removed_in_a_later_epoch_cannot_undo_it_from_an_earlier_one() {
        let mut l = limits();
        l.removed_later = vec![3];
        assert!(matches!(
            decide_late(&cand(&[3], (999, [0; 32]), Some(3)), &record(), &l),
            Decision::Keep {
                reason: IgnoreReason::RemovedMemberCannotUndo,
                ..
            }
        ));
    }

    #[test]
    fn too_deep_outside_the_window_or_before_the_epoch_is_too_late() {
        let mut l = limits();
        l.current_epoch = 8;
        assert!(matches!(
            decide_late(&cand(&[3], (999, [0; 32]), Some(1)), &record(), &l),
            Decision::Keep {
                reason: IgnoreReason::TooLate,
                ..
            }
        ));
        let mut r = record();
        r.applied.key.0 = 2_000;
        assert!(matches!(
            decide_late(&cand(&[3], (1_300, [0; 32]), Some(1)), &r, &limits()),
            Decision::Keep {
                reason: IgnoreReason::TooLate,
                ..
            }
        ));
        assert!(matches!(
            decide_late(&cand(&[3], (899, [0; 32]), Some(1)), &record(), &limits()),
            Decision::Keep {
                reason: IgnoreReason::TooLate,
                ..
            }
        ));
    }

    #[test]
    fn a_commit_dated_within_the_clock_skew_before_its_epoch_is_decided_by_its_key() {
        let mut l = limits();
        l.clock_skew_secs = 30;
        assert_eq!(
            decide_late(&cand(&[3], (880, [0; 32]), Some(1)), &record(), &l),
            Decision::Replace
        );
        assert!(matches!(
            decide_late(&cand(&[3], (860, [0; 32]), Some(1)), &record(), &l),
            Decision::Keep {
                reason: IgnoreReason::TooLate,
                ..
            }
        ));
    }

    #[test]
    fn bindings_round_trip_and_copies_are_refused() {
        let b = binding(1_234, &[7; 32]);
        assert_eq!(read_binding(&b).unwrap(), Some((1_234, [7; 32])));
        assert_eq!(read_binding(b"").unwrap(), None);
        assert_eq!(read_binding(b"other data").unwrap(), None);
        assert!(read_binding(&b[..20]).is_err());
        assert!(check_binding(&b, 1_234, &[7; 32]).is_ok());
        assert!(matches!(
            check_binding(&b, 1_233, &[7; 32]),
            Err(Error::CommitCopy)
        ));
        assert!(matches!(
            check_binding(&b, 1_234, &[8; 32]),
            Err(Error::CommitCopy)
        ));
        assert!(check_binding(b"", 1, &[0; 32]).is_ok());
    }
}
