//! Incoming events: the entry point for both kinds, and group events (kind 445); Welcomes
//! are joined in `join.rs`.
//!
//! Every group event is parsed once, staged against the group without changing it,
//! checked, and merged; the new state, the processed mark and anything to publish are
//! written in one batch. A rejected event changes nothing.

use nipee_mls::group::{Sender, Staged};
use nipee_mls::{ContentType, MlsMessageIn};
use nipee_nostr::{Event, Kind};
use rand_core::CryptoRng;

use super::session::Session;
use super::types::{Effects, IgnoreReason, Outcome};
use super::{Client, policy};
use crate::error::{Error, Result};
use crate::ids::{GroupId, NostrGroupId};
use crate::key_package_event::credential_pubkey;
use crate::storage::{Storage, WriteBatch, is_processed, mark_processed};

/// Which group and epoch key opened a group event (the group and the MLS bytes), or, when
/// none did, the active groups that use its `h` tag.
type Opened = std::result::Result<(GroupId, Vec<u8>), Vec<GroupId>>;

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

    // ----- group events -----

    /// Finds the group and epoch whose key opens `event`: `(group, epoch, MLS bytes)`. Each
    /// group that uses the `h` tag first checks the event against its own profile (tags,
    /// date window), then tries its own keys.
    ///
    /// # Errors
    /// [`Error::UnknownGroup`]; the profile's error when every active group that uses the
    /// `h` tag refuses the event's form.
    pub(crate) fn open_group_event(
        &self,
        h: &NostrGroupId,
        event: &Event,
        now: u64,
    ) -> Result<Opened> {
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
        // The sender's key, decoded once per tree for the current epoch.
        let sender = match live.identities.leaf(&live.group, app.sender().0) {
            Some(pk) if app.epoch() == live.group.epoch() => pk,
            _ => credential_pubkey(app.sender_credential())?,
        };
        let inner = live.profile.decode_inner_event(app.data(), &sender)?;
        let (epoch, sender_leaf) = (app.epoch(), app.sender().0);
        let outcome = Outcome::Message {
            group_id: gid.clone(),
            epoch,
            sender_leaf,
            event: inner,
            application_data: app.data().to_vec(),
        };
        // The message waits in the inbox, written with the key's use, until the host
        // acknowledges it.
        let mut batch = WriteBatch::new();
        let kept = self.keep(&mut batch, Some(event.id()), &outcome)?;
        self.live_mut(gid)?.group.merge(Staged::Application(app))?;
        // Only the sender's ratchet (and the tree nodes its first message split) changed.
        self.save_ratchet(&mut batch, gid, epoch, sender_leaf)?;
        mark_processed(&mut batch, &event.id().to_bytes(), now);
        self.commit_batch(Some(gid), batch)?;
        let mut e = Effects::default();
        e.push_kept(outcome, kept);
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
        ) || matches!(p.proposal(), nipee_mls::Proposal::SelfRemove);
        let outcome = Outcome::Proposal {
            group_id: gid.clone(),
            sender,
            leave_request,
        };
        let mut batch = WriteBatch::new();
        let kept = self.keep(&mut batch, Some(event.id()), &outcome)?;
        self.live_mut(gid)?.group.merge(Staged::Proposal(p))?;
        self.save(&mut batch, gid)?;
        mark_processed(&mut batch, &event.id().to_bytes(), now);
        self.commit_batch(Some(gid), batch)?;
        let mut e = Effects::default();
        e.push_kept(outcome, kept);
        Ok(e)
    }

    /// Marks `event` processed and reports it ignored for `reason`.
    pub(crate) fn ignore(
        &mut self,
        event: &Event,
        reason: IgnoreReason,
        now: u64,
    ) -> Result<Effects> {
        let mut batch = WriteBatch::new();
        mark_processed(&mut batch, &event.id().to_bytes(), now);
        self.storage.apply(batch)?;
        let mut e = Effects::default();
        e.push(Outcome::Ignored(reason));
        Ok(e)
    }

    /// Builds a rotation commit into `batch` (after a last-resort join).
    pub(super) fn build_rotation<R: CryptoRng + ?Sized>(
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
