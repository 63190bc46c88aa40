//! The random operations of the simulation, carried out as a host would: a client syncs
//! before it commits (as the driver and the CLI do), publishes what its core returns and
//! reports the relays' answers; a host may crash before or after publishing.

use std::collections::BTreeSet;

use crate::mem::copy_of;
use nipee::{Client, GroupDataUpdate, PendingCommit};
use nipee_nostr::{PublicKey, Timestamp, UnsignedEvent};

use super::{Sent, Sim};

/// What a commit does.
#[derive(Debug, Clone, Copy)]
enum CommitKind {
    Rotate,
    Remove(usize),
    Add(usize),
    Rename,
    Proposals,
}

impl Sim {
    /// Whether node `i` is an active member of the group (in its own view).
    pub fn active(&self, i: usize) -> bool {
        self.nodes[i]
            .client
            .group(&self.gid)
            .is_ok_and(|g| g.active)
    }

    fn pending(&self, i: usize) -> bool {
        self.nodes[i]
            .client
            .group(&self.gid)
            .is_ok_and(|g| g.pending_commit)
    }

    fn is_admin(&self, i: usize) -> bool {
        self.nodes[i]
            .client
            .members(&self.gid)
            .is_ok_and(|ms| ms.iter().any(|m| m.own && m.admin))
    }

    /// The node of a Nostr key.
    pub fn node_of(&self, pk: &PublicKey) -> Option<usize> {
        self.nodes.iter().position(|n| n.client.public_key() == *pk)
    }

    fn actives(&self) -> Vec<usize> {
        (0..self.nodes.len()).filter(|i| self.active(*i)).collect()
    }

    fn pick(&mut self, from: &[usize]) -> Option<usize> {
        if from.is_empty() {
            None
        } else {
            Some(from[self.below(from.len())])
        }
    }

    /// Each host acknowledges the inbox entries it has taken now and then (a quarter of the
    /// time after each operation, from the generator of its own), so that restarts find
    /// some entries still held.
    pub(crate) fn hosts_acknowledge(&mut self) {
        use rand::RngExt;
        for i in 0..self.nodes.len() {
            if self.ack_rng.random_range(0..4u32) == 0 {
                self.acknowledge_all(i);
            }
        }
    }

    /// One random operation.
    pub(crate) fn random_op(&mut self) {
        match self.below(1000) {
            0..350 => self.op_message(),
            350..430 => self.op_reaction(),
            430..540 => self.op_commit(),
            540..640 => self.op_concurrent(),
            640..690 => self.op_leave(),
            690..740 => {
                let i = self.below(self.nodes.len());
                self.restart(i);
            }
            740..800 => {
                let i = self.below(self.nodes.len());
                self.trace.push(format!("{} syncs", self.nodes[i].name));
                self.sync(i);
            }
            800..850 => self.op_relay(),
            _ if self.attacker.is_some() => self.op_attack(),
            _ => self.op_message(),
        }
    }

    fn op_message(&mut self) {
        let actives = self.actives();
        let Some(i) = self.pick(&actives) else { return };
        self.counter += 1;
        let text = format!("m{} from {}", self.counter, self.nodes[i].name);
        let inner = nipee::inner::chat_message(
            self.nodes[i].client.public_key(),
            &text,
            Timestamp::from_secs(self.now),
        );
        self.send_inner(i, inner, text);
    }

    fn op_reaction(&mut self) {
        let actives = self.actives();
        let Some(i) = self.pick(&actives) else { return };
        let seen: Vec<_> = self.nodes[i].received.keys().copied().collect();
        if seen.is_empty() {
            return self.op_message();
        }
        let target = seen[self.below(seen.len())];
        // A distinct content: two reactions of the same second would be one inner event.
        self.counter += 1;
        let inner = nipee::inner::reaction(
            self.nodes[i].client.public_key(),
            &target,
            &format!("+{}", self.counter),
            Timestamp::from_secs(self.now),
        );
        let what = format!("reaction of {} to {}", self.nodes[i].name, target.to_hex());
        self.send_inner(i, inner, what);
    }

    /// Node `i` sends an inner event; it is recorded with the epoch and members it was
    /// sent to.
    pub(crate) fn send_inner(&mut self, i: usize, inner: UnsignedEvent, what: String) {
        let gid = self.gid.clone();
        let node = &self.nodes[i];
        let (Ok(epoch), Ok(members)) = (node.client.epoch(&gid), node.client.members(&gid)) else {
            return;
        };
        let outcomes_before = node.outcomes.len();
        let now = self.now;
        match self.nodes[i].client.send(&gid, &inner, now, &mut self.rng) {
            Ok(out) => {
                self.trace
                    .push(format!("{what} (epoch {epoch}, event {})", out.event.id()));
                self.sent.push(Sent {
                    id: inner.id(),
                    sender: i,
                    epoch,
                    members: members.iter().map(|m| m.pubkey).collect(),
                    outcomes_before,
                    what,
                });
                self.stats.messages += 1;
                self.publish(i, &out);
            }
            Err(e) => self.trace.push(format!("{what}: send refused: {e}")),
        }
    }

    fn choose_commit(&mut self, i: usize, reserved: &mut BTreeSet<usize>) -> CommitKind {
        if !self.is_admin(i) {
            return if self.chance(850) {
                CommitKind::Rotate
            } else {
                CommitKind::Proposals
            };
        }
        let members = self.nodes[i].client.members(&self.gid).unwrap_or_default();
        let removable: Vec<usize> = members
            .iter()
            .filter(|m| !m.admin && !m.own)
            .filter_map(|m| self.node_of(&m.pubkey))
            .filter(|j| !reserved.contains(j))
            .collect();
        let in_group: BTreeSet<PublicKey> = members.iter().map(|m| m.pubkey).collect();
        let outsiders: Vec<usize> = (0..self.nodes.len())
            .filter(|j| {
                !self.active(*j)
                    && !reserved.contains(j)
                    && !in_group.contains(&self.nodes[*j].client.public_key())
            })
            .collect();
        let leaves = self.nodes[i]
            .outcomes
            .iter()
            .rev()
            .take(20)
            .any(|o| matches!(o, nipee::Outcome::Proposal { .. }));
        let roll = self.below(100);
        if leaves && roll < 40 {
            return CommitKind::Proposals;
        }
        match roll {
            0..30 if !outsiders.is_empty() => {
                let j = outsiders[self.below(outsiders.len())];
                reserved.insert(j);
                CommitKind::Add(j)
            }
            30..55 if !removable.is_empty() => {
                let j = removable[self.below(removable.len())];
                reserved.insert(j);
                CommitKind::Remove(j)
            }
            55..65 => CommitKind::Rename,
            _ => CommitKind::Rotate,
        }
    }

    fn build_commit(&mut self, i: usize, kind: CommitKind, at: u64) -> Option<PendingCommit> {
        let gid = self.gid.clone();
        let name = self.nodes[i].name.clone();
        let built = match kind {
            CommitKind::Rotate => self.nodes[i].client.rotate(&gid, at, &mut self.rng),
            CommitKind::Remove(j) => {
                self.steal_before_removal(j);
                let pk = self.nodes[j].client.public_key();
                self.nodes[i].client.remove(&gid, &[pk], at, &mut self.rng)
            }
            CommitKind::Add(j) => {
                let last_resort = self.chance(300);
                let kp =
                    match self.nodes[j]
                        .client
                        .create_key_package(last_resort, at, &mut self.rng)
                    {
                        Ok(kp) => kp,
                        Err(e) => panic!("{}: key package: {e}", self.nodes[j].name),
                    };
                self.publish(j, &kp);
                self.nodes[i]
                    .client
                    .invite(&gid, &[kp.event], at, &mut self.rng)
            }
            CommitKind::Rename => {
                self.counter += 1;
                let update = GroupDataUpdate::new().name(format!("sim {}", self.counter));
                self.nodes[i]
                    .client
                    .update_group_data(&gid, update, at, &mut self.rng)
            }
            CommitKind::Proposals => {
                self.nodes[i]
                    .client
                    .commit_pending_proposals(&gid, at, &mut self.rng)
            }
        };
        match built {
            Ok(p) => {
                let shown = match kind {
                    CommitKind::Remove(j) | CommitKind::Add(j) => {
                        format!("{kind:?} {}", self.nodes[j].name)
                    }
                    _ => format!("{kind:?}"),
                };
                self.trace.push(format!(
                    "{name} commits {shown} for epoch {} at {at} (event {})",
                    p.epoch - 1,
                    p.outgoing.event.id()
                ));
                self.stats.commits += 1;
                self.commit_epochs
                    .insert(p.outgoing.event.id(), p.epoch - 1);
                Some(p)
            }
            Err(e) => {
                self.trace.push(format!("{name}: {kind:?} refused: {e}"));
                None
            }
        }
    }

    /// Publishes an own commit; now and then the host crashes before publishing it, or
    /// after the relays stored it but before their answers arrived.
    fn publish_commit(&mut self, i: usize, p: &PendingCommit) {
        match self.below(1000) {
            0..40 => {
                self.trace
                    .push(format!("{} crashes before publishing", self.nodes[i].name));
                self.restart(i);
            }
            40..80 => {
                let _ = self.send_to_relays(&p.outgoing);
                self.trace.push(format!(
                    "{} crashes before the relays' answers",
                    self.nodes[i].name
                ));
                self.restart(i);
            }
            _ => self.publish(i, &p.outgoing),
        }
    }

    fn op_commit(&mut self) {
        let candidates: Vec<usize> = self
            .actives()
            .into_iter()
            .filter(|i| !self.pending(*i))
            .collect();
        let Some(i) = self.pick(&candidates) else {
            return;
        };
        self.sync(i);
        if !self.active(i) || self.pending(i) {
            return;
        }
        let kind = self.choose_commit(i, &mut BTreeSet::new());
        let now = self.now;
        if let Some(p) = self.build_commit(i, kind, now) {
            self.publish_commit(i, &p);
        }
    }

    /// Two or three admins commit in the same epoch before seeing each other's commit.
    fn op_concurrent(&mut self) {
        let mut admins: Vec<usize> = self
            .actives()
            .into_iter()
            .filter(|i| self.is_admin(*i) && !self.pending(*i))
            .collect();
        if admins.len() < 2 {
            return self.op_commit();
        }
        let n = if admins.len() >= 3 && self.chance(400) {
            3
        } else {
            2
        };
        let mut chosen = Vec::new();
        for _ in 0..n {
            let k = self.below(admins.len());
            chosen.push(admins.swap_remove(k));
        }
        for &i in &chosen {
            self.sync(i);
        }
        chosen.retain(|i| self.active(*i) && !self.pending(*i));
        self.trace.push(format!("concurrent commits by {chosen:?}"));
        self.stats.concurrent += 1;
        let mut reserved = BTreeSet::new();
        let mut built = Vec::new();
        // Distinct timestamps, except in one round of ten: a tie is broken by the event ids,
        // which depend on the MLS engine's own randomness, so such a round does not replay
        // the same way from its seed.
        let tie = self.chance(100);
        let mut offsets: Vec<u64> = (0..4).collect();
        for &i in &chosen {
            let kind = self.choose_commit(i, &mut reserved);
            let at = if tie {
                self.now
            } else {
                self.now + offsets.swap_remove(self.below(offsets.len()))
            };
            if let Some(p) = self.build_commit(i, kind, at) {
                built.push((i, p));
            }
        }
        while !built.is_empty() {
            let k = self.below(built.len());
            let (i, p) = built.swap_remove(k);
            self.publish_commit(i, &p);
        }
    }

    fn op_leave(&mut self) {
        let candidates: Vec<usize> = self
            .actives()
            .into_iter()
            .filter(|i| !self.is_admin(*i))
            .collect();
        let Some(i) = self.pick(&candidates) else {
            return;
        };
        let gid = self.gid.clone();
        let now = self.now;
        match self.nodes[i].client.leave(&gid, now, &mut self.rng) {
            Ok(out) => {
                self.trace
                    .push(format!("{} asks to leave", self.nodes[i].name));
                self.publish(i, &out);
            }
            Err(e) => self
                .trace
                .push(format!("{}: leave refused: {e}", self.nodes[i].name)),
        }
    }

    fn op_relay(&mut self) {
        if self.relays.len() < 2 || self.faults.relay_down == 0 {
            return self.op_message();
        }
        if let Some(r) = self.relays.iter().position(|r| !r.up) {
            self.relays[r].up = true;
            self.trace.push(format!("relay {r} is back"));
        } else if self.relay_may_fail && self.chance(self.faults.relay_down * 20) {
            // The relay that goes down misses what is published meanwhile; the other may
            // fail only after everyone synced again (a second outage would hide events
            // that only one relay holds).
            let r = self.below(2);
            self.relays[r].up = false;
            self.relay_may_fail = false;
            self.trace.push(format!("relay {r} goes down"));
        }
    }

    /// Node `i`'s process dies: its client is rebuilt from storage, and its host republishes
    /// the outbox and polls.
    pub fn restart(&mut self, i: usize) {
        let config = self.config();
        self.nodes[i].client = Client::open(copy_of(self.nodes[i].client.storage()), config)
            .unwrap_or_else(|e| panic!("{}: reopen: {e}", self.nodes[i].name));
        self.nodes[i].fetches.clear();
        self.check_inbox(i, "after a restart");
        self.stats.restarts += 1;
        self.trace.push(format!("{} restarts", self.nodes[i].name));
        let outbox = self.nodes[i].client.outbox().unwrap_or_default();
        for out in outbox {
            self.publish(i, &out);
        }
        self.poll(i);
    }

    /// The members of the group as its creator (an admin nobody removes) sees it.
    pub fn current_members(&self) -> Vec<usize> {
        let members = self.nodes[0].client.members(&self.gid).unwrap_or_default();
        members
            .iter()
            .filter_map(|m| self.node_of(&m.pubkey))
            .collect()
    }

    /// The last round on a healthy network: every member speaks, two members commit one
    /// after the other, everyone speaks again.
    pub(crate) fn liveness_probe(&mut self) {
        self.trace.push("last round".into());
        self.faults = super::Faults::default();
        self.attacker = None;
        // Clients the depth limit left on a lost branch are members nobody can reach.
        let members: Vec<usize> = self
            .current_members()
            .into_iter()
            .filter(|i| !self.left_behind.contains_key(i))
            .collect();
        for &i in &members {
            self.counter += 1;
            let text = format!("last {} from {}", self.counter, self.nodes[i].name);
            let inner = nipee::inner::chat_message(
                self.nodes[i].client.public_key(),
                &text,
                Timestamp::from_secs(self.now),
            );
            self.send_inner(i, inner, text);
        }
        self.step();
        let before = self.nodes[0].client.epoch(&self.gid).unwrap_or(0);
        let second = members.iter().copied().find(|i| *i != 0).unwrap_or(0);
        for i in [0, second] {
            self.now += 1;
            self.sync(i);
            let now = self.now;
            if let Some(p) = self.build_commit(i, CommitKind::Rotate, now) {
                self.publish(i, &p.outgoing);
            }
        }
        self.expect_epoch = Some(before + 2);
        for &i in &members {
            self.counter += 1;
            let text = format!("after {} from {}", self.counter, self.nodes[i].name);
            let inner = nipee::inner::chat_message(
                self.nodes[i].client.public_key(),
                &text,
                Timestamp::from_secs(self.now),
            );
            self.send_inner(i, inner, text);
        }
        self.quiesce();
    }
}
