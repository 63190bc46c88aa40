//! Crash points: a [`Storage`] that kills its client just before or just after a chosen
//! write batch, and a scenario that runs once per crash point, reloads the client from
//! what was stored, lets its host do what a restarted host does (hand the app what the
//! inbox still holds, republish the outbox, poll, sync) and finishes. [`run_point`] checks
//! that nothing was lost, nothing forked and no commit stayed pending.
//!
//! Alice's host is an at-least-once host: it hands every outcome to the app, then
//! acknowledges its inbox entries (one more write batch, so one more crash point); after
//! a restart it hands over what the inbox still holds. Her app recognises a message it
//! already has by its inner event id.

use nipee::storage::{Entry, MemoryStorage, Storage, Table, WriteBatch};
use nipee::{Client, ClientConfig, Effects, Error, FetchReport, GroupId, NewGroup, Outcome};
use nipee_nostr::{Event, EventId, Keys, PublicKey, Timestamp};
use rand::SeedableRng;
use rand::rngs::StdRng;
use zeroize::Zeroizing;

/// Where a client dies relative to a write batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Point {
    /// The batch is not written.
    Before,
    /// The batch is written, but the client never learns it.
    After,
}

/// A [`MemoryStorage`] that dies at a chosen batch: the batch is written or not, and from
/// then on every call fails, as if the process were gone.
pub struct CrashStorage {
    inner: MemoryStorage,
    applied: usize,
    plan: Option<(usize, Point)>,
    dead: bool,
}

fn gone() -> Error {
    Error::Storage {
        reason: "the process died".to_owned(),
    }
}

impl CrashStorage {
    /// A store that dies at batch `at` (counted from 0), or never.
    pub fn new(inner: MemoryStorage, plan: Option<(usize, Point)>) -> Self {
        CrashStorage {
            inner,
            applied: 0,
            plan,
            dead: false,
        }
    }

    /// Batches applied (or attempted) so far.
    pub fn batches(&self) -> usize {
        self.applied
    }

    /// Whether the store died.
    pub fn dead(&self) -> bool {
        self.dead
    }

    /// What survives the crash: the stored rows.
    pub fn survivor(&self) -> MemoryStorage {
        crate::mem::copy_of(&self.inner)
    }
}

impl Storage for CrashStorage {
    fn get(&self, table: Table, key: &[u8]) -> nipee::Result<Option<Zeroizing<Vec<u8>>>> {
        if self.dead {
            return Err(gone());
        }
        self.inner.get(table, key)
    }

    fn scan(&self, table: Table, prefix: &[u8]) -> nipee::Result<Vec<Entry>> {
        if self.dead {
            return Err(gone());
        }
        self.inner.scan(table, prefix)
    }

    fn apply(&mut self, batch: WriteBatch) -> nipee::Result<()> {
        if self.dead {
            return Err(gone());
        }
        let k = self.applied;
        self.applied += 1;
        match self.plan {
            Some((at, Point::Before)) if at == k => {
                self.dead = true;
                Err(gone())
            }
            Some((at, Point::After)) if at == k => {
                self.inner.apply(batch)?;
                self.dead = true;
                Err(gone())
            }
            _ => self.inner.apply(batch),
        }
    }
}

const RELAY: &str = "wss://relay.crash";

/// How [`run_point`]'s error starts when alice's app never saw a message sent to it (the
/// batch that processed it landed, and neither the live outcome nor the inbox after the
/// restart brought it to the app).
pub const UNSEEN: &str = "an outcome never reached the restarted app:";
const T0: u64 = 1_800_000_000;

/// The scenario's world: one relay, alice on a [`CrashStorage`], the others in memory.
struct World {
    relay: Vec<Event>,
    alice: Client<CrashStorage>,
    alice_cursor: usize,
    others: Vec<(Client<MemoryStorage>, usize)>,
    /// What every client received: (receiver, text) — receiver 0 is alice.
    received: Vec<(usize, String)>,
    /// The inner event ids of the messages alice's app has (its deduplication).
    alice_has: Vec<EventId>,
    /// Messages alice's host handed over again after a restart (already in her app).
    redelivered: usize,
    /// Messages alice's app first received from the inbox after a restart.
    recovered: usize,
    /// Messages whose send returned Ok: (sender, text).
    sent: Vec<(usize, String)>,
    /// Messages whose send died: at most once each.
    maybe: Vec<String>,
    rng: StdRng,
    now: u64,
    crashes: usize,
}

fn texts(who: usize, effects: &Effects, into: &mut Vec<(usize, String)>) {
    for o in &effects.outcomes {
        if let Outcome::Message { event, .. } = o {
            into.push((who, event.content.clone()));
        }
    }
}

impl World {
    fn config() -> ClientConfig {
        ClientConfig::with_relays([RELAY])
    }

    fn store(&mut self, e: &Event) {
        if !self.relay.iter().any(|x| x.id() == e.id()) {
            self.relay.push(e.clone());
        }
    }

    /// Carries out effects of another client (publish, acknowledged; reads answered).
    fn run_other(&mut self, i: usize, effects: Effects) {
        texts(i + 1, &effects, &mut self.received);
        let mut queue = vec![effects];
        while let Some(e) = queue.pop() {
            for out in &e.publish {
                self.store(&out.event);
                let answer = nipee::RelayAnswer::Accepted {
                    relay: RELAY.into(),
                };
                let now = self.now;
                let more = self.others[i]
                    .0
                    .published(&out.event.id(), &[answer], now, &mut self.rng)
                    .unwrap_or_else(|e| panic!("published: {e}"));
                texts(i + 1, &more, &mut self.received);
                queue.push(more);
            }
            for req in &e.fetch {
                let report = self.read(req);
                let now = self.now;
                let more = self.others[i]
                    .0
                    .fetched(req, &report, now, &mut self.rng)
                    .unwrap_or_else(|e| panic!("fetched: {e}"));
                texts(i + 1, &more, &mut self.received);
                queue.push(more);
            }
        }
    }

    fn read(&self, req: &nipee::FetchRequest) -> FetchReport {
        let filter = req.filter();
        FetchReport {
            events: self
                .relay
                .iter()
                .filter(|e| filter.matches(e))
                .cloned()
                .collect(),
            complete: vec![RELAY.into()],
        }
    }

    /// Alice's app takes a message, unless it has it already.
    fn alice_app_takes(&mut self, o: &Outcome) {
        if let Outcome::Message { event, .. } = o {
            if self.alice_has.contains(&event.id()) {
                self.redelivered += 1;
            } else {
                self.alice_has.push(event.id());
                self.received.push((0, event.content.clone()));
            }
        }
    }

    /// Alice's host hands the outcomes to her app, then acknowledges their inbox entries.
    /// Returns `false` when alice died acknowledging (she has restarted).
    fn alice_takes(&mut self, effects: &Effects) -> bool {
        for o in &effects.outcomes {
            self.alice_app_takes(o);
        }
        let kept = effects.kept();
        if kept.is_empty() {
            return true;
        }
        match self.alice.acknowledge(&kept) {
            Ok(_) => true,
            Err(_) if self.alice.storage().dead() => {
                self.restart_alice();
                false
            }
            Err(e) => panic!("alice: acknowledge: {e}"),
        }
    }

    /// Alice's effects; on a crash anywhere, alice restarts.
    fn run_alice(&mut self, effects: nipee::Result<Effects>) -> bool {
        let effects = match effects {
            Ok(e) => e,
            Err(_) if self.alice.storage().dead() => {
                self.restart_alice();
                return false;
            }
            Err(e) => panic!("alice: {e}"),
        };
        if !self.alice_takes(&effects) {
            // The operation's batch landed; the restarted host republishes its outbox.
            return true;
        }
        let mut queue = vec![effects];
        while let Some(e) = queue.pop() {
            for out in &e.publish {
                self.store(&out.event);
                let answer = nipee::RelayAnswer::Accepted {
                    relay: RELAY.into(),
                };
                let now = self.now;
                let r = self
                    .alice
                    .published(&out.event.id(), &[answer], now, &mut self.rng);
                match r {
                    Ok(more) => {
                        if !self.alice_takes(&more) {
                            return true;
                        }
                        queue.push(more);
                    }
                    Err(_) if self.alice.storage().dead() => {
                        self.restart_alice();
                        return true;
                    }
                    Err(e) => panic!("alice: published: {e}"),
                }
            }
            for req in &e.fetch {
                let report = self.read(req);
                let now = self.now;
                match self.alice.fetched(req, &report, now, &mut self.rng) {
                    Ok(more) => {
                        if !self.alice_takes(&more) {
                            return true;
                        }
                        queue.push(more);
                    }
                    Err(_) if self.alice.storage().dead() => {
                        self.restart_alice();
                        return true;
                    }
                    Err(e) => panic!("alice: fetched: {e}"),
                }
            }
        }
        true
    }

    /// What a restarted host does: reopen from storage, hand the app what the inbox still
    /// holds and acknowledge it, republish the outbox, poll, and read everything again.
    fn restart_alice(&mut self) {
        self.crashes += 1;
        let survivor = self.alice.storage().survivor();
        self.alice = Client::open(CrashStorage::new(survivor, None), Self::config())
            .unwrap_or_else(|e| panic!("alice reopens: {e}"));
        let inbox = self.alice.inbox().unwrap_or_else(|e| panic!("inbox: {e}"));
        for entry in &inbox {
            let before = self.alice_has.len();
            self.alice_app_takes(&entry.outcome);
            self.recovered += self.alice_has.len() - before;
        }
        let ids: Vec<_> = inbox.iter().map(|e| e.id).collect();
        self.alice
            .acknowledge(&ids)
            .unwrap_or_else(|e| panic!("acknowledge: {e}"));
        self.alice_cursor = 0;
        let outbox = self
            .alice
            .outbox()
            .unwrap_or_else(|e| panic!("outbox: {e}"));
        let e = Effects {
            publish: outbox,
            ..Effects::default()
        };
        self.run_alice(Ok(e));
        let now = self.now;
        let polled = self.alice.poll(now, &mut self.rng);
        self.run_alice(polled);
    }

    fn sync_all(&mut self) {
        for _ in 0..16 {
            let before = self.relay.len();
            while self.alice_cursor < self.relay.len() {
                let ev = self.relay[self.alice_cursor].clone();
                self.alice_cursor += 1;
                if self
                    .alice
                    .subscriptions()
                    .iter()
                    .any(|s| s.filter.matches(&ev))
                {
                    let now = self.now;
                    let r = self.alice.process(&ev, now, &mut self.rng);
                    if r.is_err() && !self.alice.storage().dead() {
                        continue;
                    }
                    self.run_alice(r);
                }
            }
            for i in 0..self.others.len() {
                while self.others[i].1 < self.relay.len() {
                    let ev = self.relay[self.others[i].1].clone();
                    self.others[i].1 += 1;
                    let c = &mut self.others[i].0;
                    if !c.subscriptions().iter().any(|s| s.filter.matches(&ev)) {
                        continue;
                    }
                    let now = self.now;
                    if let Ok(e) = c.process(&ev, now, &mut self.rng) {
                        self.run_other(i, e);
                    }
                }
            }
            if self.relay.len() == before && self.alice_cursor == before {
                return;
            }
        }
        panic!("the scenario does not quiesce");
    }

    fn pk(&self, who: usize) -> PublicKey {
        if who == 0 {
            self.alice.public_key()
        } else {
            self.others[who - 1].0.public_key()
        }
    }

    fn say(&mut self, who: usize, gid: &GroupId, text: &str) {
        let now = self.now;
        let inner = nipee::inner::chat_message(self.pk(who), text, Timestamp::from_secs(now));
        if who == 0 {
            let r = self.alice.send(gid, &inner, now, &mut self.rng);
            let ok = r.is_ok();
            let done = self.run_alice(r.map(|out| Effects {
                publish: vec![out],
                ..Effects::default()
            }));
            if ok && done {
                self.sent.push((0, text.to_owned()));
            } else {
                self.maybe.push(text.to_owned());
            }
        } else {
            let out = self.others[who - 1]
                .0
                .send(gid, &inner, now, &mut self.rng)
                .unwrap_or_else(|e| panic!("send: {e}"));
            self.sent.push((who, text.to_owned()));
            self.run_other(
                who - 1,
                Effects {
                    publish: vec![out],
                    ..Effects::default()
                },
            );
        }
    }

    /// Alice commits; when her app died before the commit existed, she tries again once
    /// after the restart (as a user would).
    fn alice_commit<F>(&mut self, gid: &GroupId, mut make: F)
    where
        F: FnMut(
            &mut Client<CrashStorage>,
            u64,
            &mut StdRng,
        ) -> nipee::Result<nipee::PendingCommit>,
    {
        let epoch = self.alice.epoch(gid).ok();
        for _ in 0..2 {
            let now = self.now;
            let r = make(&mut self.alice, now, &mut self.rng);
            let crashed = r.is_err();
            let e = r.map(|p| Effects {
                publish: vec![p.outgoing],
                ..Effects::default()
            });
            self.run_alice(e);
            let summary = self.alice.group(gid).ok();
            let happened = summary
                .as_ref()
                .is_some_and(|g| g.pending_commit || Some(g.epoch) != epoch);
            if !crashed || happened {
                return;
            }
        }
    }
}

/// What one run of the scenario counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    /// Write batches alice's storage saw (to enumerate the crash points).
    pub batches: usize,
    /// Times alice crashed.
    pub crashes: usize,
    /// Messages her restarted host handed to her app again (which it already had).
    pub redelivered: usize,
    /// Messages her app first received from the inbox after a restart (their live outcome
    /// died with the process).
    pub recovered: usize,
}

/// The scenario, with alice's storage dying at `plan`.
///
/// # Errors
/// What went wrong: a fork, a lost or duplicated message, a pending commit left behind.
pub fn run_point(plan: Option<(usize, Point)>) -> Result<Run, String> {
    let mut rng = StdRng::seed_from_u64(77);
    let alice_keys = Keys::generate(&mut rng);
    // The first batch stores the identity: a crash there leaves either nothing or the
    // identity alone, and the restarted app starts the same way.
    let (alice, first_crash) = match Client::new(
        alice_keys.clone(),
        CrashStorage::new(MemoryStorage::new(), plan),
        World::config(),
    ) {
        Ok(c) => (c, 0),
        Err(_) if plan.is_some_and(|(k, _)| k == 0) => (
            Client::new(
                alice_keys,
                CrashStorage::new(MemoryStorage::new(), None),
                World::config(),
            )
            .map_err(|e| format!("alice: {e}"))?,
            1,
        ),
        Err(e) => return Err(format!("alice: {e}")),
    };
    let mut others = Vec::new();
    for _ in 0..3 {
        let keys = Keys::generate(&mut rng);
        let c =
            Client::new(keys, MemoryStorage::new(), World::config()).map_err(|e| e.to_string())?;
        others.push((c, 0));
    }
    let mut w = World {
        relay: Vec::new(),
        alice,
        alice_cursor: 0,
        others,
        received: Vec::new(),
        alice_has: Vec::new(),
        redelivered: 0,
        recovered: 0,
        sent: Vec::new(),
        maybe: Vec::new(),
        rng,
        now: T0,
        crashes: first_crash,
    };
    let (bob, carol, dave) = (1, 2, 3);
    let mut kps = Vec::new();
    for i in [bob, carol] {
        let now = w.now;
        let out = w.others[i - 1]
            .0
            .create_key_package(false, now, &mut w.rng)
            .map_err(|e| e.to_string())?;
        kps.push(out.event.clone());
        w.run_other(
            i - 1,
            Effects {
                publish: vec![out],
                ..Effects::default()
            },
        );
    }
    // Alice creates the group (a user whose app died retries).
    let mut gid = None;
    for _ in 0..2 {
        let now = w.now;
        let mut new = NewGroup::new("crash", kps.clone());
        new.admins.push(w.pk(bob));
        match w.alice.create_group(new, now, &mut w.rng) {
            Ok((g, e)) => {
                gid = Some(g);
                w.run_alice(Ok(e));
                break;
            }
            Err(e) => {
                w.run_alice(Err(e));
                if let Some(g) = w.alice.groups().first() {
                    gid = Some(g.group_id.clone());
                    break;
                }
            }
        }
    }
    let gid = gid.ok_or("alice never created the group")?;
    w.sync_all();
    w.say(bob, &gid, "b1");
    w.say(0, &gid, "a1");
    w.say(carol, &gid, "c1");
    w.sync_all();
    w.now += 10;
    w.alice_commit(&gid, |c, now, rng| c.rotate(&gid, now, rng));
    w.sync_all();
    // Bob invites dave.
    let now = w.now;
    let kp = w.others[dave - 1]
        .0
        .create_key_package(false, now, &mut w.rng)
        .map_err(|e| e.to_string())?;
    w.store(&kp.event);
    let p = w.others[bob - 1]
        .0
        .invite(&gid, &[kp.event], now, &mut w.rng)
        .map_err(|e| format!("bob invites: {e}"))?;
    w.run_other(
        bob - 1,
        Effects {
            publish: vec![p.outgoing],
            ..Effects::default()
        },
    );
    w.sync_all();
    w.say(0, &gid, "a2");
    w.sync_all();
    // Alice removes carol.
    w.now += 10;
    let carol_pk = w.pk(carol);
    w.alice_commit(&gid, |c, now, rng| c.remove(&gid, &[carol_pk], now, rng));
    w.sync_all();
    // Alice and bob commit at once; bob's is earlier.
    w.now += 10;
    let now = w.now;
    let pb = w.others[bob - 1]
        .0
        .rotate(&gid, now - 1, &mut w.rng)
        .map_err(|e| format!("bob rotates: {e}"))?;
    w.alice_commit(&gid, |c, now, rng| c.rotate(&gid, now, rng));
    w.run_other(
        bob - 1,
        Effects {
            publish: vec![pb.outgoing],
            ..Effects::default()
        },
    );
    w.sync_all();
    // Dave leaves; alice commits it.
    let now = w.now;
    let out = w.others[dave - 1]
        .0
        .leave(&gid, now, &mut w.rng)
        .map_err(|e| format!("dave leaves: {e}"))?;
    w.run_other(
        dave - 1,
        Effects {
            publish: vec![out],
            ..Effects::default()
        },
    );
    w.sync_all();
    w.now += 10;
    w.alice_commit(&gid, |c, now, rng| {
        c.commit_pending_proposals(&gid, now, rng)
    });
    w.sync_all();
    w.say(0, &gid, "a3");
    w.say(bob, &gid, "b2");
    w.sync_all();
    // A last poll and sync, as a host does now and then.
    let now = w.now;
    let polled = w.alice.poll(now, &mut w.rng);
    w.run_alice(polled);
    w.sync_all();
    check(&w, &gid)?;
    if !w.alice.inbox().map_err(|e| e.to_string())?.is_empty() {
        return Err("alice's inbox still holds entries her host took".into());
    }
    Ok(Run {
        batches: w.alice.storage().batches() + usize::from(first_crash == 1),
        crashes: w.crashes,
        redelivered: w.redelivered,
        recovered: w.recovered,
    })
}

fn check(w: &World, gid: &GroupId) -> Result<(), String> {
    let a = w
        .alice
        .epoch_authenticator(gid)
        .map_err(|e| format!("alice: {e}"))?;
    let b = w.others[0]
        .0
        .epoch_authenticator(gid)
        .map_err(|e| format!("bob: {e}"))?;
    if a != b {
        return Err("alice and bob forked".into());
    }
    for (name, pending, outbox) in [
        (
            "alice",
            w.alice.group(gid).map(|g| g.pending_commit).unwrap_or(true),
            w.alice.outbox().map(|o| o.len()).unwrap_or(1),
        ),
        (
            "bob",
            w.others[0]
                .0
                .group(gid)
                .map(|g| g.pending_commit)
                .unwrap_or(true),
            w.others[0].0.outbox().map(|o| o.len()).unwrap_or(1),
        ),
    ] {
        if pending {
            return Err(format!("{name} has a commit stuck pending"));
        }
        if outbox > 0 {
            return Err(format!("{name} still has {outbox} events to publish"));
        }
    }
    for who in [2usize, 3] {
        if w.others[who - 1].0.group(gid).is_ok_and(|g| g.active) {
            return Err(format!("member {who} should be out of the group"));
        }
    }
    let count = |who: usize, text: &str| {
        w.received
            .iter()
            .filter(|(r, t)| *r == who && t == text)
            .count()
    };
    for (sender, text) in &w.sent {
        for who in [0usize, 1] {
            if who == 0 && *sender != 0 && count(who, text) == 0 {
                return Err(format!("{UNSEEN} {text:?}"));
            }
            if who != *sender && count(who, text) != 1 {
                return Err(format!(
                    "member {who} received {text:?} {} times",
                    count(who, text)
                ));
            }
        }
    }
    for text in &w.maybe {
        if count(1, text) > 1 {
            return Err(format!("bob received {text:?} more than once"));
        }
    }
    for text in ["a3", "b2"] {
        if count(2, text) > 0 {
            return Err(format!("carol read {text:?} after her removal"));
        }
    }
    Ok(())
}
