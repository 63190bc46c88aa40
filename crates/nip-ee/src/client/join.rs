//! Joining from Welcomes (gift wraps, kind 1059 with a kind-444 rumor), including those
//! whose ratchet tree is sent out of band ([`crate::tree_transfer`]): such a Welcome is kept
//! in [`Table::Welcome`] and the host is asked to fetch the tree's chunks
//! ([`FetchRequest::RatchetTree`]); [`Client::poll`] asks again while they are missing. A
//! Welcome is joined (or refused) once, in one write with its processed mark.

use nipee_mls::RustCryptoSuite1;
use nipee_mls::group::{Group, JoinKeys};
use nipee_nostr::nips::nip09::DeletionRequest;
use nipee_nostr::{Event, EventId, Kind, Timestamp};
use rand_core::CryptoRng;

use super::outgoing::group_config;
use super::session::{Live, Session};
use super::types::{Effects, FetchReport, FetchRequest, IgnoreReason, Outcome, Outgoing, Purpose};
use super::{Client, outbox, policy, storage_err};
use crate::error::{Error, ErrorKind, Result};
use crate::key_package_event::credential_pubkey;
use crate::profile::Profile;
use crate::storage::{Blob, Storage, Table, WriteBatch, mark_processed};
use crate::tree_transfer::MAX_WAITING_WELCOMES;
use crate::welcome_event::OpenedWelcome;
use nipee_keypackage::KeyPackageBundle;

/// Format version of a waiting Welcome's row: `received_at` (u64), the gift wrap's JSON.
const WAITING_VERSION: u8 = 1;

impl<S: Storage> Client<S> {
    pub(super) fn process_welcome<R: CryptoRng + ?Sized>(
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
            return self.forget_welcome(&event.id(), now, IgnoreReason::NotForUs);
        };
        match &opened.rumor.ratchet_tree {
            Some(tree) => {
                let fetch = FetchRequest::RatchetTree {
                    welcome: event.id(),
                    tree_id: tree.id,
                    relays: opened.rumor.relays.clone(),
                };
                self.keep_waiting(event, now)?;
                let mut e = Effects::default();
                e.push(Outcome::Ignored(IgnoreReason::AwaitingRatchetTree));
                e.fetch.push(fetch);
                Ok(e)
            }
            None => self.join(&event.id(), profile, opened, bundle, None, now, rng),
        }
    }

    /// Stores a Welcome until its tree arrives, evicting the oldest beyond
    /// [`MAX_WAITING_WELCOMES`].
    fn keep_waiting(&mut self, event: &Event, now: u64) -> Result<()> {
        let mut batch = WriteBatch::new();
        let mut waiting = self.waiting_welcomes()?;
        waiting.retain(|(id, _, _)| *id != event.id());
        waiting.sort_by_key(|(_, at, _)| *at);
        let excess = (waiting.len() + 1).saturating_sub(MAX_WAITING_WELCOMES);
        for (id, _, _) in waiting.iter().take(excess) {
            batch.delete(Table::Welcome, id.as_bytes().to_vec());
        }
        let mut w = nipee_codec::Writer::new();
        w.u64(now);
        w.bytes(event.to_json().as_bytes());
        batch.put(
            Table::Welcome,
            event.id().as_bytes().to_vec(),
            Blob::encode(WAITING_VERSION, w.as_bytes()),
        );
        self.storage.apply(batch)
    }

    /// The Welcomes waiting for their tree: gift wrap id, when it arrived, the gift wrap.
    fn waiting_welcomes(&self) -> Result<Vec<(EventId, u64, Event)>> {
        self.storage
            .scan(Table::Welcome, &[])?
            .into_iter()
            .map(|(k, v)| {
                let id: [u8; 32] = k
                    .as_slice()
                    .try_into()
                    .map_err(|_| Error::malformed("waiting Welcome", "key is not an event id"))
                    .map_err(storage_err)?;
                let payload = Blob::decode(WAITING_VERSION, &v)?;
                let (at, json) = payload
                    .split_first_chunk::<8>()
                    .ok_or_else(|| storage_err(Error::malformed("waiting Welcome", "too short")))?;
                let json = core::str::from_utf8(json)
                    .map_err(|_| storage_err(Error::malformed("waiting Welcome", "not UTF-8")))?;
                Ok((
                    EventId::from_bytes(id),
                    u64::from_be_bytes(*at),
                    Event::from_json(json).map_err(|e| storage_err(e.into()))?,
                ))
            })
            .collect()
    }

    /// Marks a Welcome processed (dropping it if it waited) and reports `reason`.
    fn forget_welcome(&mut self, id: &EventId, now: u64, reason: IgnoreReason) -> Result<Effects> {
        let mut batch = WriteBatch::new();
        mark_processed(&mut batch, &id.to_bytes(), now);
        batch.delete(Table::Welcome, id.as_bytes().to_vec());
        self.storage.apply(batch)?;
        let mut e = Effects::default();
        e.push(Outcome::Ignored(reason));
        Ok(e)
    }

    /// The chunks of a waiting Welcome's tree arrived (some or all): joins once all are
    /// there (events that do not open as its chunks are ignored). A Welcome MLS refuses
    /// with its tree is dropped and the error returned; a missing chunk leaves it waiting.
    pub(super) fn ratchet_tree_fetched<R: CryptoRng + ?Sized>(
        &mut self,
        welcome: &EventId,
        report: &FetchReport,
        now: u64,
        rng: &mut R,
    ) -> Result<Effects> {
        let Some((_, _, event)) = self
            .waiting_welcomes()?
            .into_iter()
            .find(|(id, _, _)| id == welcome)
        else {
            return Ok(Effects::default());
        };
        let (profile, opened) = Profile::open_any_welcome(&self.keys, &event)?;
        let Some(reference) = opened.rumor.ratchet_tree.clone() else {
            return Err(storage_err(Error::malformed(
                "waiting Welcome",
                "no ratchet_tree tag",
            )));
        };
        let Some(bundle) = self.load_key_package(&opened.rumor.key_package_event_id)? else {
            return self.forget_welcome(welcome, now, IgnoreReason::NotForUs);
        };
        let Some(tree) = reference.open(&report.events) else {
            return Ok(Effects::default());
        };
        let joined = self.join(welcome, profile, opened, bundle, Some(&tree), now, rng);
        match joined {
            Err(e) if matches!(e.kind(), ErrorKind::Malformed | ErrorKind::Invalid) => {
                let _ = self.forget_welcome(welcome, now, IgnoreReason::Duplicate)?;
                Err(e)
            }
            other => other,
        }
    }

    /// Reads to ask again for the Welcomes still waiting for their tree; those that waited
    /// longer than the processed-mark retention are dropped.
    pub(super) fn waiting_welcome_fetches(&mut self, now: u64) -> Result<Vec<FetchRequest>> {
        let mut fetch = Vec::new();
        for (id, at, event) in self.waiting_welcomes()? {
            if now.saturating_sub(at) > self.config.processed_retention_secs {
                let _ = self.forget_welcome(&id, now, IgnoreReason::TooLate)?;
                continue;
            }
            let Ok((_, opened)) = Profile::open_any_welcome(&self.keys, &event) else {
                continue;
            };
            if let Some(t) = opened.rumor.ratchet_tree {
                fetch.push(FetchRequest::RatchetTree {
                    welcome: id,
                    tree_id: t.id,
                    relays: opened.rumor.relays,
                });
            }
        }
        Ok(fetch)
    }

    /// Joins from an opened Welcome with our KeyPackage `bundle` (and the ratchet tree,
    /// when it came out of band); the gift wrap `wrap_id` is marked processed (and leaves
    /// the waiting Welcomes) in the same write.
    #[allow(clippy::too_many_arguments)]
    fn join<R: CryptoRng + ?Sized>(
        &mut self,
        wrap_id: &EventId,
        profile: Profile,
        opened: OpenedWelcome,
        bundle: KeyPackageBundle,
        tree: Option<&[u8]>,
        now: u64,
        rng: &mut R,
    ) -> Result<Effects> {
        let kp_id = opened.rumor.key_package_event_id;
        let last_resort = bundle.key_package().is_last_resort();
        let staged = Group::stage_join(
            RustCryptoSuite1::new(),
            group_config(now, self.config.retained_epochs),
            &opened.rumor.mls_message,
            JoinKeys::from(bundle),
            tree,
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
        let live = Live::entered(profile, group, self.config.retained_epochs)?;
        let nostr_group_id = live.nostr_group_id()?;

        let mut effects = Effects::default();
        let joined = Outcome::Joined {
            group_id: gid.clone(),
            nostr_group_id,
            epoch,
            inviter,
            key_package_event_id: kp_id,
        };
        let mut kept = None;
        let previous = self
            .sessions
            .insert(gid.clone(), Session::Active(Box::new(live)));
        let mut batch = WriteBatch::new();
        let result = (|| {
            mark_processed(&mut batch, &wrap_id.to_bytes(), now);
            batch.delete(Table::Welcome, wrap_id.as_bytes().to_vec());
            kept = self.keep(&mut batch, Some(*wrap_id), &joined)?;
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
        effects.push_kept(joined, kept);
        Ok(effects)
    }
}
