//! The state the client keeps per group beside the MLS group, and its stored format.
//!
//! Per active group: the MLS group; the group-event key of the current epoch and of each
//! retained past epoch (with the `nostr_group_id` that epoch used); for each recent epoch
//! the record of the commit applied from it and of the commits that lost against it (what
//! commit races are decided on); our own commit awaiting its relays' answer. Per group we
//! left: a tombstone with no secret in it. The stored format is in [`row`].

mod row;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use nipee_mls::group::{Group, RatchetPiece};
use nipee_mls::{RustCryptoSuite1, TreeSlot};
use nipee_nostr::{Event, EventId, PublicKey};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::group_data::NostrGroupData;
use crate::ids::NostrGroupId;
use crate::key_package_event::credential_pubkey;
use crate::profile::{EventKey, Profile};
pub(crate) use row::{decode_invitees, encode_invitees};

/// A stored secret-tree piece as read back: epoch, slot, bytes.
pub(crate) type StoredPiece<'a> = (u64, TreeSlot, &'a [u8]);

/// A group's stored form: its row, and for an active group the pieces of its secret trees.
pub(crate) struct Stored {
    pub(crate) row: Zeroizing<Vec<u8>>,
    pub(crate) pieces: Vec<RatchetPiece>,
}
/// At most this many losing commits are remembered per epoch.
pub(crate) const MAX_LOSERS: usize = 16;

/// The NIP-EE order of competing commits: lower `(created_at, event id)` wins.
pub(crate) type OrderKey = (u64, [u8; 32]);

/// One epoch's group-event key.
pub(crate) struct EpochKey {
    pub(crate) epoch: u64,
    pub(crate) nostr_group_id: NostrGroupId,
    pub(crate) key: EventKey,
}

/// A commit as the race rule sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CommitRecord {
    /// The authenticated content's id (the new epoch's confirmed transcript hash).
    pub(crate) content_id: Vec<u8>,
    /// Its order key, from the kind-445 event it was applied from.
    pub(crate) key: OrderKey,
    /// The committer's leaf (None for an external commit).
    pub(crate) committer: Option<u32>,
    /// The leaves it removed.
    pub(crate) removed: Vec<u32>,
}

/// What is known about the commits of one epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RaceRecord {
    /// The commit applied from this epoch.
    pub(crate) applied: CommitRecord,
    /// Commits for this epoch that lost: content id and the order key they lost with.
    pub(crate) losers: Vec<(Vec<u8>, OrderKey)>,
    /// Digests of the MLS messages of the commits above (already authenticated, or made by
    /// us). A copy carrying the same MLS message cannot be staged again — its handshake
    /// key was used, and MLS does not process our own leaf's messages — so it is
    /// recognised by these bytes; a re-encryption under another key is staged and
    /// recognised by its content id.
    pub(crate) digests: Vec<[u8; 32]>,
}

impl RaceRecord {
    /// A record of `applied`, nothing else known yet.
    pub(crate) fn new(applied: CommitRecord, digest: [u8; 32]) -> Self {
        RaceRecord {
            applied,
            losers: Vec::new(),
            digests: vec![digest],
        }
    }

    /// Remembers the digest of an authenticated commit message of this epoch.
    pub(crate) fn add_digest(&mut self, digest: [u8; 32]) {
        if self.digests.contains(&digest) {
            return;
        }
        if self.digests.len() > 2 * MAX_LOSERS {
            self.digests.remove(0);
        }
        self.digests.push(digest);
    }

    pub(crate) fn knows(&self, content_id: &[u8]) -> bool {
        self.applied.content_id == content_id || self.losers.iter().any(|(c, _)| c == content_id)
    }

    pub(crate) fn add_loser(&mut self, content_id: Vec<u8>, key: OrderKey) {
        if self.knows(&content_id) {
            return;
        }
        if self.losers.len() >= MAX_LOSERS {
            self.losers.remove(0);
        }
        self.losers.push((content_id, key));
    }
}

/// Someone our pending commit adds, and where their Welcome goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Invitee {
    pub(crate) pubkey: PublicKey,
    pub(crate) key_package_event_id: EventId,
    pub(crate) relays: Vec<String>,
    /// The KeyPackageRef the Welcome names them by (`None` in rows of version 3).
    pub(crate) key_package_ref: Option<[u8; 32]>,
}

/// Our commit awaiting its relays' answer. The signed event is kept, so it is republished
/// unchanged after a restart; the MLS pending state lives in the group.
#[derive(Debug, Clone)]
pub(crate) struct PendingOwn {
    pub(crate) event: Event,
    pub(crate) epoch: u64,
    pub(crate) content_id: Vec<u8>,
    /// Digest of the commit's MLS message (see [`RaceRecord::own`]).
    pub(crate) mls_digest: [u8; 32],
    pub(crate) welcome: Option<Vec<u8>>,
    pub(crate) invitees: Vec<Invitee>,
    /// The Welcome's GroupInfo leaves the ratchet tree out: it is sent out of band when
    /// the commit is confirmed (`false` in rows of version 3).
    pub(crate) tree_out_of_band: bool,
    /// The group's relays when the commit was made: only they can acknowledge it.
    pub(crate) relays: Vec<String>,
}

impl PendingOwn {
    pub(crate) fn key(&self) -> OrderKey {
        (self.event.created_at().as_u64(), self.event.id().to_bytes())
    }
}

/// The members' Nostr keys (leaf, key), decoded from their credentials once per ratchet
/// tree (a secp256k1 point decompression each) instead of on every call or message; keyed
/// by the tree hash they were decoded from, so a commit or a resumed fork decodes again.
#[derive(Default)]
pub(crate) struct Identities(Mutex<Option<(Vec<u8>, MemberKeys)>>);

/// Members' Nostr keys by leaf index, ascending.
pub(crate) type MemberKeys = Arc<Vec<(u32, PublicKey)>>;

impl Identities {
    /// The members' keys of `group`'s current tree, by leaf index (ascending); members
    /// whose credential holds no valid key are left out.
    pub(crate) fn of(&self, group: &Group) -> MemberKeys {
        let tree_hash = &group.context().tree_hash;
        let mut cached = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((hash, list)) = cached.as_ref()
            && hash == tree_hash
        {
            return list.clone();
        }
        let list: MemberKeys = Arc::new(
            group
                .members()
                .into_iter()
                .filter_map(|m| Some((m.index.0, credential_pubkey(&m.credential).ok()?)))
                .collect(),
        );
        *cached = Some((tree_hash.clone(), list.clone()));
        list
    }

    /// The key of one leaf of `group`'s current tree.
    pub(crate) fn leaf(&self, group: &Group, leaf: u32) -> Option<PublicKey> {
        let list = self.of(group);
        list.binary_search_by_key(&leaf, |(l, _)| *l)
            .ok()
            .and_then(|i| list.get(i))
            .map(|(_, pk)| *pk)
    }
}

/// An active group.
pub(crate) struct Live {
    pub(crate) profile: Profile,
    pub(crate) group: Group,
    /// Current epoch first, then retained past epochs, newest first.
    pub(crate) keys: Vec<EpochKey>,
    /// epoch → the race record of the commit applied from it (recent epochs only).
    pub(crate) races: BTreeMap<u64, RaceRecord>,
    pub(crate) pending: Option<PendingOwn>,
    /// The epoch we joined at (no commit record exists before it).
    pub(crate) joined_epoch: u64,
    /// Digests of our own commits that were dropped (superseded or discarded), newest
    /// last: MLS does not process our own leaf's messages, so their echoes are recognised
    /// by these bytes.
    pub(crate) dropped_own: Vec<[u8; 32]>,
    /// The members' Nostr keys of the current tree (not stored).
    pub(crate) identities: Identities,
}

impl Live {
    /// Remembers one of our commits that was dropped (at most [`MAX_LOSERS`]).
    pub(crate) fn remember_dropped(&mut self, digest: [u8; 32]) {
        if self.dropped_own.contains(&digest) {
            return;
        }
        if self.dropped_own.len() >= MAX_LOSERS {
            self.dropped_own.remove(0);
        }
        self.dropped_own.push(digest);
    }
}

/// A group we are no longer in: no secret is kept, except, while a commit that removed us
/// may still lose a race, what deciding that race needs ([`LeftRace`]).
pub(crate) struct Tombstone {
    pub(crate) nostr_group_id: NostrGroupId,
    pub(crate) epoch: u64,
    pub(crate) name: String,
    pub(crate) left_at: u64,
    pub(crate) race: Option<Box<LeftRace>>,
}

/// What a member removed by a commit keeps for `removed_state_secs`: the removal's epoch, that
/// epoch's group-event key and the race record of the removal (the epoch's state is its
/// fork row). All of it belongs to an epoch the member was in; nothing of the epoch that
/// removed it.
pub(crate) struct LeftRace {
    pub(crate) profile: Profile,
    pub(crate) key: EpochKey,
    pub(crate) record: RaceRecord,
    pub(crate) joined_epoch: u64,
    /// The group's relays in that epoch (where a competing commit would be published).
    pub(crate) relays: Vec<String>,
}

/// One group's state.
pub(crate) enum Session {
    Active(Box<Live>),
    Left(Tombstone),
}

impl Live {
    /// The session of a group we just entered (created or joined) in `group`'s epoch,
    /// with that epoch's event key; keeps `retained` epochs.
    pub(crate) fn entered(profile: Profile, group: Group, retained: usize) -> Result<Self> {
        let joined_epoch = group.epoch();
        let mut live = Live {
            profile,
            group,
            keys: Vec::new(),
            races: Default::default(),
            pending: None,
            joined_epoch,
            dropped_own: Vec::new(),
            identities: Identities::default(),
        };
        live.push_current_key(retained)?;
        Ok(live)
    }

    pub(crate) fn data(&self) -> Result<NostrGroupData> {
        self.profile.group_data(self.group.extensions())
    }

    pub(crate) fn nostr_group_id(&self) -> Result<NostrGroupId> {
        Ok(NostrGroupId::from_bytes(self.data()?.nostr_group_id))
    }

    pub(crate) fn current_key(&self) -> Result<&EpochKey> {
        self.keys
            .first()
            .filter(|k| k.epoch == self.group.epoch())
            .ok_or(Error::Internal {
                reason: "no event key for the current epoch",
            })
    }

    /// Adds the current epoch's key (after a join or a merge) and drops keys and race
    /// records older than the retention allows.
    pub(crate) fn push_current_key(&mut self, retained: usize) -> Result<()> {
        let epoch = self.group.epoch();
        self.keys.retain(|k| k.epoch < epoch);
        let key = self.profile.group_event_key(&self.group)?;
        let nostr_group_id = self.nostr_group_id()?;
        self.keys.insert(
            0,
            EpochKey {
                epoch,
                nostr_group_id,
                key,
            },
        );
        self.keys.truncate(retained + 1);
        let oldest = epoch.saturating_sub(retained as u64);
        self.races.retain(|e, _| *e >= oldest);
        Ok(())
    }

    /// The `nostr_group_id`s of the current and retained epochs (where late events may
    /// still arrive), current first.
    pub(crate) fn routes(&self) -> Vec<NostrGroupId> {
        let mut out: Vec<NostrGroupId> = Vec::new();
        for k in &self.keys {
            if !out.contains(&k.nostr_group_id) {
                out.push(k.nostr_group_id);
            }
        }
        out
    }
}

impl Session {
    pub(crate) fn live(&self) -> Option<&Live> {
        match self {
            Session::Active(l) => Some(l),
            Session::Left(_) => None,
        }
    }
}

/// The digest of an MLS message (SHA-256, the suite's hash).
pub(crate) fn mls_digest(mls: &[u8]) -> [u8; 32] {
    use nipee_mls::CryptoProvider;
    let h = RustCryptoSuite1::new().hash(mls);
    let mut out = [0u8; 32];
    let n = h.len().min(32);
    out[..n].copy_from_slice(&h[..n]);
    out
}
