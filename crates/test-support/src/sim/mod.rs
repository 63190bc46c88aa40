//! The convergence simulation: one group of 3–20 clients with real cryptography, in-process
//! relays and a hostile network, driven by random operations from one seed.
//!
//! A seed fixes the scenario: how many members and relays, the network's faults (delays,
//! reordering, duplicates, drops found again by later syncs, refusals, lost `OK`s, one relay
//! of two down for a while), whether an attacker is present, and the sequence of operations
//! (messages, reactions, rotations, adds, removes, leaves, concurrent commits by two or three
//! admins, restarts from storage). Every choice comes from one `StdRng` seeded with the seed,
//! which the clients use too. (The MLS engine draws its own secrets — path secrets, reuse
//! guards — from the operating system, so event ids differ between runs. Concurrent commits
//! therefore get distinct timestamps, except in one round of ten where they tie and the
//! event ids decide: a seed with such a round may not replay the same way.)
//!
//! After the network quiesces, [`Sim::check`] states the invariants: every current member
//! is active on one epoch authenticator with nothing pending; every message a current member
//! sent in an epoch that survived reached every member of that epoch exactly once; nobody
//! read a message of an epoch it was not a member of (a removed member reads nothing sent
//! after its removal); a removal stays in force. Then every member speaks, two members commit,
//! everyone speaks again, and the invariants are checked once more: later genuine commits
//! and messages are still processed.
//!
//! ```no_run
//! let report = nipee_test_support::sim::run(7).unwrap_or_else(|e| panic!("{e}"));
//! println!("{report}");
//! ```

mod attacker;
mod check;
mod net;
mod ops;

use std::collections::{BTreeMap, BTreeSet};

use nipee::storage::MemoryStorage;
use nipee::{Client, ClientConfig, GroupId, NewGroup};
use nipee_nostr::{EventId, Keys, PublicKey};
use rand::SeedableRng;
use rand::rngs::StdRng;

pub use attacker::Attacker;
pub use net::{Flight, Node, Relay};

/// The clock at the start of every simulation.
pub const T0: u64 = 1_800_000_000;

/// How the network misbehaves in one simulation (probabilities in per mille).
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// The longest delay of an event, in ticks.
    pub max_delay: u64,
    /// An event reaches a client twice.
    pub duplicate: u32,
    /// An event never reaches a client on its subscription (a later sync finds it).
    pub drop: u32,
    /// A relay refuses an event (`OK false`).
    pub refuse: u32,
    /// A relay stores an event but its `OK` is lost.
    pub ack_loss: u32,
    /// A relay goes down for a while (one of two, at most one at a time).
    pub relay_down: u32,
}

/// A message sent during the simulation.
#[derive(Debug, Clone)]
pub struct Sent {
    /// The inner event id.
    pub id: EventId,
    /// Who sent it.
    pub sender: usize,
    /// The sender's epoch when it sent it.
    pub epoch: u64,
    /// The members of that epoch, as the sender saw them.
    pub members: BTreeSet<PublicKey>,
    /// How many outcomes the sender had recorded then (later rollbacks tell whether the
    /// epoch survived).
    pub outcomes_before: usize,
    /// A short description for reports.
    pub what: String,
}

/// Counts of what happened, for reports.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// Operations carried out.
    pub ops: usize,
    /// Messages and reactions sent.
    pub messages: usize,
    /// Commits built (own commits, including those that lost).
    pub commits: usize,
    /// Rounds of two or three concurrent commits.
    pub concurrent: usize,
    /// Commit races resolved by a rollback (counted per client).
    pub rollbacks: usize,
    /// Own commits discarded (refused by every relay, lost a race, …).
    pub discarded: usize,
    /// Restarts from storage.
    pub restarts: usize,
    /// Events dropped on a subscription (found again by a sync).
    pub dropped: usize,
    /// Events a relay refused.
    pub refused: usize,
    /// Acknowledgements lost.
    pub acks_lost: usize,
    /// Attacker events.
    pub attacks: usize,
    /// Invitees whose Welcome came from a commit that then lost a race.
    pub stranded: usize,
    /// Removed members whose client the attacker's backdated commit (made from another
    /// removed member's old state) brought back onto a branch nobody else has.
    pub ghosts: usize,
    /// Clients that had applied more than `rollback_epochs` commits of a branch that lost
    /// a race before the winning commit reached them (it was dropped on their subscription
    /// and found by a later sync): they refused it as too late and stay on the lost branch,
    /// the depth limit of the race rule (docs/NIP-EE.md, "Commit races").
    pub left_behind: usize,
    /// The most rounds a quiescence took.
    pub quiesce_rounds: usize,
    /// Inbox entries the hosts acknowledged.
    pub acknowledged: usize,
}

/// One simulation.
pub struct Sim {
    /// The seed.
    pub seed: u64,
    /// Every random choice.
    pub rng: StdRng,
    /// The clock (unix seconds).
    pub now: u64,
    /// The network's clock.
    pub tick: u64,
    /// The relays.
    pub relays: Vec<Relay>,
    /// The clients; node 0 created the group.
    pub nodes: Vec<Node>,
    /// The group.
    pub gid: GroupId,
    /// Every message sent.
    pub sent: Vec<Sent>,
    /// The network's faults.
    pub faults: Faults,
    /// The attacker, if any.
    pub attacker: Option<Attacker>,
    /// Counts.
    pub stats: Stats,
    /// Invitees whose joining commit lost a race (they hold a group nobody else has).
    pub stranded: BTreeSet<usize>,
    /// Nodes whose stolen old state the attacker used for a backdated commit.
    pub evil_from: BTreeSet<usize>,
    /// The epoch each genuine commit was built for, by its outer event id.
    pub commit_epochs: BTreeMap<EventId, u64>,
    /// Clients left on a lost branch by the depth limit of the race rule, with the first
    /// epoch of their branch that the group did not keep.
    pub left_behind: BTreeMap<usize, u64>,
    /// The operations so far, for reports.
    pub trace: Vec<String>,
    pub(crate) since_quiesce: usize,
    pub(crate) epoch_at_quiesce: u64,
    pub(crate) relay_may_fail: bool,
    pub(crate) counter: usize,
    pub(crate) expect_epoch: Option<u64>,
    /// When hosts acknowledge their inbox entries: a generator of its own (from the seed),
    /// so that the operations and the network draw what they drew before it existed.
    pub(crate) ack_rng: StdRng,
    /// Disagreements between a client's inbox and what its host took from it.
    pub(crate) inbox_faults: Vec<String>,
}

/// What a passing simulation did.
#[derive(Debug, Clone)]
pub struct Report {
    /// The seed.
    pub seed: u64,
    /// Members (clients).
    pub nodes: usize,
    /// Relays.
    pub relays: usize,
    /// Whether an attacker took part.
    pub attacker: bool,
    /// The final epoch.
    pub epoch: u64,
    /// Counts.
    pub stats: Stats,
}

impl core::fmt::Display for Report {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let s = &self.stats;
        write!(
            f,
            "seed {}: {} members, {} relay(s){}, epoch {}, {} ops, {} messages, {} commits \
             ({} concurrent rounds, {} rollbacks, {} discarded), {} restarts, {} drops, \
             {} refusals, {} lost OKs, {} attacks, {} stranded, {} ghosts, {} left behind, \
             {} inbox entries acknowledged",
            self.seed,
            self.nodes,
            self.relays,
            if self.attacker { ", attacker" } else { "" },
            self.epoch,
            s.ops,
            s.messages,
            s.commits,
            s.concurrent,
            s.rollbacks,
            s.discarded,
            s.restarts,
            s.dropped,
            s.refused,
            s.acks_lost,
            s.attacks,
            s.stranded,
            s.ghosts,
            s.left_behind,
            s.acknowledged
        )
    }
}

/// The relay URLs of the simulation.
pub fn relay_urls(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("wss://relay{i}.sim")).collect()
}

/// Runs the simulation of `seed`; a violated invariant or a client panic is an error naming
/// the seed, with the operations that led there.
///
/// # Errors
/// A description of the first violated invariant.
pub fn run(seed: u64) -> Result<Report, String> {
    let result = std::panic::catch_unwind(|| {
        let mut sim = Sim::new(seed);
        let outcome = sim.run_all();
        (outcome, sim.report(), sim.trace.clone())
    });
    match result {
        Ok((Ok(()), report, _)) => Ok(report),
        Ok((Err(e), _, trace)) => Err(format!(
            "seed {seed}: {e}\nlast operations:\n  {}",
            tail(&trace)
        )),
        Err(panic) => {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            Err(format!("seed {seed}: panicked: {msg}"))
        }
    }
}

fn tail(trace: &[String]) -> String {
    let from = trace.len().saturating_sub(25);
    trace[from..].join("\n  ")
}

impl Sim {
    /// The scenario of `seed`, with its group created and every first member joined.
    pub fn new(seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        use rand::RngExt;
        let n = if rng.random_range(0..10u32) < 7 {
            rng.random_range(3..=7usize)
        } else {
            rng.random_range(8..=20usize)
        };
        let relays = if rng.random_range(0..10u32) < 7 { 2 } else { 1 };
        let faults = Faults {
            max_delay: rng.random_range(0..=4),
            duplicate: rng.random_range(0..=150),
            drop: rng.random_range(0..=100),
            refuse: rng.random_range(0..=40),
            ack_loss: rng.random_range(0..=60),
            relay_down: if relays == 2 {
                rng.random_range(0..=40)
            } else {
                0
            },
        };
        let attacker = rng.random_range(0..10u32) < 7;
        let urls = relay_urls(relays);
        let mut nodes = Vec::new();
        for i in 0..n {
            let keys = Keys::generate(&mut rng);
            let client = Client::new(keys, MemoryStorage::new(), ClientConfig::with_relays(&urls))
                .unwrap_or_else(|e| panic!("client {i}: {e}"));
            nodes.push(Node {
                name: format!("n{i}"),
                client,
                inbox: Vec::new(),
                fetches: Vec::new(),
                outcomes: Vec::new(),
                joined_at: None,
                received: BTreeMap::new(),
                errors: Vec::new(),
                last_epoch: 0,
                rollbacks: Vec::new(),
                too_late: Vec::new(),
                unacked: BTreeMap::new(),
            });
        }
        let mut sim = Sim {
            seed,
            rng,
            now: T0,
            tick: 0,
            relays: urls.iter().map(|u| Relay::new(u)).collect(),
            nodes,
            gid: GroupId::new(vec![]),
            sent: Vec::new(),
            faults,
            attacker: attacker.then(Attacker::default),
            stats: Stats::default(),
            stranded: BTreeSet::new(),
            evil_from: BTreeSet::new(),
            commit_epochs: BTreeMap::new(),
            left_behind: BTreeMap::new(),
            trace: Vec::new(),
            since_quiesce: 0,
            epoch_at_quiesce: 0,
            relay_may_fail: true,
            counter: 0,
            expect_epoch: None,
            ack_rng: StdRng::seed_from_u64(seed ^ 0x1b0c_acc0_1ade_d000),
            inbox_faults: Vec::new(),
        };
        sim.create_group();
        sim
    }

    /// The config of every client.
    pub fn config(&self) -> ClientConfig {
        ClientConfig::with_relays(self.relays.iter().map(|r| r.url.clone()))
    }

    fn create_group(&mut self) {
        let n = self.nodes.len();
        // At least two first members besides the creator; the rest join later.
        let first = 2 + self.below(n - 2);
        let mut kps = Vec::new();
        for i in 1..=first {
            let last_resort = self.chance(300);
            let out = self.nodes[i]
                .client
                .create_key_package(last_resort, self.now, &mut self.rng)
                .unwrap_or_else(|e| panic!("key package: {e}"));
            self.publish(i, &out);
            kps.push(out.event);
        }
        let mut new = NewGroup::new("sim", kps);
        new.admins.push(self.nodes[1].client.public_key());
        if first >= 3 && self.chance(500) {
            new.admins.push(self.nodes[2].client.public_key());
        }
        let (gid, effects) = self.nodes[0]
            .client
            .create_group(new, self.now, &mut self.rng)
            .unwrap_or_else(|e| panic!("create_group: {e}"));
        self.gid = gid;
        self.nodes[0].joined_at = Some(0);
        self.handle(0, effects);
        self.trace
            .push(format!("n0 creates the group with n1..=n{first}"));
        self.quiesce();
    }

    /// The highest epoch any active client is at.
    pub fn max_epoch(&self) -> u64 {
        self.nodes
            .iter()
            .filter_map(|n| n.client.epoch(&self.gid).ok())
            .max()
            .unwrap_or(0)
    }

    /// Runs the random operations, lets the network settle, checks the invariants, then
    /// proves the group still works.
    ///
    /// # Errors
    /// The first violated invariant.
    pub fn run_all(&mut self) -> Result<(), String> {
        let ops = 40 + self.below(41);
        for _ in 0..ops {
            self.random_op();
            self.stats.ops += 1;
            self.hosts_acknowledge();
            for _ in 0..=self.below(2) {
                self.step();
            }
            let far = self.max_epoch() >= self.epoch_at_quiesce + 3;
            if far || self.chance(60) {
                self.trace.push("quiesce".into());
                self.quiesce();
            }
        }
        self.trace.push("final quiesce".into());
        self.quiesce();
        self.check()
            .map_err(|e| format!("after the operations: {e}"))?;
        self.liveness_probe();
        self.check()
            .map_err(|e| format!("after the last round: {e}"))
    }

    /// Summarises the run.
    pub fn report(&self) -> Report {
        Report {
            seed: self.seed,
            nodes: self.nodes.len(),
            relays: self.relays.len(),
            attacker: self.attacker.is_some(),
            epoch: self.nodes[0].client.epoch(&self.gid).unwrap_or(0),
            stats: self.stats.clone(),
        }
    }
}
