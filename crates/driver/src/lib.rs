//! The native host of the nipee client: a [`Client`] wired to `nipee-relay`. Transport only:
//! it publishes what the core returns and reports every relay's answer, performs the reads
//! the core asks for, holds the subscriptions the core lists, feeds what arrives into the
//! core, and owns the clock and the randomness. Every protocol decision is the core's.
//!
//! ```no_run
//! use nipee::{Client, ClientConfig};
//! use nipee_driver::Driver;
//! use nipee_nostr::Keys;
//! use nipee_relay::{Pool, PoolConfig};
//!
//! # async fn demo() -> Result<(), nipee_driver::Error> {
//! let relays = ["wss://relay.example"];
//! let pool = Pool::connect(PoolConfig::default(), relays)?;
//! let client = Client::new(
//!     Keys::generate(&mut rand::rng()),
//!     nipee::MemoryStorage::new(),
//!     ClientConfig::with_relays(relays),
//! )?;
//! let mut driver = Driver::new(client, pool);
//! driver.publish_key_package(true).await?;
//! for outcome in driver.sync().await? {
//!     println!("{outcome:?}");
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Relays other users name (an invitee's KeyPackage relays and relay list) are reached on
//! short-lived, policy-filtered connections (`nipee_relay::discovery`), never added to the
//! pool; the group's own relays join the pool.
//!
//! **Delivery.** The core keeps every outcome the application must see in its inbox until
//! it is acknowledged. By default ([`Driver::auto_acknowledge`]) the driver acknowledges
//! what its methods return as they return it, and [`Driver::sync`] returns first what an
//! interrupted earlier call left there: nothing is lost inside the driver, and from the
//! return on the application holds the outcomes. For delivery at least once across
//! crashes of the application too, set `auto_acknowledge` to `false`, take outcomes from
//! [`Driver::inbox`] and [`Driver::acknowledge`] them once stored; [`Driver::listen`]
//! acknowledges each outcome after its callback returned, in either mode.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod error;
mod listen;
mod publish;

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use publish::{Publisher, in_pool, kind_runs};

use futures_util::StreamExt;

use nipee::inner::{chat_message, reaction};
use nipee::storage::Storage;
use nipee::{
    Client, Effects, FetchReport, FetchRequest, GroupDataUpdate, GroupId, InboxEntry, InboxId,
    NewGroup, Outcome, Outgoing, PendingCommit, RelayAnswer, SubscriptionSpec,
};
use nipee_nostr::nips::nipee_relays::KeyPackageRelays;
use nipee_nostr::{Event, EventId, Filter, Kind, PublicKey, Timestamp};
use nipee_relay::discovery::{DiscoveryConfig, check_relay_url, fetch_from};
use nipee_relay::{FetchOptions, Pool, PoolConfig, RelayUrl};

pub use error::{Error, ErrorKind, Result};

/// Seconds since the Unix epoch, from the system clock.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// How an own commit ended, once the relays answered.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CommitResult {
    /// Confirmed and merged: the group is in this epoch.
    Confirmed {
        /// The new epoch.
        epoch: u64,
    },
    /// No group relay confirmed it yet and none is known not to have it: it stays pending
    /// (a later sync or read-back decides).
    Pending,
    /// Dropped: no group relay has it, or a competing commit won.
    Discarded {
        /// Why.
        reason: String,
    },
}

/// A client connected to relays.
pub struct Driver<S: Storage> {
    client: Client<S>,
    pool: Pool,
    /// How long a read waits for the relays' EOSE.
    pub fetch_timeout: Duration,
    /// When a read-back of our own unacknowledged commit finds it on none of the relays
    /// that all answered, it asks twice more, this far apart, before reporting it. Relays
    /// may store an event after they read it (nostr-rs-relay writes through a queue), so a
    /// read-back sent at once can miss an event the relay is about to store, and the core
    /// takes a complete read-back that finds nothing as proof that no relay has the commit.
    pub readback_settle: Duration,
    /// Settings of the short-lived connections to relays other users named.
    pub discovery: DiscoveryConfig,
    /// Whether group relays with private or loopback addresses are connected (tests,
    /// deliberately local deployments). Default `false`.
    pub allow_private_group_relays: bool,
    /// Whether the outcomes the driver's methods return are acknowledged in the core's
    /// inbox as they are returned (default `true`; see "Delivery" in the crate docs).
    pub auto_acknowledge: bool,
    /// How many events of one batch the driver has in flight at once (default 16; at
    /// least 1). The core hands out events in batches (a batch of Welcome gift wraps, the
    /// chunks of a ratchet tree); the driver sends the events of a run of one kind without
    /// waiting for each `OK` before the next, then reports every answer to the core in the
    /// order the core gave the events. A change of kind waits for the earlier run's answers,
    /// so a tree's chunks are stored before the Welcomes that point to them go out. One
    /// relay connection keeps the order of what is sent on it.
    pub publish_in_flight: usize,
}

/// Outcomes with the inbox entries that keep them (`None`: the inbox does not keep it).
type Kept = Vec<(Outcome, Option<InboxId>)>;

impl<S: Storage> core::fmt::Debug for Driver<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Driver")
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

impl<S: Storage> Driver<S> {
    /// Wraps a client and a pool (holding at least our own relays).
    pub fn new(client: Client<S>, pool: Pool) -> Self {
        Driver {
            client,
            pool,
            fetch_timeout: Duration::from_secs(5),
            readback_settle: Duration::from_secs(2),
            discovery: DiscoveryConfig::default(),
            allow_private_group_relays: false,
            auto_acknowledge: true,
            publish_in_flight: 16,
        }
    }

    /// The outcomes not acknowledged yet, oldest first (see [`Client::inbox`]).
    ///
    /// # Errors
    /// Storage errors.
    pub fn inbox(&self) -> Result<Vec<InboxEntry>> {
        Ok(self.client.inbox()?)
    }

    /// Acknowledges inbox entries the application has taken (see [`Client::acknowledge`]).
    ///
    /// # Errors
    /// Storage errors.
    pub fn acknowledge(&mut self, ids: &[InboxId]) -> Result<usize> {
        Ok(self.client.acknowledge(ids)?)
    }

    /// Returns the outcomes, acknowledging their inbox entries first when
    /// [`Driver::auto_acknowledge`] is set.
    fn hand_over(&mut self, kept: Kept) -> Result<Vec<Outcome>> {
        if self.auto_acknowledge {
            let ids: Vec<InboxId> = kept.iter().filter_map(|(_, id)| *id).collect();
            if !ids.is_empty() {
                self.client.acknowledge(&ids)?;
            }
        }
        Ok(kept.into_iter().map(|(o, _)| o).collect())
    }

    /// What the inbox holds, as outcomes with their entries.
    fn leftovers(&self) -> Result<Kept> {
        Ok(self
            .client
            .inbox()?
            .into_iter()
            .map(|e| (e.outcome, Some(e.id)))
            .collect())
    }

    /// Lets every connection reach private and loopback addresses (a local test relay).
    pub fn allow_private_relays(&mut self) {
        self.discovery.allow_private = true;
        self.allow_private_group_relays = true;
    }

    /// The client core.
    pub fn client(&self) -> &Client<S> {
        &self.client
    }

    /// The client core, mutably.
    pub fn client_mut(&mut self) -> &mut Client<S> {
        &mut self.client
    }

    /// Consumes the driver, returning the client.
    pub fn into_client(self) -> Client<S> {
        self.client
    }

    /// The relay pool.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    fn in_pool(&self, url: &str) -> Option<RelayUrl> {
        in_pool(&self.pool, url)
    }

    /// Adds the relays of our groups and of our config to the pool (filtered by the URL
    /// policy), waiting briefly for new ones to connect.
    async fn ensure_relays(&mut self, urls: &[String]) {
        let mut added = 0;
        for url in urls {
            if self.in_pool(url).is_some() {
                continue;
            }
            if check_relay_url(url, self.allow_private_group_relays).is_ok()
                && self.pool.add_relay(url).is_ok()
            {
                added += 1;
            }
        }
        if added > 0 {
            let n = self.pool.relays().len();
            let _ = self.pool.wait_connected(n, Duration::from_secs(3)).await;
        }
    }

    /// Publishes one outgoing event where the core says, and returns every relay's answer:
    /// relays in the pool directly, others on a short-lived filtered connection.
    pub async fn publish_outgoing(&self, o: &Outgoing) -> Vec<RelayAnswer> {
        Publisher {
            pool: &self.pool,
            discovery: &self.discovery,
        }
        .publish(o)
        .await
    }

    /// Performs a read the core asked for.
    pub async fn perform_fetch(&mut self, req: &FetchRequest) -> FetchReport {
        self.ensure_relays(req.relays()).await;
        let relays: Vec<RelayUrl> = req
            .relays()
            .iter()
            .filter_map(|u| self.in_pool(u))
            .collect();
        let mut report = FetchReport::default();
        if relays.is_empty() {
            return report;
        }
        // A read-back asks at once; when every relay answered and none has the commit (what
        // the core takes as proof of absence), it asks twice more, `readback_settle` apart,
        // since a relay may store an event a moment after it read it.
        let read_back = match req {
            FetchRequest::ReadBack { event_id, .. } => Some(*event_id),
            _ => None,
        };
        let attempts = if read_back.is_some() { 3 } else { 1 };
        for attempt in 0..attempts {
            if attempt > 0 {
                tokio::time::sleep(self.readback_settle).await;
            }
            let options = FetchOptions::new(self.fetch_timeout).relays(relays.clone());
            report = FetchReport::default();
            if let Ok(r) = self.pool.fetch(vec![req.filter()], options).await {
                report.events = r.events.clone();
                report.complete = r.complete_relays().iter().map(|u| u.to_string()).collect();
            }
            let found = read_back.is_none_or(|id| report.events.iter().any(|e| e.id() == id));
            let complete = relays
                .iter()
                .all(|u| report.complete.contains(&u.to_string()));
            if found || !complete {
                break;
            }
        }
        report
    }

    /// Carries out what the core asked for (publishing, reporting answers, reads) until
    /// nothing is left; returns every outcome in order.
    ///
    /// # Errors
    /// Storage errors of the core (other failures are reported to the core as answers).
    pub async fn run(&mut self, effects: Effects) -> Result<Vec<Outcome>> {
        let kept = self.run_kept(effects).await?;
        self.hand_over(kept)
    }

    async fn run_kept(&mut self, effects: Effects) -> Result<Kept> {
        let mut outcomes = Vec::new();
        let mut queue = vec![effects];
        let mut steps = 0;
        while let Some(e) = queue.pop() {
            steps += 1;
            if steps > 10_000 {
                return Err(Error::Internal {
                    reason: "the core keeps asking for more work",
                });
            }
            let ids = (0..e.outcomes.len()).map(|i| e.inbox.get(i).copied().flatten());
            outcomes.extend(e.outcomes.iter().cloned().zip(ids));
            let publisher = Publisher {
                pool: &self.pool,
                discovery: &self.discovery,
            };
            for run in kind_runs(&e.publish) {
                let answers: Vec<Vec<RelayAnswer>> = futures_util::stream::iter(run)
                    .map(|o| publisher.publish(o))
                    .buffered(self.publish_in_flight.max(1))
                    .collect()
                    .await;
                for (o, answers) in run.iter().zip(answers) {
                    let next = self.client.published(
                        &o.event.id(),
                        &answers,
                        unix_now(),
                        &mut rand::rng(),
                    )?;
                    queue.push(next);
                }
            }
            for f in &e.fetch {
                let report = self.perform_fetch(f).await;
                let next = self
                    .client
                    .fetched(f, &report, unix_now(), &mut rand::rng())?;
                queue.push(next);
            }
        }
        Ok(outcomes)
    }

    async fn run_commit(&mut self, p: PendingCommit) -> Result<CommitResult> {
        let relays = p.outgoing.relays.clone();
        self.ensure_relays(&relays).await;
        let effects = Effects {
            publish: vec![p.outgoing],
            ..Effects::default()
        };
        let outcomes = self.run(effects).await?;
        for o in &outcomes {
            match o {
                Outcome::OwnCommitConfirmed(i) if i.group_id == p.group_id => {
                    return Ok(CommitResult::Confirmed { epoch: i.epoch });
                }
                Outcome::OwnCommitDiscarded {
                    group_id, reason, ..
                } if *group_id == p.group_id => {
                    return Ok(CommitResult::Discarded {
                        reason: (*reason).to_owned(),
                    });
                }
                _ => {}
            }
        }
        Ok(CommitResult::Pending)
    }

    // ----- operations -----

    /// Publishes a fresh KeyPackage (kind 443) and our KeyPackage relay list (kind 10051).
    ///
    /// # Errors
    /// Core and relay errors.
    pub async fn publish_key_package(&mut self, last_resort: bool) -> Result<Event> {
        let now = unix_now();
        let kp = self
            .client
            .create_key_package(last_resort, now, &mut rand::rng())?;
        let list = self.client.relay_list_event(now)?;
        let effects = Effects {
            publish: vec![kp.clone(), list],
            ..Effects::default()
        };
        self.run(effects).await?;
        if self
            .client
            .outbox()?
            .iter()
            .any(|o| o.event.id() == kp.event.id())
        {
            return Err(Error::NotPublished {
                what: "the KeyPackage",
            });
        }
        Ok(kp.event)
    }

    /// The newest valid KeyPackage event of each of `pubkeys`: looked up on our relays,
    /// then on the relays each one lists in its kind-10051 event (short-lived, filtered
    /// connections).
    ///
    /// # Errors
    /// [`Error::NoKeyPackage`] for someone with no valid KeyPackage anywhere we looked.
    pub async fn fetch_key_packages(&self, pubkeys: &[PublicKey]) -> Result<Vec<Event>> {
        // Kind 443, and in the Marmot profile also the addressable 30443.
        let kinds = self.client.config().profile.key_package_kinds();
        let kp_filter = Filter::new()
            .kinds(kinds.iter().copied())
            .authors(pubkeys.iter().copied());
        let lists = Filter::new()
            .kind(Kind::MLS_KEY_PACKAGE_RELAYS)
            .authors(pubkeys.iter().copied());
        let options = FetchOptions::new(self.fetch_timeout);
        let ours = self
            .pool
            .fetch(vec![kp_filter.clone(), lists], options)
            .await?;
        let mut events: Vec<Event> = ours.events.clone();
        let mut theirs: Vec<String> = Vec::new();
        for list in ours
            .events
            .iter()
            .filter(|e| e.kind() == Kind::MLS_KEY_PACKAGE_RELAYS)
            .filter_map(|e| KeyPackageRelays::from_event(e).ok())
        {
            for url in list.relays {
                if self.in_pool(&url).is_none() && !theirs.contains(&url) {
                    theirs.push(url);
                }
            }
        }
        if !theirs.is_empty() {
            let report = fetch_from(&theirs, vec![kp_filter], &self.discovery).await?;
            events.extend(report.events);
        }
        let policy = nipee_keypackage::ValidationPolicy::at(unix_now());
        let mut newest: BTreeMap<PublicKey, Event> = BTreeMap::new();
        for e in events.into_iter().filter(|e| kinds.contains(&e.kind())) {
            if self
                .client
                .config()
                .profile
                .parse_key_package_event(&e, &policy)
                .is_err()
            {
                continue;
            }
            let keep = newest
                .get(&e.pubkey())
                .is_none_or(|old| (old.created_at(), old.id()) < (e.created_at(), e.id()));
            if keep {
                newest.insert(e.pubkey(), e);
            }
        }
        pubkeys
            .iter()
            .map(|pk| {
                newest.remove(pk).ok_or_else(|| Error::NoKeyPackage {
                    pubkey: pk.to_hex(),
                })
            })
            .collect()
    }

    /// Creates a group with us as admin and invites `invitees` (their KeyPackages are
    /// fetched), publishing the Welcomes.
    ///
    /// # Errors
    /// Core and relay errors.
    pub async fn create_group(
        &mut self,
        name: &str,
        description: &str,
        invitees: &[PublicKey],
    ) -> Result<GroupId> {
        let kps = self.fetch_key_packages(invitees).await?;
        let mut new = NewGroup::new(name, kps);
        new.description = description.to_owned();
        let (gid, effects) = self
            .client
            .create_group(new, unix_now(), &mut rand::rng())?;
        let relays = self.client.group_data(&gid)?.relays;
        self.ensure_relays(&relays).await;
        self.run(effects).await?;
        Ok(gid)
    }

    /// Invites `pubkeys` (admins only).
    ///
    /// # Errors
    /// Core and relay errors.
    pub async fn invite(&mut self, gid: &GroupId, pubkeys: &[PublicKey]) -> Result<CommitResult> {
        let kps = self.fetch_key_packages(pubkeys).await?;
        let p = self
            .client
            .invite(gid, &kps, unix_now(), &mut rand::rng())?;
        self.run_commit(p).await
    }

    /// Removes `pubkeys` (admins only).
    ///
    /// # Errors
    /// Core and relay errors.
    pub async fn remove(&mut self, gid: &GroupId, pubkeys: &[PublicKey]) -> Result<CommitResult> {
        let p = self
            .client
            .remove(gid, pubkeys, unix_now(), &mut rand::rng())?;
        self.run_commit(p).await
    }

    /// Rotates our leaf and signature key.
    ///
    /// # Errors
    /// Core and relay errors.
    pub async fn rotate(&mut self, gid: &GroupId) -> Result<CommitResult> {
        let p = self.client.rotate(gid, unix_now(), &mut rand::rng())?;
        self.run_commit(p).await
    }

    /// Changes the group data (admins only).
    ///
    /// # Errors
    /// Core and relay errors.
    pub async fn update_group_data(
        &mut self,
        gid: &GroupId,
        update: GroupDataUpdate,
    ) -> Result<CommitResult> {
        let p = self
            .client
            .update_group_data(gid, update, unix_now(), &mut rand::rng())?;
        self.run_commit(p).await
    }

    /// Commits the proposals received in this epoch.
    ///
    /// # Errors
    /// Core and relay errors.
    pub async fn commit_pending_proposals(&mut self, gid: &GroupId) -> Result<CommitResult> {
        let p = self
            .client
            .commit_pending_proposals(gid, unix_now(), &mut rand::rng())?;
        self.run_commit(p).await
    }

    /// Leaves a group (publishes a self-removal proposal for an admin to commit).
    ///
    /// # Errors
    /// Core and relay errors.
    pub async fn leave(&mut self, gid: &GroupId) -> Result<()> {
        let out = self.client.leave(gid, unix_now(), &mut rand::rng())?;
        self.publish_now(out).await
    }

    async fn publish_now(&mut self, out: Outgoing) -> Result<()> {
        let id = out.event.id();
        self.run(Effects {
            publish: vec![out],
            ..Effects::default()
        })
        .await?;
        if self.client.outbox()?.iter().any(|o| o.event.id() == id) {
            return Err(Error::NotPublished { what: "the event" });
        }
        Ok(())
    }

    /// Sends a kind-9 chat message; returns the inner event id.
    ///
    /// # Errors
    /// Core and relay errors ([`Error::NotPublished`] when no relay took it; it stays in
    /// the outbox and is republished by the next sync).
    pub async fn send_text(&mut self, gid: &GroupId, text: &str) -> Result<EventId> {
        let now = unix_now();
        let inner = chat_message(self.client.public_key(), text, Timestamp::from_secs(now));
        let id = inner.id();
        let out = self.client.send(gid, &inner, now, &mut rand::rng())?;
        self.publish_now(out).await?;
        Ok(id)
    }

    /// Sends a kind-7 reaction to the inner event `target`.
    ///
    /// # Errors
    /// As [`Driver::send_text`].
    pub async fn react(&mut self, gid: &GroupId, target: &EventId, emoji: &str) -> Result<EventId> {
        let now = unix_now();
        let inner = reaction(
            self.client.public_key(),
            target,
            emoji,
            Timestamp::from_secs(now),
        );
        let id = inner.id();
        let out = self.client.send(gid, &inner, now, &mut rand::rng())?;
        self.publish_now(out).await?;
        Ok(id)
    }

    /// The relays a subscription spec names, in the pool.
    async fn spec_relays(&mut self, spec: &SubscriptionSpec) -> Option<Vec<RelayUrl>> {
        if spec.relays.is_empty() {
            return None;
        }
        self.ensure_relays(&spec.relays).await;
        Some(spec.relays.iter().filter_map(|u| self.in_pool(u)).collect())
    }

    /// Processes one event from a relay and carries out what it asks; returns every
    /// non-ignored outcome (for hosts that hold their own subscriptions, like a chat
    /// loop that also reads the keyboard).
    ///
    /// # Errors
    /// Storage errors (an event that fails to process is skipped: a relay may send
    /// anything).
    pub async fn handle_event(&mut self, event: &Event) -> Result<Vec<Outcome>> {
        let kept = self.handle_event_kept(event).await?;
        self.hand_over(kept)
    }

    async fn handle_event_kept(&mut self, event: &Event) -> Result<Kept> {
        let effects = match self.client.process(event, unix_now(), &mut rand::rng()) {
            Ok(e) => e,
            Err(nipee::Error::Storage { reason }) => {
                return Err(Error::Core(nipee::Error::Storage { reason }));
            }
            Err(_) => return Ok(Vec::new()),
        };
        Ok(self
            .run_kept(effects)
            .await?
            .into_iter()
            .filter(|(o, _)| !matches!(o, Outcome::Ignored(_)))
            .collect())
    }

    /// Runs the core's periodic work (read-backs, expiry, pruning).
    ///
    /// # Errors
    /// Storage errors.
    pub async fn poll(&mut self) -> Result<Vec<Outcome>> {
        let poll = self.client.poll(unix_now(), &mut rand::rng())?;
        self.run(poll).await
    }

    /// Republishes the outbox, fetches what is stored for our subscriptions since the last
    /// sync (again after each join), processes it in `created_at` order and runs the
    /// periodic work. Returns what happened, in order; with [`Driver::auto_acknowledge`],
    /// what the inbox held from an interrupted earlier call comes first.
    ///
    /// # Errors
    /// Relay and storage errors (events that fail to process are skipped: a relay may
    /// send anything).
    pub async fn sync(&mut self) -> Result<Vec<Outcome>> {
        let mut kept = if self.auto_acknowledge {
            self.leftovers()?
        } else {
            Vec::new()
        };
        kept.extend(self.sync_kept().await?);
        self.hand_over(kept)
    }

    async fn sync_kept(&mut self) -> Result<Kept> {
        let mut outcomes = Vec::new();
        let outbox = self.client.outbox()?;
        outcomes.extend(
            self.run_kept(Effects {
                publish: outbox,
                ..Effects::default()
            })
            .await?,
        );
        let mut done: Vec<String> = Vec::new();
        for _round in 0..8 {
            let specs: Vec<SubscriptionSpec> = self
                .client
                .subscriptions()
                .into_iter()
                .filter(|s| !done.contains(&s.key))
                .collect();
            if specs.is_empty() {
                break;
            }
            let mut events: Vec<Event> = Vec::new();
            let mut points: Vec<(String, u64)> = Vec::new();
            let started = unix_now();
            for spec in &specs {
                let relays = self.spec_relays(spec).await;
                let mut options = FetchOptions::new(self.fetch_timeout);
                if let Some(r) = relays {
                    options = options.relays(r);
                }
                let mut filter = spec.filter.clone();
                if let Some(since) = self.client.sync_since(&spec.key)? {
                    filter = filter.since(Timestamp::from_secs(since));
                }
                if let Ok(r) = self.pool.fetch(vec![filter], options).await {
                    // Only a complete answer moves the starting point of the next sync.
                    if r.is_complete() {
                        let newest = r
                            .events
                            .iter()
                            .map(|e| e.created_at().as_u64())
                            .max()
                            .unwrap_or(started)
                            .max(started.saturating_sub(spec.margin_secs));
                        points.push((spec.key.clone(), newest));
                    }
                    events.extend(r.events);
                }
                done.push(spec.key.clone());
            }
            events.sort_by_key(|e| (e.created_at(), e.id()));
            events.dedup_by_key(|e| e.id());
            for e in events {
                outcomes.extend(self.handle_event_kept(&e).await?);
            }
            for (key, newest) in points {
                self.client.record_sync(&key, newest, unix_now())?;
            }
        }
        let poll = self.client.poll(unix_now(), &mut rand::rng())?;
        outcomes.extend(self.run_kept(poll).await?);
        Ok(outcomes
            .into_iter()
            .filter(|(o, _)| !matches!(o, Outcome::Ignored(_)))
            .collect())
    }
}

/// A pool for `relays` with the default settings.
///
/// # Errors
/// Relay errors (a bad URL).
pub fn pool_for(relays: &[String]) -> Result<Pool> {
    Ok(Pool::connect(PoolConfig::default(), relays.iter())?)
}
