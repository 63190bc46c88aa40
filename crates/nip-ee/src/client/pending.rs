//! The fate of what we publish: relay answers, read-backs, explicit discards, expiry.
//!
//! An own commit is confirmed when one of the GROUP's relays acknowledged it (an `OK` from
//! any other relay proves nothing to the other members, who read the group's relays), when
//! it comes back from a relay, or when an event of the epoch it creates arrives. It is
//! discarded when every group relay refused it, when a complete read-back (every group relay
//! answered, none has it) shows no group relay stored it, when a competing commit with a
//! lower order key arrives, or on request. While its fate is unknown it stays pending —
//! discarding a commit a relay stored would fork the group — and competing commits for the
//! same epoch wait in the buffer.

use nipee_nostr::EventId;
use rand_core::CryptoRng;

use super::commits::commit_info;
use super::session::{CommitRecord, RaceRecord, Session};
use super::types::{Effects, FetchReport, FetchRequest, Outcome, Purpose, RelayAnswer};
use super::{Client, outbox, storage_err};
use crate::error::{Error, Result};
use crate::ids::GroupId;
use crate::storage::{Storage, Table, WriteBatch, fork_key, group_key, mark_processed};

/// Relay URLs compared as NIP-65 does: scheme and host case-insensitive, no trailing slash.
pub(crate) fn same_relay(a: &str, b: &str) -> bool {
    a.trim_end_matches('/')
        .eq_ignore_ascii_case(b.trim_end_matches('/'))
}

impl<S: Storage> Client<S> {
    /// Reports what the relays answered to the publication of `event_id` (an event the
    /// core handed out). For our commit, an acknowledgement by one of the group's relays
    /// confirms it (the Welcomes of an invite are returned to publish); refusals by every
    /// group relay discard it; anything else asks for a read-back. Other events leave the
    /// outbox once any relay accepted them.
    ///
    /// # Errors
    /// Storage and MLS errors.
    pub fn published<R: CryptoRng + ?Sized>(
        &mut self,
        event_id: &EventId,
        answers: &[RelayAnswer],
        now: u64,
        rng: &mut R,
    ) -> Result<Effects> {
        let Some(blob) = self.storage.get(Table::Outbox, event_id.as_bytes())? else {
            return Ok(Effects::default());
        };
        let out = outbox::decode(&blob).map_err(storage_err)?;
        let mut effects = Effects::default();
        match &out.purpose {
            Purpose::Commit { group_id, .. } => {
                let Ok(live) = self.live(group_id) else {
                    return self.drop_from_outbox(event_id);
                };
                let Some(p) = live.pending.as_ref().filter(|p| p.event.id() == *event_id) else {
                    return self.drop_from_outbox(event_id);
                };
                let relays = p.relays.clone();
                let acked = answers.iter().any(|a| {
                    matches!(a, RelayAnswer::Accepted { relay } if relays.iter().any(|r| same_relay(r, relay)))
                });
                let all_refused = !relays.is_empty()
                    && relays.iter().all(|r| {
                        answers.iter().any(|a| {
                            matches!(a, RelayAnswer::Rejected { relay, .. } if same_relay(r, relay))
                        })
                    });
                let gid = group_id.clone();
                if acked {
                    return self.merge_own(&gid, now, rng);
                }
                if all_refused {
                    return self.discard_own(&gid, "every group relay refused it", now, rng);
                }
                effects.fetch.push(FetchRequest::ReadBack {
                    group_id: gid,
                    event_id: *event_id,
                    relays,
                });
            }
            other => {
                if answers
                    .iter()
                    .any(|a| matches!(a, RelayAnswer::Accepted { .. }))
                {
                    let mut batch = WriteBatch::new();
                    batch.delete(Table::Outbox, event_id.as_bytes().to_vec());
                    self.storage.apply(batch)?;
                    effects.push(Outcome::Published {
                        event_id: *event_id,
                    });
                }
                // The report on a batch's last Welcome, whatever it says, asks for the
                // next batch.
                if let Purpose::Welcome { group_id, .. } = other {
                    let gid = group_id.clone();
                    effects.extend(self.continue_welcomes(&gid, Some(event_id), now, rng)?);
                }
            }
        }
        Ok(effects)
    }

    fn drop_from_outbox(&mut self, event_id: &EventId) -> Result<Effects> {
        let mut batch = WriteBatch::new();
        batch.delete(Table::Outbox, event_id.as_bytes().to_vec());
        self.storage.apply(batch)?;
        Ok(Effects::default())
    }

    /// Reports the result of a read the core asked for.
    ///
    /// # Errors
    /// Storage and MLS errors.
    pub fn fetched<R: CryptoRng + ?Sized>(
        &mut self,
        request: &FetchRequest,
        report: &FetchReport,
        now: u64,
        rng: &mut R,
    ) -> Result<Effects> {
        match request {
            FetchRequest::ReadBack {
                group_id,
                event_id,
                relays,
            } => {
                let pending = self
                    .live(group_id)
                    .ok()
                    .and_then(|l| l.pending.as_ref())
                    .is_some_and(|p| p.event.id() == *event_id);
                if !pending {
                    return Ok(Effects::default());
                }
                if report.events.iter().any(|e| e.id() == *event_id) {
                    return self.merge_own(group_id, now, rng);
                }
                let complete = !relays.is_empty()
                    && relays
                        .iter()
                        .all(|r| report.complete.iter().any(|c| same_relay(r, c)));
                if complete {
                    return self.discard_own(group_id, "no group relay has it", now, rng);
                }
                // Some relay did not answer: it may have it. Stay pending.
                Ok(Effects::default())
            }
            FetchRequest::RatchetTree { welcome, .. } => {
                self.ratchet_tree_fetched(welcome, report, now, rng)
            }
        }
    }

    /// Drops our pending commit on request (the user gave up on it). If a relay did store
    /// it, members who applied it are then on another branch: prefer waiting for the
    /// relays' answer.
    ///
    /// # Errors
    /// [`Error::Misuse`] when nothing is pending; storage errors.
    pub fn discard_pending<R: CryptoRng + ?Sized>(
        &mut self,
        gid: &GroupId,
        now: u64,
        rng: &mut R,
    ) -> Result<Effects> {
        if self.live(gid)?.pending.is_none() {
            return Err(Error::Misuse {
                what: "no commit of ours is pending in this group",
            });
        }
        self.discard_own(gid, "discarded on request", now, rng)
    }

    /// Periodic work (call every few seconds to minutes): asks again for read-backs of
    /// unconfirmed commits and for the ratchet trees that Welcomes wait for, hands out the
    /// next batch of Welcomes whose previous batch left the outbox unreported, expires a commit pending longer than the configured TTL when a
    /// competing commit is waiting (the group went on without it), retries buffered events
    /// (those dated ahead of our clock become due), and forgets processed-event marks older
    /// than the retention.
    ///
    /// # Errors
    /// Storage and MLS errors.
    pub fn poll<R: CryptoRng + ?Sized>(&mut self, now: u64, rng: &mut R) -> Result<Effects> {
        let mut effects = Effects::default();
        let pending: Vec<(GroupId, EventId, u64, Vec<String>)> = self
            .sessions
            .iter()
            .filter_map(|(gid, s)| {
                let p = s.live()?.pending.as_ref()?;
                Some((
                    gid.clone(),
                    p.event.id(),
                    p.event.created_at().as_u64(),
                    p.relays.clone(),
                ))
            })
            .collect();
        for (gid, event_id, created_at, relays) in pending {
            let expired = now.saturating_sub(created_at) > self.config.pending_ttl_secs;
            let competitors = !self
                .storage
                .scan(Table::Buffer, &group_key(gid.as_bytes()))?
                .is_empty();
            if expired && competitors {
                effects.extend(self.discard_own(
                    &gid,
                    "expired unconfirmed while the group went on",
                    now,
                    rng,
                )?);
            } else {
                effects.fetch.push(FetchRequest::ReadBack {
                    group_id: gid,
                    event_id,
                    relays,
                });
            }
        }
        self.expire_left_races(now)?;
        effects.fetch.extend(self.waiting_welcome_fetches(now)?);
        effects.extend(self.resume_welcomes(now, rng)?);
        // Events that waited for our clock (dated ahead of it) may be due now.
        let active: Vec<GroupId> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.live().is_some())
            .map(|(g, _)| g.clone())
            .collect();
        for gid in active {
            effects.extend(self.release_buffered(&gid, now, rng)?);
        }
        let cutoff = now.saturating_sub(self.config.processed_retention_secs);
        self.prune_processed(cutoff)?;
        Ok(effects)
    }

    /// Merges our pending commit: records it exactly as receivers record a commit (so the
    /// race rule treats it like anyone's), keeps the pre-commit state for races, and hands
    /// out the Welcomes.
    pub(crate) fn merge_own<R: CryptoRng + ?Sized>(
        &mut self,
        gid: &GroupId,
        now: u64,
        rng: &mut R,
    ) -> Result<Effects> {
        let retained = self.config.retained_epochs;
        let rollback = self.config.rollback_epochs as u64;
        let live = self.live_mut(gid)?;
        let p = live.pending.take().ok_or(Error::Internal {
            reason: "merging an own commit that is not pending",
        })?;
        let view = live.group.pending_commit().ok_or(Error::Internal {
            reason: "an own pending commit without its MLS pending state",
        })?;
        let info = commit_info(gid, live.profile, &live.group, view, None, false);
        let record = CommitRecord {
            content_id: p.content_id.clone(),
            key: p.key(),
            committer: Some(live.group.own_leaf().0),
            removed: view.removed().iter().map(|m| m.index.0).collect(),
        };
        let epoch_before = live.group.epoch();
        let snapshot = live.group.to_bytes()?;
        live.group.merge_pending_commit()?;
        live.races
            .insert(epoch_before, RaceRecord::new(record, p.mls_digest));
        live.push_current_key(retained)?;
        let stale_forks: Vec<u64> = live
            .races
            .keys()
            .copied()
            .filter(|e| *e + rollback < epoch_before + 1)
            .collect();
        let mut batch = WriteBatch::new();
        batch.put(
            Table::Fork,
            fork_key(gid.as_bytes(), epoch_before),
            snapshot,
        );
        for e in stale_forks {
            batch.delete(Table::Fork, fork_key(gid.as_bytes(), e));
        }
        mark_processed(&mut batch, &p.event.id().to_bytes(), now);
        batch.delete(Table::Outbox, p.event.id().as_bytes().to_vec());
        let mut effects = Effects::default();
        if let Some(w) = &p.welcome {
            let Some(Session::Active(live)) = self.sessions.get(gid) else {
                return Err(Error::Internal {
                    reason: "the group vanished while confirming",
                });
            };
            effects.publish = self.start_welcomes(
                gid,
                live,
                w.clone(),
                p.invitees.clone(),
                p.tree_out_of_band,
                now,
                rng,
                &mut batch,
            )?;
        }
        self.save(&mut batch, gid)?;
        let confirmed = Outcome::OwnCommitConfirmed(info);
        let kept = self.keep_or_reload(gid, &mut batch, Some(p.event.id()), &confirmed)?;
        self.commit_batch(Some(gid), batch)?;
        self.rebuild_routes();
        effects.push_kept(confirmed, kept);
        effects.extend(self.release_buffered(gid, now, rng)?);
        Ok(effects)
    }

    /// Drops our pending commit and lets the commits that waited for it through.
    pub(crate) fn discard_own<R: CryptoRng + ?Sized>(
        &mut self,
        gid: &GroupId,
        reason: &'static str,
        now: u64,
        rng: &mut R,
    ) -> Result<Effects> {
        let live = self.live_mut(gid)?;
        let p = live.pending.take().ok_or(Error::Internal {
            reason: "discarding an own commit that is not pending",
        })?;
        live.remember_dropped(p.mls_digest);
        live.group.discard_pending_commit();
        let mut batch = WriteBatch::new();
        batch.delete(Table::Outbox, p.event.id().as_bytes().to_vec());
        self.save(&mut batch, gid)?;
        let discarded = Outcome::OwnCommitDiscarded {
            group_id: gid.clone(),
            epoch: p.epoch,
            reason,
        };
        let kept = self.keep_or_reload(gid, &mut batch, Some(p.event.id()), &discarded)?;
        self.commit_batch(Some(gid), batch)?;
        let mut effects = Effects::default();
        effects.push_kept(discarded, kept);
        effects.extend(self.release_buffered(gid, now, rng)?);
        Ok(effects)
    }
}
