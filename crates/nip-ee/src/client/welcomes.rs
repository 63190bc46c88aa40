//! Sending Welcomes: one gift wrap per invitee, each with the least the format allows,
//! handed out a batch at a time.
//!
//! Each invitee's Welcome holds only its own `EncryptedGroupSecrets` and the shared
//! encrypted GroupInfo ([`WelcomeSplit`]), not every other invitee's entry. With
//! [`ClientConfig::ratchet_tree_out_of_band`](super::ClientConfig::ratchet_tree_out_of_band)
//! the GroupInfo also leaves the ratchet tree out: the tree is published once, encrypted,
//! as chunk events ([`crate::tree_transfer`]) listed before the wraps, and each rumor
//! points at them, so inviting n members costs O(n) bytes instead of O(n²).
//!
//! The wraps are never all built at once: a confirmed commit (or a new group) stores the
//! Welcome once with its invitees in [`Table::Invite`] and hands out the first batch (at
//! most [`ClientConfig::welcome_batch`](super::ClientConfig::welcome_batch) wraps, or
//! [`MAX_BATCH_BYTES`] of them); the host's report on the batch's last wrap
//! ([`Client::published`], whatever the answer) returns the next batch, and
//! [`Client::poll`] resumes a batch whose last wrap left the outbox unreported (a crash).
//! Memory and the outbox hold about one batch, whatever the number of invitees.

use nipee_codec::{Reader, Writer};
use nipee_mls::WelcomeSplit;
use nipee_nostr::{EventId, Timestamp};
use rand_core::CryptoRng;

use super::session::{Invitee, Live, decode_invitees, encode_invitees};
use super::types::{Effects, Outgoing, Purpose};
use super::{Client, outbox, storage_err};
use crate::error::{Error, Result};
use crate::ids::GroupId;
use crate::storage::{Blob, Storage, Table, WriteBatch, fork_key, fork_key_epoch, group_key};
use crate::tree_transfer::{self, TreeRef};
use crate::welcome_event::WelcomeRumor;

/// Default of [`ClientConfig::welcome_batch`](super::ClientConfig::welcome_batch).
pub const DEFAULT_WELCOME_BATCH: usize = 64;

/// A batch also ends once its wraps reach this many bytes of JSON.
pub const MAX_BATCH_BYTES: usize = 8 << 20;

/// Format version of the [`Table::Invite`] rows.
const INVITE_VERSION: u8 = 1;

/// Key prefixes in [`Table::Invite`]: a small head (where the sending is) rewritten with
/// each batch, and the body (Welcome, tree reference, invitees) written once.
const HEAD: u8 = 0;
const BODY: u8 = 1;

fn invite_key(part: u8, gid: &GroupId, epoch: u64) -> Vec<u8> {
    let mut k = vec![part];
    k.extend_from_slice(&fork_key(gid.as_bytes(), epoch));
    k
}

fn invite_prefix(part: u8, gid: &GroupId) -> Vec<u8> {
    let mut k = vec![part];
    k.extend_from_slice(&group_key(gid.as_bytes()));
    k
}

/// Where a commit's Welcomes are.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Head {
    /// The epoch the commit created (in the key).
    epoch: u64,
    /// How many invitees have their wrap.
    next: usize,
    /// The last wrap of the latest batch: its report asks for the next batch.
    last_wrap: Option<EventId>,
}

impl Head {
    fn encode(&self) -> zeroize::Zeroizing<Vec<u8>> {
        let mut w = Writer::new();
        w.u64(self.next as u64);
        match &self.last_wrap {
            Some(id) => {
                w.u8(1);
                w.bytes(id.as_bytes());
            }
            None => w.u8(0),
        }
        Blob::encode(INVITE_VERSION, w.as_bytes())
    }

    fn decode(key: &[u8], blob: &[u8]) -> Result<Self> {
        let epoch = fork_key_epoch(key).ok_or(Error::malformed("invite head", "bad key"))?;
        let mut r = Reader::new(Blob::decode(INVITE_VERSION, blob)?);
        let next = usize::try_from(r.u64("next")?)
            .map_err(|_| Error::malformed("invite head", "position out of range"))?;
        let last_wrap = r.optional("last_wrap", |r| {
            Ok::<_, Error>(EventId::from_bytes(r.array::<32>("last_wrap")?))
        })?;
        r.finish()?;
        Ok(Head {
            epoch,
            next,
            last_wrap,
        })
    }
}

/// What a commit's Welcomes are made of.
struct Body {
    welcome: Vec<u8>,
    tree: Option<TreeRef>,
    invitees: Vec<Invitee>,
}

impl Body {
    fn encode(&self) -> Result<zeroize::Zeroizing<Vec<u8>>> {
        let mut w = Writer::new();
        w.vl_bytes("welcome", &self.welcome)?;
        w.optional(self.tree.as_ref(), |w, t| {
            w.bytes(t.key());
            w.bytes(&t.id);
            w.u32(t.chunks);
            Ok::<(), Error>(())
        })?;
        encode_invitees(&mut w, &self.invitees, true)?;
        let row = Blob::encode(INVITE_VERSION, w.as_bytes());
        zeroize::Zeroize::zeroize(&mut w.into_bytes());
        Ok(row)
    }

    fn decode(blob: &[u8]) -> Result<Self> {
        let mut r = Reader::new(Blob::decode(INVITE_VERSION, blob)?);
        let welcome = r.vl_bytes("welcome")?.to_vec();
        let tree = r.optional("tree", |r| {
            let key = r.array::<32>("key")?;
            let id = r.array::<32>("tree_id")?;
            let chunks = r.u32("chunks")?;
            Ok::<_, Error>(TreeRef::from_parts(key, id, chunks))
        })?;
        let invitees = decode_invitees(&mut r, true)?;
        r.finish()?;
        Ok(Body {
            welcome,
            tree,
            invitees,
        })
    }
}

impl<S: Storage> Client<S> {
    /// Begins handing out a commit's Welcomes into `batch`: with `tree_out_of_band`, the
    /// ratchet tree's chunk events first (to the group's relays), then the first batch of
    /// gift wraps (to each invitee's relays and the group's), all in the outbox; the rest
    /// is stored for later batches. `live` must be the group in the epoch the Welcome
    /// creates (the commit merged).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn start_welcomes<R: CryptoRng + ?Sized>(
        &self,
        gid: &GroupId,
        live: &Live,
        welcome: Vec<u8>,
        invitees: Vec<Invitee>,
        tree_out_of_band: bool,
        now: u64,
        rng: &mut R,
        batch: &mut WriteBatch,
    ) -> Result<Vec<Outgoing>> {
        let mut out = Vec::new();
        let mut tree = None;
        if tree_out_of_band && !invitees.is_empty() {
            let encoded = zeroize::Zeroizing::new(live.group.encoded_tree()?);
            let sealed = tree_transfer::seal(&encoded, Timestamp::from_secs(now), rng)?;
            let relays = live.data()?.relays;
            out.extend(sealed.events.into_iter().map(|event| Outgoing {
                event,
                relays: relays.clone(),
                purpose: Purpose::RatchetTree {
                    group_id: gid.clone(),
                },
            }));
            tree = Some(sealed.reference);
        }
        let body = Body {
            welcome,
            tree,
            invitees,
        };
        let mut head = Head {
            epoch: live.group.epoch(),
            next: 0,
            last_wrap: None,
        };
        out.extend(self.next_wraps(gid, live, &body, &mut head, now, rng)?);
        for o in &out {
            outbox::put(batch, o)?;
        }
        if head.next < body.invitees.len() {
            batch.put(
                Table::Invite,
                invite_key(BODY, gid, head.epoch),
                body.encode()?,
            );
            batch.put(
                Table::Invite,
                invite_key(HEAD, gid, head.epoch),
                head.encode(),
            );
        }
        Ok(out)
    }

    /// The next batch of wraps, advancing `head`.
    fn next_wraps<R: CryptoRng + ?Sized>(
        &self,
        gid: &GroupId,
        live: &Live,
        body: &Body,
        head: &mut Head,
        now: u64,
        rng: &mut R,
    ) -> Result<Vec<Outgoing>> {
        let group_relays = live.data()?.relays;
        let split = WelcomeSplit::parse(&body.welcome)?;
        let created_at = Timestamp::from_secs(now);
        let limit = self.config.welcome_batch.max(1);
        let mut out = Vec::new();
        let mut bytes = 0;
        while let Some(inv) = body.invitees.get(head.next) {
            if out.len() >= limit || bytes >= MAX_BATCH_BYTES {
                break;
            }
            let rumor = WelcomeRumor {
                mls_message: own_welcome(&split, &body.welcome, inv)?,
                key_package_event_id: inv.key_package_event_id,
                relays: group_relays.clone(),
                ratchet_tree: body.tree.clone(),
            };
            let event = live.profile.wrap_welcome(
                &rumor,
                self.config.client_name.as_deref(),
                &self.keys,
                &inv.pubkey,
                created_at,
                self.config.nip44_prefix(),
                rng,
            )?;
            bytes += event.content().len();
            let mut relays = inv.relays.clone();
            relays.extend(group_relays.iter().cloned());
            relays.sort();
            relays.dedup();
            head.last_wrap = Some(event.id());
            head.next += 1;
            out.push(Outgoing {
                event,
                relays,
                purpose: Purpose::Welcome {
                    group_id: gid.clone(),
                    invitee: inv.pubkey,
                },
            });
        }
        Ok(out)
    }

    /// The next batch of a group's Welcomes: after the report on `reported` (the last wrap
    /// of a batch), or, with `None` (from `poll`), wherever the last batch's final wrap has
    /// left the outbox. A group we are no longer in drops its pending Welcomes.
    pub(crate) fn continue_welcomes<R: CryptoRng + ?Sized>(
        &mut self,
        gid: &GroupId,
        reported: Option<&EventId>,
        now: u64,
        rng: &mut R,
    ) -> Result<Effects> {
        let mut effects = Effects::default();
        let heads = self
            .storage
            .scan(Table::Invite, &invite_prefix(HEAD, gid))?
            .into_iter()
            .map(|(k, v)| Head::decode(&k[1..], &v).map_err(storage_err))
            .collect::<Result<Vec<_>>>()?;
        let mut due = Vec::new();
        for h in heads {
            let is_due = match (reported, &h.last_wrap) {
                (Some(r), Some(last)) => r == last,
                (None, Some(last)) => self.storage.get(Table::Outbox, last.as_bytes())?.is_none(),
                (_, None) => true,
            };
            if is_due {
                due.push(h);
            }
        }
        if due.is_empty() {
            return Ok(effects);
        }
        let mut batch = WriteBatch::new();
        let Ok(live) = self.live(gid) else {
            batch.delete_prefix(Table::Invite, invite_prefix(HEAD, gid));
            batch.delete_prefix(Table::Invite, invite_prefix(BODY, gid));
            self.storage.apply(batch)?;
            return Ok(effects);
        };
        for mut head in due {
            let body_key = invite_key(BODY, gid, head.epoch);
            let head_key = invite_key(HEAD, gid, head.epoch);
            let Some(blob) = self.storage.get(Table::Invite, &body_key)? else {
                batch.delete(Table::Invite, head_key);
                continue;
            };
            let body = Body::decode(&blob).map_err(storage_err)?;
            let out = self.next_wraps(gid, live, &body, &mut head, now, rng)?;
            for o in &out {
                outbox::put(&mut batch, o)?;
            }
            if head.next >= body.invitees.len() {
                batch.delete(Table::Invite, body_key);
                batch.delete(Table::Invite, head_key);
            } else {
                batch.put(Table::Invite, head_key, head.encode());
            }
            effects.publish.extend(out);
        }
        self.storage.apply(batch)?;
        Ok(effects)
    }

    /// [`Client::continue_welcomes`] for every group with Welcomes still to hand out.
    pub(crate) fn resume_welcomes<R: CryptoRng + ?Sized>(
        &mut self,
        now: u64,
        rng: &mut R,
    ) -> Result<Effects> {
        let mut groups: Vec<GroupId> = Vec::new();
        for (k, _) in self.storage.scan(Table::Invite, &[HEAD])? {
            let len = usize::from(*k.get(1).unwrap_or(&0));
            if let Some(id) = k.get(2..2 + len) {
                let gid = GroupId::new(id.to_vec());
                if !groups.contains(&gid) {
                    groups.push(gid);
                }
            }
        }
        let mut effects = Effects::default();
        for gid in groups {
            effects.extend(self.continue_welcomes(&gid, None, now, rng)?);
        }
        Ok(effects)
    }

    /// Deletes a group's Welcomes still to hand out (into `batch`).
    pub(crate) fn drop_welcomes(batch: &mut WriteBatch, gid: &GroupId) {
        batch.delete_prefix(Table::Invite, invite_prefix(HEAD, gid));
        batch.delete_prefix(Table::Invite, invite_prefix(BODY, gid));
    }
}

/// The Welcome for `inv`: only its own entry and the shared encrypted GroupInfo (the whole
/// Welcome for an invitee of a version-3 row, which does not name its KeyPackageRef).
pub(super) fn own_welcome(split: &WelcomeSplit, whole: &[u8], inv: &Invitee) -> Result<Vec<u8>> {
    match &inv.key_package_ref {
        Some(r) => split.for_new_member(r)?.ok_or(Error::Internal {
            reason: "the Welcome has no entry for an invitee's KeyPackage",
        }),
        None => Ok(whole.to_vec()),
    }
}
