//! The inbox: every outcome the application must see is written here in the same atomic
//! batch as the state change that produced it, and leaves only when the host acknowledges
//! that the application took it ([`Client::acknowledge`]). A crash between the batch and
//! the application therefore loses nothing: after a restart [`Client::inbox`] lists it
//! again. Delivery is at least once; the application recognises a repeat by the entry's
//! [`InboxId`] (never reused by a store) or, for a message, by its inner event id.
//!
//! Kept: decrypted application messages (plaintext), proposals, joins, commits (ours
//! confirmed, ours discarded, anyone's applied) and removals. Not kept: ignored events and
//! publication reports (the outbox already tracks what is unpublished). A commit's new
//! group data is kept in its profile's layout; one that no layout re-encodes is left out
//! (the application reads it from the client) rather than blocking the commit.

use nipee_codec::{Reader, Writer};
use nipee_nostr::{EventId, PublicKey, UnsignedEvent};

use super::types::{CommitInfo, Outcome};
use super::{Client, storage_err};
use crate::error::{Error, Result};
use crate::ids::{GroupId, NostrGroupId};
use crate::profile::Profile;
use crate::storage::{Blob, Storage, Table, WriteBatch};

const INBOX_VERSION: u8 = 1;
/// The Meta key of the next inbox id, written by every acknowledgement: with the entries
/// still stored (whose last key is the newest id) it keeps ids from being reused, even
/// after every entry was acknowledged, while processing an event writes the entry alone.
const NEXT_KEY: &[u8] = b"inbox-next";
const MAX_KEYS: usize = 100_000;

/// The reasons the core gives for discarding our own commit; a stored reason this build
/// does not know reads back as [`UNKNOWN_REASON`].
const DISCARD_REASONS: [&str; 4] = [
    "every group relay refused it",
    "no group relay has it",
    "discarded on request",
    "expired unconfirmed while the group went on",
];
const UNKNOWN_REASON: &str = "discarded (the stored reason is unknown to this build)";

/// The id of an inbox entry: a number that grows with every entry a store receives and is
/// never reused by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct InboxId(u64);

impl InboxId {
    /// From its number (as [`InboxId::as_u64`] gave it).
    pub const fn from_u64(n: u64) -> Self {
        InboxId(n)
    }

    /// Its number.
    pub const fn as_u64(self) -> u64 {
        self.0
    }
}

impl core::fmt::Display for InboxId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// An outcome kept until the host acknowledges it.
#[derive(Debug, Clone)]
pub struct InboxEntry {
    /// Its id, to pass to [`Client::acknowledge`].
    pub id: InboxId,
    /// The event it came from: the incoming event, or our own commit for its fate.
    pub source: Option<EventId>,
    /// What happened.
    pub outcome: Outcome,
}

/// Whether the inbox keeps `o` (everything the application must see).
pub(crate) fn keeps(o: &Outcome) -> bool {
    !matches!(o, Outcome::Ignored(_) | Outcome::Published { .. })
}

impl<S: Storage> Client<S> {
    /// Every outcome not acknowledged yet, oldest first. After a restart, hand these to the
    /// application before anything new (some may have reached it before the crash: it
    /// recognises them by [`InboxEntry::id`], or a message by its inner event id).
    ///
    /// # Errors
    /// Storage errors (an entry this build cannot read among them).
    pub fn inbox(&self) -> Result<Vec<InboxEntry>> {
        self.storage
            .scan(Table::Inbox, &[])?
            .into_iter()
            .map(|(k, v)| {
                let id = <[u8; 8]>::try_from(k.as_slice())
                    .map(|b| InboxId(u64::from_be_bytes(b)))
                    .map_err(|_| storage_err(Error::malformed("inbox key", "not 8 bytes")))?;
                let (source, outcome) = decode(&v).map_err(storage_err)?;
                Ok(InboxEntry {
                    id,
                    source,
                    outcome,
                })
            })
            .collect()
    }

    /// Deletes the entries the application has taken, in one batch (its plaintext goes
    /// with it). Ids that are not in the inbox (acknowledged before, or never issued) are
    /// skipped. Returns how many entries were deleted.
    ///
    /// # Errors
    /// Storage errors.
    pub fn acknowledge(&mut self, ids: &[InboxId]) -> Result<usize> {
        let mut batch = WriteBatch::new();
        let mut n = 0;
        for id in ids {
            let key = id.0.to_be_bytes();
            if self.storage.get(Table::Inbox, &key)?.is_some() {
                batch.delete(Table::Inbox, key.to_vec());
                n += 1;
            }
        }
        if n > 0 {
            batch.put(
                Table::Meta,
                NEXT_KEY.to_vec(),
                Blob::encode(1, &self.next_inbox.to_be_bytes()),
            );
            self.storage.apply(batch)?;
        }
        Ok(n)
    }

    /// [`Client::keep`] for an operation that already changed `gid` in memory: on failure
    /// the group is reloaded from storage, so memory never runs ahead of what is stored.
    pub(crate) fn keep_or_reload(
        &mut self,
        gid: &GroupId,
        batch: &mut WriteBatch,
        source: Option<EventId>,
        outcome: &Outcome,
    ) -> Result<Option<InboxId>> {
        match self.keep(batch, source, outcome) {
            Ok(id) => Ok(id),
            Err(e) => {
                self.reload(gid)?;
                Err(e)
            }
        }
    }

    /// Writes `outcome` into the inbox in `batch` when the inbox keeps it; returns the
    /// entry's id.
    pub(crate) fn keep(
        &mut self,
        batch: &mut WriteBatch,
        source: Option<EventId>,
        outcome: &Outcome,
    ) -> Result<Option<crate::InboxId>> {
        if !keeps(outcome) {
            return Ok(None);
        }
        let id = self.next_inbox;
        self.next_inbox = id.checked_add(1).ok_or(Error::Internal {
            reason: "inbox ids exhausted",
        })?;
        batch.put(
            Table::Inbox,
            id.to_be_bytes().to_vec(),
            encode(source, outcome)?,
        );
        Ok(Some(InboxId(id)))
    }
}

/// The next inbox id of a store: past the stored counter and past every stored entry.
pub(crate) fn load_next<S: Storage>(storage: &S) -> Result<u64> {
    let stored = match storage.get(Table::Meta, NEXT_KEY)? {
        Some(v) => u64::from_be_bytes(
            Blob::decode(1, &v)?
                .try_into()
                .map_err(|_| storage_err(Error::malformed("inbox counter", "not 8 bytes")))?,
        ),
        None => 0,
    };
    let past_entries = storage
        .scan(Table::Inbox, &[])?
        .last()
        .and_then(|(k, _)| <[u8; 8]>::try_from(k.as_slice()).ok())
        .map_or(0, |b| u64::from_be_bytes(b).saturating_add(1));
    Ok(stored.max(past_entries))
}

fn put_key(w: &mut Writer, k: Option<&PublicKey>) {
    match k {
        Some(k) => {
            w.u8(1);
            w.bytes(k.as_bytes());
        }
        None => w.u8(0),
    }
}

fn get_key(r: &mut Reader<'_>, field: &'static str) -> Result<Option<PublicKey>> {
    match r.u8(field)? {
        0 => Ok(None),
        1 => Ok(Some(PublicKey::from_bytes(&r.array::<32>(field)?)?)),
        _ => Err(Error::malformed("inbox entry", "bad option tag")),
    }
}

fn put_keys(w: &mut Writer, field: &'static str, keys: &[PublicKey]) -> Result<()> {
    w.vl(field, |w| {
        for k in keys {
            w.bytes(k.as_bytes());
        }
        Ok::<(), Error>(())
    })
}

fn get_keys(r: &mut Reader<'_>, field: &'static str) -> Result<Vec<PublicKey>> {
    r.vl_vec(field, MAX_KEYS, |r| {
        Ok::<_, Error>(PublicKey::from_bytes(&r.array::<32>(field)?)?)
    })
}

fn put_group(w: &mut Writer, g: &GroupId) -> Result<()> {
    Ok(w.vl_bytes("group_id", g.as_bytes())?)
}

fn get_group(r: &mut Reader<'_>) -> Result<GroupId> {
    Ok(GroupId::new(r.vl_bytes("group_id")?.to_vec()))
}

fn put_info(w: &mut Writer, i: &CommitInfo) -> Result<()> {
    put_group(w, &i.group_id)?;
    w.u64(i.epoch);
    put_key(w, i.committer.as_ref());
    put_keys(w, "added", &i.added)?;
    put_keys(w, "removed", &i.removed)?;
    put_keys(w, "updated", &i.updated)?;
    w.u8(u8::from(i.group_data_changed));
    // Kept in the layout of the profile that can carry it. A value no layout re-encodes
    // (none should: it was decoded from one) is left out rather than blocking the commit:
    // the application reads the group data from the client.
    let profile = |d: &crate::group_data::NostrGroupData| {
        if matches!(d.image, crate::group_data::GroupImage::Marmot(_)) {
            Profile::Marmot
        } else {
            Profile::NipEe
        }
    };
    let data = i
        .group_data
        .as_ref()
        .and_then(|d| Some((profile(d), profile(d).group_data_extension(d).ok()?)));
    match data {
        None => w.u8(0),
        Some((p, ext)) => {
            w.u8(match p {
                Profile::NipEe => 1,
                Profile::Marmot => 2,
            });
            w.vl_bytes("group_data", &ext.data)?;
        }
    }
    match i.rolled_back_from {
        None => w.u8(0),
        Some(e) => {
            w.u8(1);
            w.u64(e);
        }
    }
    w.u8(u8::from(i.superseded_own));
    Ok(())
}

fn get_bool(r: &mut Reader<'_>, field: &'static str) -> Result<bool> {
    match r.u8(field)? {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(Error::malformed("inbox entry", "bad boolean")),
    }
}

fn get_info(r: &mut Reader<'_>) -> Result<CommitInfo> {
    let group_id = get_group(r)?;
    let epoch = r.u64("epoch")?;
    let committer = get_key(r, "committer")?;
    let added = get_keys(r, "added")?;
    let removed = get_keys(r, "removed")?;
    let updated = get_keys(r, "updated")?;
    let group_data_changed = get_bool(r, "group_data_changed")?;
    let group_data = match r.u8("group_data")? {
        0 => None,
        tag @ (1 | 2) => {
            let profile = if tag == 1 {
                Profile::NipEe
            } else {
                Profile::Marmot
            };
            let ext = nipee_keypackage::Extension::new(
                crate::group_data::NOSTR_GROUP_DATA,
                r.vl_bytes("group_data")?.to_vec(),
            );
            Some(profile.group_data(&[ext])?)
        }
        _ => return Err(Error::malformed("inbox entry", "bad group data tag")),
    };
    let rolled_back_from = match r.u8("rolled_back_from")? {
        0 => None,
        1 => Some(r.u64("rolled_back_from")?),
        _ => return Err(Error::malformed("inbox entry", "bad option tag")),
    };
    let superseded_own = get_bool(r, "superseded_own")?;
    Ok(CommitInfo {
        group_id,
        epoch,
        committer,
        added,
        removed,
        updated,
        group_data_changed,
        group_data,
        rolled_back_from,
        superseded_own,
    })
}

/// The stored form of an inbox entry.
fn encode(source: Option<EventId>, o: &Outcome) -> Result<zeroize::Zeroizing<Vec<u8>>> {
    let mut w = Writer::new();
    match source {
        Some(id) => {
            w.u8(1);
            w.bytes(id.as_bytes());
        }
        None => w.u8(0),
    }
    match o {
        Outcome::Message {
            group_id,
            epoch,
            sender_leaf,
            application_data,
            ..
        } => {
            // The inner event is read back from the exact bytes it was decoded from.
            w.u8(0);
            put_group(&mut w, group_id)?;
            w.u64(*epoch);
            w.u32(*sender_leaf);
            w.vl_bytes("application_data", application_data)?;
        }
        Outcome::Proposal {
            group_id,
            sender,
            leave_request,
        } => {
            w.u8(1);
            put_group(&mut w, group_id)?;
            put_key(&mut w, sender.as_ref());
            w.u8(u8::from(*leave_request));
        }
        Outcome::Joined {
            group_id,
            nostr_group_id,
            epoch,
            inviter,
            key_package_event_id,
        } => {
            w.u8(2);
            put_group(&mut w, group_id)?;
            w.bytes(nostr_group_id.as_bytes());
            w.u64(*epoch);
            w.bytes(inviter.as_bytes());
            w.bytes(key_package_event_id.as_bytes());
        }
        Outcome::Commit(info) => {
            w.u8(3);
            put_info(&mut w, info)?;
        }
        Outcome::OwnCommitConfirmed(info) => {
            w.u8(4);
            put_info(&mut w, info)?;
        }
        Outcome::OwnCommitDiscarded {
            group_id,
            epoch,
            reason,
        } => {
            w.u8(5);
            put_group(&mut w, group_id)?;
            w.u64(*epoch);
            w.vl_bytes("reason", reason.as_bytes())?;
        }
        Outcome::Removed { group_id, by } => {
            w.u8(6);
            put_group(&mut w, group_id)?;
            put_key(&mut w, by.as_ref());
        }
        Outcome::Published { .. } | Outcome::Ignored(_) => {
            return Err(Error::Internal {
                reason: "the inbox keeps no publication reports or ignored events",
            });
        }
    }
    Ok(Blob::encode(INBOX_VERSION, w.as_bytes()))
}

/// Reads an inbox row.
fn decode(blob: &[u8]) -> Result<(Option<EventId>, Outcome)> {
    let mut r = Reader::new(Blob::decode(INBOX_VERSION, blob)?);
    let source = match r.u8("source")? {
        0 => None,
        1 => Some(EventId::from_bytes(r.array::<32>("source")?)),
        _ => return Err(Error::malformed("inbox entry", "bad option tag")),
    };
    let outcome = match r.u8("outcome")? {
        0 => {
            let group_id = get_group(&mut r)?;
            let epoch = r.u64("epoch")?;
            let sender_leaf = r.u32("sender_leaf")?;
            let application_data = r.vl_bytes("application_data")?.to_vec();
            let json = core::str::from_utf8(&application_data)
                .map_err(|_| Error::malformed("inbox entry", "message is not UTF-8"))?;
            let event = UnsignedEvent::from_json(json)?;
            Outcome::Message {
                group_id,
                epoch,
                sender_leaf,
                event,
                application_data,
            }
        }
        1 => Outcome::Proposal {
            group_id: get_group(&mut r)?,
            sender: get_key(&mut r, "sender")?,
            leave_request: get_bool(&mut r, "leave_request")?,
        },
        2 => Outcome::Joined {
            group_id: get_group(&mut r)?,
            nostr_group_id: NostrGroupId::from_bytes(r.array::<32>("nostr_group_id")?),
            epoch: r.u64("epoch")?,
            inviter: PublicKey::from_bytes(&r.array::<32>("inviter")?)?,
            key_package_event_id: EventId::from_bytes(r.array::<32>("key_package_event_id")?),
        },
        3 => Outcome::Commit(get_info(&mut r)?),
        4 => Outcome::OwnCommitConfirmed(get_info(&mut r)?),
        5 => {
            let group_id = get_group(&mut r)?;
            let epoch = r.u64("epoch")?;
            let stored = r.vl_bytes("reason")?;
            let reason = DISCARD_REASONS
                .into_iter()
                .find(|k| k.as_bytes() == stored)
                .unwrap_or(UNKNOWN_REASON);
            Outcome::OwnCommitDiscarded {
                group_id,
                epoch,
                reason,
            }
        }
        6 => Outcome::Removed {
            group_id: get_group(&mut r)?,
            by: get_key(&mut r, "by")?,
        },
        _ => return Err(Error::malformed("inbox entry", "unknown outcome")),
    };
    r.finish()?;
    Ok((source, outcome))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::group_data::NostrGroupData;
    use nipee_nostr::{Keys, Timestamp};

    fn same(a: &Outcome, b: &Outcome) -> bool {
        format!("{a:?}") == format!("{b:?}")
    }

    #[test]
    fn every_kept_outcome_round_trips() {
        let keys = Keys::generate(&mut rand::rng());
        let pk = keys.public_key();
        let g = GroupId::new(vec![7; 32]);
        let inner = crate::inner::chat_message(pk, "hello", Timestamp::from_secs(1_800_000_000));
        let info = CommitInfo {
            group_id: g.clone(),
            epoch: 4,
            committer: Some(pk),
            added: vec![pk],
            removed: vec![],
            updated: vec![pk, pk],
            group_data_changed: true,
            group_data: Some(NostrGroupData::new(
                [3; 32],
                "name",
                "about",
                vec![pk],
                vec!["wss://r.example".into()],
            )),
            rolled_back_from: Some(5),
            superseded_own: true,
        };
        let outcomes = [
            Outcome::Message {
                group_id: g.clone(),
                epoch: 3,
                sender_leaf: 2,
                application_data: crate::inner::encode_inner_event(&inner).unwrap(),
                event: inner,
            },
            Outcome::Proposal {
                group_id: g.clone(),
                sender: None,
                leave_request: true,
            },
            Outcome::Joined {
                group_id: g.clone(),
                nostr_group_id: NostrGroupId::from_bytes([9; 32]),
                epoch: 1,
                inviter: pk,
                key_package_event_id: EventId::from_bytes([5; 32]),
            },
            Outcome::Commit(info.clone()),
            Outcome::OwnCommitConfirmed(CommitInfo {
                group_data: None,
                rolled_back_from: None,
                committer: None,
                ..info
            }),
            Outcome::OwnCommitDiscarded {
                group_id: g.clone(),
                epoch: 8,
                reason: DISCARD_REASONS[1],
            },
            Outcome::Removed {
                group_id: g,
                by: Some(pk),
            },
        ];
        for (i, o) in outcomes.iter().enumerate() {
            assert!(keeps(o));
            let source = (i % 2 == 0).then(|| EventId::from_bytes([i as u8; 32]));
            let (s, back) = decode(&encode(source, o).unwrap()).unwrap();
            assert_eq!(s, source);
            assert!(same(o, &back), "{o:?} came back as {back:?}");
        }
    }

    #[test]
    fn ignored_outcomes_and_reports_are_not_kept() {
        assert!(!keeps(&Outcome::Ignored(
            super::super::IgnoreReason::Duplicate
        )));
        assert!(!keeps(&Outcome::Published {
            event_id: EventId::from_bytes([1; 32])
        }));
    }

    #[test]
    fn an_unknown_discard_reason_reads_back_as_unknown() {
        let o = Outcome::OwnCommitDiscarded {
            group_id: GroupId::new(vec![1]),
            epoch: 2,
            reason: "a reason of a later build",
        };
        let (_, back) = decode(&encode(None, &o).unwrap()).unwrap();
        assert!(matches!(
            back,
            Outcome::OwnCommitDiscarded { reason, .. } if reason == UNKNOWN_REASON
        ));
    }

    #[test]
    fn a_damaged_row_is_a_typed_error() {
        assert!(decode(&[INBOX_VERSION, 0, 9]).is_err());
        assert!(decode(&[INBOX_VERSION, 0, 0, 1]).is_err());
        assert!(decode(&[2]).is_err());
    }
}
