//! The invariants of a quiet network.

use std::collections::BTreeSet;

use nipee::Outcome;

use super::{Sent, Sim};

impl Sim {
    /// Whether the epoch message `m` was sent in is on the branch the group kept: its
    /// sender rolled back no commit at or before that epoch afterwards (a rollback to a
    /// commit that removed it included).
    fn survived(&self, m: &Sent) -> bool {
        !self.nodes[m.sender]
            .rollbacks
            .iter()
            .any(|(at, epoch)| *at >= m.outcomes_before && *epoch <= m.epoch)
    }

    /// Whether node `j`'s membership is explained by a Welcome from a commit that lost a
    /// race after its committer had confirmed it (the invitee holds a branch nobody kept).
    fn stranded_by_a_lost_add(&self, j: usize) -> bool {
        let pk = self.nodes[j].client.public_key();
        self.nodes.iter().any(|n| {
            n.outcomes.iter().enumerate().any(|(k, o)| match o {
                Outcome::OwnCommitConfirmed(info) if info.added.contains(&pk) => {
                    n.outcomes[k + 1..].iter().any(|later| {
                        matches!(later, Outcome::Commit(i)
                            if i.rolled_back_from.is_some() && i.epoch <= info.epoch)
                    })
                }
                _ => false,
            })
        })
    }

    /// Whether node `j`'s client left the group and came back through a commit made from a
    /// removed member's old state that the attacker holds: the removed client, deciding the
    /// race alone, cannot know that the group went further than the rule's depth. It holds
    /// a branch nobody else has and reads nothing of the group (a known limit).
    fn ghost_of_an_attack(&self, j: usize) -> bool {
        let n = &self.nodes[j];
        let Some(back) = n
            .outcomes
            .iter()
            .rposition(|o| matches!(o, Outcome::Commit(i) if i.rolled_back_from.is_some()))
        else {
            return false;
        };
        let removed_before = n.outcomes[..back]
            .iter()
            .any(|o| matches!(o, Outcome::Removed { .. }));
        let by_evil = match &n.outcomes[back] {
            Outcome::Commit(i) => i
                .committer
                .and_then(|pk| self.node_of(&pk))
                .is_some_and(|c| self.evil_from.contains(&c)),
            _ => false,
        };
        removed_before && by_evil
    }

    /// The first epoch of the lost branch node `j` stays on because of the depth limit of the
    /// race rule: its client refused a genuine commit as too late when it was more than
    /// `rollback_epochs` commits past that commit's epoch (the winning commit had been
    /// dropped on its subscription while it applied the losing branch, and only a later
    /// sync brought it).
    fn left_behind_by_depth(&self, j: usize) -> Option<u64> {
        let depth = self.config().rollback_epochs as u64;
        self.nodes[j]
            .too_late
            .iter()
            .filter_map(|(id, at)| {
                let e = *self.commit_epochs.get(id)?;
                (*at > e + depth).then_some(e + 1)
            })
            .min()
    }

    /// Checks every invariant; the first violated one is the error.
    ///
    /// # Errors
    /// What is violated, by whom.
    pub fn check(&mut self) -> Result<(), String> {
        // Every client holds exactly the inbox entries its host took and did not
        // acknowledge; acknowledging them all empties the inbox.
        for i in 0..self.nodes.len() {
            self.check_inbox(i, "when the network is quiet");
            self.acknowledge_all(i);
            self.check_inbox(i, "after acknowledging everything");
        }
        if let Some(f) = self.inbox_faults.first() {
            return Err(format!("inbox: {f}"));
        }
        let gid = self.gid.clone();
        let reference = self.nodes[0]
            .client
            .epoch_authenticator(&gid)
            .map_err(|e| format!("the creator is not in the group: {e}"))?;
        let members = self.current_members();
        let member_set: BTreeSet<usize> = members.iter().copied().collect();
        for (i, n) in self.nodes.iter().enumerate() {
            let summary = n.client.group(&gid).ok();
            let active = summary.as_ref().is_some_and(|g| g.active);
            if member_set.contains(&i) {
                if !active {
                    return Err(format!(
                        "{} is a member but its client left the group",
                        n.name
                    ));
                }
                let auth = n.client.epoch_authenticator(&gid).unwrap_or_default();
                if auth != reference {
                    if let Some(fork) = self.left_behind_by_depth(i) {
                        self.left_behind.insert(i, fork);
                        continue;
                    }
                    return Err(format!(
                        "{} diverged: epoch {} vs the creator's {}",
                        n.name,
                        n.client.epoch(&gid).unwrap_or(0),
                        self.nodes[0].client.epoch(&gid).unwrap_or(0)
                    ));
                }
                if summary.as_ref().is_some_and(|g| g.pending_commit) {
                    return Err(format!("{} has a commit stuck pending", n.name));
                }
                let outbox = n.client.outbox().map_err(|e| e.to_string())?;
                if !outbox.is_empty() {
                    return Err(format!(
                        "{} still has {} events to publish",
                        n.name,
                        outbox.len()
                    ));
                }
            } else if active {
                if self.ghost_of_an_attack(i) {
                    self.stats.ghosts += 1;
                    continue;
                }
                if self.stranded_by_a_lost_add(i) {
                    self.stranded.insert(i);
                    continue;
                }
                if let Some(fork) = self.left_behind_by_depth(i) {
                    self.left_behind.insert(i, fork);
                    continue;
                }
                return Err(format!(
                    "{} is active in the group but not a member (a removal not in force?)",
                    n.name
                ));
            }
        }
        self.stats.stranded = self.stranded.len();
        self.stats.left_behind = self.left_behind.len();
        if let Some(e) = self.expect_epoch {
            let got = self.nodes[0].client.epoch(&gid).unwrap_or(0);
            if got != e {
                return Err(format!(
                    "the last two commits were not both applied: epoch {got}, expected {e}"
                ));
            }
        }
        for m in &self.sent {
            let sender_current = member_set.contains(&m.sender);
            // What a client left behind sent on its lost branch reaches nobody else.
            let expected = sender_current
                && self.survived(m)
                && self.left_behind.get(&m.sender).is_none_or(|f| m.epoch < *f);
            for (r, n) in self.nodes.iter().enumerate() {
                let pk = n.client.public_key();
                let count = n.received.get(&m.id).copied().unwrap_or(0);
                if count > 1 {
                    return Err(format!("{} received {} times: {}", n.name, count, m.what));
                }
                if count == 1 && !m.members.contains(&pk) {
                    return Err(format!(
                        "{} read a message of an epoch it was not a member of: {} (epoch {})",
                        n.name, m.what, m.epoch
                    ));
                }
                let should = expected
                    && r != m.sender
                    && member_set.contains(&r)
                    && !self.left_behind.contains_key(&r)
                    && m.members.contains(&pk)
                    && n.joined_at.is_some_and(|j| j <= m.epoch);
                if should && count == 0 {
                    return Err(format!(
                        "{} never received {} (epoch {}, {} now at epoch {})",
                        n.name,
                        m.what,
                        m.epoch,
                        n.name,
                        n.client.epoch(&gid).unwrap_or(0)
                    ));
                }
            }
        }
        Ok(())
    }
}
