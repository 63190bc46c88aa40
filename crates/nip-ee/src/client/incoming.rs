//! Incoming events: Welcomes (gift wraps) and group events (kind 445).
//!
//! Every group event is parsed once, staged against the group without changing it,
//! checked, and merged; the new state, the processed mark and anything to publish are
//! written in one batch. A rejected event changes nothing.

use nipee_mls::RustCryptoSuite1;
use nipee_mls::group::{Group, JoinKeys, Sender, Staged, StagedCommit};
use nipee_mls::{ContentType, MlsMessageIn};
use nipee_nostr::nips::nip09::DeletionRequest;
use nipee_nostr::{Event, Kind, Timestamp};
use rand_core::CryptoRng;

use super::left::left_race;
use super::outgoing::group_config;
use super::races::{self, Decision, LateCandidate, Limits};
use super::session::{
    CommitRecord, LeftRace, Live, OrderKey, RaceRecord, Session, Tombstone, mls_digest,
};
use super::types::{CommitInfo, Effects, IgnoreReason, Outcome, Outgoing, Purpose};
use super::{Client, leaf_pubkey, outbox, policy, storage_err};
use crate::error::{Error, Result};
use crate::ids::{GroupId, NostrGroupId};
use crate::key_package_event::credential_pubkey;
use crate::profile::Profile;
use crate::storage::{
    Blob, Storage, Table, WriteBatch, buffer_key, fork_key, group_key, is_processed, mark_processed,
};

const BUFFER_VERSION: u8 = 1;

/// Which group and epoch key opened a group event (the group and the MLS bytes), or, when
/// none did, the active groups that use its `h` tag.
type Opened = std::result::Result<(GroupId, Vec<u8>), Vec<GroupId>>;

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

fn encode_buffered(event: &Event) -> zeroize::Zeroizing<Vec<u8>> {
    Blob::encode(BUFFER_VERSION, event.to_json().as_bytes())
}

fn decode_buffered(blob: &[u8]) -> Result<Event> {
    let json = core::str::from_utf8(Blob::decode(BUFFER_VERSION, blob)?)
        .map_err(|_| Error::malformed("buffered event", "not UTF-8"))?;
    Ok(Event::from_json(json)?)
}

impl<S: Storage> Client<S> {
    /// Processes an event from a relay: a gift wrap (kind 1059, a Welcome for us) or a
    /// group event (kind 445). Returns what happened and what to publish; events it
    /// unblocked (buffered ones of a new epoch) are processed too and reported after it.
    ///
    /// # Errors
    /// Typed errors that change no state: [`Error::UnexpectedKind`],
    /// [`Error::UnknownGroup`], [`Error::NotForUs`], [`Error::Mls`] (every RFC 9420 check),
    /// [`Error::Policy`] (admin rules), [`Error::CommitCopy`], [`Error::FromTheFuture`],
    /// [`Error::InnerEventAuthor`], [`Error::InnerEvent`]; storage errors.
    pub fn process<R: CryptoRng + ?Sized>(
        &mut self,
        event: &Event,
        now: u64,
        rng: &mut R,
    ) -> Result<Effects> {
        if is_processed(&self.storage, &event.id().to_bytes())? {
            let mut e = Effects::default();
            e.push(Outcome::Ignored(IgnoreReason::Duplicate));
            return Ok(e);
        }
        match event.kind() {
            Kind::GIFT_WRAP => Ok(self
                .process_welcome(event, now, rng)?
                .sourced_by(event.id())),
            Kind::MLS_GROUP_MESSAGE => {
                let (gid, effects) = self.process_group_event(event, now, rng)?;
                let mut effects = effects.sourced_by(event.id());
                if let Some(gid) = gid {
                    effects.extend(self.release_buffered(&gid, now, rng)?);
                }
                Ok(effects)
            }
            k => Err(Error::UnexpectedKind {
                expected: Kind::MLS_GROUP_MESSAGE.as_u16(),
                found: k.as_u16(),
            }),
        }
    }

    // ----- Welcomes -----

    fn process_welcome<R: CryptoRng + ?Sized>(
        &mut self,
        event: &Event,
        now: u64,
        rng: &mut R,
    ) -> Result<Effects> {
        let (profile, opened) = Profile::open_any_welcome(&self.keys, event)?;
        let kp_id = opened.rumor.key_package_event_id;
        let Some(bundle) = self.load_key_package(&kp_id)? else {
            // Addressed to our identity but made for a KeyPackage of another device (or one
            // we already used): nothing for this client. Remembered, so it is not retried.
            let mut batch = WriteBatch::new();
            mark_processed(&mut batch, &event.id().to_bytes(), now);
            self.storage.apply(batch)?;
            let mut e = Effects::default();
            e.push(Outcome::Ignored(IgnoreReason::NotForUs));
            return Ok(e);
        };
        let last_resort = bundle.key_package().is_last_resort();
        let staged = Group::stage_join(
            RustCryptoSuite1::new(),
            group_config(now, self.config.retained_epochs),
            &opened.rumor.mls_message,
            JoinKeys::from(bundle),
            None,
            vec![],
        )?;
        // The member who signed the GroupInfo (the committer of our Add) must be the one
        // who sealed the gift wrap, and an admin.
        let inviter = credential_pubkey(staged.group_info_signer_credential())?;
        if inviter != opened.sender {
            return Err(Error::WelcomeSender {
                sealed_by: opened.sender.to_hex(),
                signed_by: inviter.to_hex(),
            });
        }
        let data = profile.group_data(staged.group().extensions())?;
        if !data.is_admin(&inviter) {
            return Err(Error::from(policy::PolicyViolation::NotAdmin {
                who: inviter,
                action: "add members",
            }));
        }
        let own = staged
            .group()
            .member(staged.group().own_leaf())
            .ok_or(Error::Internal {
                reason: "no own leaf",
            })?;
        if credential_pubkey(&own.credential)? != self.keys.public_key() {
            return Err(Error::CredentialMismatch {
                expected: self.keys.public_key().to_hex(),
                found: hex::encode(own.credential.identity().unwrap_or_default()),
            });
        }
        // Every member's identity must have the profile's form (MDK reads only raw keys).
        for m in staged.group().members() {
            policy::check_identity_form(profile, &m.credential)?;
        }
        let gid = staged.group().group_id().clone();
        if matches!(self.sessions.get(&gid), Some(Session::Active(_))) {
            return Err(Error::Duplicate {
                event_id: format!("a Welcome to group {gid}, of which we are a member"),
            });
        }
        let group = staged.into_group();
        let epoch = group.epoch();
        let mut live = Live {
            profile,
            group,
            keys: Vec::new(),
            races: Default::default(),
            pending: None,
            joined_epoch: epoch,
            dropped_own: Vec::new(),
        };
        live.push_current_key(self.config.retained_epochs)?;
        let nostr_group_id = live.nostr_group_id()?;

        let mut effects = Effects::default();
        effects.push(Outcome::Joined {
            group_id: gid.clone(),
            nostr_group_id,
            epoch,
            inviter,
            key_package_event_id: kp_id,
        });
        let previous = self
            .sessions
            .insert(gid.clone(), Session::Active(Box::new(live)));
        let mut batch = WriteBatch::new();
        let result = (|| {
            mark_processed(&mut batch, &event.id().to_bytes(), now);
            if last_resort {
                // NIP-EE: rotate the signing key at once after joining through a
                // last-resort KeyPackage (whose keys others may have used too).
                let pending = self.build_rotation(&gid, now, rng, &mut batch)?;
                effects.publish.push(pending.outgoing);
            } else {
                batch.delete(Table::KeyPackage, kp_id.as_bytes().to_vec());
                let deletion = DeletionRequest {
                    event_ids: vec![kp_id],
                    coordinates: vec![],
                    kinds: vec![Kind::MLS_KEY_PACKAGE],
                    reason: String::new(),
                }
                .to_builder()?
                .sign(&self.keys, Timestamp::from_secs(now))?;
                let out = Outgoing {
                    event: deletion,
                    relays: self.config.relays.clone(),
                    purpose: Purpose::KeyPackageDeletion,
                };
                outbox::put(&mut batch, &out)?;
                effects.publish.push(out);
            }
            self.save(&mut batch, &gid)?;
            Ok::<(), Error>(())
        })();
        let applied = result.and_then(|()| self.storage.apply(batch));
        if let Err(e) = applied {
            match previous {
                Some(p) => {
                    self.sessions.insert(gid, p);
                }
                None => {
                    self.sessions.remove(&gid);
                }
            }
            return Err(e);
        }
        self.rebuild_routes();
        Ok(effects)
    }

    // ----- group events -----

    /// Finds the group and epoch whose key opens `event`: `(group, epoch, MLS bytes)`. Each
    /// group that uses the `h` tag first checks the event against its own profile (tags,
    /// date window), then tries its own keys.
    ///
    /// # Errors
    /// [`Error::UnknownGroup`]; the profile's error when every active group that uses the
    /// `h` tag refuses the event's form.
    fn open_group_event(&self, h: &NostrGroupId, event: &Event, now: u64) -> Result<Opened> {
        let candidates = self.routes.get(h).cloned().unwrap_or_default();
        if candidates.is_empty() {
            return Err(Error::UnknownGroup {
                nostr_group_id: h.to_hex(),
            });
        }
        let mut active = Vec::new();
        let mut refused = None;
        for gid in &candidates {
            let live = match self.sessions.get(gid) {
                Some(Session::Active(live)) => live,
                Some(Session::Left(t)) => {
                    // A removal that may still lose a race: its epoch's key is kept.
                    if let Some(r) = t.race.as_ref().filter(|r| r.key.nostr_group_id == *h)
                        && let Ok(mls) = r.key.key.decrypt(event.content())
                    {
                        return Ok(Ok((gid.clone(), mls)));
                    }
                    continue;
                }
                None => continue,
            };
            if let Err(e) = live.profile.check_group_event(event, now) {
                refused.get_or_insert(e);
                continue;
            }
            active.push(gid.clone());
            for k in live.keys.iter().filter(|k| k.nostr_group_id == *h) {
                if let Ok(mls) = k.key.decrypt(event.content()) {
                    return Ok(Ok((gid.clone(), mls)));
                }
            }
        }
        match refused {
            Some(e) if active.is_empty() => Err(e),
            _ => Ok(Err(active)),
        }
    }

    /// Processes one kind-445 event; returns the group it touched (for releasing buffered
    /// events) and its effects.
    pub(crate) fn process_group_event<R: CryptoRng + ?Sized>(
        &mut self,
        event: &Event,
        now: u64,
        rng: &mut R,
    ) -> Result<(Option<GroupId>, Effects)> {
        let h = NostrGroupId::from_bytes(crate::envelope::group_event_group_id(event)?);
        let created_at = event.created_at().as_u64();
        if created_at > now.saturating_add(self.config.max_future_skew_secs) {
            // Dated ahead of our clock: a member whose clock runs ahead, or a forgery.
            // Within a day it waits in the buffer until our clock catches up (so members
            // with different clocks still decide on the same events); beyond, it is refused.
            let active: Vec<GroupId> = self
                .routes
                .get(&h)
                .map(|g| {
                    g.iter()
                        .filter(|id| matches!(self.sessions.get(*id), Some(Session::Active(_))))
                        .cloned()
                        .collect()
                })
                .unwrap_or_default();
            if created_at > now.saturating_add(super::MAX_HELD_FUTURE_SECS) || active.is_empty() {
                return Err(Error::FromTheFuture { created_at, now });
            }
            for gid in &active {
                self.buffer(gid, event)?;
            }
            let mut e = Effects::default();
            e.push(Outcome::Ignored(IgnoreReason::Buffered));
            return Ok((None, e));
        }
        let (gid, mls) = match self.open_group_event(&h, event, now)? {
            Ok(found) => found,
            Err(active) => return self.unopened(event, active, now, rng),
        };
        let msg = MlsMessageIn::parse(&mls)?;
        if matches!(self.sessions.get(&gid), Some(Session::Left(_))) {
            let effects = self.on_left_event(&gid, &msg, event, now)?;
            return Ok((Some(gid), effects));
        }
        let effects = match msg.content_type() {
            Some(ContentType::Application) => self.on_application(&gid, &msg, event, now)?,
            Some(ContentType::Proposal) => self.on_proposal(&gid, &msg, event, now)?,
            Some(ContentType::Commit) => self.on_commit(&gid, &msg, event, now, rng)?,
            _ => {
                return Err(Error::malformed(
                    "kind 445 content",
                    "not a PublicMessage or PrivateMessage",
                ));
            }
        };
        Ok((Some(gid), effects))
    }

    /// An event no retained key opens: evidence that our pending commit was accepted (it
    /// opens under the key of the epoch our commit creates), or an event of a later epoch
    /// to keep until that epoch arrives.
    fn unopened<R: CryptoRng + ?Sized>(
        &mut self,
        event: &Event,
        active: Vec<GroupId>,
        now: u64,
        rng: &mut R,
    ) -> Result<(Option<GroupId>, Effects)> {
        for gid in &active {
            let Some(Session::Active(live)) = self.sessions.get(gid) else {
                continue;
            };
            let Some(view) = live.group.pending_commit() else {
                continue;
            };
            let Ok(key) = live.profile.staged_group_event_key(view) else {
                continue;
            };
            if key.decrypt(event.content()).is_ok() {
                // Someone is already in the epoch our commit creates: a relay has it.
                let mut effects = self.merge_own(gid, now, rng)?;
                let (_, more) = self.process_group_event(event, now, rng)?;
                effects.extend(more);
                return Ok((Some(gid.clone()), effects));
            }
        }
        if active.is_empty() {
            let mut e = Effects::default();
            e.push(Outcome::Ignored(IgnoreReason::NotAMember));
            return Ok((None, e));
        }
        for gid in &active {
            self.buffer(gid, event)?;
        }
        let mut e = Effects::default();
        e.push(Outcome::Ignored(IgnoreReason::Buffered));
        Ok((None, e))
    }

    fn on_application(
        &mut self,
        gid: &GroupId,
        msg: &MlsMessageIn,
        event: &Event,
        now: u64,
    ) -> Result<Effects> {
        let live = self.live(gid)?;
        let Staged::Application(app) = live.group.stage(msg)? else {
            return Err(Error::Internal {
                reason: "an application message staged as something else",
            });
        };
        let sender = credential_pubkey(app.sender_credential())?;
        let inner = live.profile.decode_inner_event(app.data(), &sender)?;
        let (epoch, sender_leaf) = (app.epoch(), app.sender().0);
        let application_data = app.data().to_vec();
        self.live_mut(gid)?.group.merge(Staged::Application(app))?;
        let mut batch = WriteBatch::new();
        self.save(&mut batch, gid)?;
        mark_processed(&mut batch, &event.id().to_bytes(), now);
        self.commit_batch(Some(gid), batch)?;
        let mut e = Effects::default();
        e.push(Outcome::Message {
            group_id: gid.clone(),
            epoch,
            sender_leaf,
            event: inner,
            application_data,
        });
        Ok(e)
    }

    fn on_proposal(
        &mut self,
        gid: &GroupId,
        msg: &MlsMessageIn,
        event: &Event,
        now: u64,
    ) -> Result<Effects> {
        let live = self.live(gid)?;
        if let Some(epoch) = msg.epoch().filter(|e| *e < live.group.epoch()) {
            return self.on_late_proposal(gid, epoch, msg, event, now);
        }
        let Staged::Proposal(p) = live.group.stage(msg)? else {
            return Err(Error::Internal {
                reason: "a proposal staged as something else",
            });
        };
        policy::check_proposal(live.profile, &live.group, &p.sender(), p.proposal())?;
        let sender = p
            .sender_credential()
            .and_then(|c| credential_pubkey(c).ok());
        let leave_request = matches!(
            (p.sender(), p.proposal()),
            (Sender::Member(s), nipee_mls::Proposal::Remove { removed }) if s == *removed
        );
        self.live_mut(gid)?.group.merge(Staged::Proposal(p))?;
        let mut batch = WriteBatch::new();
        self.save(&mut batch, gid)?;
        mark_processed(&mut batch, &event.id().to_bytes(), now);
        self.commit_batch(Some(gid), batch)?;
        let mut e = Effects::default();
        e.push(Outcome::Proposal {
            group_id: gid.clone(),
            sender,
            leave_request,
        });
        Ok(e)
    }

    fn on_commit<R: CryptoRng + ?Sized>(
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
        self.commit_batch(Some(gid), batch)?;
        self.rebuild_routes();
        let mut e = Effects::default();
        e.push(outcome);
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
        let key: OrderKey = (event.created_at().as_u64(), event.id().to_bytes());
        races::check_binding(sc.authenticated_data(), key.0, event.pubkey().as_bytes())?;
        let candidate = LateCandidate {
            epoch,
            content_id: sc.content_id(),
            key,
            committer: match sc.committer() {
                Sender::Member(i) => Some(i),
                _ => None,
            },
            removes: !sc.removed().is_empty(),
        };
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
        if let Err(e) = self.storage.apply(batch) {
            self.reload(gid)?;
            return Err(e);
        }
        self.rebuild_routes();
        let mut e = Effects::default();
        e.push(outcome);
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
        if is_processed(&self.storage, &event.id().to_bytes())? {
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

    /// Marks `event` processed and reports it ignored for `reason`.
    fn ignore(&mut self, event: &Event, reason: IgnoreReason, now: u64) -> Result<Effects> {
        let mut batch = WriteBatch::new();
        mark_processed(&mut batch, &event.id().to_bytes(), now);
        self.storage.apply(batch)?;
        let mut e = Effects::default();
        e.push(Outcome::Ignored(reason));
        Ok(e)
    }

    // ----- the buffer -----

    /// Keeps `event` for `gid` until a later epoch (bounded: the oldest is dropped).
    pub(crate) fn buffer(&mut self, gid: &GroupId, event: &Event) -> Result<()> {
        let prefix = group_key(gid.as_bytes());
        let held = self.storage.scan(Table::Buffer, &prefix)?;
        let mut batch = WriteBatch::new();
        if held.len() >= self.config.max_buffered_per_group {
            let mut oldest: Vec<(u64, Vec<u8>)> = held
                .iter()
                .filter_map(|(k, v)| {
                    Some((decode_buffered(v).ok()?.created_at().as_u64(), k.clone()))
                })
                .collect();
            oldest.sort();
            let excess = held.len() + 1 - self.config.max_buffered_per_group;
            for (_, k) in oldest.into_iter().take(excess) {
                batch.delete(Table::Buffer, k);
            }
        }
        batch.put(
            Table::Buffer,
            buffer_key(gid.as_bytes(), &event.id().to_bytes()),
            encode_buffered(event),
        );
        self.storage.apply(batch)
    }

    /// Retries the buffered events of `gid` (oldest first) until none makes progress.
    pub(crate) fn release_buffered<R: CryptoRng + ?Sized>(
        &mut self,
        gid: &GroupId,
        now: u64,
        rng: &mut R,
    ) -> Result<Effects> {
        let mut effects = Effects::default();
        let prefix = group_key(gid.as_bytes());
        for _round in 0..=self.config.max_buffered_per_group {
            if !matches!(self.sessions.get(gid), Some(Session::Active(_))) {
                break;
            }
            let mut events: Vec<(Vec<u8>, Event)> = self
                .storage
                .scan(Table::Buffer, &prefix)?
                .into_iter()
                .filter_map(|(k, v)| Some((k, decode_buffered(&v).ok()?)))
                .collect();
            events.sort_by_key(|(_, e)| (e.created_at(), e.id()));
            let mut progress = false;
            for (k, ev) in events {
                let result = if is_processed(&self.storage, &ev.id().to_bytes())? {
                    Ok((None, Effects::default()))
                } else {
                    self.process_group_event(&ev, now, rng)
                };
                let still_waiting = match &result {
                    Ok((_, e)) => e.outcomes.iter().any(|o| {
                        matches!(
                            o,
                            Outcome::Ignored(
                                IgnoreReason::Buffered | IgnoreReason::HeldForPendingCommit
                            )
                        )
                    }),
                    Err(Error::Storage { .. }) => return result.map(|(_, e)| e),
                    Err(_) => false,
                };
                if still_waiting {
                    continue;
                }
                let mut batch = WriteBatch::new();
                batch.delete(Table::Buffer, k);
                self.storage.apply(batch)?;
                if let Ok((_, e)) = result {
                    progress = true;
                    effects.extend(e.sourced_by(ev.id()));
                }
            }
            if !progress {
                break;
            }
        }
        Ok(effects)
    }

    /// Builds a rotation commit into `batch` (after a last-resort join).
    fn build_rotation<R: CryptoRng + ?Sized>(
        &mut self,
        gid: &GroupId,
        now: u64,
        rng: &mut R,
        batch: &mut WriteBatch,
    ) -> Result<super::types::PendingCommit> {
        let options = nipee_mls::group::CommitOptions {
            force_path: true,
            rotate_signature_key: true,
            ..Default::default()
        };
        self.build_own_commit(gid, options, vec![], true, now, rng, batch)
    }
}
