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
//! 4. The order is total, so every member that knows the same commits of an epoch keeps
//!    the same one, whatever order they arrived in: a commit that removes members comes
//!    before one that removes none (so a removed member cannot undo its removal with a
//!    backdated self-update, and a member cannot jam removals), then the lower
//!    `(created_at, event id)`. Conditions that depend on what arrived first (a time window
//!    between the applied commit and a late one, a date before the epoch's opening commit)
//!    would let members who saw two commits in different orders keep different ones, so the
//!    rule has none but two local limits: the depth — a late commit more than
//!    `rollback_epochs` behind is too late, because the state to roll back to is gone — and
//!    a committer whom a commit on the branch a rollback would abandon removes cannot roll
//!    back past its removal (a removed member that kept an earlier state could otherwise
//!    undo every removal of itself with a backdated commit for the epoch before it).
//!
//! In a genuine race among honest members every member ends on the same commit as a peer
//! applying the plain rule, except when a removal competes with an earlier commit that
//! removes nobody: nipee keeps the removal.

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

/// Where a commit stands in the order of an epoch's competing commits: lower comes first.
/// Commits that remove members come before those that remove none, then `(created_at,
/// event id)`.
pub(crate) fn rank(removes: bool, key: &OrderKey) -> (bool, OrderKey) {
    (!removes, *key)
}

/// The facts about a late candidate commit for epoch `epoch` (already authenticated).
pub(crate) struct LateCandidate<'a> {
    pub(crate) epoch: u64,
    pub(crate) content_id: &'a [u8],
    pub(crate) key: OrderKey,
    pub(crate) committer: Option<u32>,
    /// Whether it removes members.
    pub(crate) removes: bool,
}

impl<'a> LateCandidate<'a> {
    /// The candidate a staged commit of `epoch`, carried by `event`, is: its binding to the
    /// event's `created_at` and signer checked first (a copy under another date or signer
    /// is refused).
    ///
    /// # Errors
    /// [`Error::CommitCopy`] from [`check_binding`].
    pub(crate) fn of(
        epoch: u64,
        sc: &'a nipee_mls::group::StagedCommit,
        event: &nipee_nostr::Event,
    ) -> Result<Self> {
        let key: OrderKey = (event.created_at().as_u64(), event.id().to_bytes());
        check_binding(sc.authenticated_data(), key.0, event.pubkey().as_bytes())?;
        Ok(LateCandidate {
            epoch,
            content_id: sc.content_id(),
            key,
            committer: match sc.committer() {
                nipee_mls::group::Sender::Member(i) => Some(i),
                _ => None,
            },
            removes: !sc.removed().is_empty(),
        })
    }
}

/// The rule's limits.
pub(crate) struct Limits {
    pub(crate) current_epoch: u64,
    pub(crate) rollback_epochs: usize,
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
    if rank(c.removes, &c.key) >= rank(!applied.removed.is_empty(), &applied.key) {
        let removed = c.committer.is_some_and(|i| applied.removed.contains(&i));
        return Decision::Keep {
            reason: if removed {
                IgnoreReason::RemovedMemberCannotUndo
            } else {
                IgnoreReason::LostRace
            },
            remember: true,
        };
    }
    if c.committer
        .is_some_and(|i| limits.removed_later.contains(&i))
    {
        return Decision::Keep {
            reason: IgnoreReason::RemovedMemberCannotUndo,
            remember: true,
        };
    }
    let depth = limits.current_epoch.saturating_sub(c.epoch);
    if depth > limits.rollback_epochs as u64 {
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
            removed_later: vec![],
        }
    }

    fn cand(content: &[u8], key: OrderKey, committer: Option<u32>) -> LateCandidate<'_> {
        LateCandidate {
            epoch: 5,
            content_id: content,
            key,
            committer,
            removes: false,
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
        let mut r = record();
        r.applied.removed.clear();
        assert!(matches!(
            decide_late(&cand(&[3], (1_001, [0; 32]), Some(1)), &r, &limits()),
            Decision::Keep {
                reason: IgnoreReason::LostRace,
                ..
            }
        ));
        // Same second, lower id: wins.
        assert_eq!(
            decide_late(&cand(&[3], (1_000, [4; 32]), Some(1)), &r, &limits()),
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
    fn a_removal_comes_before_any_commit_that_removes_nobody() {
        // The applied commit removes leaf 2: an earlier self-update by anyone loses to it.
        assert!(matches!(
            decide_late(&cand(&[3], (10, [0; 32]), Some(1)), &record(), &limits()),
            Decision::Keep {
                reason: IgnoreReason::LostRace,
                ..
            }
        ));
        // When the applied commit removes nobody, a removal replaces it even dated later.
        let mut r = record();
        r.applied.removed.clear();
        let mut c = cand(&[3], (5_000, [0; 32]), Some(1));
        c.removes = true;
        assert_eq!(decide_late(&c, &r, &limits()), Decision::Replace);
        // Two removals: the lower key.
        assert_eq!(
            decide_late(
                &LateCandidate {
                    removes: true,
                    ..cand(&[3], (999, [0; 32]), Some(1))
                },
                &record(),
                &limits()
            ),
            Decision::Replace
        );
        assert!(matches!(
            decide_late(
                &LateCandidate {
                    removes: true,
                    ..cand(&[3], (1_001, [0; 32]), Some(1))
                },
                &record(),
                &limits()
            ),
            Decision::Keep {
                reason: IgnoreReason::LostRace,
                ..
            }
        ));
    }

    #[test]
    fn a_member_removed_in_a_later_epoch_cannot_undo_it_from_an_earlier_one() {
        let mut l = limits();
        l.removed_later = vec![3];
        let mut r = record();
        r.applied.removed.clear();
        assert!(matches!(
            decide_late(&cand(&[3], (999, [0; 32]), Some(3)), &r, &l),
            Decision::Keep {
                reason: IgnoreReason::RemovedMemberCannotUndo,
                ..
            }
        ));
    }

    #[test]
    fn the_order_is_total_so_arrival_order_does_not_matter() {
        // Three commits of one epoch, every order of arrival: the kept one is the same.
        let rec = |id: u8, key: OrderKey, by: u32, removed: Vec<u32>| CommitRecord {
            content_id: vec![id],
            key,
            committer: Some(by),
            removed,
        };
        let commits = [
            rec(1, (30, [1; 32]), 0, vec![1]),
            rec(2, (10, [2; 32]), 1, vec![]),
            rec(3, (20, [3; 32]), 2, vec![]),
        ];
        let orders = [
            [0, 1, 2],
            [0, 2, 1],
            [1, 0, 2],
            [1, 2, 0],
            [2, 0, 1],
            [2, 1, 0],
        ];
        let mut kept = Vec::new();
        for order in orders {
            let mut state = RaceRecord::new(commits[order[0]].clone(), [0; 32]);
            for &i in &order[1..] {
                let c = &commits[i];
                let cand = LateCandidate {
                    epoch: 5,
                    content_id: &c.content_id,
                    key: c.key,
                    committer: c.committer,
                    removes: !c.removed.is_empty(),
                };
                if decide_late(&cand, &state, &limits()) == Decision::Replace {
                    state = RaceRecord::new(c.clone(), [0; 32]);
                }
            }
            kept.push(state.applied.content_id);
        }
        assert!(kept.iter().all(|k| k == &vec![1]), "{kept:?}");
    }

    #[test]
    fn deeper_than_the_rollback_limit_is_too_late_and_dates_alone_never_are() {
        let mut l = limits();
        l.current_epoch = 8;
        assert!(matches!(
            decide_late(
                &cand(&[3], (999, [0; 32]), Some(1)),
                &{
                    let mut r = record();
                    r.applied.removed.clear();
                    r
                },
                &l
            ),
            Decision::Keep {
                reason: IgnoreReason::TooLate,
                ..
            }
        ));
        // Far earlier than the applied commit (a straggler): decided by the order.
        let mut r = record();
        r.applied.removed.clear();
        r.applied.key.0 = 100_000;
        assert_eq!(
            decide_late(&cand(&[3], (1, [0; 32]), Some(1)), &r, &limits()),
            Decision::Replace
        );
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
