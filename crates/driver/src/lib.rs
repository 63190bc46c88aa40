//! The async driver (feature `relay`): a [`Client`] wired to a `nipee-relay` [`Pool`].
//!
//! It owns the clock (`SystemTime`) and the RNG, publishes what the core produces, waits
//! for a relay `OK` before confirming own commits (and only then publishes Welcomes),
//! discards them when no relay accepted, and feeds relay events back into the core in
//! `created_at` order.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nipee_nostr::nips::nipee_relays::KeyPackageRelays;
use nipee_nostr::{Event, EventId, Filter, Kind, PublicKey, Timestamp};
use nipee_relay::{Pool, SubscriptionItem};

use crate::client::{Client, Outcome, PendingPublish};
use crate::error::{Error, Result};
use crate::inner::{chat_message, reaction};
use crate::storage::Storage;

fn relay_err(e: nipee_relay::Error) -> Error {
    Error::Relay {
        reason: e.to_string(),
    }
}

/// Seconds since the Unix epoch, from the system clock.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A client connected to relays.
pub struct Driver<S: Storage> {
    client: Client<S>,
    pool: Pool,
    /// How long a fetch waits for the relays' EOSE.
    pub fetch_timeout: Duration,
}

impl<S: Storage> core::fmt::Debug for Driver<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Driver")
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

impl<S: Storage> Driver<S> {
    /// Wraps a client and a pool.
    pub fn new(client: Client<S>, pool: Pool) -> Self {
        Driver {
            client,
            pool,
            fetch_timeout: Duration::from_secs(5),
        }
    }

    /// The client core.
    pub fn client(&self) -> &Client<S> {
        &self.client
    }

    /// The client core, mutably.
    pub fn client_mut(&mut self) -> &mut Client<S> {
        &mut self.client
    }

    /// Consumes the driver, returning the client (e.g. to reach its storage).
    pub fn into_client(self) -> Client<S> {
        self.client
    }

    /// The relay pool.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Publishes `event` and waits until at least one relay accepted it.
    ///
    /// # Errors
    /// [`Error::Relay`] when no relay accepted it.
    pub async fn publish(&self, event: &Event) -> Result<()> {
        self.pool
            .publish_until_accepted(event, 1)
            .await
            .map(|_| ())
            .map_err(relay_err)
    }

    /// Fetches stored events matching `filters` (until every relay sent EOSE, or the fetch
    /// timeout).
    ///
    /// # Errors
    /// [`Error::Relay`].
    pub async fn fetch(&self, filters: Vec<Filter>) -> Result<Vec<Event>> {
        let mut sub = self.pool.subscribe(filters).map_err(relay_err)?;
        let relays = self.pool.relays().len().max(1);
        let mut eose = 0;
        let mut out = Vec::new();
        let deadline = tokio::time::Instant::now() + self.fetch_timeout;
        while eose < relays {
            match tokio::time::timeout_at(deadline, sub.next_item()).await {
                Ok(Some(SubscriptionItem::Event { event, .. })) => out.push(event),
                Ok(Some(SubscriptionItem::Eose { .. } | SubscriptionItem::Closed { .. })) => {
                    eose += 1
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
        sub.close();
        Ok(out)
    }

    /// Publishes a fresh KeyPackage (kind 443) and our KeyPackage relay list (kind 10051).
    ///
    /// # Errors
    /// Core and relay errors.
    pub async fn publish_key_package(
        &mut self,
        last_resort: bool,
        relays: &[String],
    ) -> Result<Event> {
        let now = unix_now();
        let event = self
            .client
            .create_key_package(last_resort, now, &mut rand::rng())?;
        self.publish(&event).await?;
        if !relays.is_empty() {
            let list = KeyPackageRelays {
                relays: relays.to_vec(),
            }
            .to_builder()?
            .sign(self.client.keys(), Timestamp::from_secs(now))?;
            self.publish(&list).await?;
        }
        Ok(event)
    }

    /// The newest valid KeyPackage event of each of `pubkeys`, after adding the relays of
    /// their KeyPackage relay lists (kind 10051) to the pool.
    ///
    /// # Errors
    /// [`Error::Relay`] when someone has no valid KeyPackage on our relays.
    pub async fn fetch_key_packages(&self, pubkeys: &[PublicKey]) -> Result<Vec<Event>> {
        // Discovery: the relays each invitee lists in its kind-10051 event join the pool.
        let lists = self
            .fetch(vec![
                Filter::new()
                    .kind(Kind::MLS_KEY_PACKAGE_RELAYS)
                    .authors(pubkeys.iter().copied()),
            ])
            .await?;
        let known: Vec<String> = self.pool.relays().iter().map(|r| r.to_string()).collect();
        let mut added = 0;
        for list in lists
            .iter()
            .filter_map(|e| KeyPackageRelays::from_event(e).ok())
        {
            for url in list.relays {
                let fresh = !known
                    .iter()
                    .any(|k| k.trim_end_matches('/') == url.trim_end_matches('/'));
                if fresh && self.pool.add_relay(&url).is_ok() {
                    added += 1;
                }
            }
        }
        if added > 0 {
            // Best effort: go on with whatever connected.
            let _ = self
                .pool
                .wait_connected(known.len() + added, Duration::from_secs(3))
                .await;
        }
        let events = self
            .fetch(vec![
                Filter::new()
                    .kind(Kind::MLS_KEY_PACKAGE)
                    .authors(pubkeys.iter().copied()),
            ])
            .await?;
        let policy = nipee_keypackage::ValidationPolicy::at(unix_now());
        let mut newest: BTreeMap<PublicKey, Event> = BTreeMap::new();
        for e in events {
            if self
                .client
                .profile()
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
                newest.remove(pk).ok_or_else(|| Error::Relay {
                    reason: format!("no valid KeyPackage of {pk} on the relays"),
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
    ) -> Result<[u8; 32]> {
        let kps = self.fetch_key_packages(invitees).await?;
        let me = self.client.public_key();
        let (gid, welcomes) = self.client.create_group(
            name,
            description,
            vec![me],
            &kps,
            unix_now(),
            &mut rand::rng(),
        )?;
        for w in &welcomes {
            self.publish(w).await?;
        }
        Ok(gid)
    }

    /// Publishes an own commit, confirms it after a relay `OK` and publishes the Welcomes;
    /// discards it when no relay has it.
    ///
    /// When no relay answered `OK true`, a relay may still have stored the commit (its `OK`
    /// was lost or came too late), and the other members would then apply it: discarding it
    /// here would fork the group. So the commit is read back by id first: found, it is
    /// confirmed as if acknowledged; missing from every relay that answered, it is
    /// discarded; when the relays cannot be asked, it stays pending, to be confirmed by its
    /// echo on a later sync.
    ///
    /// # Errors
    /// [`Error::Relay`] (the commit was discarded, or its fate is unknown and it stays
    /// pending), core errors.
    pub async fn publish_commit(&mut self, pending: PendingPublish) -> Result<u64> {
        if let Err(e) = self.publish(&pending.event).await {
            let id = pending.event.id();
            match self.fetch(vec![Filter::new().ids([id])]).await {
                Ok(events) if events.iter().any(|ev| ev.id() == id) => {}
                Ok(_) => {
                    self.client.discard(&pending)?;
                    return Err(e);
                }
                Err(fetch) => {
                    return Err(Error::Relay {
                        reason: format!(
                            "no relay acknowledged the commit ({e}) and reading it back failed \
                             ({fetch}): it stays pending until a relay echoes it"
                        ),
                    });
                }
            }
        }
        let welcomes = self
            .client
            .confirm(&pending, unix_now(), &mut rand::rng())?;
        for w in &welcomes {
            self.publish(w).await?;
        }
        Ok(pending.epoch)
    }

    /// Invites `pubkeys` (admins only).
    ///
    /// # Errors
    /// Core and relay errors.
    pub async fn invite(&mut self, gid: &[u8; 32], pubkeys: &[PublicKey]) -> Result<u64> {
        let kps = self.fetch_key_packages(pubkeys).await?;
        let p = self
            .client
            .invite(gid, &kps, unix_now(), &mut rand::rng())?;
        self.publish_commit(p).await
    }

    /// Removes `pubkeys` (admins only).
    ///
    /// # Errors
    /// Core and relay errors.
    pub async fn remove(&mut self, gid: &[u8; 32], pubkeys: &[PublicKey]) -> Result<u64> {
        let p = self
            .client
            .remove(gid, pubkeys, unix_now(), &mut rand::rng())?;
        self.publish_commit(p).await
    }

    /// Rotates our leaf.
    ///
    /// # Errors
    /// Core and relay errors.
    pub async fn rotate(&mut self, gid: &[u8; 32]) -> Result<u64> {
        let p = self.client.rotate(gid, unix_now(), &mut rand::rng())?;
        self.publish_commit(p).await
    }

    /// Leaves a group (publishes a self-removal proposal for an admin to commit).
    ///
    /// # Errors
    /// Core and relay errors.
    pub async fn leave(&mut self, gid: &[u8; 32]) -> Result<()> {
        let e = self.client.leave(gid, unix_now(), &mut rand::rng())?;
        self.publish(&e).await
    }

    /// Sends a kind-9 chat message; returns the inner event id.
    ///
    /// # Errors
    /// Core and relay errors.
    pub async fn send_text(&mut self, gid: &[u8; 32], text: &str) -> Result<EventId> {
        let now = unix_now();
        let inner = chat_message(self.client.public_key(), text, Timestamp::from_secs(now));
        let id = inner.id();
        let e = self.client.send(gid, &inner, now, &mut rand::rng())?;
        self.publish(&e).await?;
        Ok(id)
    }

    /// Sends a kind-7 reaction to the inner event `target`.
    ///
    /// # Errors
    /// Core and relay errors.
    pub async fn react(
        &mut self,
        gid: &[u8; 32],
        target: &EventId,
        emoji: &str,
    ) -> Result<EventId> {
        let now = unix_now();
        let inner = reaction(
            self.client.public_key(),
            target,
            emoji,
            Timestamp::from_secs(now),
        );
        let id = inner.id();
        let e = self.client.send(gid, &inner, now, &mut rand::rng())?;
        self.publish(&e).await?;
        Ok(id)
    }

    fn filters(&self) -> Vec<Filter> {
        let mut f = vec![
            Filter::new()
                .kind(Kind::GIFT_WRAP)
                .pubkey_tags([self.client.public_key()]),
        ];
        let groups: Vec<String> = self
            .client
            .groups()
            .iter()
            .filter(|g| g.active)
            .map(|g| hex::encode(g.nostr_group_id))
            .collect();
        for g in groups {
            f.push(Filter::new().kind(Kind::MLS_GROUP_MESSAGE).group(g));
        }
        f
    }

    /// Handles what an outcome asks of us: publish the Welcomes of an own commit confirmed
    /// by its echo, publish the KeyPackage deletion after a join, rotate after joining
    /// through a last-resort KeyPackage.
    async fn follow_up(&mut self, outcome: &Outcome) -> Result<()> {
        if let Outcome::OwnCommitConfirmed {
            welcomes: Some(w), ..
        } = outcome
        {
            let wraps = self.client.wrap_welcomes(w, unix_now(), &mut rand::rng())?;
            for e in &wraps {
                self.publish(e).await?;
            }
        }
        if let Outcome::Joined {
            nostr_group_id,
            deletion,
            rotate_now,
            ..
        } = outcome
        {
            if let Some(d) = deletion {
                self.publish(d).await?;
            }
            if *rotate_now {
                self.rotate(nostr_group_id).await?;
            }
        }
        Ok(())
    }

    /// Fetches everything stored for us (Welcomes, then our groups' events, again after
    /// each join) and processes it in `created_at` order, retrying events that failed
    /// while others made progress. Returns what happened, in order.
    ///
    /// # Errors
    /// Relay and storage errors (events that fail to process are skipped).
    pub async fn sync(&mut self) -> Result<Vec<Outcome>> {
        let mut outcomes = Vec::new();
        loop {
            let mut events = self.fetch(self.filters()).await?;
            events.sort_by_key(|e| (e.created_at(), e.id()));
            let mut progress = false;
            let mut joined = false;
            let mut pending = events;
            loop {
                let mut failed = Vec::new();
                let mut step = false;
                for e in pending {
                    match self.client.process(&e, unix_now()) {
                        Ok(Outcome::Ignored(_)) => {}
                        Ok(o) => {
                            joined |= matches!(o, Outcome::Joined { .. });
                            self.follow_up(&o).await?;
                            outcomes.push(o);
                            step = true;
                        }
                        Err(Error::Storage { reason }) => return Err(Error::Storage { reason }),
                        Err(_) => failed.push(e),
                    }
                }
                progress |= step;
                if !step || failed.is_empty() {
                    break;
                }
                pending = failed;
            }
            if !(joined && progress) {
                break;
            }
        }
        Ok(outcomes)
    }

    /// Streams live events: processes each one and hands every non-ignored outcome to
    /// `on_outcome` until it returns `false`. Re-subscribes after a join.
    ///
    /// # Errors
    /// Relay and storage errors.
    pub async fn listen<F>(&mut self, mut on_outcome: F) -> Result<()>
    where
        F: FnMut(&Client<S>, &Outcome) -> bool,
    {
        for o in self.sync().await? {
            if !on_outcome(&self.client, &o) {
                return Ok(());
            }
        }
        loop {
            let mut sub = self.pool.subscribe(self.filters()).map_err(relay_err)?;
            loop {
                let Some(item) = sub.next_item().await else {
                    return Ok(());
                };
                let SubscriptionItem::Event { event, .. } = item else {
                    continue;
                };
                let outcome = match self.client.process(&event, unix_now()) {
                    Ok(Outcome::Ignored(_)) | Err(_) => continue,
                    Ok(o) => o,
                };
                self.follow_up(&outcome).await?;
                let resubscribe = matches!(outcome, Outcome::Joined { .. });
                if !on_outcome(&self.client, &outcome) {
                    return Ok(());
                }
                if resubscribe {
                    break;
                }
            }
            sub.close();
        }
    }
}
