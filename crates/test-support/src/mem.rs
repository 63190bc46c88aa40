//! An in-process relay and a set of clients, for scenarios whose timing and delivery order
//! a test must control (commit races, attacks, crashes). Real cryptography throughout; only
//! the transport is a vector in memory.
//!
//! The relay keeps every published event in arrival order; each member has a cursor and
//! [`Net::sync`] delivers what it has not seen, as a subscription would. Publishing reports
//! `OK true` from the relay to the publishing client (so own commits are confirmed as the
//! driver would confirm them), unless the test asks for a lost acknowledgement.

use nipee::storage::{MemoryStorage, Table};
use nipee::{
    Client, ClientConfig, Effects, Error, FetchReport, FetchRequest, GroupId, NewGroup, Outcome,
    Outgoing, PendingCommit, Purpose, RelayAnswer,
};
use nipee_nostr::{Event, EventBuilder, Keys, PublicKey, Tag, Timestamp};
use rand::SeedableRng;
use rand::rngs::StdRng;
use zeroize::Zeroizing;

/// The in-process relay's URL (also every test group's relay).
pub const RELAY: &str = "wss://relay.test";
/// The clock at the start of every scenario.
pub const T0: u64 = 1_800_000_000;

/// A store's rows (table, key, value), as a host's durable store would hand them back.
pub type Rows = Vec<(Table, Vec<u8>, Zeroizing<Vec<u8>>)>;

/// Every row of `s`: what survives a crash, or what a thief of the device copies.
pub fn stored_rows(s: &MemoryStorage) -> Rows {
    s.rows()
        .map(|(t, k, v)| (t, k.to_vec(), Zeroizing::new(v.to_vec())))
        .collect()
}

/// A new store (not recording) holding `s`'s rows.
pub fn copy_of(s: &MemoryStorage) -> MemoryStorage {
    MemoryStorage::from_rows(stored_rows(s), false)
}

/// One client of the scenario.
pub struct Member {
    /// A name for messages.
    pub name: String,
    /// The client.
    pub client: Client<MemoryStorage>,
    /// How many relay events it has been given.
    pub cursor: usize,
    /// Everything its client reported, in order.
    pub outcomes: Vec<Outcome>,
    /// Errors its client returned for delivered events (event id, error text).
    pub errors: Vec<(String, String)>,
}

/// An in-process relay and its clients.
pub struct Net {
    /// The relay's log.
    pub relay: Vec<Event>,
    /// The clients.
    pub members: Vec<Member>,
    /// The shared clock (unix seconds).
    pub now: u64,
    /// Deterministic randomness.
    pub rng: StdRng,
}

impl Net {
    /// An empty scenario with randomness from `seed`.
    pub fn new(seed: u64) -> Self {
        Net {
            relay: Vec::new(),
            members: Vec::new(),
            now: T0,
            rng: StdRng::seed_from_u64(seed),
        }
    }

    /// alice (0, the admin), bob (1) and carol (2) in one group, converged.
    pub fn three(seed: u64) -> (Net, GroupId) {
        let mut net = Net::new(seed);
        let a = net.add("alice");
        let b = net.add("bob");
        let c = net.add("carol");
        let gid = net.group(a, &[b, c]);
        net.assert_converged(&gid, &[a, b, c]);
        (net, gid)
    }

    /// Restarts member `who` from its stored rows (a crash: memory is gone).
    ///
    /// # Panics
    /// If the client cannot be opened from them.
    pub fn restart(&mut self, who: usize) {
        let storage = copy_of(self.members[who].client.storage());
        self.members[who].client = Client::open(storage, Net::config())
            .unwrap_or_else(|e| panic!("{}: reopen: {e}", self.members[who].name));
    }

    /// The config every member uses.
    pub fn config() -> ClientConfig {
        ClientConfig::with_relays([RELAY])
    }

    /// Adds a member with fresh keys; returns its index.
    pub fn add(&mut self, name: &str) -> usize {
        let keys = Keys::generate(&mut self.rng);
        self.add_with(name, keys, MemoryStorage::new())
    }

    /// Adds a member with these keys and storage.
    pub fn add_with(&mut self, name: &str, keys: Keys, storage: MemoryStorage) -> usize {
        let client = Client::new(keys, storage, Self::config()).unwrap_or_else(|e| {
            panic!("client {name}: {e}");
        });
        self.members.push(Member {
            name: name.to_owned(),
            client,
            cursor: 0,
            outcomes: Vec::new(),
            errors: Vec::new(),
        });
        self.members.len() - 1
    }

    /// Member `i`'s Nostr key.
    pub fn pk(&self, i: usize) -> PublicKey {
        self.members[i].client.public_key()
    }

    /// Appends an event to the relay log (a relay accepts anything well-formed).
    pub fn inject(&mut self, event: Event) {
        if !self.relay.iter().any(|e| e.id() == event.id()) {
            self.relay.push(event);
        }
    }

    /// Publishes `out` for member `who`: the relay stores it and (with `ack`) answers
    /// `OK true`, which is reported to the client. Returns the client's effects.
    pub fn publish(&mut self, who: usize, out: &Outgoing, ack: bool) -> Effects {
        self.inject(out.event.clone());
        let answer = if ack {
            RelayAnswer::Accepted {
                relay: RELAY.to_owned(),
            }
        } else {
            RelayAnswer::NoAnswer {
                relay: RELAY.to_owned(),
            }
        };
        let now = self.now;
        let m = &mut self.members[who];
        match m
            .client
            .published(&out.event.id(), &[answer], now, &mut self.rng)
        {
            Ok(e) => e,
            Err(e) => panic!("{}: published: {e}", m.name),
        }
    }

    /// Publishes everything `effects` lists (recursively: confirming a commit yields
    /// Welcomes), acknowledged, and records the outcomes.
    pub fn publish_all(&mut self, who: usize, effects: Effects) {
        let mut queue = vec![effects];
        while let Some(e) = queue.pop() {
            self.members[who]
                .outcomes
                .extend(e.outcomes.iter().cloned());
            // The host has taken them: out of the inbox.
            let m = &mut self.members[who];
            m.client
                .acknowledge(&e.kept())
                .unwrap_or_else(|err| panic!("{}: acknowledge: {err}", m.name));
            for out in &e.publish {
                let more = self.publish(who, out, true);
                queue.push(more);
            }
            for req in &e.fetch {
                let more = self.answer_fetch(who, req);
                queue.push(more);
            }
        }
    }

    /// Answers a read the client asked for from the relay log, completely.
    pub fn answer_fetch(&mut self, who: usize, req: &FetchRequest) -> Effects {
        let filter = req.filter();
        let report = FetchReport {
            events: self
                .relay
                .iter()
                .filter(|e| filter.matches(e))
                .cloned()
                .collect(),
            complete: req.relays().to_vec(),
        };
        let now = self.now;
        let m = &mut self.members[who];
        m.client
            .fetched(req, &report, now, &mut self.rng)
            .unwrap_or_else(|e| panic!("{}: fetched: {e}", m.name))
    }

    /// Publishes member `who`'s pending commit and lets the relay acknowledge it.
    pub fn commit(&mut self, who: usize, p: PendingCommit) {
        let e = self.publish(who, &p.outgoing, true);
        self.publish_all(who, e);
    }

    /// Delivers to member `who` every relay event it has not seen that its subscriptions
    /// match (as a relay would), in log order; returns the outcomes. Errors are recorded,
    /// not raised (a hostile relay sends garbage).
    pub fn sync(&mut self, who: usize) -> Vec<Outcome> {
        let mut out = Vec::new();
        while self.members[who].cursor < self.relay.len() {
            let ev = self.relay[self.members[who].cursor].clone();
            self.members[who].cursor += 1;
            let wanted = self.members[who]
                .client
                .subscriptions()
                .iter()
                .any(|s| s.filter.matches(&ev));
            if wanted {
                out.extend(self.deliver(who, &ev));
            }
        }
        out
    }

    /// Delivers one event to member `who`, publishing what the client asks.
    pub fn deliver(&mut self, who: usize, ev: &Event) -> Vec<Outcome> {
        let now = self.now;
        let m = &mut self.members[who];
        match m.client.process(ev, now, &mut self.rng) {
            Ok(effects) => {
                let outcomes = effects.outcomes.clone();
                self.publish_all(who, effects);
                outcomes
            }
            Err(e) => {
                m.errors.push((ev.id().to_hex(), e.to_string()));
                Vec::new()
            }
        }
    }

    /// Syncs every member until nobody receives anything new.
    pub fn sync_all(&mut self) {
        for _ in 0..64 {
            let before = self.relay.len();
            for i in 0..self.members.len() {
                self.sync(i);
            }
            if self.relay.len() == before && self.members.iter().all(|m| m.cursor == before) {
                return;
            }
        }
        panic!("the scenario does not quiesce");
    }

    /// Member `who` publishes a KeyPackage; returns the event.
    pub fn key_package(&mut self, who: usize, last_resort: bool) -> Event {
        let now = self.now;
        let m = &mut self.members[who];
        let out = m
            .client
            .create_key_package(last_resort, now, &mut self.rng)
            .unwrap_or_else(|e| panic!("{}: key package: {e}", m.name));
        let e = self.publish(who, &out, true);
        self.publish_all(who, e);
        out.event
    }

    /// `admin` creates a group with `members` (by their fresh KeyPackages); everyone syncs.
    pub fn group(&mut self, admin: usize, members: &[usize]) -> GroupId {
        let kps: Vec<Event> = members
            .iter()
            .map(|m| self.key_package(*m, false))
            .collect();
        let now = self.now;
        let (gid, effects) = self.members[admin]
            .client
            .create_group(NewGroup::new("test group", kps), now, &mut self.rng)
            .unwrap_or_else(|e| panic!("create_group: {e}"));
        self.publish_all(admin, effects);
        self.sync_all();
        gid
    }

    /// Member `who` sends a chat message; returns the published event.
    pub fn say(&mut self, who: usize, gid: &GroupId, text: &str) -> Event {
        let now = self.now;
        let m = &mut self.members[who];
        let inner =
            nipee::inner::chat_message(m.client.public_key(), text, Timestamp::from_secs(now));
        let out = m
            .client
            .send(gid, &inner, now, &mut self.rng)
            .unwrap_or_else(|e| panic!("{}: send: {e}", m.name));
        let e = self.publish(who, &out, true);
        self.publish_all(who, e);
        out.event
    }

    /// The epoch authenticator of each listed member (None for an error).
    pub fn auths(&self, gid: &GroupId, who: &[usize]) -> Vec<Option<Vec<u8>>> {
        who.iter()
            .map(|i| self.members[*i].client.epoch_authenticator(gid).ok())
            .collect()
    }

    /// Asserts that every listed member is in `gid` at one epoch authenticator.
    pub fn assert_converged(&self, gid: &GroupId, who: &[usize]) {
        let auths = self.auths(gid, who);
        let first = auths[0].clone();
        for (i, a) in who.iter().zip(&auths) {
            assert!(a.is_some(), "{} is not in the group", self.members[*i].name);
            assert_eq!(
                a,
                &first,
                "{} diverged: epoch {:?} vs {:?}",
                self.members[*i].name,
                self.members[*i].client.epoch(gid).ok(),
                self.members[who[0]].client.epoch(gid).ok()
            );
        }
    }

    /// The texts of the chat messages member `who` received.
    pub fn texts(&self, who: usize) -> Vec<String> {
        self.members[who]
            .outcomes
            .iter()
            .filter_map(|o| match o {
                Outcome::Message { event, .. } => Some(event.content.clone()),
                _ => None,
            })
            .collect()
    }
}

/// `event`'s content and tags under a new `created_at`, signed by a fresh key: what
/// anyone who can read a relay can publish.
pub fn re_sign(event: &Event, created_at: u64, rng: &mut StdRng) -> Event {
    let keys = Keys::generate(rng);
    let tags: Vec<Tag> = event.tags().iter().cloned().collect();
    EventBuilder::new(event.kind(), event.content())
        .tags(tags)
        .sign(&keys, Timestamp::from_secs(created_at))
        .unwrap_or_else(|e| panic!("re-sign: {e}"))
}

/// Whether an outcome is a commit (applied or confirmed) creating `epoch`.
pub fn is_commit_to(o: &Outcome, epoch: u64) -> bool {
    matches!(o, Outcome::Commit(i) | Outcome::OwnCommitConfirmed(i) if i.epoch == epoch)
}

/// The purpose of an outgoing event, for assertions.
pub fn purpose(o: &Outgoing) -> &Purpose {
    &o.purpose
}

/// Client `c` sends a chat message in `gid` at [`T0`]; the group event.
pub fn say(c: &mut Client<MemoryStorage>, gid: &GroupId, text: &str, rng: &mut StdRng) -> Event {
    let inner = nipee::inner::chat_message(c.public_key(), text, Timestamp::from_secs(T0));
    c.send(gid, &inner, T0, rng).unwrap().event
}

/// The texts of the messages client `c` reads from `ev`, processed at [`T0`].
pub fn received(c: &mut Client<MemoryStorage>, ev: &Event, rng: &mut StdRng) -> Vec<String> {
    c.process(ev, T0, rng)
        .unwrap()
        .outcomes
        .into_iter()
        .filter_map(|o| match o {
            Outcome::Message { event, .. } => Some(event.content),
            _ => None,
        })
        .collect()
}

/// The error text of a result, for assertions.
pub fn err_text<T: core::fmt::Debug>(r: Result<T, Error>) -> String {
    match r {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e.to_string(),
    }
}
