//! The buffer: group events that cannot be processed yet (a future epoch, a commit held
//! while our own is pending, a date ahead of our clock) wait here, bounded per group, and
//! are retried oldest first when the group moves on or `poll` runs.

use nipee_nostr::Event;
use rand_core::CryptoRng;

use super::Client;
use super::session::Session;
use super::types::{Effects, IgnoreReason, Outcome};
use crate::error::{Error, Result};
use crate::ids::GroupId;
use crate::storage::{Blob, Storage, Table, WriteBatch, buffer_key, group_key, is_processed};

const BUFFER_VERSION: u8 = 1;

fn encode_buffered(event: &Event) -> zeroize::Zeroizing<Vec<u8>> {
    Blob::encode(BUFFER_VERSION, event.to_json().as_bytes())
}

fn decode_buffered(blob: &[u8]) -> Result<Event> {
    let json = core::str::from_utf8(Blob::decode(BUFFER_VERSION, blob)?)
        .map_err(|_| Error::malformed("buffered event", "not UTF-8"))?;
    Ok(Event::from_json(json)?)
}

impl<S: Storage> Client<S> {
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
}
