//! Operations that produce events: KeyPackages, groups, own commits, messages.

use nipee_keypackage::{ExtensionType, KeyPackageBundle, ProposalType, ValidationPolicy};
use nipee_mls::Proposal;
use nipee_mls::group::{CommitOptions, Group, GroupConfig, RequiredCapabilities};
use nipee_mls::{RustCryptoSuite1, WelcomeSplit};
use nipee_nostr::nips::nipee_relays::KeyPackageRelays;
use nipee_nostr::{EventId, Keys, PublicKey, Timestamp, UnsignedEvent};
use rand_core::CryptoRng;

use super::data_update::GroupDataUpdate;
use super::races::binding;
use super::session::{Invitee, Live, PendingOwn, Session};
use super::types::{Effects, Outgoing, PendingCommit, Purpose};
use super::{Client, outbox, policy};
use crate::error::{Error, Result};
use crate::group_data::NostrGroupData;
use crate::ids::GroupId;
use crate::key_package_event::{
    KeyPackageEvent, KeyPackageEventOptions, NewKeyPackage, credential_pubkey,
};
use crate::profile::Profile;
use crate::storage::{Blob, Storage, Table, WriteBatch, mark_processed};
use crate::welcome_event::WelcomeRumor;

/// Format version of stored KeyPackage bundles.
pub(crate) const KEY_PACKAGE_VERSION: u8 = 1;

/// What a new group is made of.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct NewGroup {
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Admins besides us (we are always one).
    pub admins: Vec<PublicKey>,
    /// The group's relays (default: ours).
    pub relays: Vec<String>,
    /// KeyPackage events (kind 443) of the first members.
    pub invitees: Vec<nipee_nostr::Event>,
}

impl NewGroup {
    /// A group named `name` with the owners of `invitees` as first members.
    pub fn new(name: impl Into<String>, invitees: Vec<nipee_nostr::Event>) -> Self {
        NewGroup {
            name: name.into(),
            invitees,
            ..NewGroup::default()
        }
    }
}

/// The settings of the MLS group of a client with `config`.
pub(crate) fn group_config(now: u64, retained: usize) -> GroupConfig {
    let mut c = GroupConfig::new(now);
    c.max_past_epochs = u16::try_from(retained).unwrap_or(u16::MAX);
    // NIP-EE uses no resumption PSKs: keep none.
    c.max_resumption_psks = 0;
    c
}

impl<S: Storage> Client<S> {
    /// The MLS config of a group when we commit (or create it): the ratchet tree goes in
    /// the Welcome's GroupInfo unless it is sent out of band.
    fn commit_config(&self, now: u64) -> GroupConfig {
        let mut c = group_config(now, self.config.retained_epochs);
        c.ratchet_tree_extension = !self.config.ratchet_tree_out_of_band;
        c
    }

    // ----- KeyPackages and relay lists -----

    /// Generates a KeyPackage, stores its private keys and returns the signed kind-443
    /// event to publish (also in the outbox).
    ///
    /// # Errors
    /// [`Error::Misuse`] without relays in the config; storage and generation errors.
    pub fn create_key_package<R: CryptoRng + ?Sized>(
        &mut self,
        last_resort: bool,
        now: u64,
        rng: &mut R,
    ) -> Result<Outgoing> {
        let bundle = self.config.profile.generate_key_package(
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
        let out = Outgoing {
            event,
            relays: self.config.relays.clone(),
            purpose: Purpose::KeyPackage,
        };
        let mut batch = WriteBatch::new();
        put_key_package(&mut batch, &out.event.id(), &bundle)?;
        outbox::put(&mut batch, &out)?;
        self.storage.apply(batch)?;
        Ok(out)
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
        put_key_package(&mut batch, event_id, bundle)?;
        self.storage.apply(batch)
    }

    pub(crate) fn load_key_package(&self, event_id: &EventId) -> Result<Option<KeyPackageBundle>> {
        match self.storage.get(Table::KeyPackage, event_id.as_bytes())? {
            None => Ok(None),
            Some(v) => Ok(Some(
                KeyPackageBundle::from_storage_bytes(Blob::decode(KEY_PACKAGE_VERSION, &v)?)
                    .map_err(|e| super::storage_err(e.into()))?,
            )),
        }
    }

    /// Our KeyPackage relay list (kind 10051) naming the configured relays, to publish.
    ///
    /// # Errors
    /// [`Error::Misuse`] without relays; signing and storage errors.
    pub fn relay_list_event(&mut self, now: u64) -> Result<Outgoing> {
        if self.config.relays.is_empty() {
            return Err(Error::Misuse {
                what: "a relay list needs at least one relay in the config",
            });
        }
        let event = KeyPackageRelays {
            relays: self.config.relays.clone(),
        }
        .to_builder()?
        .sign(&self.keys, Timestamp::from_secs(now))?;
        let out = Outgoing {
            event,
            relays: self.config.relays.clone(),
            purpose: Purpose::RelayList,
        };
        let mut batch = WriteBatch::new();
        outbox::put(&mut batch, &out)?;
        self.storage.apply(batch)?;
        Ok(out)
    }

    /// Parses the KeyPackage events of people to add to a group of `profile`: each must be
    /// written in that profile ([`Error::ProfileMismatch`] otherwise).
    pub(crate) fn parse_invitees(
        profile: Profile,
        events: &[nipee_nostr::Event],
        now: u64,
    ) -> Result<Vec<KeyPackageEvent>> {
        let policy = ValidationPolicy::at(now);
        events
            .iter()
            .map(|e| profile.parse_key_package_event(e, &policy))
            .collect()
    }

    // ----- groups -----

    /// Creates a group with us as its first member and admin and adds the owners of
    /// `new.invitees` at once (that first commit is merged without publishing: nobody else
    /// is in epoch 0). Returns the MLS group id and the Welcome gift wraps to publish.
    ///
    /// # Errors
    /// KeyPackage validation errors, MLS and storage errors.
    pub fn create_group<R: CryptoRng + ?Sized>(
        &mut self,
        new: NewGroup,
        now: u64,
        rng: &mut R,
    ) -> Result<(GroupId, Effects)> {
        self.create_group_welcoming(new, None, now, rng)
    }

    /// HAZMAT (feature `hazmat`, benchmarks and tests only): [`Client::create_group`] that
    /// wraps the Welcome only for the invitees in `welcome_to`. The others are members
    /// whose clients never join: a large group for measuring what one member does, built
    /// without one gift wrap of the whole Welcome per member.
    ///
    /// # Errors
    /// As [`Client::create_group`].
    #[cfg(feature = "hazmat")]
    pub fn create_group_welcoming_only<R: CryptoRng + ?Sized>(
        &mut self,
        new: NewGroup,
        welcome_to: &[PublicKey],
        now: u64,
        rng: &mut R,
    ) -> Result<(GroupId, Effects)> {
        self.create_group_welcoming(new, Some(welcome_to), now, rng)
    }

    fn create_group_welcoming<R: CryptoRng + ?Sized>(
        &mut self,
        new: NewGroup,
        welcome_to: Option<&[PublicKey]>,
        now: u64,
        rng: &mut R,
    ) -> Result<(GroupId, Effects)> {
        let me = self.keys.public_key();
        let mut admins = new.admins;
        admins.push(me);
        admins.sort();
        admins.dedup();
        let profile = self.config.profile;
        let parsed = Self::parse_invitees(profile, &new.invitees, now)?;
        let mut nostr_group_id = [0u8; 32];
        rng.fill_bytes(&mut nostr_group_id);
        let mut mls_group_id = vec![0u8; 32];
        rng.fill_bytes(&mut mls_group_id);
        let mut relays = if new.relays.is_empty() {
            self.config.relays.clone()
        } else {
            new.relays
        };
        relays.sort();
        relays.dedup();
        let data = NostrGroupData::new(nostr_group_id, &new.name, &new.description, admins, relays);
        // A Marmot group requires SelfRemove when every invitee lists it, as MDK decides
        // (with no invitee, nothing: the group stays open to members who do not list it).
        // MDK members then leave by SelfRemove, which any member may commit.
        let self_remove = profile == Profile::Marmot
            && !parsed.is_empty()
            && parsed.iter().all(|k| {
                k.key_package
                    .leaf_node
                    .capabilities
                    .supports_proposal(ProposalType::SELF_REMOVE)
            });
        let required = RequiredCapabilities {
            extension_types: vec![ExtensionType::NOSTR_GROUP_DATA],
            proposal_types: if self_remove {
                vec![ProposalType::SELF_REMOVE]
            } else {
                vec![]
            },
            credential_types: vec![],
        };
        let extensions = vec![
            required.to_extension()?,
            profile.group_data_extension(&data)?,
        ];
        let bundle = profile.generate_key_package(
            &me,
            &NewKeyPackage {
                now,
                last_resort: false,
            },
            rng,
        )?;
        let tree_out_of_band = self.config.ratchet_tree_out_of_band;
        let mut group = Group::create(
            RustCryptoSuite1::new(),
            self.commit_config(now),
            GroupId::new(mls_group_id),
            bundle,
            extensions,
        )?;
        let mut welcome = None;
        if !parsed.is_empty() {
            let out = group.add_members(parsed.iter().map(|k| k.key_package.clone()).collect())?;
            group.merge_pending_commit()?;
            welcome = out.welcome;
        }
        let gid = group.group_id().clone();
        let live = Live::entered(profile, group, self.config.retained_epochs)?;
        let mut effects = Effects::default();
        let mut batch = WriteBatch::new();
        if let Some(w) = welcome {
            let invitees: Vec<Invitee> = parsed
                .iter()
                .map(invitee_of)
                .filter(|i| welcome_to.is_none_or(|w| w.contains(&i.pubkey)))
                .collect();
            effects.publish = self.start_welcomes(
                &gid,
                &live,
                w,
                invitees,
                tree_out_of_band,
                now,
                rng,
                &mut batch,
            )?;
        }
        self.sessions
            .insert(gid.clone(), Session::Active(Box::new(live)));
        self.save(&mut batch, &gid)?;
        if let Err(e) = self.storage.apply(batch) {
            self.sessions.remove(&gid);
            return Err(e);
        }
        self.rebuild_routes();
        Ok((gid, effects))
    }

    fn check_can_commit(&self, gid: &GroupId) -> Result<()> {
        let l = self.live(gid)?;
        if l.pending.is_some() || l.group.has_pending_commit() {
            return Err(Error::Misuse {
                what: "a commit of ours is already pending: wait for its relays' answer or discard it",
            });
        }
        Ok(())
    }

    /// Builds our commit, checks it against the admin rules receivers apply, binds it to
    /// the kind-445 event that carries it, and persists both with the event in the outbox,
    /// in one write.
    pub(super) fn stage_own_commit<R: CryptoRng + ?Sized>(
        &mut self,
        gid: &GroupId,
        options: CommitOptions,
        invitees: Vec<Invitee>,
        now: u64,
        rng: &mut R,
    ) -> Result<PendingCommit> {
        let mut batch = WriteBatch::new();
        let pending = self.build_own_commit(gid, options, invitees, true, now, rng, &mut batch)?;
        self.commit_batch(Some(gid), batch)?;
        Ok(pending)
    }

    /// HAZMAT (feature `hazmat`, tests only): a commit of `proposals` WITHOUT our own
    /// admin-rule check, to prove that receivers enforce the rules.
    ///
    /// # Errors
    /// MLS and storage errors.
    #[cfg(feature = "hazmat")]
    pub fn commit_unchecked<R: CryptoRng + ?Sized>(
        &mut self,
        gid: &GroupId,
        proposals: Vec<Proposal>,
        now: u64,
        rng: &mut R,
    ) -> Result<PendingCommit> {
        let options = CommitOptions {
            proposals,
            ..CommitOptions::default()
        };
        let mut batch = WriteBatch::new();
        let pending = self.build_own_commit(gid, options, vec![], false, now, rng, &mut batch)?;
        self.commit_batch(Some(gid), batch)?;
        Ok(pending)
    }

    /// [`Client::stage_own_commit`] into `batch`, which the caller applies (on failure it
    /// must reload the group).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn build_own_commit<R: CryptoRng + ?Sized>(
        &mut self,
        gid: &GroupId,
        mut options: CommitOptions,
        invitees: Vec<Invitee>,
        check_policy: bool,
        now: u64,
        rng: &mut R,
        batch: &mut WriteBatch,
    ) -> Result<PendingCommit> {
        self.check_can_commit(gid)?;
        let bind = self.config.bind_commits;
        let signer = Keys::generate(rng);
        if bind {
            options.authenticated_data = binding(now, signer.public_key().as_bytes());
        }
        let prefix = self.config.nip44_prefix();
        // Classic-only mode: the Welcome must fit a classic gift wrap, checked now, before
        // the commit is staged, rather than when its Welcomes are sent after confirmation.
        let trial_wrap = (self.config.classic_nip44 && !invitees.is_empty())
            .then(|| (self.keys.clone(), self.config.client_name.clone()));
        let tree_out_of_band = self.config.ratchet_tree_out_of_band;
        let commit_config = self.commit_config(now);
        let live = self.live_mut(gid)?;
        live.group.set_config(commit_config);
        let out = live.group.commit(options)?;
        let checked = (|| {
            let view = live.group.pending_commit().ok_or(Error::Internal {
                reason: "a commit left no pending state",
            })?;
            if check_policy {
                policy::check_commit(live.profile, &live.group, view)?;
            }
            let content_id = view.content_id().to_vec();
            let epoch = view.epoch();
            let data = live.data()?;
            let event = live.profile.build_group_event(
                &live.current_key()?.key,
                &data.nostr_group_id,
                &out.commit,
                Timestamp::from_secs(now),
                &signer,
                prefix,
                rng,
            )?;
            if let (Some((keys, client)), Some(w), Some(inv)) =
                (&trial_wrap, &out.welcome, invitees.first())
            {
                // Every invitee's wrap has the same size: only the KeyPackage event id
                // (fixed length) differs.
                // Out of band, the rumor also lists the tree's chunks: seal the new tree to
                // know how many.
                let ratchet_tree = match view.encoded_tree()? {
                    Some(tree) if tree_out_of_band => Some(
                        crate::tree_transfer::seal(&tree, Timestamp::from_secs(now), rng)?
                            .reference,
                    ),
                    _ => None,
                };
                let rumor = WelcomeRumor {
                    mls_message: super::welcomes::own_welcome(&WelcomeSplit::parse(w)?, w, inv)?,
                    key_package_event_id: inv.key_package_event_id,
                    relays: data.relays.clone(),
                    ratchet_tree,
                };
                live.profile.wrap_welcome(
                    &rumor,
                    client.as_deref(),
                    keys,
                    &inv.pubkey,
                    Timestamp::from_secs(now),
                    prefix,
                    rng,
                )?;
            }
            Ok::<_, Error>((event, epoch, content_id, data.relays))
        })();
        let (event, epoch, content_id, relays) = match checked {
            Ok(v) => v,
            Err(e) => {
                live.group.discard_pending_commit();
                return Err(e);
            }
        };
        let welcome = out.welcome;
        live.pending = Some(PendingOwn {
            event: event.clone(),
            epoch,
            content_id,
            mls_digest: super::session::mls_digest(&out.commit),
            welcome,
            invitees,
            tree_out_of_band,
            relays: relays.clone(),
        });
        let outgoing = Outgoing {
            event,
            relays,
            purpose: Purpose::Commit {
                group_id: gid.clone(),
                epoch,
            },
        };
        self.save(batch, gid)?;
        outbox::put(batch, &outgoing)?;
        Ok(PendingCommit {
            group_id: gid.clone(),
            epoch,
            outgoing,
        })
    }

    /// Invites the owners of `key_package_events` (kind 443): an Add commit to publish; the
    /// Welcomes follow once a group relay acknowledged it. Admins only.
    ///
    /// # Errors
    /// [`Error::Policy`] when we are not an admin; [`Error::Misuse`] while a commit is
    /// pending; KeyPackage validation errors.
    pub fn invite<R: CryptoRng + ?Sized>(
        &mut self,
        gid: &GroupId,
        key_package_events: &[nipee_nostr::Event],
        now: u64,
        rng: &mut R,
    ) -> Result<PendingCommit> {
        let parsed = Self::parse_invitees(self.live(gid)?.profile, key_package_events, now)?;
        if parsed.is_empty() {
            return Err(Error::Misuse {
                what: "nobody to invite",
            });
        }
        let options = CommitOptions {
            proposals: parsed
                .iter()
                .map(|k| Proposal::Add(Box::new(k.key_package.clone())))
                .collect(),
            ..CommitOptions::default()
        };
        let invitees = parsed.iter().map(invitee_of).collect();
        self.stage_own_commit(gid, options, invitees, now, rng)
    }

    /// Removes every leaf of the members whose Nostr key is in `members`: a commit to
    /// publish. Admins only.
    ///
    /// # Errors
    /// [`Error::Policy`] when we are not an admin; [`Error::Misuse`] when nobody matches or
    /// a commit is pending.
    pub fn remove<R: CryptoRng + ?Sized>(
        &mut self,
        gid: &GroupId,
        members: &[PublicKey],
        now: u64,
        rng: &mut R,
    ) -> Result<PendingCommit> {
        let leaves: Vec<u32> = self
            .live(gid)?
            .group
            .members()
            .into_iter()
            .filter(|m| credential_pubkey(&m.credential).is_ok_and(|pk| members.contains(&pk)))
            .map(|m| m.index.0)
            .collect();
        if leaves.is_empty() {
            return Err(Error::Misuse {
                what: "none of these keys is a member",
            });
        }
        let options = CommitOptions {
            proposals: leaves
                .into_iter()
                .map(|removed| Proposal::Remove { removed })
                .collect(),
            ..CommitOptions::default()
        };
        self.stage_own_commit(gid, options, vec![], now, rng)
    }

    /// Rotates our leaf: a self-update commit with a fresh path and a fresh signature key.
    ///
    /// # Errors
    /// [`Error::Misuse`] while a commit is pending.
    pub fn rotate<R: CryptoRng + ?Sized>(
        &mut self,
        gid: &GroupId,
        now: u64,
        rng: &mut R,
    ) -> Result<PendingCommit> {
        let options = CommitOptions {
            force_path: true,
            rotate_signature_key: true,
            ..CommitOptions::default()
        };
        self.stage_own_commit(gid, options, vec![], now, rng)
    }

    /// Changes the group data (any of name, description, admins, relays, image, even the
    /// `nostr_group_id`): one GroupContextExtensions commit. Admins only; at least one
    /// admin must remain a member.
    ///
    /// # Errors
    /// [`Error::Policy`] when we are not an admin or no admin would remain;
    /// [`Error::Misuse`] while a commit is pending.
    pub fn update_group_data<R: CryptoRng + ?Sized>(
        &mut self,
        gid: &GroupId,
        update: GroupDataUpdate,
        now: u64,
        rng: &mut R,
    ) -> Result<PendingCommit> {
        let live = self.live(gid)?;
        let mut data = live.data()?;
        update.apply_to(&mut data);
        let extension = live.profile.group_data_extension(&data)?;
        let mut extensions: Vec<nipee_mls::group::Extension> = live
            .group
            .extensions()
            .iter()
            .filter(|e| e.extension_type != ExtensionType::NOSTR_GROUP_DATA)
            .cloned()
            .collect();
        extensions.push(extension);
        let options = CommitOptions {
            proposals: vec![Proposal::GroupContextExtensions(extensions)],
            ..CommitOptions::default()
        };
        self.stage_own_commit(gid, options, vec![], now, rng)
    }

    // ----- messages -----

    /// Encrypts an inner event (its pubkey must be ours) as a kind-445 event to publish.
    ///
    /// # Errors
    /// [`Error::Misuse`] for an inner event of another author; [`Error::InnerEvent`] for an
    /// `h` tag; MLS errors.
    pub fn send<R: CryptoRng + ?Sized>(
        &mut self,
        gid: &GroupId,
        inner: &UnsignedEvent,
        now: u64,
        rng: &mut R,
    ) -> Result<Outgoing> {
        if inner.pubkey != self.keys.public_key() {
            return Err(Error::Misuse {
                what: "an inner event must be authored by our identity",
            });
        }
        let data = self.live(gid)?.profile.encode_inner_event(inner)?;
        self.send_application_data(gid, &data, now, rng)
    }

    pub(crate) fn send_application_data<R: CryptoRng + ?Sized>(
        &mut self,
        gid: &GroupId,
        data: &[u8],
        now: u64,
        rng: &mut R,
    ) -> Result<Outgoing> {
        let live = self.live_mut(gid)?;
        let msg = live.group.create_message(data, &[])?;
        // Only our own leaf's ratchet of the current epoch changed.
        let change = Saved::Ratchet {
            epoch: live.group.epoch(),
            leaf: live.group.own_leaf().0,
        };
        let result = self.wrap_and_persist(gid, &msg, change, now, rng);
        if result.is_err() {
            // The ratchet moved in memory only: back to what is stored.
            self.reload(gid)?;
        }
        result
    }

    /// HAZMAT (feature `hazmat`, tests only): encrypts arbitrary application data without
    /// the inner-event checks, to prove that receivers enforce them.
    ///
    /// # Errors
    /// MLS errors.
    #[cfg(feature = "hazmat")]
    pub fn send_raw_application_data<R: CryptoRng + ?Sized>(
        &mut self,
        gid: &GroupId,
        data: &[u8],
        now: u64,
        rng: &mut R,
    ) -> Result<Outgoing> {
        self.send_application_data(gid, data, now, rng)
    }

    /// Wraps an MLS message we produced in a kind-445 event, persists the group state it
    /// advanced, marks the event processed (its echo is ignored) and puts it in the outbox,
    /// in one atomic write.
    pub(super) fn wrap_and_persist<R: CryptoRng + ?Sized>(
        &mut self,
        gid: &GroupId,
        msg: &[u8],
        change: Saved,
        now: u64,
        rng: &mut R,
    ) -> Result<Outgoing> {
        let live = self.live(gid)?;
        let data = live.data()?;
        let signer = Keys::generate(rng);
        let event = live.profile.build_group_event(
            &live.current_key()?.key,
            &data.nostr_group_id,
            msg,
            Timestamp::from_secs(now),
            &signer,
            self.config.nip44_prefix(),
            rng,
        )?;
        let out = Outgoing {
            event,
            relays: data.relays,
            purpose: Purpose::GroupMessage {
                group_id: gid.clone(),
            },
        };
        let mut batch = WriteBatch::new();
        match change {
            Saved::Whole => self.save(&mut batch, gid)?,
            Saved::Ratchet { epoch, leaf } => self.save_ratchet(&mut batch, gid, epoch, leaf)?,
        }
        mark_processed(&mut batch, &out.event.id().to_bytes(), now);
        outbox::put(&mut batch, &out)?;
        self.commit_batch(Some(gid), batch)?;
        Ok(out)
    }
}

/// What a sent message changed in its group, and so what its write holds.
pub(super) enum Saved {
    /// The group's whole state.
    Whole,
    /// One ratchet of one epoch's secret tree.
    Ratchet { epoch: u64, leaf: u32 },
}

fn invitee_of(k: &KeyPackageEvent) -> Invitee {
    Invitee {
        pubkey: k.author,
        key_package_event_id: k.event_id,
        relays: k.relays.clone(),
        key_package_ref: Some(*k.key_package_ref.as_bytes()),
    }
}

fn put_key_package(
    batch: &mut WriteBatch,
    event_id: &EventId,
    bundle: &KeyPackageBundle,
) -> Result<()> {
    batch.put(
        Table::KeyPackage,
        event_id.as_bytes().to_vec(),
        Blob::encode(KEY_PACKAGE_VERSION, &bundle.to_storage_bytes()?),
    );
    Ok(())
}
