//! Commits: a commit for the current epoch is staged, checked against the admin rules and
//! our pending commit, and merged with its race record and fork snapshot; a commit for an
//! epoch we already left is a race ([`super::races`]), decided after it authenticated, and
//! may roll the group back to the winner's branch. Each path writes one batch.

use nipee_mls::MlsMessageIn;
use nipee_mls::RustCryptoSuite1;
use nipee_mls::group::{Group, Sender, Staged, StagedCommit};
use nipee_nostr::Event;
use rand_core::CryptoRng;

use super::left::left_race;
use super::races::{self, Decision, LateCandidate, Limits};
use super::session::{
    CommitRecord, LeftRace, OrderKey, RaceRecord, Session, Tombstone, mls_digest,
};
use super::types::{CommitInfo, Effects, IgnoreReason, Outcome};
use super::{Client, leaf_pubkey, policy, storage_err};
use crate::error::{Error, Result};
use crate::ids::{GroupId, NostrGroupId};
use crate::key_package_event::credential_pubkey;
use crate::profile::Profile;
use crate::storage::{Storage, Table, WriteBatch, fork_key, group_key, mark_processed};

/// The facts of a commit the race rule needs, read before the staged commit is merged.
pub(crate) fn record_of(sc: &StagedCommit, key: OrderKey) -> CommitRecord {
    CommitRecord {
        content_id: sc.content_id().to_vec(),
        key,
        committer: match sc.committer() {
            Sender::Member(i) => Some(i),
            _ => None,
        },
        removed: sc.removed().iter().map(|m| m.index.0).collect(),
    }
}

/// What a commit did, in Nostr keys, from the group before it and the staged commit.
pub(crate) fn commit_info(
    gid: &GroupId,
    profile: Profile,
    before: &Group,
    sc: &StagedCommit,
    rolled_back_from: Option<u64>,
    superseded_own: bool,
) -> CommitInfo {
    let committer = match sc.committer() {
        Sender::Member(i) => leaf_pubkey(before, i),
        _ => None,
    };
    let mut updated: Vec<_> = sc
        .updated()
        .iter()
        .filter_map(|l| leaf_pubkey(before, l.0))
        .collect();
    if sc.committer_new_leaf().is_some()
        && let Some(c) = committer
        && !updated.contains(&c)
    {
        updated.push(c);
    }
    CommitInfo {
        group_id: gid.clone(),
        epoch: sc.epoch(),
        committer,
        added: sc
            .added()
            .iter()
            .filter_map(|m| credential_pubkey(&m.credential).ok())
            .collect(),
        removed: sc
            .removed()
            .iter()
            .filter_map(|m| credential_pubkey(&m.credential).ok())
            .collect(),
        updated,
        group_data_changed: sc.extensions() != before.extensions(),
        group_data: if sc.extensions() != before.extensions() {
            profile.group_data(sc.extensions()).ok()
        } else {
            None
        },
        rolled_back_from,
        superseded_own,
    }
}

impl<S: Storage> Client<S> {
    pub(crate) fn on_commit<R: CryptoRng + ?Sized>(
        &mut self,
        gid: &GroupId,
        msg: &MlsMessageIn,
        event: &Event,
        now: u64,
        rng: &mut R,
    ) -> Result<Effects> {
        let live = self.live(gid)?;
        let current = live.group.epoch();
        let epoch = msg.epoch().ok_or(Error::Internal {
            reason: "a commit without an epoch",
        })?;
        if epoch < current {
            return self.on_late_commit(gid, epoch, msg, event, now);
        }
        // One of our own commits that we dropped, echoed by a relay: nothing to do.
        if live.dropped_own.contains(&mls_digest(msg.as_bytes())) {
            return self.ignore(event, IgnoreReason::LostRace, now);
        }
        // Our own pending commit, echoed by a relay: it is stored, so it is confirmed.
        if live
            .pending
            .as_ref()
            .is_some_and(|p| p.event.id() == event.id())
        {
            return self.merge_own(gid, now, rng);
        }
        let staged = live.group.stage(msg);
        if matches!(staged, Err(nipee_mls::Error::UnknownProposalRef)) {
            return self.wait_for_proposal(gid, event);
        }
        let Staged::Commit(sc) = staged? else {
            return Err(Error::Internal {
                reason: "a commit staged as something else",
            });
        };
        let key: OrderKey = (event.created_at().as_u64(), event.id().to_bytes());
        races::check_binding(sc.authenticated_data(), key.0, event.pubkey().as_bytes())?;
        if sc.is_own() {
            // Our commit's bytes under another event: only without a binding (which would
            // have refused a copy) can this be the event we published; confirm it.
            return self.merge_own(gid, now, rng);
        }
        policy::check_commit(live.profile, &live.group, &sc)?;
        let mut sc = sc;
        let mut superseded_own = false;
        if let Some(p) = &live.pending {
            let ours_removes = live
                .group
                .pending_commit()
                .is_some_and(|v| !v.removed().is_empty());
            if races::rank(!sc.removed().is_empty(), &key) >= races::rank(ours_removes, &p.key()) {
                // Ours wins if a relay has it; until we know, theirs waits.
                self.buffer(gid, event)?;
                let mut e = Effects::default();
                e.push(Outcome::Ignored(IgnoreReason::HeldForPendingCommit));
                return Ok(e);
            }
            // Theirs (authenticated, and earlier) wins whether or not a relay stored
            // ours: drop ours, and stage theirs again on the state without it.
            superseded_own = true;
            let live = self.live_mut(gid)?;
            if let Some(p) = &live.pending {
                let digest = p.mls_digest;
                live.remember_dropped(digest);
            }
            let own = live.pending.take().map(|p| p.event.id());
            live.group.discard_pending_commit();
            let restaged = live.group.stage(msg);
            let Ok(Staged::Commit(again)) = restaged else {
                self.reload(gid)?;
                return Err(Error::Internal {
                    reason: "a commit staged before our pending commit was dropped no longer stages",
                });
            };
            sc = again;
            if let Some(id) = own {
                let mut batch = WriteBatch::new();
                batch.delete(Table::Outbox, id.as_bytes().to_vec());
                self.storage.apply(batch)?;
            }
        }
        let digest = mls_digest(msg.as_bytes());
        self.apply_commit(gid, *sc, key, digest, event, now, superseded_own)
    }

    /// Applies a staged commit for the current epoch, recording it for races.
    #[allow(clippy::too_many_arguments)]
    fn apply_commit(
        &mut self,
        gid: &GroupId,
        sc: StagedCommit,
        key: OrderKey,
        digest: [u8; 32],
        event: &Event,
        now: u64,
        superseded_own: bool,
    ) -> Result<Effects> {
        let rollback = self.config.rollback_epochs as u64;
        let retained = self.config.retained_epochs;
        let live = self.live_mut(gid)?;
        let epoch_before = live.group.epoch();
        let info = commit_info(gid, live.profile, &live.group, &sc, None, superseded_own);
        let by = info.committer;
        let record = record_of(&sc, key);
        let removes_us = sc.removes_us();
        let snapshot = live.group.to_bytes()?;
        live.group.merge(Staged::Commit(Box::new(sc)))?;
        let mut batch = WriteBatch::new();
        mark_processed(&mut batch, &event.id().to_bytes(), now);
        let outcome = if removes_us {
            // The removal may still lose a race: keep what deciding it needs.
            let race = left_race(
                self.live(gid)?,
                epoch_before,
                RaceRecord::new(record, digest),
            );
            self.retire(gid, &mut batch, now, race.map(|r| (r, snapshot)))?;
            Outcome::Removed {
                group_id: gid.clone(),
                by,
            }
        } else {
            let live = self.live_mut(gid)?;
            live.races
                .insert(epoch_before, RaceRecord::new(record, digest));
            live.push_current_key(retained)?;
            batch.put(
                Table::Fork,
                fork_key(gid.as_bytes(), epoch_before),
                snapshot,
            );
            for e in live.races.keys() {
                if *e + rollback < epoch_before + 1 {
                    batch.delete(Table::Fork, fork_key(gid.as_bytes(), *e));
                }
            }
            self.save(&mut batch, gid)?;
            Outcome::Commit(info)
        };
        let kept = self.keep_or_reload(gid, &mut batch, Some(event.id()), &outcome)?;
        self.commit_batch(Some(gid), batch)?;
        self.rebuild_routes();
        let mut e = Effects::default();
        e.push_kept(outcome, kept);
        Ok(e)
    }

    /// Turns an active group into a tombstone: every secret of it is deleted in `batch`,
    /// except, with `race`, the removal's epoch and its state (see [`super::left`]).
    pub(crate) fn retire(
        &mut self,
        gid: &GroupId,
        batch: &mut WriteBatch,
        now: u64,
        race: Option<(Box<LeftRace>, zeroize::Zeroizing<Vec<u8>>)>,
    ) -> Result<()> {
        let live = self.live(gid)?;
        let data = live.data()?;
        let (race, state) = race.unzip();
        let tomb = Tombstone {
            nostr_group_id: NostrGroupId::from_bytes(data.nostr_group_id),
            epoch: live.group.epoch(),
            name: data.name,
            left_at: now,
            race,
        };
        if let Some(p) = &live.pending {
            batch.delete(Table::Outbox, p.event.id().as_bytes().to_vec());
        }
        batch.delete_prefix(Table::Fork, group_key(gid.as_bytes()));
        batch.delete_prefix(Table::Buffer, group_key(gid.as_bytes()));
        if let (Some(r), Some(state)) = (&tomb.race, state) {
            batch.put(Table::Fork, fork_key(gid.as_bytes(), r.key.epoch), state);
        }
        self.sessions.insert(gid.clone(), Session::Left(tomb));
        self.save(batch, gid)
    }

    /// A commit for an epoch we already left: a race, decided by [`races::decide_late`].
    fn on_late_commit(
        &mut self,
        gid: &GroupId,
        epoch: u64,
        msg: &MlsMessageIn,
        event: &Event,
        now: u64,
    ) -> Result<Effects> {
        let live = self.live(gid)?;
        let current = live.group.epoch();
        let too_late = |this: &mut Self| -> Result<Effects> {
            let mut batch = WriteBatch::new();
            mark_processed(&mut batch, &event.id().to_bytes(), now);
            this.storage.apply(batch)?;
            let mut e = Effects::default();
            e.push(Outcome::Ignored(IgnoreReason::TooLate));
            Ok(e)
        };
        let Some(record) = live.races.get(&epoch).cloned() else {
            return too_late(self);
        };
        // A copy carrying a commit message already authenticated (or made by us).
        let digest = mls_digest(msg.as_bytes());
        if live.dropped_own.contains(&digest) {
            return self.ignore(event, IgnoreReason::LostRace, now);
        }
        if record.digests.contains(&digest) {
            let mut batch = WriteBatch::new();
            mark_processed(&mut batch, &event.id().to_bytes(), now);
            self.storage.apply(batch)?;
            let mut e = Effects::default();
            e.push(Outcome::Ignored(IgnoreReason::Duplicate));
            return Ok(e);
        }
        let Some(blob) = self
            .storage
            .get(Table::Fork, &fork_key(gid.as_bytes(), epoch))?
        else {
            return too_late(self);
        };
        let snapshot =
            Group::from_bytes(RustCryptoSuite1::new(), &blob).map_err(|e| storage_err(e.into()))?;
        let resumed = Group::resume_snapshot(snapshot, &live.group)?;
        // Authenticate first: nothing is decided on a commit that does not verify.
        let staged = resumed.stage(msg);
        if matches!(staged, Err(nipee_mls::Error::UnknownProposalRef)) {
            return self.wait_for_proposal(gid, event);
        }
        let Staged::Commit(sc) = staged? else {
            return Err(Error::Internal {
                reason: "a commit staged as something else",
            });
        };
        let candidate = LateCandidate::of(epoch, &sc, event)?;
        let key = candidate.key;
        let limits = Limits {
            current_epoch: current,
            rollback_epochs: self.config.rollback_epochs,
            removed_later: live
                .races
                .range(epoch + 1..)
                .flat_map(|(_, r)| r.applied.removed.iter().copied())
                .collect(),
        };
        match races::decide_late(&candidate, &record, &limits) {
            Decision::Keep { reason, remember } => {
                let mut batch = WriteBatch::new();
                let content_id = sc.content_id().to_vec();
                if let Some(r) = self.live_mut(gid)?.races.get_mut(&epoch) {
                    if remember {
                        r.add_loser(content_id, key);
                    }
                    r.add_digest(digest);
                }
                self.save(&mut batch, gid)?;
                mark_processed(&mut batch, &event.id().to_bytes(), now);
                self.commit_batch(Some(gid), batch)?;
                let mut e = Effects::default();
                e.push(Outcome::Ignored(reason));
                Ok(e)
            }
            Decision::Replace => {
                let profile = live.profile;
                policy::check_commit(profile, &resumed, &sc)?;
                self.roll_back(gid, resumed, *sc, record, key, digest, event, now)
            }
        }
    }

    /// Replaces the applied commit of `resumed`'s epoch by `sc`: the group continues from
    /// the resumed epoch on the winner's branch; the abandoned branch's records, forks and
    /// processed marks of its commits are dropped (so those commits could apply again).
    #[allow(clippy::too_many_arguments)]
    fn roll_back(
        &mut self,
        gid: &GroupId,
        mut resumed: Group,
        sc: StagedCommit,
        old: RaceRecord,
        key: OrderKey,
        digest: [u8; 32],
        event: &Event,
        now: u64,
    ) -> Result<Effects> {
        let retained = self.config.retained_epochs;
        let epoch = resumed.epoch();
        let live = self.live(gid)?;
        let reached = live.group.epoch();
        let superseded_own = live.pending.is_some();
        let abandoned: Vec<(u64, [u8; 32])> = live
            .races
            .range(epoch..)
            .map(|(e, r)| (*e, r.applied.key.1))
            .collect();
        let own_event = live.pending.as_ref().map(|p| p.event.id());
        let info = commit_info(
            gid,
            live.profile,
            &resumed,
            &sc,
            Some(reached),
            superseded_own,
        );
        let by = info.committer;
        let record = record_of(&sc, key);
        let removes_us = sc.removes_us();
        let state = resumed.to_bytes()?;
        resumed.merge(Staged::Commit(Box::new(sc)))?;

        let mut batch = WriteBatch::new();
        for (e, id) in &abandoned {
            batch.delete(Table::Processed, id.to_vec());
            if *e > epoch {
                batch.delete(Table::Fork, fork_key(gid.as_bytes(), *e));
            }
        }
        if let Some(id) = own_event {
            batch.delete(Table::Outbox, id.as_bytes().to_vec());
        }
        mark_processed(&mut batch, &event.id().to_bytes(), now);
        let live = self.live_mut(gid)?;
        live.group = resumed;
        if let Some(p) = live.pending.take() {
            live.remember_dropped(p.mls_digest);
        }
        live.keys.retain(|k| k.epoch <= epoch);
        live.races.retain(|e, _| *e < epoch);
        let mut losers = old.losers;
        losers.push((old.applied.content_id, old.applied.key));
        let mut digests = old.digests;
        digests.push(digest);
        let record = RaceRecord {
            applied: record,
            losers,
            digests,
        };
        let outcome = if removes_us {
            let race = left_race(live, epoch, record);
            self.retire(gid, &mut batch, now, race.map(|r| (r, state)))?;
            Outcome::Removed {
                group_id: gid.clone(),
                by,
            }
        } else {
            live.races.insert(epoch, record);
            live.push_current_key(retained)?;
            self.save(&mut batch, gid)?;
            Outcome::Commit(info)
        };
        let kept = self.keep_or_reload(gid, &mut batch, Some(event.id()), &outcome)?;
        if let Err(e) = self.storage.apply(batch) {
            self.reload(gid)?;
            return Err(e);
        }
        self.rebuild_routes();
        let mut e = Effects::default();
        e.push_kept(outcome, kept);
        Ok(e)
    }

    /// Applies a group event (kind 445) carrying a commit of our own leaf made in the
    /// current epoch whose pending state we do not hold, from the secrets generated for its
    /// UpdatePath (see `nipee_mls::group::Group::stage_own_commit_with_secrets`): for
    /// replaying recorded conversations. The commit passes the admin rules and every check
    /// as anyone's commit would. Failures change no state.
    ///
    /// # Errors
    /// Those of [`Client::process`]; [`Error::Misuse`] for an event of another epoch.
    #[cfg(feature = "own-commit-recovery")]
    pub fn process_own_commit(
        &mut self,
        event: &Event,
        secrets: nipee_mls::group::OwnCommitSecrets,
        now: u64,
    ) -> Result<Effects> {
        if crate::storage::is_processed(&self.storage, &event.id().to_bytes())? {
            let mut e = Effects::default();
            e.push(Outcome::Ignored(IgnoreReason::Duplicate));
            return Ok(e);
        }
        let h = NostrGroupId::from_bytes(crate::envelope::group_event_group_id(event)?);
        let Ok((gid, mls)) = self.open_group_event(&h, event, now)? else {
            return Err(Error::NoEpochKey);
        };
        let msg = MlsMessageIn::parse(&mls)?;
        let live = self.live(&gid)?;
        if msg.epoch() != Some(live.group.epoch()) {
            return Err(Error::Misuse {
                what: "an own commit is applied in the epoch it was made in",
            });
        }
        let sc = live.group.stage_own_commit_with_secrets(&msg, secrets)?;
        let key: OrderKey = (event.created_at().as_u64(), event.id().to_bytes());
        races::check_binding(sc.authenticated_data(), key.0, event.pubkey().as_bytes())?;
        policy::check_commit(live.profile, &live.group, &sc)?;
        let digest = mls_digest(msg.as_bytes());
        self.apply_commit(&gid, sc, key, digest, event, now, false)
    }
}
