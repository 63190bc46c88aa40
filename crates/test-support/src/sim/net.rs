//! The simulated network: in-process relays that store events, and for every client an
//! inbox of events in flight, each due at a later tick (delays), delivered in random order
//! (reordering), sometimes twice (duplicates) or never (drops, found again by a later
//! sync: the backfill). A relay can be down (it stores nothing and answers nothing), refuse
//! an event (`OK false`), or store one whose `OK` is lost.

use std::collections::BTreeSet;

use nipee::storage::MemoryStorage;
use nipee::{Client, Effects, FetchReport, FetchRequest, Outcome, Outgoing, RelayAnswer};
use nipee_nostr::{Event, EventId};

use super::Sim;

/// One in-process relay.
pub struct Relay {
    /// Its URL.
    pub url: String,
    /// Every event it stored, in arrival order.
    pub log: Vec<Event>,
    ids: BTreeSet<EventId>,
    /// Whether it is reachable.
    pub up: bool,
}

impl Relay {
    /// An empty relay that is up.
    pub fn new(url: &str) -> Self {
        Relay {
            url: url.to_owned(),
            log: Vec::new(),
            ids: BTreeSet::new(),
            up: true,
        }
    }

    /// Stores `event` unless it has it; returns whether it was new.
    pub fn store(&mut self, event: &Event) -> bool {
        if self.ids.insert(event.id()) {
            self.log.push(event.clone());
            true
        } else {
            false
        }
    }
}

/// An event on its way to a client.
pub struct Flight {
    /// The tick from which it may be delivered.
    pub due: u64,
    /// The event.
    pub event: Event,
}

/// One simulated client and what the simulation learnt about it.
pub struct Node {
    /// A name for reports.
    pub name: String,
    /// The client.
    pub client: Client<MemoryStorage>,
    /// Events in flight to it.
    pub inbox: Vec<Flight>,
    /// Reads its client asked for that the host has not answered yet.
    pub fetches: Vec<FetchRequest>,
    /// Everything its client reported, in order.
    pub outcomes: Vec<Outcome>,
    /// The epoch at which its current membership began (`None`: not a member).
    pub joined_at: Option<u64>,
    /// How often it received each inner event (by inner event id).
    pub received: std::collections::BTreeMap<EventId, usize>,
    /// The errors its client returned for delivered events (tick, event id, error).
    pub errors: Vec<String>,
    /// The highest epoch it reached in its current membership.
    pub last_epoch: u64,
    /// Where its branch was abandoned: (index in `outcomes`, the epoch the winning commit
    /// created). A message it sent at that epoch or later, before that point, is lost.
    pub rollbacks: Vec<(usize, u64)>,
    /// Events its client refused as too late: (outer event id, its epoch then).
    pub too_late: Vec<(EventId, u64)>,
    /// The inbox entries its host took from the client's effects and has not acknowledged
    /// yet, with the inner event id of a message (what the client must still hold, and all
    /// it may hold, after a restart).
    pub unacked: std::collections::BTreeMap<nipee::InboxId, Option<EventId>>,
}

impl Sim {
    /// A draw that is true `per_mille` times in a thousand.
    pub fn chance(&mut self, per_mille: u32) -> bool {
        use rand::RngExt;
        self.rng.random_range(0..1000u32) < per_mille
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        use rand::RngExt;
        self.rng.random_range(0..n)
    }

    /// Schedules `event` to every client, with the configured delays, duplicates and drops.
    pub(crate) fn broadcast(&mut self, event: &Event) {
        for i in 0..self.nodes.len() {
            if self.chance(self.faults.drop) {
                self.stats.dropped += 1;
                continue;
            }
            let copies = if self.chance(self.faults.duplicate) {
                2
            } else {
                1
            };
            for _ in 0..copies {
                let delay = self.below(self.faults.max_delay as usize + 1) as u64;
                let due = self.tick + delay;
                self.nodes[i].inbox.push(Flight {
                    due,
                    event: event.clone(),
                });
            }
        }
    }

    /// Publishes an event to the relays it names (those of the simulation), as a host
    /// would, and returns each relay's answer.
    pub(crate) fn send_to_relays(&mut self, out: &Outgoing) -> Vec<RelayAnswer> {
        let mut answers = Vec::new();
        for r in 0..self.relays.len() {
            let url = self.relays[r].url.clone();
            if !out.relays.iter().any(|u| u == &url) {
                continue;
            }
            if !self.relays[r].up {
                answers.push(RelayAnswer::NoAnswer { relay: url });
                continue;
            }
            // A relay that has the event answers `OK true` ("duplicate:"); one that refuses
            // (rate limits, policy) has not stored it.
            let has = self.relays[r].ids.contains(&out.event.id());
            if !has && self.chance(self.faults.refuse) {
                self.stats.refused += 1;
                answers.push(RelayAnswer::Rejected {
                    relay: url,
                    message: "blocked: simulated refusal".to_owned(),
                });
                continue;
            }
            if self.relays[r].store(&out.event) {
                self.broadcast(&out.event);
            }
            if self.chance(self.faults.ack_loss) {
                self.stats.acks_lost += 1;
                answers.push(RelayAnswer::NoAnswer { relay: url });
            } else {
                answers.push(RelayAnswer::Accepted { relay: url });
            }
        }
        answers
    }

    /// An attacker (or a relay) stores an event on every relay that is up.
    pub(crate) fn inject(&mut self, event: &Event) {
        let mut new = false;
        for r in &mut self.relays {
            if r.up {
                new |= r.store(event);
            }
        }
        if new {
            self.broadcast(event);
        }
    }

    /// Publishes `out` for node `who` and reports the answers to its client.
    pub(crate) fn publish(&mut self, who: usize, out: &Outgoing) {
        let answers = self.send_to_relays(out);
        let now = self.now;
        let node = &mut self.nodes[who];
        match node
            .client
            .published(&out.event.id(), &answers, now, &mut self.rng)
        {
            Ok(effects) => self.handle(who, effects),
            Err(e) => panic!("{}: published: {e}", node.name),
        }
    }

    /// Records what a client reported and carries out what it asks: publishes (Welcomes
    /// after a confirmation, rotations after a join), and keeps its reads for later.
    pub(crate) fn handle(&mut self, who: usize, effects: Effects) {
        self.record(who, &effects.outcomes);
        self.take_inbox(who, &effects);
        self.nodes[who].fetches.extend(effects.fetch);
        for out in effects.publish {
            self.publish(who, &out);
        }
    }

    /// Notes the inbox entries of `effects` as taken by the host and not acknowledged; an
    /// entry missing for an outcome the application must see, or an id given twice, is an
    /// inbox fault.
    fn take_inbox(&mut self, who: usize, effects: &Effects) {
        let node = &mut self.nodes[who];
        if effects.inbox.len() != effects.outcomes.len() {
            self.inbox_faults.push(format!(
                "{}: {} inbox ids for {} outcomes",
                node.name,
                effects.inbox.len(),
                effects.outcomes.len()
            ));
            return;
        }
        for (o, id) in effects.outcomes.iter().zip(&effects.inbox) {
            let kept = !matches!(o, Outcome::Ignored(_) | Outcome::Published { .. });
            match (id, kept) {
                (Some(id), true) => {
                    let inner = match o {
                        Outcome::Message { event, .. } => Some(event.id()),
                        _ => None,
                    };
                    if node.unacked.insert(*id, inner).is_some() {
                        self.inbox_faults
                            .push(format!("{}: inbox id {id} given twice", node.name));
                    }
                }
                (None, false) => {}
                (id, _) => self
                    .inbox_faults
                    .push(format!("{}: inbox id {id:?} for {o:?}", node.name)),
            }
        }
    }

    /// The host of node `i` acknowledges every inbox entry it has taken.
    pub(crate) fn acknowledge_all(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        let ids: Vec<_> = node.unacked.keys().copied().collect();
        match node.client.acknowledge(&ids) {
            Ok(n) if n == ids.len() => {
                node.unacked.clear();
                self.stats.acknowledged += n;
            }
            Ok(n) => self.inbox_faults.push(format!(
                "{}: acknowledged {n} of {} inbox entries",
                node.name,
                ids.len()
            )),
            Err(e) => self
                .inbox_faults
                .push(format!("{}: acknowledge: {e}", node.name)),
        }
    }

    /// Compares what node `i`'s client keeps in its inbox with what its host took and did
    /// not acknowledge: after a restart, nothing may be missing and nothing extra.
    pub(crate) fn check_inbox(&mut self, i: usize, when: &str) {
        let node = &self.nodes[i];
        let held: Result<std::collections::BTreeMap<_, _>, _> = node.client.inbox().map(|es| {
            es.into_iter()
                .map(|e| {
                    let inner = match &e.outcome {
                        Outcome::Message { event, .. } => Some(event.id()),
                        _ => None,
                    };
                    (e.id, inner)
                })
                .collect()
        });
        match held {
            Ok(held) if held == node.unacked => {}
            Ok(held) => self.inbox_faults.push(format!(
                "{} {when}: its inbox holds {} entries, its host took {} unacknowledged",
                node.name,
                held.len(),
                node.unacked.len()
            )),
            Err(e) => self
                .inbox_faults
                .push(format!("{} {when}: inbox: {e}", node.name)),
        }
    }

    /// Bookkeeping of outcomes: deliveries, joins, removals.
    fn record(&mut self, who: usize, outcomes: &[Outcome]) {
        // For a removal, the epoch the removing commit created (a tombstone's epoch).
        let left_epoch = self.nodes[who]
            .client
            .group(&self.gid)
            .ok()
            .map(|g| g.epoch);
        let node = &mut self.nodes[who];
        for o in outcomes {
            let at = node.outcomes.len();
            match o {
                Outcome::Message { event, .. } => {
                    *node.received.entry(event.id()).or_default() += 1;
                }
                Outcome::Joined { epoch, .. } => {
                    node.joined_at = Some(*epoch);
                    node.last_epoch = *epoch;
                }
                Outcome::Removed { .. } => {
                    // A removal that won a race against the commit we had applied.
                    if let Some(e) = left_epoch.filter(|e| *e <= node.last_epoch) {
                        node.rollbacks.push((at, e));
                    }
                    node.joined_at = None;
                }
                Outcome::Commit(i) | Outcome::OwnCommitConfirmed(i) => {
                    if i.rolled_back_from.is_some() {
                        self.stats.rollbacks += 1;
                        node.rollbacks.push((at, i.epoch));
                    }
                    node.last_epoch = i.epoch;
                }
                Outcome::OwnCommitDiscarded { .. } => self.stats.discarded += 1,
                _ => {}
            }
            node.outcomes.push(o.clone());
        }
    }

    /// Delivers one event to node `who` if its subscriptions want it.
    pub(crate) fn deliver(&mut self, who: usize, event: &Event) -> bool {
        let wanted = self.nodes[who]
            .client
            .subscriptions()
            .iter()
            .any(|s| s.filter.matches(event));
        if !wanted {
            return false;
        }
        let now = self.now;
        let node = &mut self.nodes[who];
        match node.client.process(event, now, &mut self.rng) {
            Ok(effects) => {
                let progressed = effects
                    .outcomes
                    .iter()
                    .any(|o| !matches!(o, Outcome::Ignored(_)));
                if effects
                    .outcomes
                    .iter()
                    .any(|o| matches!(o, Outcome::Ignored(nipee::IgnoreReason::TooLate)))
                {
                    let epoch = node.client.epoch(&self.gid).unwrap_or(0);
                    node.too_late.push((event.id(), epoch));
                }
                self.handle(who, effects);
                progressed
            }
            Err(e) => {
                if matches!(
                    e,
                    nipee::Error::Storage { .. } | nipee::Error::Internal { .. }
                ) {
                    panic!("{}: process: {e}", node.name);
                }
                node.errors
                    .push(format!("tick {}: {}: {e}", self.tick, event.id()));
                false
            }
        }
    }

    /// Delivers the events due to node `who` at this tick, in random order.
    pub(crate) fn deliver_due(&mut self, who: usize, all: bool) -> bool {
        let tick = self.tick;
        let inbox = std::mem::take(&mut self.nodes[who].inbox);
        let (mut due, later): (Vec<Flight>, Vec<Flight>) =
            inbox.into_iter().partition(|f| all || f.due <= tick);
        self.nodes[who].inbox = later;
        let mut progressed = false;
        while !due.is_empty() {
            let i = self.below(due.len());
            let f = due.swap_remove(i);
            progressed |= self.deliver(who, &f.event);
        }
        progressed
    }

    /// Answers node `who`'s outstanding reads from the relays that are up.
    pub(crate) fn answer_fetches(&mut self, who: usize) {
        let requests = std::mem::take(&mut self.nodes[who].fetches);
        for req in requests {
            let filter = req.filter();
            let mut report = FetchReport::default();
            for r in &self.relays {
                if !r.up || !req.relays().iter().any(|u| u == &r.url) {
                    continue;
                }
                report
                    .events
                    .extend(r.log.iter().filter(|e| filter.matches(e)).cloned());
                report.complete.push(r.url.clone());
            }
            let now = self.now;
            let node = &mut self.nodes[who];
            match node.client.fetched(&req, &report, now, &mut self.rng) {
                Ok(effects) => self.handle(who, effects),
                Err(e) => panic!("{}: fetched: {e}", node.name),
            }
        }
    }

    /// What a host's sync does: republish the outbox, fetch everything the relays that are
    /// up hold for the client's subscriptions (again until the subscriptions stop
    /// changing), and answer its reads. Returns whether anything changed.
    pub(crate) fn sync(&mut self, who: usize) -> bool {
        let outbox = self.nodes[who]
            .client
            .outbox()
            .unwrap_or_else(|e| panic!("{}: outbox: {e}", self.nodes[who].name));
        for out in outbox {
            self.publish(who, &out);
        }
        let mut progressed = false;
        for _ in 0..8 {
            let subs = self.nodes[who].client.subscriptions();
            let events: Vec<Event> = self
                .relays
                .iter()
                .filter(|r| r.up)
                .flat_map(|r| r.log.iter())
                .filter(|e| subs.iter().any(|s| s.filter.matches(e)))
                .cloned()
                .collect();
            for e in &events {
                progressed |= self.deliver(who, e);
            }
            self.answer_fetches(who);
            if self.nodes[who].client.subscriptions() == subs {
                break;
            }
        }
        progressed
    }

    /// Periodic work of node `who`'s host: `poll`, then the reads it asks for.
    pub(crate) fn poll(&mut self, who: usize) {
        let now = self.now;
        let node = &mut self.nodes[who];
        match node.client.poll(now, &mut self.rng) {
            Ok(effects) => self.handle(who, effects),
            Err(e) => panic!("{}: poll: {e}", node.name),
        }
        self.answer_fetches(who);
    }

    /// One tick: the clock moves, due events are delivered, some reads are answered.
    pub(crate) fn step(&mut self) {
        self.tick += 1;
        self.now += self.below(3) as u64;
        for who in 0..self.nodes.len() {
            self.deliver_due(who, false);
            if !self.nodes[who].fetches.is_empty() && self.chance(500) {
                self.answer_fetches(who);
            }
        }
    }

    /// Lets the network settle: every relay comes back, everything in flight is delivered,
    /// every client polls and syncs, until a full round changes nothing.
    pub fn quiesce(&mut self) {
        for r in &mut self.relays {
            r.up = true;
        }
        // The network heals: no more refusals, lost answers, drops or delays.
        let faults = std::mem::take(&mut self.faults);
        self.since_quiesce = 0;
        self.relay_may_fail = true;
        for round in 0..32 {
            let logged: usize = self.relays.iter().map(|r| r.log.len()).sum();
            let mut progressed = false;
            for who in 0..self.nodes.len() {
                progressed |= self.deliver_due(who, true);
                self.poll(who);
                progressed |= self.sync(who);
            }
            let after: usize = self.relays.iter().map(|r| r.log.len()).sum();
            let in_flight = self.nodes.iter().any(|n| !n.inbox.is_empty());
            if !progressed && after == logged && !in_flight {
                self.stats.quiesce_rounds = self.stats.quiesce_rounds.max(round + 1);
                self.epoch_at_quiesce = self.max_epoch();
                self.faults = faults;
                return;
            }
        }
        panic!("the network does not quiesce");
    }
}
