//! A member removed by a commit, while that removal may still lose a commit race.
//!
//! A commit that removes us can lose a race like any other: when an earlier competing commit
//! for the same epoch arrives afterwards, the group everyone keeps still has us, and a
//! client that deleted the group at once would be locked out of it for good. So the removed
//! member keeps, for `removed_state_secs` (an hour by default), what deciding that race needs ([`LeftRace`]): the
//! state of the removal's epoch (its fork row), that epoch's group-event key and the
//! removal's race record — secrets of an epoch it was a member of, nothing of the epoch that
//! removed it. A late commit for that epoch is authenticated against that state and decided
//! by the rule every late commit goes through ([`races::decide_late`]: a copy or a commit
//! that comes after the removal in the race order changes nothing); if it wins, the group is active again on the winner's branch. Events of the
//! removal's epoch are buffered meanwhile. [`Client::poll`] drops it all once that time has
//! passed.

use std::collections::BTreeMap;

use nipee_mls::group::{Group, Staged, StagedCommit};
use nipee_mls::{ContentType, MlsMessageIn, RustCryptoSuite1};
use nipee_nostr::Event;

use super::commits::{commit_info, record_of};
use super::races::{self, Decision, LateCandidate, Limits};
use super::session::{EpochKey, LeftRace, Live, OrderKey, RaceRecord, Session, mls_digest};
use super::types::{Effects, IgnoreReason, Outcome};
use super::{Client, policy, storage_err};
use crate::error::{Error, Result};
use crate::ids::GroupId;
use crate::storage::{Storage, Table, WriteBatch, fork_key, group_key, mark_processed};

/// What a member keeps after `record`'s commit, applied from `live`'s epoch `epoch`,
/// removed it (`None` without that epoch's key).
pub(crate) fn left_race(live: &Live, epoch: u64, record: RaceRecord) -> Option<Box<LeftRace>> {
    let k = live.keys.iter().find(|k| k.epoch == epoch)?;
    let key = live
        .profile
        .group_event_key_from_secret(k.key.expose_exporter_secret())
        .ok()?;
    Some(Box::new(LeftRace {
        profile: live.profile,
        key: EpochKey {
            epoch,
            nostr_group_id: k.nostr_group_id,
            key,
        },
        record,
        joined_epoch: live.joined_epoch,
        relays: live.data().map(|d| d.relays).unwrap_or_default(),
    }))
}

impl<S: Storage> Client<S> {
    /// A kind-445 event of the epoch a commit removed us from (opened with the key a
    /// [`LeftRace`] keeps).
    pub(crate) fn on_left_event(
        &mut self,
        gid: &GroupId,
        msg: &MlsMessageIn,
        event: &Event,
        now: u64,
    ) -> Result<Effects> {
        let Some(Session::Left(tomb)) = self.sessions.get(gid) else {
            return Err(Error::Internal {
                reason: "a left group without its tombstone",
            });
        };
        let Some(race) = tomb.race.as_ref() else {
            let mut e = Effects::default();
            e.push(Outcome::Ignored(IgnoreReason::NotAMember));
            return Ok(e);
        };
        let epoch = race.key.epoch;
        if msg.content_type() != Some(ContentType::Commit) || msg.epoch() != Some(epoch) {
            // A message of that epoch: it matters only if the removal loses.
            self.buffer(gid, event)?;
            let mut e = Effects::default();
            e.push(Outcome::Ignored(IgnoreReason::Buffered));
            return Ok(e);
        }
        let digest = mls_digest(msg.as_bytes());
        let known = race.record.digests.contains(&digest);
        let fork = self
            .storage
            .get(Table::Fork, &fork_key(gid.as_bytes(), epoch))?;
        let (Some(blob), false) = (fork, known) else {
            let mut batch = WriteBatch::new();
            mark_processed(&mut batch, &event.id().to_bytes(), now);
            self.storage.apply(batch)?;
            let mut e = Effects::default();
            e.push(Outcome::Ignored(if known {
                IgnoreReason::Duplicate
            } else {
                IgnoreReason::TooLate
            }));
            return Ok(e);
        };
        let state =
            Group::from_bytes(RustCryptoSuite1::new(), &blob).map_err(|e| storage_err(e.into()))?;
        // Authenticate first, exactly as a late commit of an active group.
        let Staged::Commit(sc) = state.stage(msg)? else {
            return Err(Error::Internal {
                reason: "a commit staged as something else",
            });
        };
        let candidate = LateCandidate::of(epoch, &sc, event)?;
        let key = candidate.key;
        let limits = Limits {
            current_epoch: epoch + 1,
            rollback_epochs: self.config.rollback_epochs,
            removed_later: Vec::new(),
        };
        match races::decide_late(&candidate, &race.record, &limits) {
            Decision::Keep { reason, remember } => {
                let content_id = sc.content_id().to_vec();
                if let Some(Session::Left(t)) = self.sessions.get_mut(gid)
                    && let Some(r) = t.race.as_mut()
                {
                    if remember {
                        r.record.add_loser(content_id, key);
                    }
                    r.record.add_digest(digest);
                }
                let mut batch = WriteBatch::new();
                self.save(&mut batch, gid)?;
                mark_processed(&mut batch, &event.id().to_bytes(), now);
                self.commit_batch(Some(gid), batch)?;
                let mut e = Effects::default();
                e.push(Outcome::Ignored(reason));
                Ok(e)
            }
            Decision::Replace => {
                policy::check_commit(race.profile, &state, &sc)?;
                self.undo_removal(gid, state, *sc, key, digest, event, now)
            }
        }
    }

    /// The commit that removed us lost to `sc`: continue on the winner's branch from the
    /// removal's epoch `state`.
    #[allow(clippy::too_many_arguments)]
    fn undo_removal(
        &mut self,
        gid: &GroupId,
        mut state: Group,
        sc: StagedCommit,
        key: OrderKey,
        digest: [u8; 32],
        event: &Event,
        now: u64,
    ) -> Result<Effects> {
        let retained = self.config.retained_epochs;
        let race = match self.sessions.get_mut(gid) {
            Some(Session::Left(tomb)) => tomb.race.take(),
            _ => None,
        }
        .ok_or(Error::Internal {
            reason: "undoing a removal without its race",
        })?;
        let epoch = race.key.epoch;
        let info = commit_info(gid, race.profile, &state, &sc, Some(epoch + 1), false);
        let by = info.committer;
        let removes_us = sc.removes_us();
        let mut record = RaceRecord {
            applied: record_of(&sc, key),
            losers: race.record.losers.clone(),
            digests: race.record.digests.clone(),
        };
        record.add_loser(
            race.record.applied.content_id.clone(),
            race.record.applied.key,
        );
        record.add_digest(digest);
        let merged = state.merge(Staged::Commit(Box::new(sc)));
        if let Err(e) = merged {
            self.reload(gid)?;
            return Err(e.into());
        }
        let mut batch = WriteBatch::new();
        // The removal may apply again if it ever wins.
        batch.delete(Table::Processed, race.record.applied.key.1.to_vec());
        mark_processed(&mut batch, &event.id().to_bytes(), now);
        let outcome = if removes_us {
            // The winner removes us too: still out, now by the winner.
            if let Some(Session::Left(tomb)) = self.sessions.get_mut(gid) {
                tomb.race = Some(Box::new(LeftRace { record, ..*race }));
            }
            Outcome::Removed {
                group_id: gid.clone(),
                by,
            }
        } else {
            let LeftRace {
                profile,
                key: epoch_key,
                joined_epoch,
                ..
            } = *race;
            let mut live = Live {
                profile,
                group: state,
                keys: vec![epoch_key],
                races: BTreeMap::from([(epoch, record)]),
                pending: None,
                joined_epoch,
                dropped_own: Vec::new(),
                identities: Default::default(),
            };
            if let Err(e) = live.push_current_key(retained) {
                self.reload(gid)?;
                return Err(e);
            }
            self.sessions
                .insert(gid.clone(), Session::Active(Box::new(live)));
            Outcome::Commit(info)
        };
        self.save(&mut batch, gid)?;
        let kept = self.keep_or_reload(gid, &mut batch, Some(event.id()), &outcome)?;
        self.commit_batch(Some(gid), batch)?;
        self.rebuild_routes();
        let mut e = Effects::default();
        e.push_kept(outcome, kept);
        Ok(e)
    }

    /// Drops what removed members keep for races once `removed_state_secs` have passed.
    pub(crate) fn expire_left_races(&mut self, now: u64) -> Result<()> {
        let window = self.config.removed_state_secs;
        let expired: Vec<GroupId> = self
            .sessions
            .iter()
            .filter_map(|(gid, s)| match s {
                Session::Left(t) if t.race.is_some() && now.saturating_sub(t.left_at) > window => {
                    Some(gid.clone())
                }
                _ => None,
            })
            .collect();
        for gid in expired {
            if let Some(Session::Left(t)) = self.sessions.get_mut(&gid) {
                t.race = None;
            }
            let mut batch = WriteBatch::new();
            batch.delete_prefix(Table::Fork, group_key(gid.as_bytes()));
            batch.delete_prefix(Table::Buffer, group_key(gid.as_bytes()));
            self.save(&mut batch, &gid)?;
            self.commit_batch(Some(&gid), batch)?;
        }
        self.rebuild_routes();
        Ok(())
    }
}
