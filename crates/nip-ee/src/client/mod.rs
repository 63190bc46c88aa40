//! The sans-IO client core: events in, events and state changes out.
//!
//! A [`Client`] holds one Nostr identity, its groups and a [`Storage`]. Every operation
//! ends with exactly one atomic [`WriteBatch`], so a crash leaves the state before or after
//! the operation. Nothing here touches the network or a clock: the caller passes `now` and
//! an RNG, publishes the events it gets back, and reports relay acknowledgements.
//!
//! Own commits are two-phase: [`Client::invite`], [`Client::remove`] and
//! [`Client::rotate`] return a [`PendingPublish`] with the kind-445 event to publish; after
//! a relay acknowledged it the caller calls [`Client::confirm`] (which merges the commit and
//! hands back the Welcome gift wraps to publish), or [`Client::discard`] on failure. A
//! pending commit survives a restart; if our own commit comes back from a relay before
//! `confirm`, processing it confirms it.
//!
//! Commit races: among commits for the same epoch the one with the lowest `created_at`,
//! then the lowest event id, wins. The client keeps a snapshot of the last
//! [`ClientConfig::retained_epochs`] epochs and rolls back when a winner arrives after a
//! loser was applied.

mod policy;

use std::collections::BTreeMap;

use nipee_codec::{Reader, Writer};
use nipee_keypackage::{ExtensionType, KeyPackageBundle};
use nipee_mls::crypto::RustCryptoSuite1;
use nipee_mls::group::{
    CommitOutput, CommitSummary, Group, GroupConfig, JoinKeys, ProcessedMessage,
    RequiredCapabilities,
};
use nipee_mls::tree::math::LeafIndex;
use nipee_nostr::nips::nip09::DeletionRequest;
use nipee_nostr::{Event, EventId, Keys, Kind, PublicKey, Timestamp, UnsignedEvent};
use rand_core::CryptoRng;
use zeroize::Zeroizing;

pub use policy::AdminPolicy;

use crate::envelope::GroupEventKey;
use crate::error::{Error, Result};
use crate::group_data::NostrGroupData;
use crate::key_package_event::{
    KeyPackageEvent, KeyPackageEventOptions, NewKeyPackage, credential_pubkey, generate_key_package,
};
use crate::profile::Profile;
use crate::storage::{Blob, Storage, Table, WriteBatch, epoch_key, epoch_prefix, mark_processed};
use crate::welcome_event::WelcomeRumor;

/// The committer's secrets of an own commit applied without its pending state (feature
/// `own-commit-recovery`); without the feature no value exists.
#[cfg(feature = "own-commit-recovery")]
type OwnCommitSecrets = nipee_mls::group::OwnCommitSecrets;
#[cfg(not(feature = "own-commit-recovery"))]
type OwnCommitSecrets = core::convert::Infallible;

/// Format version of the session blobs this build writes.
const SESSION_VERSION: u8 = 1;
/// Format version of stored KeyPackage bundles.
const KEY_PACKAGE_VERSION: u8 = 1;
/// Minimum number of past epochs kept for commit races.
pub const MIN_RETAINED_EPOCHS: usize = 5;

/// Client settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// Relays written into KeyPackage events, new groups and Welcomes.
    pub relays: Vec<String>,
    /// The `client` tag of KeyPackage events.
    pub client_name: Option<String>,
    /// How many past epochs are kept (at least [`MIN_RETAINED_EPOCHS`]).
    pub retained_epochs: usize,
    /// The wire formats.
    pub profile: Profile,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            relays: Vec::new(),
            client_name: Some("nipee".to_owned()),
            retained_epochs: MIN_RETAINED_EPOCHS,
            profile: Profile::NipEe,
        }
    }
}

/// An own commit waiting for a relay acknowledgement. Pass it to [`Client::confirm`] after
/// the relay accepted [`PendingPublish::event`], or to [`Client::discard`].
#[derive(Debug, Clone)]
#[must_use = "publish the event, then confirm or discard"]
pub struct PendingPublish {
    /// The group.
    pub nostr_group_id: [u8; 32],
    /// The kind-445 commit event to publish.
    pub event: Event,
    /// The epoch the commit creates.
    pub epoch: u64,
}

/// The Welcome of a confirmed own commit, still to be gift-wrapped and published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingWelcomes {
    /// The MLSMessage(Welcome) bytes.
    pub welcome: Vec<u8>,
    /// Each invitee and the KeyPackage event the Welcome consumes.
    pub invitees: Vec<(PublicKey, EventId)>,
}

/// Why an event was ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum IgnoreReason {
    /// Already processed.
    Duplicate,
    /// A commit that lost a race against the commit we applied (or our pending one).
    LostRace,
    /// One of our own messages echoed by a relay.
    OwnMessage,
    /// A proposal, stored for a later commit.
    ProposalStored,
}

/// What processing an event did.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Outcome {
    /// A decrypted application message.
    Message {
        /// The group.
        nostr_group_id: [u8; 32],
        /// The epoch it was encrypted in.
        epoch: u64,
        /// The sender's leaf.
        sender_leaf: u32,
        /// The inner event (its pubkey is the MLS sender's identity).
        event: UnsignedEvent,
        /// The exact application data.
        application_data: Vec<u8>,
    },
    /// We joined a group from a Welcome.
    Joined {
        /// The group.
        nostr_group_id: [u8; 32],
        /// The epoch we joined at.
        epoch: u64,
        /// The KeyPackage event the Welcome consumed.
        key_package_event_id: EventId,
        /// A NIP-09 deletion of that KeyPackage event to publish (non-last-resort only).
        deletion: Option<Event>,
        /// The KeyPackage was last-resort: call [`Client::rotate`] now.
        rotate_now: bool,
    },
    /// A commit was applied (possibly after rolling back a losing one).
    Commit {
        /// The group.
        nostr_group_id: [u8; 32],
        /// The new epoch.
        epoch: u64,
        /// What it did.
        summary: CommitSummary,
        /// Whether a previously applied losing commit was rolled back.
        rolled_back: bool,
    },
    /// Our own commit came back (e.g. after a restart between publish and confirm) and was
    /// merged.
    OwnCommitConfirmed {
        /// The group.
        nostr_group_id: [u8; 32],
        /// The new epoch.
        epoch: u64,
        /// Welcomes the commit created (for invites): wrap them with
        /// [`Client::wrap_welcomes`] and publish.
        welcomes: Option<PendingWelcomes>,
    },
    /// A commit removed us.
    Removed {
        /// The group.
        nostr_group_id: [u8; 32],
    },
    /// Nothing changed.
    Ignored(IgnoreReason),
}

/// What is known about a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSummary {
    /// The public group id.
    pub nostr_group_id: [u8; 32],
    /// The group data.
    pub data: NostrGroupData,
    /// The current epoch.
    pub epoch: u64,
    /// Members: leaf index and Nostr key.
    pub members: Vec<(u32, PublicKey)>,
    /// Whether we are still a member.
    pub active: bool,
}

/// The state of one group besides the MLS group: event keys of retained epochs, commits
/// that led into them, our pending commit.
struct Session {
    profile: Profile,
    group: Group,
    /// (epoch, key), newest first: the current epoch and retained ones.
    keys: Vec<(u64, GroupEventKey)>,
    /// epoch_before → (created_at, event id) of the commit applied from that epoch.
    applied: BTreeMap<u64, (u64, [u8; 32])>,
    /// Our commit awaiting a relay acknowledgement: (created_at, event id, welcome bytes,
    /// invitees: (pubkey, KeyPackage event id)).
    pending: Option<PendingOwn>,
}

#[derive(Clone)]
struct PendingOwn {
    created_at: u64,
    event_id: [u8; 32],
    welcome: Option<Vec<u8>>,
    invitees: Vec<(PublicKey, EventId)>,
}

fn group_config(now: u64, retained: usize) -> GroupConfig {
    let mut c = GroupConfig::new(now);
    c.max_past_epochs = u16::try_from(retained).unwrap_or(u16::MAX);
    c
}

impl Session {
    fn data(&self) -> Result<NostrGroupData> {
        self.profile.group_data(self.group.extensions())
    }

    fn current_key(&self) -> Result<&GroupEventKey> {
        self.keys
            .first()
            .filter(|(e, _)| *e == self.group.epoch())
            .map(|(_, k)| k)
            .ok_or(Error::Internal {
                reason: "no event key for the current epoch",
            })
    }

    fn push_current_key(&mut self, retained: usize) -> Result<()> {
        let epoch = self.group.epoch();
        if self.keys.first().is_some_and(|(e, _)| *e == epoch) {
            return Ok(());
        }
        let key = self.profile.group_event_key(&self.group)?;
        self.keys.insert(0, (epoch, key));
        self.keys.truncate(retained + 1);
        let oldest = epoch.saturating_sub(retained as u64 + 1);
        self.applied.retain(|e, _| *e >= oldest);
        Ok(())
    }

    fn encode(&self) -> Result<Zeroizing<Vec<u8>>> {
        let mut w = Writer::new();
        let state = self.group.to_bytes()?;
        w.vl_bytes("group", &state)?;
        w.u32(u32::try_from(self.keys.len()).unwrap_or(u32::MAX));
        for (e, k) in &self.keys {
            w.u64(*e);
            w.bytes(k.expose_exporter_secret());
        }
        w.u32(u32::try_from(self.applied.len()).unwrap_or(u32::MAX));
        for (e, (t, id)) in &self.applied {
            w.u64(*e);
            w.u64(*t);
            w.bytes(id);
        }
        match &self.pending {
            None => w.u8(0),
            Some(p) => {
                w.u8(1);
                w.u64(p.created_at);
                w.bytes(&p.event_id);
                match &p.welcome {
                    None => w.u8(0),
                    Some(b) => {
                        w.u8(1);
                        w.vl_bytes("welcome", b)?;
                    }
                }
                w.u32(u32::try_from(p.invitees.len()).unwrap_or(u32::MAX));
                for (pk, id) in &p.invitees {
                    w.bytes(pk.as_bytes());
                    w.bytes(id.as_bytes());
                }
            }
        }
        let out = Blob::encode(SESSION_VERSION, w.as_bytes());
        zeroize::Zeroize::zeroize(&mut w.into_bytes());
        Ok(out)
    }

    fn decode(profile: Profile, blob: &[u8]) -> Result<Self> {
        let payload = Blob::decode(SESSION_VERSION, blob)?;
        let mut r = Reader::new(payload);
        let group = Group::from_bytes(RustCryptoSuite1::new(), r.vl_bytes("group")?)?;
        let n = r.u32("keys")?;
        let mut keys = Vec::new();
        for _ in 0..n.min(1024) {
            let e = r.u64("epoch")?;
            let s = Zeroizing::new(r.array::<32>("exporter_secret")?);
            keys.push((e, profile.group_event_key_from_secret(&s)?));
        }
        let n = r.u32("applied")?;
        let mut applied = BTreeMap::new();
        for _ in 0..n.min(1024) {
            let e = r.u64("epoch")?;
            let t = r.u64("created_at")?;
            let id = r.array::<32>("event_id")?;
            applied.insert(e, (t, id));
        }
        let pending = match r.u8("pending")? {
            0 => None,
            1 => {
                let created_at = r.u64("created_at")?;
                let event_id = r.array::<32>("event_id")?;
                let welcome = match r.u8("welcome")? {
                    0 => None,
                    1 => Some(r.vl_bytes("welcome")?.to_vec()),
                    _ => return Err(Error::malformed("session", "bad welcome flag")),
                };
                let n = r.u32("invitees")?;
                let mut invitees = Vec::new();
                for _ in 0..n.min(65_536) {
                    let pk = PublicKey::from_bytes(&r.array::<32>("pubkey")?)?;
                    let id = EventId::from_bytes(r.array::<32>("kp_event")?);
                    invitees.push((pk, id));
                }
                Some(PendingOwn {
                    created_at,
                    event_id,
                    welcome,
                    invitees,
                })
            }
            _ => return Err(Error::malformed("session", "bad pending flag")),
        };
        r.finish()?;
        Ok(Session {
            profile,
            group,
            keys,
            applied,
            pending,
        })
    }
}

fn storage_err(e: Error) -> Error {
    match e {
        Error::Storage { .. } => e,
        other => Error::Storage {
            reason: format!("stored state does not load: {other}"),
        },
    }
}

/// `(created_at, id)` ordering of NIP-EE commit races: lower wins.
fn wins(a: (u64, [u8; 32]), b: (u64, [u8; 32])) -> bool {
    a < b
}

/// A NIP-EE client for one Nostr identity.
pub struct Client<S: Storage> {
    keys: Keys,
    storage: S,
    config: ClientConfig,
    sessions: BTreeMap<[u8; 32], Session>,
}

impl<S: Storage> core::fmt::Debug for Client<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Client")
            .field("pubkey", &self.keys.public_key())
            .field("groups", &self.sessions.len())
            .finish_non_exhaustive()
    }
}

impl<S: Storage> Client<S> {
    /// A client for `keys` over `storage`, loading every group stored there.
    ///
    /// # Errors
    /// [`Error::Storage`] when the store fails or holds a state this build cannot read.
    pub fn new(keys: Keys, storage: S, mut config: ClientConfig) -> Result<Self> {
        config.retained_epochs = config.retained_epochs.max(MIN_RETAINED_EPOCHS);
        let mut sessions = BTreeMap::new();
        for (k, v) in storage.scan(Table::GroupState, &[])? {
            let id: [u8; 32] = k.as_slice().try_into().map_err(|_| Error::Storage {
                reason: "group key is not 32 bytes".to_owned(),
            })?;
            sessions.insert(
                id,
                Session::decode(config.profile, &v).map_err(storage_err)?,
            );
        }
        Ok(Client {
            keys,
            storage,
            config,
            sessions,
        })
    }

    /// Our Nostr public key.
    pub fn public_key(&self) -> PublicKey {
        self.keys.public_key()
    }

    /// The wire-format profile.
    pub fn profile(&self) -> Profile {
        self.config.profile
    }

    /// Our Nostr keys (to sign events the core does not build, e.g. relay lists).
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// The storage (e.g. to close it).
    pub fn storage(&self) -> &S {
        &self.storage
    }

    /// Consumes the client, returning its storage.
    pub fn into_storage(self) -> S {
        self.storage
    }

    /// The groups we know (active or not).
    pub fn groups(&self) -> Vec<GroupSummary> {
        self.sessions
            .iter()
            .filter_map(|(id, s)| self.summary_of(id, s).ok())
            .collect()
    }

    /// One group.
    ///
    /// # Errors
    /// [`Error::UnknownGroup`].
    pub fn group(&self, nostr_group_id: &[u8; 32]) -> Result<GroupSummary> {
        let s = self.session(nostr_group_id)?;
        self.summary_of(nostr_group_id, s)
    }

    fn summary_of(&self, id: &[u8; 32], s: &Session) -> Result<GroupSummary> {
        Ok(GroupSummary {
            nostr_group_id: *id,
            data: s.data()?,
            epoch: s.group.epoch(),
            members: s
                .group
                .members()
                .into_iter()
                .filter_map(|m| Some((m.index.0, credential_pubkey(&m.credential).ok()?)))
                .collect(),
            active: s.group.is_active(),
        })
    }

    /// The current epoch authenticator of a group (all members agree on it).
    ///
    /// # Errors
    /// [`Error::UnknownGroup`].
    pub fn epoch_authenticator(&self, nostr_group_id: &[u8; 32]) -> Result<Vec<u8>> {
        Ok(self
            .session(nostr_group_id)?
            .group
            .epoch_authenticator()
            .as_bytes()
            .to_vec())
    }

    /// The current `MLS-Exporter("nostr", "nostr", 32)` of a group. Secret.
    ///
    /// # Errors
    /// [`Error::UnknownGroup`].
    pub fn exporter_secret(&self, nostr_group_id: &[u8; 32]) -> Result<Zeroizing<[u8; 32]>> {
        let s = self.session(nostr_group_id)?;
        Ok(Zeroizing::new(*s.current_key()?.expose_exporter_secret()))
    }

    /// The MLS group (read-only), for inspection.
    ///
    /// # Errors
    /// [`Error::UnknownGroup`].
    pub fn mls_group(&self, nostr_group_id: &[u8; 32]) -> Result<&Group> {
        Ok(&self.session(nostr_group_id)?.group)
    }

    fn session(&self, id: &[u8; 32]) -> Result<&Session> {
        self.sessions.get(id).ok_or_else(|| Error::UnknownGroup {
            nostr_group_id: hex::encode(id),
        })
    }

    fn session_mut(&mut self, id: &[u8; 32]) -> Result<&mut Session> {
        self.sessions
            .get_mut(id)
            .ok_or_else(|| Error::UnknownGroup {
                nostr_group_id: hex::encode(id),
            })
    }

    fn save_session(&self, batch: &mut WriteBatch, id: &[u8; 32], s: &Session) -> Result<()> {
        batch.put(Table::GroupState, id.to_vec(), s.encode()?);
        Ok(())
    }

    /// Adds a snapshot of `s` at its current epoch and prunes old snapshots.
    fn snapshot(&self, batch: &mut WriteBatch, id: &[u8; 32], s: &Session) -> Result<()> {
        let epoch = s.group.epoch();
        batch.put(Table::EpochState, epoch_key(id, epoch), s.encode()?);
        let mut epochs: Vec<u64> = self
            .storage
            .scan(Table::EpochState, &epoch_prefix(id))?
            .into_iter()
            .filter_map(|(k, _)| {
                let tail: [u8; 8] = k.get(k.len().checked_sub(8)?..)?.try_into().ok()?;
                Some(u64::from_be_bytes(tail))
            })
            .collect();
        epochs.push(epoch);
        crate::storage::prune_epochs(batch, id, epochs, self.config.retained_epochs);
        Ok(())
    }

    /// Forgets the ids of events processed before `cutoff` (unix seconds), keeping the
    /// table bounded. A forgotten event that comes back is harmless: a group event of a
    /// pruned epoch no longer decrypts, and a Welcome for a group we are in is refused.
    /// Returns how many ids were dropped.
    ///
    /// # Errors
    /// Storage errors.
    pub fn prune_processed(&mut self, cutoff: u64) -> Result<usize> {
        let mut batch = WriteBatch::new();
        let mut n = 0;
        for (k, v) in self.storage.scan(Table::ProcessedEvent, &[])? {
            let seen = Blob::decode(1, &v)
                .ok()
                .and_then(|p| <[u8; 8]>::try_from(p).ok())
                .map(u64::from_be_bytes)
                .unwrap_or(0);
            if seen < cutoff {
                batch.delete(Table::ProcessedEvent, k);
                n += 1;
            }
        }
        self.storage.apply(batch)?;
        Ok(n)
    }

    // ----- KeyPackages -----

    /// Generates a KeyPackage, stores its private keys and returns the signed kind-443 event
    /// to publish.
    ///
    /// # Errors
    /// [`Error::Misuse`] without relays in the config; storage and generation errors.
    pub fn create_key_package<R: CryptoRng + ?Sized>(
        &mut self,
        last_resort: bool,
        now: u64,
        rng: &mut R,
    ) -> Result<Event> {
        let bundle = generate_key_package(
            &self.keys.public_key(),
            &NewKeyPackage { now, last_resort },
            rng,
        )?;
        let event = self.config.profile.build_key_package_event(
            &self.keys,
            bundle.key_package(),
            &KeyPackageEventOptions {
                relays: self.config.relays.clone(),
                client: self.config.client_name.clone(),
                protected: false,
            },
            Timestamp::from_secs(now),
        )?;
        self.store_key_package(&event.id(), &bundle)?;
        Ok(event)
    }

    /// Stores the private keys of a KeyPackage published as event `event_id` (for callers
    /// that built the event themselves, and for replaying recorded KeyPackages).
    ///
    /// # Errors
    /// Storage errors.
    pub fn store_key_package(
        &mut self,
        event_id: &EventId,
        bundle: &KeyPackageBundle,
    ) -> Result<()> {
        let mut batch = WriteBatch::new();
        batch.put(
            Table::KeyPackage,
            event_id.as_bytes().to_vec(),
            Blob::encode(KEY_PACKAGE_VERSION, &bundle.to_storage_bytes()?),
        );
        self.storage.apply(batch)
    }

    fn load_key_package(&self, event_id: &EventId) -> Result<Option<KeyPackageBundle>> {
        match self.storage.get(Table::KeyPackage, event_id.as_bytes())? {
            None => Ok(None),
            Some(v) => Ok(Some(
                KeyPackageBundle::from_storage_bytes(Blob::decode(KEY_PACKAGE_VERSION, &v)?)
                    .map_err(|e| storage_err(e.into()))?,
            )),
        }
    }

    // ----- groups -----

    /// Creates a group with us as the first member and `admins` (which must include us), and
    /// adds the owners of `invitees` (kind-443 events) at once. The creating commit is never
    /// published (nobody else is in epoch 0). Returns the group id and the Welcome gift wraps
    /// to publish.
    ///
    /// # Errors
    /// [`Error::Misuse`] if we are not among the admins; KeyPackage validation errors;
    /// MLS and storage errors.
    #[allow(clippy::too_many_arguments)]
    pub fn create_group<R: CryptoRng + ?Sized>(
        &mut self,
        name: &str,
        description: &str,
        admins: Vec<PublicKey>,
        invitees: &[Event],
        now: u64,
        rng: &mut R,
    ) -> Result<([u8; 32], Vec<Event>)> {
        let me = self.keys.public_key();
        let mut admins = admins;
        if !admins.contains(&me) {
            return Err(Error::Misuse {
                what: "the creator must be an admin",
            });
        }
        admins.sort();
        admins.dedup();
        let parsed = self.parse_invitees(invitees, now)?;
        let mut nostr_group_id = [0u8; 32];
        rng.fill_bytes(&mut nostr_group_id);
        let mut mls_group_id = vec![0u8; 32];
        rng.fill_bytes(&mut mls_group_id);
        let mut relays = self.config.relays.clone();
        relays.sort();
        relays.dedup();
        let data = NostrGroupData::new(nostr_group_id, name, description, admins, relays);
        let required = RequiredCapabilities {
            extension_types: vec![ExtensionType::NOSTR_GROUP_DATA],
            proposal_types: vec![],
            credential_types: vec![],
        };
        let extensions = vec![required.to_extension()?, data.to_extension()?];
        let bundle = generate_key_package(
            &me,
            &NewKeyPackage {
                now,
                last_resort: false,
            },
            rng,
        )?;
        let mut group = Group::create(
            RustCryptoSuite1::new(),
            group_config(now, self.config.retained_epochs),
            mls_group_id,
            bundle,
            extensions,
        )?;
        let mut welcome_events = Vec::new();
        if !parsed.is_empty() {
            let out = group.add_members(parsed.iter().map(|k| k.key_package.clone()).collect())?;
            let _ = group.merge_pending_commit()?;
            if let Some(w) = out.welcome {
                welcome_events = self.welcome_wraps(&w, &parsed_invitees(&parsed), now, rng)?;
            }
        }
        let mut session = Session {
            profile: self.config.profile,
            group,
            keys: Vec::new(),
            applied: BTreeMap::new(),
            pending: None,
        };
        session.push_current_key(self.config.retained_epochs)?;
        let mut batch = WriteBatch::new();
        self.save_session(&mut batch, &nostr_group_id, &session)?;
        self.snapshot(&mut batch, &nostr_group_id, &session)?;
        self.storage.apply(batch)?;
        self.sessions.insert(nostr_group_id, session);
        Ok((nostr_group_id, welcome_events))
    }

    fn parse_invitees(&self, invitees: &[Event], now: u64) -> Result<Vec<KeyPackageEvent>> {
        let policy = nipee_keypackage::ValidationPolicy::at(now);
        invitees
            .iter()
            .map(|e| self.config.profile.parse_key_package_event(e, &policy))
            .collect()
    }

    /// Gift-wraps the Welcomes of an own commit confirmed by its echo.
    ///
    /// # Errors
    /// Gift-wrap errors.
    pub fn wrap_welcomes<R: CryptoRng + ?Sized>(
        &self,
        pending: &PendingWelcomes,
        now: u64,
        rng: &mut R,
    ) -> Result<Vec<Event>> {
        self.welcome_wraps(&pending.welcome, &pending.invitees, now, rng)
    }

    fn welcome_wraps<R: CryptoRng + ?Sized>(
        &self,
        welcome: &[u8],
        invitees: &[(PublicKey, EventId)],
        now: u64,
        rng: &mut R,
    ) -> Result<Vec<Event>> {
        invitees
            .iter()
            .map(|(pk, kp_id)| {
                let rumor = WelcomeRumor {
                    mls_message: welcome.to_vec(),
                    key_package_event_id: *kp_id,
                    relays: self.config.relays.clone(),
                };
                self.config.profile.wrap_welcome(
                    &rumor,
                    &self.keys,
                    pk,
                    Timestamp::from_secs(now),
                    rng,
                )
            })
            .collect()
    }

    fn stage_own_commit<R: CryptoRng + ?Sized>(
        &mut self,
        id: &[u8; 32],
        out: CommitOutput,
        invitees: Vec<(PublicKey, EventId)>,
        now: u64,
        rng: &mut R,
    ) -> Result<PendingPublish> {
        let s = self.session_mut(id)?;
        let event = match s.profile.build_group_event(
            s.current_key()?,
            id,
            &out.commit,
            Timestamp::from_secs(now),
            rng,
        ) {
            Ok(e) => e,
            Err(e) => {
                s.group.discard_pending_commit();
                return Err(e);
            }
        };
        s.pending = Some(PendingOwn {
            created_at: now,
            event_id: event.id().to_bytes(),
            welcome: out.welcome,
            invitees,
        });
        let mut batch = WriteBatch::new();
        let s = self.session(id)?;
        self.save_session(&mut batch, id, s)?;
        if let Err(e) = self.storage.apply(batch) {
            let s = self.session_mut(id)?;
            s.group.discard_pending_commit();
            s.pending = None;
            return Err(e);
        }
        Ok(PendingPublish {
            nostr_group_id: *id,
            event,
            epoch: out.pending.epoch,
        })
    }

    fn check_can_commit(&self, id: &[u8; 32]) -> Result<()> {
        let s = self.session(id)?;
        if s.pending.is_some() || s.group.has_pending_commit() {
            return Err(Error::Misuse {
                what: "a commit of ours is already pending: confirm or discard it first",
            });
        }
        if !s.group.is_active() {
            return Err(Error::Misuse {
                what: "we are no longer a member of this group",
            });
        }
        Ok(())
    }

    fn check_admin(&self, id: &[u8; 32]) -> Result<()> {
        if !self.session(id)?.data()?.is_admin(&self.keys.public_key()) {
            return Err(Error::Misuse {
                what: "only admins may add or remove members",
            });
        }
        Ok(())
    }

    /// Invites the owners of `key_package_events` (kind 443): an Add commit to publish; the
    /// Welcomes come from [`Client::confirm`].
    ///
    /// # Errors
    /// [`Error::Misuse`] if we are not an admin or a commit is pending; validation errors.
    pub fn invite<R: CryptoRng + ?Sized>(
        &mut self,
        nostr_group_id: &[u8; 32],
        key_package_events: &[Event],
        now: u64,
        rng: &mut R,
    ) -> Result<PendingPublish> {
        self.check_admin(nostr_group_id)?;
        self.invite_inner(nostr_group_id, key_package_events, now, rng)
    }

    /// HAZMAT (feature `hazmat`, tests only): [`Client::invite`] without our own admin
    /// check, to prove that receivers enforce the admin rules.
    ///
    /// # Errors
    /// As [`Client::invite`].
    #[cfg(feature = "hazmat")]
    pub fn invite_without_admin_check<R: CryptoRng + ?Sized>(
        &mut self,
        nostr_group_id: &[u8; 32],
        key_package_events: &[Event],
        now: u64,
        rng: &mut R,
    ) -> Result<PendingPublish> {
        self.invite_inner(nostr_group_id, key_package_events, now, rng)
    }

    fn invite_inner<R: CryptoRng + ?Sized>(
        &mut self,
        nostr_group_id: &[u8; 32],
        key_package_events: &[Event],
        now: u64,
        rng: &mut R,
    ) -> Result<PendingPublish> {
        self.check_can_commit(nostr_group_id)?;
        let parsed = self.parse_invitees(key_package_events, now)?;
        let s = self.session_mut(nostr_group_id)?;
        s.group
            .set_config(group_config(now, s.group.config().max_past_epochs.into()));
        let out = s
            .group
            .add_members(parsed.iter().map(|k| k.key_package.clone()).collect())?;
        self.stage_own_commit(nostr_group_id, out, parsed_invitees(&parsed), now, rng)
    }

    /// Removes the members whose Nostr key is in `members` (every leaf of each): a commit to
    /// publish.
    ///
    /// # Errors
    /// [`Error::Misuse`] if we are not an admin, nobody matches, or a commit is pending.
    pub fn remove<R: CryptoRng + ?Sized>(
        &mut self,
        nostr_group_id: &[u8; 32],
        members: &[PublicKey],
        now: u64,
        rng: &mut R,
    ) -> Result<PendingPublish> {
        self.check_can_commit(nostr_group_id)?;
        self.check_admin(nostr_group_id)?;
        let s = self.session_mut(nostr_group_id)?;
        let leaves: Vec<LeafIndex> = s
            .group
            .members()
            .into_iter()
            .filter(|m| credential_pubkey(&m.credential).is_ok_and(|pk| members.contains(&pk)))
            .map(|m| m.index)
            .collect();
        if leaves.is_empty() {
            return Err(Error::Misuse {
                what: "none of these keys is a member",
            });
        }
        let out = s.group.remove_members(&leaves)?;
        self.stage_own_commit(nostr_group_id, out, vec![], now, rng)
    }

    /// Rotates our leaf (a self-update commit with a fresh path): to publish.
    ///
    /// # Errors
    /// [`Error::Misuse`] when a commit is pending.
    pub fn rotate<R: CryptoRng + ?Sized>(
        &mut self,
        nostr_group_id: &[u8; 32],
        now: u64,
        rng: &mut R,
    ) -> Result<PendingPublish> {
        self.check_can_commit(nostr_group_id)?;
        let s = self.session_mut(nostr_group_id)?;
        let out = s.group.self_update()?;
        self.stage_own_commit(nostr_group_id, out, vec![], now, rng)
    }

    /// Merges our pending commit after a relay acknowledged its event, and returns the
    /// Welcome gift wraps to publish now (for invites).
    ///
    /// # Errors
    /// [`Error::Misuse`] when nothing (or another commit) is pending.
    pub fn confirm<R: CryptoRng + ?Sized>(
        &mut self,
        pending: &PendingPublish,
        now: u64,
        rng: &mut R,
    ) -> Result<Vec<Event>> {
        let id = pending.nostr_group_id;
        let own = self.take_matching_pending(&id, &pending.event.id().to_bytes())?;
        self.merge_own(&id, &own)?;
        match &own.welcome {
            Some(w) => self.welcome_wraps(w, &own.invitees, now, rng),
            None => Ok(Vec::new()),
        }
    }

    fn take_matching_pending(&mut self, id: &[u8; 32], event_id: &[u8; 32]) -> Result<PendingOwn> {
        let s = self.session_mut(id)?;
        match &s.pending {
            Some(p) if &p.event_id == event_id => Ok(p.clone()),
            _ => Err(Error::Misuse {
                what: "this commit is not pending (already confirmed, discarded or superseded)",
            }),
        }
    }

    fn merge_own(&mut self, id: &[u8; 32], own: &PendingOwn) -> Result<()> {
        let retained = self.config.retained_epochs;
        let mut batch = WriteBatch::new();
        {
            let s = self.session(id)?;
            self.snapshot(&mut batch, id, s)?;
        }
        let s = self.session_mut(id)?;
        let before = s.group.epoch();
        s.group.merge_pending_commit()?;
        s.pending = None;
        s.applied.insert(before, (own.created_at, own.event_id));
        s.push_current_key(retained)?;
        let s = self.session(id)?;
        self.save_session(&mut batch, id, s)?;
        mark_processed(&mut batch, &own.event_id, own.created_at);
        self.storage.apply(batch)
    }

    /// Drops our pending commit (the relay refused it, or it timed out). The group stays in
    /// its epoch, with no fork and no sticky error.
    ///
    /// # Errors
    /// [`Error::Misuse`] when that commit is not pending; storage errors.
    pub fn discard(&mut self, pending: &PendingPublish) -> Result<()> {
        let id = pending.nostr_group_id;
        let _ = self.take_matching_pending(&id, &pending.event.id().to_bytes())?;
        let s = self.session_mut(&id)?;
        s.group.discard_pending_commit();
        s.pending = None;
        let mut batch = WriteBatch::new();
        let s = self.session(&id)?;
        self.save_session(&mut batch, &id, s)?;
        self.storage.apply(batch)
    }

    /// Encrypts an inner event (its pubkey must be ours) as a kind-445 event to publish.
    ///
    /// # Errors
    /// [`Error::Misuse`] for an inner event of another author; [`Error::InnerEvent`] for an
    /// `h` tag; MLS errors (e.g. removed from the group).
    pub fn send<R: CryptoRng + ?Sized>(
        &mut self,
        nostr_group_id: &[u8; 32],
        inner: &UnsignedEvent,
        now: u64,
        rng: &mut R,
    ) -> Result<Event> {
        if inner.pubkey != self.keys.public_key() {
            return Err(Error::Misuse {
                what: "an inner event must be authored by our identity",
            });
        }
        let data = self.config.profile.encode_inner_event(inner)?;
        self.send_application_data(nostr_group_id, &data, now, rng)
    }

    /// Encrypts application data as a kind-445 event, persists the advanced ratchet and
    /// marks our own event as processed (so its echo from a relay is ignored).
    fn send_application_data<R: CryptoRng + ?Sized>(
        &mut self,
        nostr_group_id: &[u8; 32],
        data: &[u8],
        now: u64,
        rng: &mut R,
    ) -> Result<Event> {
        let msg = self
            .session_mut(nostr_group_id)?
            .group
            .create_message(data, &[])?;
        self.wrap_and_persist(nostr_group_id, &msg, now, rng)
    }

    /// Wraps an MLS message we produced in a kind-445 event, persists the group state it
    /// advanced and marks our own event as processed (its echo from a relay is ignored), in
    /// one atomic write.
    fn wrap_and_persist<R: CryptoRng + ?Sized>(
        &mut self,
        nostr_group_id: &[u8; 32],
        msg: &[u8],
        now: u64,
        rng: &mut R,
    ) -> Result<Event> {
        let s = self.session(nostr_group_id)?;
        let event = s.profile.build_group_event(
            s.current_key()?,
            nostr_group_id,
            msg,
            Timestamp::from_secs(now),
            rng,
        )?;
        let mut batch = WriteBatch::new();
        self.save_session(&mut batch, nostr_group_id, s)?;
        mark_processed(&mut batch, &event.id().to_bytes(), now);
        self.storage.apply(batch)?;
        Ok(event)
    }

    /// HAZMAT (feature `hazmat`, tests only): encrypts arbitrary application data without
    /// the inner-event checks, to prove that receivers enforce them.
    ///
    /// # Errors
    /// MLS errors.
    #[cfg(feature = "hazmat")]
    pub fn send_raw_application_data<R: CryptoRng + ?Sized>(
        &mut self,
        nostr_group_id: &[u8; 32],
        data: &[u8],
        now: u64,
        rng: &mut R,
    ) -> Result<Event> {
        self.send_application_data(nostr_group_id, data, now, rng)
    }

    /// Leaves a group: a Remove proposal for our own leaf (kind 445) that an admin commits.
    ///
    /// # Errors
    /// MLS errors.
    pub fn leave<R: CryptoRng + ?Sized>(
        &mut self,
        nostr_group_id: &[u8; 32],
        now: u64,
        rng: &mut R,
    ) -> Result<Event> {
        let s = self.session_mut(nostr_group_id)?;
        let own = s.group.own_leaf();
        let msg = s.group.propose_remove(own)?;
        self.wrap_and_persist(nostr_group_id, &msg, now, rng)
    }

    /// Commits the proposals received in this epoch (e.g. members who left). Admins only
    /// when the proposals need an admin.
    ///
    /// # Errors
    /// As [`Client::rotate`].
    pub fn commit_pending_proposals<R: CryptoRng + ?Sized>(
        &mut self,
        nostr_group_id: &[u8; 32],
        now: u64,
        rng: &mut R,
    ) -> Result<PendingPublish> {
        self.check_can_commit(nostr_group_id)?;
        let s = self.session_mut(nostr_group_id)?;
        let out = s.group.commit(nipee_mls::group::CommitOptions {
            include_pending: true,
            ..Default::default()
        })?;
        self.stage_own_commit(nostr_group_id, out, vec![], now, rng)
    }

    // ----- incoming events -----

    /// Processes an event from a relay: a gift wrap (kind 1059, a Welcome for us) or a
    /// group event (kind 445). Failures are typed errors that change no state.
    ///
    /// # Errors
    /// [`Error::UnexpectedKind`], [`Error::UnknownGroup`], [`Error::NoEpochKey`],
    /// [`Error::NotForUs`], [`Error::Mls`] (including `RejectedByPolicy` for the admin
    /// rules), [`Error::InnerEventAuthor`], [`Error::InnerEvent`], storage errors.
    pub fn process(&mut self, event: &Event, now: u64) -> Result<Outcome> {
        let id = event.id().to_bytes();
        if crate::storage::is_processed(&self.storage, &id)? {
            return Ok(Outcome::Ignored(IgnoreReason::Duplicate));
        }
        match event.kind() {
            Kind::GIFT_WRAP => self.process_welcome(event, now),
            Kind::MLS_GROUP_MESSAGE => self.process_group_event(event, now, None),
            k => Err(Error::UnexpectedKind {
                expected: Kind::MLS_GROUP_MESSAGE.as_u16(),
                found: k.as_u16(),
            }),
        }
    }

    fn process_welcome(&mut self, event: &Event, now: u64) -> Result<Outcome> {
        let opened = self.config.profile.open_welcome(&self.keys, event)?;
        let kp_id = opened.rumor.key_package_event_id;
        let bundle = self.load_key_package(&kp_id)?.ok_or(Error::NotForUs {
            reason: "we hold no KeyPackage with the id the Welcome names",
        })?;
        let last_resort = bundle.key_package().is_last_resort();
        let keys = JoinKeys::from(bundle);
        let group = Group::join(
            RustCryptoSuite1::new(),
            group_config(now, self.config.retained_epochs),
            &opened.rumor.mls_message,
            keys,
            None,
            vec![],
        )?;
        let mut session = Session {
            profile: self.config.profile,
            group,
            keys: Vec::new(),
            applied: BTreeMap::new(),
            pending: None,
        };
        let data = session.data()?;
        // The Welcome must come from an admin who is a member.
        if !data.is_admin(&opened.sender)
            || !session
                .group
                .members()
                .iter()
                .any(|m| credential_pubkey(&m.credential).is_ok_and(|pk| pk == opened.sender))
        {
            return Err(Error::NotForUs {
                reason: "the Welcome was not sent by an admin member of the group",
            });
        }
        let own = session
            .group
            .member(session.group.own_leaf())
            .ok_or(Error::Internal {
                reason: "no own leaf",
            })?;
        if credential_pubkey(&own.credential)? != self.keys.public_key() {
            return Err(Error::CredentialMismatch {
                expected: self.keys.public_key().to_hex(),
                found: hex::encode(own.credential.identity().unwrap_or_default()),
            });
        }
        let nostr_group_id = data.nostr_group_id;
        if self.sessions.contains_key(&nostr_group_id) {
            return Err(Error::Duplicate {
                event_id: hex::encode(nostr_group_id),
            });
        }
        session.push_current_key(self.config.retained_epochs)?;
        let mut batch = WriteBatch::new();
        self.save_session(&mut batch, &nostr_group_id, &session)?;
        self.snapshot(&mut batch, &nostr_group_id, &session)?;
        mark_processed(&mut batch, &event.id().to_bytes(), now);
        let deletion = if last_resort {
            None
        } else {
            batch.delete(Table::KeyPackage, kp_id.as_bytes().to_vec());
            let req = DeletionRequest {
                event_ids: vec![kp_id],
                coordinates: vec![],
                kinds: vec![Kind::MLS_KEY_PACKAGE],
                reason: String::new(),
            };
            Some(
                req.to_builder()?
                    .sign(&self.keys, Timestamp::from_secs(now))?,
            )
        };
        self.storage.apply(batch)?;
        let epoch = session.group.epoch();
        self.sessions.insert(nostr_group_id, session);
        Ok(Outcome::Joined {
            nostr_group_id,
            epoch,
            key_package_event_id: kp_id,
            deletion,
            rotate_now: last_resort,
        })
    }

    /// Applies a group event (kind 445) carrying a commit that our own leaf sent in the
    /// current epoch but whose pending state we do not hold, from the secrets generated for
    /// its UpdatePath (see `nipee_mls::group::Group::process_own_commit_with_secrets`): for
    /// replaying recorded conversations and for recovering a commit whose pending state was
    /// lost. The commit passes the admin policy and every check as anyone's commit would;
    /// the outcome is [`Outcome::Commit`]. Failures change no state.
    ///
    /// # Errors
    /// Those of [`Client::process`]; [`Error::Misuse`] for an event of another epoch;
    /// [`Error::Mls`] with `OwnCommitMismatch` for secrets that do not match the commit.
    #[cfg(feature = "own-commit-recovery")]
    pub fn process_own_commit(
        &mut self,
        event: &Event,
        secrets: nipee_mls::group::OwnCommitSecrets,
        now: u64,
    ) -> Result<Outcome> {
        let id = event.id().to_bytes();
        if crate::storage::is_processed(&self.storage, &id)? {
            return Ok(Outcome::Ignored(IgnoreReason::Duplicate));
        }
        if event.kind() != Kind::MLS_GROUP_MESSAGE {
            return Err(Error::UnexpectedKind {
                expected: Kind::MLS_GROUP_MESSAGE.as_u16(),
                found: event.kind().as_u16(),
            });
        }
        self.process_group_event(event, now, Some(secrets))
    }

    fn process_group_event(
        &mut self,
        event: &Event,
        now: u64,
        own_commit: Option<OwnCommitSecrets>,
    ) -> Result<Outcome> {
        let gid = self.config.profile.group_event_group_id(event)?;
        let retained = self.config.retained_epochs;
        let s = self.session(&gid)?;
        // Which epoch's key opens it?
        let mut opened = None;
        for (epoch, key) in &s.keys {
            if let Ok(pt) = key.decrypt(event.content()) {
                opened = Some((*epoch, pt));
                break;
            }
        }
        let (key_epoch, mls) = opened.ok_or(Error::NoEpochKey)?;
        let current = s.group.epoch();
        let ev_id = event.id().to_bytes();
        let ev_order = (event.created_at().as_u64(), ev_id);
        if own_commit.is_some() && key_epoch != current {
            return Err(Error::Misuse {
                what: "an own commit is applied in the epoch it was made in",
            });
        }

        // Our own pending commit echoed back: confirm it.
        if let Some(p) = &s.pending
            && p.event_id == ev_id
        {
            let own = p.clone();
            self.merge_own(&gid, &own)?;
            let epoch = self.session(&gid)?.group.epoch();
            return Ok(Outcome::OwnCommitConfirmed {
                nostr_group_id: gid,
                epoch,
                welcomes: own.welcome.map(|welcome| PendingWelcomes {
                    welcome,
                    invitees: own.invitees,
                }),
            });
        }
        let is_commit = is_commit_message(&mls);
        if is_commit && key_epoch < current {
            // A commit for an epoch we already left: a race. Roll back if it wins.
            return self.process_late_commit(&gid, key_epoch, &mls, event, now);
        }
        if is_commit
            && key_epoch == current
            && let Some(p) = &s.pending
            && wins((p.created_at, p.event_id), ev_order)
        {
            return Ok(Outcome::Ignored(IgnoreReason::LostRace));
        }
        let s = self.session_mut(&gid)?;
        let max = s.group.config().max_past_epochs;
        s.group.set_config(group_config(now, max.into()));
        let before = s.group.epoch();
        let mut batch = WriteBatch::new();
        if is_commit {
            // Snapshot the epoch we are about to leave (for a later rollback).
            let s = self.session(&gid)?;
            self.snapshot(&mut batch, &gid, s)?;
        }
        let s = self.session_mut(&gid)?;
        let members_before = member_identities(&s.group);
        let processed = match own_commit {
            None => s.group.process_message_with_policy(&mls, &AdminPolicy)?,
            #[cfg(feature = "own-commit-recovery")]
            Some(secrets) => ProcessedMessage::CommitApplied(
                s.group
                    .process_own_commit_with_secrets(&mls, secrets, &AdminPolicy)?,
            ),
            #[cfg(not(feature = "own-commit-recovery"))]
            Some(never) => match never {},
        };
        if let ProcessedMessage::CommitApplied(summary) = &processed
            && let Err(e) = check_identities_kept(&members_before, &s.group, summary)
        {
            self.reload(&gid)?;
            return Err(e);
        }
        let s = self.session_mut(&gid)?;
        let outcome = match processed {
            ProcessedMessage::Application {
                sender,
                epoch,
                data,
                ..
            } => {
                let member_key = match s.group.member(sender) {
                    Some(m) if epoch == s.group.epoch() => credential_pubkey(&m.credential),
                    _ => {
                        // A message of a past epoch: the sender's credential of that epoch
                        // is the one in our retained snapshot.
                        self.past_sender_identity(&gid, epoch, sender)
                    }
                };
                let sender_pk = match member_key {
                    Ok(pk) => pk,
                    Err(e) => {
                        self.reload(&gid)?;
                        return Err(e);
                    }
                };
                let inner = match self.config.profile.decode_inner_event(&data, &sender_pk) {
                    Ok(i) => i,
                    Err(e) => {
                        // Undo the ratchet step: an invalid inner event changes no state.
                        self.reload(&gid)?;
                        return Err(e);
                    }
                };
                Outcome::Message {
                    nostr_group_id: gid,
                    epoch,
                    sender_leaf: sender.0,
                    event: inner,
                    application_data: data,
                }
            }
            ProcessedMessage::ProposalStored { .. } => {
                Outcome::Ignored(IgnoreReason::ProposalStored)
            }
            ProcessedMessage::CommitApplied(summary) => {
                s.pending = None;
                s.applied.insert(before, ev_order);
                s.push_current_key(retained)?;
                Outcome::Commit {
                    nostr_group_id: gid,
                    epoch: summary.epoch,
                    summary,
                    rolled_back: false,
                }
            }
            ProcessedMessage::OwnCommitMerged(summary) => {
                let own = s.pending.take();
                s.applied.insert(before, ev_order);
                s.push_current_key(retained)?;
                Outcome::OwnCommitConfirmed {
                    nostr_group_id: gid,
                    epoch: summary.epoch,
                    welcomes: own.and_then(|o| {
                        o.welcome.map(|welcome| PendingWelcomes {
                            welcome,
                            invitees: o.invitees,
                        })
                    }),
                }
            }
            ProcessedMessage::Removed(_) => {
                s.pending = None;
                Outcome::Removed {
                    nostr_group_id: gid,
                }
            }
            _ => Outcome::Ignored(IgnoreReason::ProposalStored),
        };
        let s = self.session(&gid)?;
        self.save_session(&mut batch, &gid, s)?;
        mark_processed(&mut batch, &ev_id, now);
        if let Err(e) = self.storage.apply(batch) {
            self.reload(&gid)?;
            return Err(e);
        }
        Ok(outcome)
    }

    fn past_sender_identity(
        &self,
        gid: &[u8; 32],
        epoch: u64,
        sender: LeafIndex,
    ) -> Result<PublicKey> {
        let blob = self
            .storage
            .get(Table::EpochState, &epoch_key(gid, epoch))?
            .ok_or(Error::NoEpochKey)?;
        let past = Session::decode(self.config.profile, &blob).map_err(storage_err)?;
        let m = past.group.member(sender).ok_or(Error::InnerEvent {
            reason: "the sender's leaf was blank in that epoch",
        })?;
        credential_pubkey(&m.credential)
    }

    /// Reloads a group from storage (undoing in-memory changes of a failed operation).
    fn reload(&mut self, gid: &[u8; 32]) -> Result<()> {
        match self.storage.get(Table::GroupState, gid)? {
            Some(blob) => {
                let s = Session::decode(self.config.profile, &blob).map_err(storage_err)?;
                self.sessions.insert(*gid, s);
            }
            None => {
                self.sessions.remove(gid);
            }
        }
        Ok(())
    }

    fn process_late_commit(
        &mut self,
        gid: &[u8; 32],
        epoch: u64,
        mls: &[u8],
        event: &Event,
        now: u64,
    ) -> Result<Outcome> {
        let retained = self.config.retained_epochs;
        let ev_order = (event.created_at().as_u64(), event.id().to_bytes());
        let s = self.session(gid)?;
        let applied = s.applied.get(&epoch).copied().ok_or(Error::NoEpochKey)?;
        if !wins(ev_order, applied) {
            let mut batch = WriteBatch::new();
            mark_processed(&mut batch, &ev_order.1, now);
            self.storage.apply(batch)?;
            return Ok(Outcome::Ignored(IgnoreReason::LostRace));
        }
        // Roll back to the snapshot of `epoch` and apply the winner there.
        let blob = self
            .storage
            .get(Table::EpochState, &epoch_key(gid, epoch))?
            .ok_or(Error::NoEpochKey)?;
        let mut past = Session::decode(self.config.profile, &blob).map_err(storage_err)?;
        past.group.set_config(group_config(
            now,
            past.group.config().max_past_epochs.into(),
        ));
        past.pending = None;
        past.group.discard_pending_commit();
        let members_before = member_identities(&past.group);
        let processed = past.group.process_message_with_policy(mls, &AdminPolicy)?;
        if let ProcessedMessage::CommitApplied(summary) = &processed {
            check_identities_kept(&members_before, &past.group, summary)?;
        }
        let outcome = match processed {
            ProcessedMessage::CommitApplied(summary) => {
                past.applied.insert(epoch, ev_order);
                past.push_current_key(retained)?;
                Outcome::Commit {
                    nostr_group_id: *gid,
                    epoch: summary.epoch,
                    summary,
                    rolled_back: true,
                }
            }
            ProcessedMessage::Removed(_) => Outcome::Removed {
                nostr_group_id: *gid,
            },
            _ => {
                return Err(Error::Internal {
                    reason: "a commit message did not produce a commit",
                });
            }
        };
        let mut batch = WriteBatch::new();
        // Snapshots of the abandoned branch are dropped.
        let mut e = epoch + 1;
        while e <= self.session(gid)?.group.epoch() {
            batch.delete(Table::EpochState, epoch_key(gid, e));
            e += 1;
        }
        self.save_session(&mut batch, gid, &past)?;
        mark_processed(&mut batch, &ev_order.1, now);
        self.storage.apply(batch)?;
        self.sessions.insert(*gid, past);
        Ok(outcome)
    }
}

fn member_identities(group: &Group) -> Vec<(u32, Option<PublicKey>)> {
    group
        .members()
        .into_iter()
        .map(|m| (m.index.0, credential_pubkey(&m.credential).ok()))
        .collect()
}

/// NIP-EE: no credential changes its identity. A leaf that existed before the commit and was
/// not re-filled by an Add must name the same Nostr key after it (this covers the
/// committer's own new leaf, which no proposal carries).
fn check_identities_kept(
    before: &[(u32, Option<PublicKey>)],
    group: &Group,
    summary: &CommitSummary,
) -> Result<()> {
    for (index, pk) in member_identities(group) {
        if summary.added.iter().any(|a| a.0 == index) {
            continue;
        }
        if let Some((_, old)) = before.iter().find(|(i, _)| *i == index)
            && *old != pk
        {
            return Err(Error::CredentialMismatch {
                expected: old.map(|p| p.to_hex()).unwrap_or_default(),
                found: pk.map(|p| p.to_hex()).unwrap_or_default(),
            });
        }
    }
    Ok(())
}

fn parsed_invitees(parsed: &[KeyPackageEvent]) -> Vec<(PublicKey, EventId)> {
    parsed.iter().map(|k| (k.author, k.event_id)).collect()
}

/// Whether the MLSMessage carries a commit: a PublicMessage with content type commit, or
/// any PrivateMessage whose content type (in the clear) is commit.
fn is_commit_message(mls: &[u8]) -> bool {
    use nipee_mls::framing::{MlsMessage, MlsMessageBody};
    match MlsMessage::from_bytes(mls).map(|m| m.body) {
        Ok(MlsMessageBody::PrivateMessage(pm)) => {
            pm.content_type == nipee_mls::framing::ContentType::Commit
        }
        Ok(MlsMessageBody::PublicMessage(pm)) => {
            pm.content.content.content_type() == nipee_mls::framing::ContentType::Commit
        }
        _ => false,
    }
}
