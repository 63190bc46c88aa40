//! The sans-IO client core: events in, events and state changes out.
//!
//! A [`Client`] holds one Nostr identity, its groups and a [`Storage`]. Nothing here
//! touches the network or a clock: the host passes `now` and an RNG, publishes what the
//! core returns, performs the reads it asks for, and reports what relays answered. Every
//! protocol decision is made here, so a host (the native driver, a JavaScript page) only
//! moves events.
//!
//! * **One atomic write per operation.** Every operation and every processed event ends
//!   in one [`crate::storage::WriteBatch`]: the new state, the processed-event
//!   mark and the events to publish (the outbox) land together or not at all.
//! * **Two-phase receive.** An incoming MLS message is parsed once, staged against the
//!   group without changing it, checked (admin rules, identities, inner event, commit race
//!   rule), and only then merged. A rejected event changes neither memory nor storage.
//! * **Two-phase own commits.** [`Client::invite`], [`Client::remove`], [`Client::rotate`]
//!   and friends check the commit against the same admin rules receivers apply, persist the
//!   signed kind-445 event with the MLS pending state, and return a [`PendingCommit`]. The
//!   host publishes it and reports every relay's answer with [`Client::published`]; only an
//!   acknowledgement by one of the group's relays confirms it. When no group relay answered,
//!   the core asks for a read-back ([`FetchRequest::ReadBack`]) and keeps the commit pending
//!   until it knows; an echo of the commit, or a message of the epoch it creates, confirms
//!   it too; [`Client::discard_pending`] drops it on request.
//! * **An inbox.** Every outcome the application must see (a decrypted message, a join, a
//!   commit, a removal, our commit's fate) is written in the same batch as the state change
//!   that produced it and kept until the host acknowledges it ([`Client::inbox`],
//!   [`Client::acknowledge`]): a crash in between loses nothing, and delivery is at least
//!   once.
//! * **Commit races** are decided by the rule in [`races`](self) (see docs/NIP-EE.md).
//! * **Future epochs.** A group event no retained key opens is buffered (bounded, stored)
//!   and retried whenever the group enters a new epoch.

mod buffer;
mod commits;
mod config;
mod data_update;
mod inbox;
mod incoming;
mod join;
mod leave;
mod left;
mod outbox;
mod outgoing;
mod pending;
mod policy;
mod races;
mod reorder;
mod session;
mod types;
mod welcomes;

use std::collections::BTreeMap;

use nipee_mls::LeafIndex;
use nipee_nostr::{Filter, Keys, Kind, PublicKey, SecretKey};
use zeroize::Zeroizing;

pub use config::{
    ClientConfig, DEFAULT_MAX_BUFFERED_PER_GROUP, DEFAULT_MAX_FUTURE_SKEW_SECS,
    DEFAULT_PENDING_TTL_SECS, DEFAULT_PROCESSED_RETENTION_SECS, DEFAULT_REMOVED_STATE_SECS,
    DEFAULT_RETAINED_EPOCHS, DEFAULT_ROLLBACK_EPOCHS, GIFT_WRAP_MARGIN_SECS,
    GROUP_EVENT_MARGIN_SECS, MAX_HELD_FUTURE_SECS, MIN_RETAINED_EPOCHS,
};
pub use data_update::GroupDataUpdate;
pub use inbox::{InboxEntry, InboxId};
pub use outgoing::NewGroup;
pub use policy::PolicyViolation;
pub use types::{
    CommitInfo, Effects, FetchReport, FetchRequest, GroupSummary, IgnoreReason, MemberInfo,
    Outcome, Outgoing, PendingCommit, Purpose, RelayAnswer, SubscriptionSpec, TreeNode,
};
pub use welcomes::{DEFAULT_WELCOME_BATCH, MAX_BATCH_BYTES};

use session::{Live, Session};

use crate::error::{Error, Result};
use crate::group_data::NostrGroupData;
use crate::ids::{GroupId, NostrGroupId};
use crate::key_package_event::credential_pubkey;
use crate::storage::{Blob, Storage, Table, WriteBatch, group_key, ratchet_key, ratchet_key_parts};

/// The Meta key of the stored identity.
const IDENTITY_KEY: &[u8] = b"identity";
const IDENTITY_VERSION: u8 = 1;

pub(crate) fn storage_err(e: Error) -> Error {
    match e {
        Error::Storage { .. } => e,
        other => Error::Storage {
            reason: format!("stored state does not load: {other}"),
        },
    }
}

/// A NIP-EE client for one Nostr identity.
pub struct Client<S: Storage> {
    keys: Keys,
    storage: S,
    config: ClientConfig,
    sessions: BTreeMap<GroupId, Session>,
    /// `nostr_group_id` → the groups whose current or retained epochs use it. Several
    /// groups may claim one public id (anyone can copy it): each is tried.
    routes: BTreeMap<NostrGroupId, Vec<GroupId>>,
    /// The id the next inbox entry gets.
    next_inbox: u64,
}

impl<S: Storage> core::fmt::Debug for Client<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Client")
            .field("pubkey", &self.keys.public_key())
            .field("groups", &self.sessions.len())
            .finish_non_exhaustive()
    }
}

fn load_identity<S: Storage>(storage: &S) -> Result<Option<Keys>> {
    match storage.get(Table::Meta, IDENTITY_KEY)? {
        None => Ok(None),
        Some(blob) => {
            let payload = Blob::decode(IDENTITY_VERSION, &blob)?;
            let bytes: [u8; 32] = payload
                .try_into()
                .map_err(|_| storage_err(Error::malformed("identity", "not 32 bytes")))?;
            let secret = Zeroizing::new(bytes);
            Ok(Some(Keys::new(
                SecretKey::from_bytes(&secret).map_err(|e| storage_err(e.into()))?,
            )))
        }
    }
}

impl<S: Storage> Client<S> {
    /// A client for `keys` over `storage`: loads every group stored there, and stores the
    /// identity if the store holds none yet.
    ///
    /// # Errors
    /// [`Error::Misuse`] when the store belongs to another identity; [`Error::Storage`] when
    /// it fails or holds a state this build cannot read.
    pub fn new(keys: Keys, mut storage: S, config: ClientConfig) -> Result<Self> {
        match load_identity(&storage)? {
            Some(stored) if stored.public_key() != keys.public_key() => {
                return Err(Error::Misuse {
                    what: "this storage belongs to another identity",
                });
            }
            Some(_) => {}
            None => {
                let mut batch = WriteBatch::new();
                batch.put(
                    Table::Meta,
                    IDENTITY_KEY.to_vec(),
                    Blob::encode(
                        IDENTITY_VERSION,
                        keys.secret_key().to_secret_bytes().as_slice(),
                    ),
                );
                storage.apply(batch)?;
            }
        }
        Self::load(keys, storage, config)
    }

    /// Opens the client whose identity `storage` holds (see [`Client::new`]).
    ///
    /// # Errors
    /// [`Error::Misuse`] when the store holds no identity; storage errors.
    pub fn open(storage: S, config: ClientConfig) -> Result<Self> {
        let keys = load_identity(&storage)?.ok_or(Error::Misuse {
            what: "this storage holds no identity",
        })?;
        Self::load(keys, storage, config)
    }

    /// The identity a store holds, if any (to tell a fresh store from an existing one).
    ///
    /// # Errors
    /// Storage errors.
    pub fn stored_identity(storage: &S) -> Result<Option<PublicKey>> {
        Ok(load_identity(storage)?.map(|k| k.public_key()))
    }

    fn load(keys: Keys, storage: S, config: ClientConfig) -> Result<Self> {
        let mut sessions = BTreeMap::new();
        let mut rewrite = Vec::new();
        for (k, v) in storage.scan(Table::Group, &[])? {
            let id = k
                .split_first()
                .map(|(_, rest)| GroupId::new(rest.to_vec()))
                .ok_or_else(|| storage_err(Error::malformed("group key", "empty")))?;
            let (session, old) = decode_session(&storage, &id, &v).map_err(storage_err)?;
            if old {
                rewrite.push(id.clone());
            }
            sessions.insert(id, session);
        }
        let next_inbox = inbox::load_next(&storage).map_err(storage_err)?;
        let mut client = Client {
            keys,
            storage,
            config: config.normalized(),
            sessions,
            routes: BTreeMap::new(),
            next_inbox,
        };
        // Rows of the previous format are rewritten at once, so every later write (an
        // application message writes only secret-tree pieces) lands beside a row of this
        // format.
        if !rewrite.is_empty() {
            let mut batch = WriteBatch::new();
            for gid in &rewrite {
                client.save(&mut batch, gid)?;
            }
            client.storage.apply(batch)?;
        }
        client.rebuild_routes();
        Ok(client)
    }

    pub(crate) fn rebuild_routes(&mut self) {
        let mut routes: BTreeMap<NostrGroupId, Vec<GroupId>> = BTreeMap::new();
        for (gid, s) in &self.sessions {
            let ids = match s {
                Session::Active(l) => l.routes(),
                Session::Left(t) => {
                    let mut ids = vec![t.nostr_group_id];
                    ids.extend(
                        t.race
                            .as_ref()
                            .map(|r| r.key.nostr_group_id)
                            .filter(|h| *h != t.nostr_group_id),
                    );
                    ids
                }
            };
            for h in ids {
                routes.entry(h).or_default().push(gid.clone());
            }
        }
        self.routes = routes;
    }

    /// Our Nostr public key.
    pub fn public_key(&self) -> PublicKey {
        self.keys.public_key()
    }

    /// Our Nostr keys (to sign events the core does not build).
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// The settings.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// The storage.
    pub fn storage(&self) -> &S {
        &self.storage
    }

    /// The storage, mutably (hosts that persist a recording store elsewhere take its
    /// batches through this).
    pub fn storage_mut(&mut self) -> &mut S {
        &mut self.storage
    }

    /// Consumes the client, returning its storage.
    pub fn into_storage(self) -> S {
        self.storage
    }

    pub(crate) fn live(&self, gid: &GroupId) -> Result<&Live> {
        match self.sessions.get(gid) {
            Some(Session::Active(l)) => Ok(l),
            Some(Session::Left(_)) => Err(Error::Misuse {
                what: "we are no longer a member of this group",
            }),
            None => Err(Error::UnknownGroup {
                nostr_group_id: gid.to_hex(),
            }),
        }
    }

    pub(crate) fn live_mut(&mut self, gid: &GroupId) -> Result<&mut Live> {
        match self.sessions.get_mut(gid) {
            Some(Session::Active(l)) => Ok(l),
            Some(Session::Left(_)) => Err(Error::Misuse {
                what: "we are no longer a member of this group",
            }),
            None => Err(Error::UnknownGroup {
                nostr_group_id: gid.to_hex(),
            }),
        }
    }

    /// Writes a group's whole state into `batch`: its row and every piece of its secret
    /// trees (replacing the pieces stored before).
    pub(crate) fn save(&self, batch: &mut WriteBatch, gid: &GroupId) -> Result<()> {
        let s = self.sessions.get(gid).ok_or(Error::Internal {
            reason: "saving a group that is not loaded",
        })?;
        let stored = s.encode()?;
        let key = group_key(gid.as_bytes());
        if matches!(s, Session::Left(_)) {
            // Welcomes still to hand out for a group we left go nowhere.
            Self::drop_welcomes(batch, gid);
        }
        batch.put(Table::Group, key.clone(), stored.row);
        batch.delete_prefix(Table::Ratchet, key);
        for p in stored.pieces {
            if let Some(bytes) = p.bytes {
                batch.put(
                    Table::Ratchet,
                    ratchet_key(gid.as_bytes(), p.epoch, p.slot),
                    Blob::encode(PIECE_VERSION, &bytes),
                );
            }
        }
        Ok(())
    }

    /// Writes into `batch` only what taking a message key of `leaf` in `epoch` changed
    /// (receiving its message, or sending ours): the O(log n) secret-tree pieces on the
    /// leaf's path. The group row is not rewritten: nothing else changed.
    pub(crate) fn save_ratchet(
        &self,
        batch: &mut WriteBatch,
        gid: &GroupId,
        epoch: u64,
        leaf: u32,
    ) -> Result<()> {
        let live = self.live(gid)?;
        for p in live.group.ratchet_pieces(epoch, LeafIndex(leaf))? {
            let key = ratchet_key(gid.as_bytes(), p.epoch, p.slot);
            match p.bytes {
                Some(bytes) => batch.put(Table::Ratchet, key, Blob::encode(PIECE_VERSION, &bytes)),
                None => batch.delete(Table::Ratchet, key),
            }
        }
        Ok(())
    }

    /// Applies `batch`; on failure reloads `gid` from storage, so memory never runs ahead
    /// of what is stored.
    pub(crate) fn commit_batch(&mut self, gid: Option<&GroupId>, batch: WriteBatch) -> Result<()> {
        if let Err(e) = self.storage.apply(batch) {
            if let Some(gid) = gid {
                self.reload(gid)?;
            }
            return Err(e);
        }
        Ok(())
    }

    /// Reloads a group from storage (undoing in-memory changes of a failed operation).
    pub(crate) fn reload(&mut self, gid: &GroupId) -> Result<()> {
        match self.storage.get(Table::Group, &group_key(gid.as_bytes()))? {
            Some(blob) => {
                let (s, _) = decode_session(&self.storage, gid, &blob).map_err(storage_err)?;
                self.sessions.insert(gid.clone(), s);
            }
            None => {
                self.sessions.remove(gid);
            }
        }
        self.rebuild_routes();
        Ok(())
    }

    // ----- read-only views -----

    /// Every group we know (active or left).
    pub fn groups(&self) -> Vec<GroupSummary> {
        self.sessions
            .keys()
            .filter_map(|gid| self.group(gid).ok())
            .collect()
    }

    /// The MLS group ids of the groups whose public id is `h` (usually one).
    pub fn groups_by_nostr_id(&self, h: &NostrGroupId) -> Vec<GroupId> {
        self.routes.get(h).cloned().unwrap_or_default()
    }

    /// One group.
    ///
    /// # Errors
    /// [`Error::UnknownGroup`].
    pub fn group(&self, gid: &GroupId) -> Result<GroupSummary> {
        match self.sessions.get(gid) {
            None => Err(Error::UnknownGroup {
                nostr_group_id: gid.to_hex(),
            }),
            Some(Session::Left(t)) => Ok(GroupSummary {
                group_id: gid.clone(),
                nostr_group_id: t.nostr_group_id,
                name: t.name.clone(),
                data: None,
                epoch: t.epoch,
                members: Vec::new(),
                active: false,
                pending_commit: false,
                profile: None,
            }),
            Some(Session::Active(l)) => {
                let data = l.data()?;
                Ok(GroupSummary {
                    group_id: gid.clone(),
                    nostr_group_id: NostrGroupId::from_bytes(data.nostr_group_id),
                    name: data.name.clone(),
                    members: members_of(l, &data),
                    data: Some(data),
                    epoch: l.group.epoch(),
                    active: true,
                    pending_commit: l.pending.is_some(),
                    profile: Some(l.profile),
                })
            }
        }
    }

    /// The members of a group (leaf, Nostr key, admin, ours).
    ///
    /// # Errors
    /// [`Error::UnknownGroup`], or a group we left.
    pub fn members(&self, gid: &GroupId) -> Result<Vec<MemberInfo>> {
        let l = self.live(gid)?;
        Ok(members_of(l, &l.data()?))
    }

    /// The group data (name, description, admins, relays, image).
    ///
    /// # Errors
    /// [`Error::UnknownGroup`], or a group we left.
    pub fn group_data(&self, gid: &GroupId) -> Result<NostrGroupData> {
        self.live(gid)?.data()
    }

    /// The current epoch authenticator of a group (all members agree on it).
    ///
    /// # Errors
    /// [`Error::UnknownGroup`], or a group we left.
    pub fn epoch_authenticator(&self, gid: &GroupId) -> Result<Vec<u8>> {
        Ok(self
            .live(gid)?
            .group
            .epoch_authenticator()
            .as_bytes()
            .to_vec())
    }

    /// The wire-format profile of a group.
    ///
    /// # Errors
    /// [`Error::UnknownGroup`], or a group we left.
    pub fn profile(&self, gid: &GroupId) -> Result<crate::profile::Profile> {
        Ok(self.live(gid)?.profile)
    }

    /// The current epoch of a group.
    ///
    /// # Errors
    /// [`Error::UnknownGroup`], or a group we left.
    pub fn epoch(&self, gid: &GroupId) -> Result<u64> {
        Ok(self.live(gid)?.group.epoch())
    }

    /// The current group-event exporter secret of a group: `MLS-Exporter("nostr", "nostr",
    /// 32)` in a `nip-ee` group, `MLS-Exporter("marmot", "group-event", 32)` in a Marmot
    /// group. Secret.
    ///
    /// # Errors
    /// [`Error::UnknownGroup`], or a group we left.
    pub fn exporter_secret(&self, gid: &GroupId) -> Result<Zeroizing<[u8; 32]>> {
        Ok(Zeroizing::new(
            *self.live(gid)?.current_key()?.key.expose_exporter_secret(),
        ))
    }

    /// The MLS group (read-only), for inspection.
    ///
    /// # Errors
    /// [`Error::UnknownGroup`], or a group we left.
    pub fn mls_group(&self, gid: &GroupId) -> Result<&nipee_mls::group::Group> {
        Ok(&self.live(gid)?.group)
    }

    /// Our ratchet tree as nodes, for tools that draw it.
    ///
    /// # Errors
    /// [`Error::UnknownGroup`], or a group we left.
    pub fn tree(&self, gid: &GroupId) -> Result<Vec<TreeNode>> {
        let g = &self.live(gid)?.group;
        let last = g.last_commit_path();
        let own = g.own_path();
        Ok(g.tree_nodes()
            .into_iter()
            .map(|n| TreeNode {
                index: n.index,
                blank: n.blank,
                public_key_fingerprint: n.encryption_key.map(|k| hex::encode(&k[..8])),
                parent_hash: n.parent_hash.as_ref().map(hex::encode),
                unmerged_leaves: n.unmerged_leaves.clone(),
                member: n
                    .identity
                    .as_deref()
                    .and_then(|i| crate::key_package_event::identity_to_pubkey(i).ok()),
                in_last_commit_path: last.contains(&n.index),
                on_own_path: own.contains(&n.index),
            })
            .collect())
    }

    /// Every event waiting to be published (after a restart: publish them again).
    ///
    /// # Errors
    /// Storage errors.
    pub fn outbox(&self) -> Result<Vec<Outgoing>> {
        self.storage
            .scan(Table::Outbox, &[])?
            .into_iter()
            .map(|(_, v)| outbox::decode(&v).map_err(storage_err))
            .collect()
    }

    /// The subscriptions the host should hold: gift wraps addressed to us (on our relays,
    /// with the two-day NIP-59 margin), and each active group's kind-445 events under
    /// every `nostr_group_id` its current and retained epochs use (on the group's relays);
    /// for a group that removed us within the race window, the events of the removal's
    /// epoch.
    pub fn subscriptions(&self) -> Vec<SubscriptionSpec> {
        let mut out = vec![SubscriptionSpec {
            key: "gift-wraps".to_owned(),
            filter: Filter::new()
                .kind(Kind::GIFT_WRAP)
                .pubkey_tags([self.keys.public_key()]),
            relays: self.config.relays.clone(),
            margin_secs: GIFT_WRAP_MARGIN_SECS,
        }];
        for (gid, s) in &self.sessions {
            let l = match s {
                Session::Active(l) => l,
                // A removal that may still lose a race: its epoch's events still matter.
                Session::Left(t) => {
                    if let Some(r) = &t.race {
                        out.push(SubscriptionSpec {
                            key: format!("group:{}", gid.to_hex()),
                            filter: Filter::new()
                                .kind(Kind::MLS_GROUP_MESSAGE)
                                .group(r.key.nostr_group_id.to_hex()),
                            relays: r.relays.clone(),
                            margin_secs: GROUP_EVENT_MARGIN_SECS,
                        });
                    }
                    continue;
                }
            };
            let relays = l.data().map(|d| d.relays).unwrap_or_default();
            let mut filter = Filter::new().kind(Kind::MLS_GROUP_MESSAGE);
            for h in l.routes() {
                filter = filter.group(h.to_hex());
            }
            out.push(SubscriptionSpec {
                key: format!("group:{}", gid.to_hex()),
                filter,
                relays,
                margin_secs: GROUP_EVENT_MARGIN_SECS,
            });
        }
        out
    }

    /// Where a host's next fetch of the subscription `key` (a [`SubscriptionSpec::key`])
    /// may start: the newest `created_at` recorded with [`Client::record_sync`] minus the
    /// subscription's margin, or `None` to fetch everything.
    ///
    /// # Errors
    /// Storage errors.
    pub fn sync_since(&self, key: &str) -> Result<Option<u64>> {
        let margin = self
            .subscriptions()
            .iter()
            .find(|s| s.key == key)
            .map_or(GROUP_EVENT_MARGIN_SECS, |s| s.margin_secs);
        let Some(v) = self.storage.get(Table::Meta, &sync_key(key))? else {
            return Ok(None);
        };
        let bytes: [u8; 8] = Blob::decode(1, &v)?
            .try_into()
            .map_err(|_| storage_err(Error::malformed("sync point", "not 8 bytes")))?;
        Ok(Some(u64::from_be_bytes(bytes).saturating_sub(margin)))
    }

    /// Records that every stored event of the subscription `key` up to `newest`
    /// (`created_at`) was fetched and processed. `newest` is clamped to `now` plus the
    /// allowed clock skew, so one event dated in the future cannot make later fetches skip
    /// what follows.
    ///
    /// # Errors
    /// Storage errors.
    pub fn record_sync(&mut self, key: &str, newest: u64, now: u64) -> Result<()> {
        let point = newest.min(now.saturating_add(self.config.max_future_skew_secs));
        let mut batch = WriteBatch::new();
        batch.put(
            Table::Meta,
            sync_key(key),
            Blob::encode(1, &point.to_be_bytes()),
        );
        self.storage.apply(batch)
    }

    /// Forgets the ids of events processed before `cutoff` (unix seconds). Safe: commits
    /// are recognised by their authenticated content, and a message whose key was used
    /// does not decrypt again. Returns how many marks were dropped.
    ///
    /// # Errors
    /// Storage errors.
    pub fn prune_processed(&mut self, cutoff: u64) -> Result<usize> {
        let mut batch = WriteBatch::new();
        let mut n = 0;
        for (k, v) in self.storage.scan(Table::Processed, &[])? {
            let seen = Blob::decode(1, &v)
                .ok()
                .and_then(|p| <[u8; 8]>::try_from(p).ok())
                .map(u64::from_be_bytes)
                .unwrap_or(0);
            if seen < cutoff {
                batch.delete(Table::Processed, k);
                n += 1;
            }
        }
        self.storage.apply(batch)?;
        Ok(n)
    }
}

/// Format version of a stored secret-tree piece (the bytes nipee-mls gives for it).
const PIECE_VERSION: u8 = 1;

/// Decodes a group's row with the secret-tree pieces stored for it; also whether the row
/// is of the previous format.
fn decode_session<S: Storage>(storage: &S, gid: &GroupId, row: &[u8]) -> Result<(Session, bool)> {
    let prefix = group_key(gid.as_bytes());
    let rows = storage.scan(Table::Ratchet, &prefix)?;
    let mut pieces = Vec::with_capacity(rows.len());
    for (k, v) in &rows {
        let (epoch, slot) = ratchet_key_parts(k)
            .filter(|_| k.len() == prefix.len() + 13)
            .ok_or_else(|| {
                Error::malformed("secret-tree piece key", "not group, epoch and piece")
            })?;
        pieces.push((epoch, slot, Blob::decode(PIECE_VERSION, v)?));
    }
    Session::decode(row, &pieces)
}

fn sync_key(key: &str) -> Vec<u8> {
    let mut k = b"sync:".to_vec();
    k.extend_from_slice(key.as_bytes());
    k
}

fn members_of(l: &Live, data: &NostrGroupData) -> Vec<MemberInfo> {
    let own = l.group.own_leaf().0;
    l.identities
        .of(&l.group)
        .iter()
        .map(|(leaf, pubkey)| MemberInfo {
            leaf: *leaf,
            admin: data.is_admin(pubkey),
            own: *leaf == own,
            pubkey: *pubkey,
        })
        .collect()
}

/// The Nostr key of a leaf of `group`, if it is a member with a NIP-EE credential.
pub(crate) fn leaf_pubkey(group: &nipee_mls::group::Group, leaf: u32) -> Option<PublicKey> {
    group
        .member(LeafIndex(leaf))
        .and_then(|m| credential_pubkey(&m.credential).ok())
}
