//! The attacker of the simulation: it reads every relay and can publish to them. It replays
//! old events, re-signs group events under random timestamps, re-encrypts and forges them
//! with epoch keys it stole from members, and, holding a state a member had before its
//! removal (just before it, or any earlier one it stole), commits a backdated self-update
//! that would undo the removal.

use nipee::storage::MemoryStorage;
use nipee::{Client, GroupEventKey};
use nipee_nostr::{Event, EventBuilder, Keys, Kind, Tag, Timestamp};
use zeroize::Zeroizing;

use super::Sim;
use crate::mem::stored_rows;

/// A client's stored rows (table, key, value).
pub use crate::mem::Rows;

/// What the attacker holds.
#[derive(Default)]
pub struct Attacker {
    /// Exporter secrets of epochs it was (or a member it corrupted was) in.
    pub exporters: Vec<Zeroizing<[u8; 32]>>,
    /// Stored rows of members taken just before their removal.
    pub states: Vec<(usize, Rows)>,
}

const MAX_STOLEN: usize = 12;

impl Sim {
    /// The attacker copies node `j`'s storage before an admin removes it (half the time).
    pub(crate) fn steal_before_removal(&mut self, j: usize) {
        if self.attacker.is_none() || !self.chance(500) {
            return;
        }
        let rows = stored_rows(self.nodes[j].client.storage());
        if let Some(a) = &mut self.attacker
            && a.states.len() < MAX_STOLEN
        {
            a.states.push((j, rows));
        }
    }

    fn group_events(&self) -> Vec<Event> {
        self.relays
            .iter()
            .flat_map(|r| r.log.iter())
            .filter(|e| e.kind() == Kind::MLS_GROUP_MESSAGE)
            .cloned()
            .collect()
    }

    /// A random timestamp around `t`: mostly earlier (backdating), sometimes later.
    fn around(&mut self, t: u64) -> u64 {
        match self.below(10) {
            0..7 => t.saturating_sub(1 + self.below(700) as u64),
            7..9 => t + self.below(30) as u64,
            _ => self.now + self.below(2_000) as u64,
        }
    }

    fn outer(&mut self, like: &Event, content: String, created_at: u64) -> Event {
        let tags: Vec<Tag> = like.tags().iter().cloned().collect();
        let keys = Keys::generate(&mut self.rng);
        EventBuilder::new(like.kind(), content)
            .tags(tags)
            .sign(&keys, Timestamp::from_secs(created_at))
            .unwrap_or_else(|e| panic!("attacker signs: {e}"))
    }

    /// The MLS bytes of a group event and the key that opened it, if a stolen key does.
    fn open(&self, ev: &Event) -> Option<(GroupEventKey, Vec<u8>)> {
        let a = self.attacker.as_ref()?;
        a.exporters.iter().find_map(|x| {
            let key = GroupEventKey::from_exporter_secret(x).ok()?;
            let mls = key.decrypt(ev.content()).ok()?;
            Some((key, mls))
        })
    }

    /// One attack.
    pub(crate) fn op_attack(&mut self) {
        self.stats.attacks += 1;
        let events = self.group_events();
        match self.below(6) {
            0 => {
                // A member's device is compromised: its current epoch key is stolen.
                let actives: Vec<usize> =
                    (0..self.nodes.len()).filter(|i| self.active(*i)).collect();
                if actives.is_empty() {
                    return;
                }
                let i = actives[self.below(actives.len())];
                if let (Ok(x), Some(a)) = (
                    self.nodes[i].client.exporter_secret(&self.gid),
                    self.attacker.as_mut(),
                ) {
                    if a.exporters.len() >= MAX_STOLEN {
                        a.exporters.remove(0);
                    }
                    a.exporters.push(x);
                }
                // The whole state too: if that member is removed later, its copy will try
                // to undo the removal from this epoch.
                let rows = stored_rows(self.nodes[i].client.storage());
                if let Some(a) = self.attacker.as_mut()
                    && a.states.len() < MAX_STOLEN
                {
                    a.states.push((i, rows));
                }
                self.trace
                    .push(format!("attacker steals {}'s state", self.nodes[i].name));
            }
            1 => {
                // A relay sends an old event again, to someone.
                let all: Vec<Event> = self.relays.iter().flat_map(|r| r.log.clone()).collect();
                if all.is_empty() {
                    return;
                }
                let ev = all[self.below(all.len())].clone();
                let who = self.below(self.nodes.len());
                let due = self.tick + self.below(3) as u64;
                self.nodes[who].inbox.push(super::Flight {
                    due,
                    event: ev.clone(),
                });
                self.trace
                    .push(format!("attacker replays {} to n{who}", ev.id()));
            }
            2 => {
                if events.is_empty() {
                    return;
                }
                let ev = events[self.below(events.len())].clone();
                let at = self.around(ev.created_at().as_u64());
                let copy = self.outer(&ev, ev.content().to_owned(), at);
                self.trace.push(format!(
                    "attacker re-signs {} at {at} as {}",
                    ev.id(),
                    copy.id()
                ));
                self.inject(&copy);
            }
            3 | 4 => {
                let Some((ev, key, mut mls)) = (0..8).find_map(|_| {
                    let ev = events.get(self.below(events.len().max(1)))?.clone();
                    let (key, mls) = self.open(&ev)?;
                    Some((ev, key, mls))
                }) else {
                    return;
                };
                let forge = self.chance(500);
                if forge {
                    let n = mls.len();
                    let from = n.saturating_sub(40);
                    for b in &mut mls[from..n.saturating_sub(8).max(from)] {
                        *b ^= 0x5a;
                    }
                }
                let content = key
                    .encrypt(&mls, &mut self.rng)
                    .unwrap_or_else(|e| panic!("attacker encrypts: {e}"));
                let at = self.around(ev.created_at().as_u64());
                let copy = self.outer(&ev, content, at);
                self.trace.push(format!(
                    "attacker {} {} at {at} as {}",
                    if forge { "forges" } else { "re-encrypts" },
                    ev.id(),
                    copy.id()
                ));
                self.inject(&copy);
            }
            _ => self.evil_self_update(),
        }
    }

    /// From a state taken before its removal, a removed member commits a self-update dated
    /// before the removal.
    fn evil_self_update(&mut self) {
        // Only a member whose removal is in force (the removal may also have lost a race,
        // and then the "removed" member is a member: its commits are genuine).
        let members = self.current_members();
        let Some(k) = self.attacker.as_ref().and_then(|a| {
            a.states
                .iter()
                .position(|(j, _)| !members.contains(j) && !self.active(*j))
        }) else {
            return;
        };
        let Some((owner, rows)) = self.attacker.as_mut().map(|a| a.states.remove(k)) else {
            return;
        };
        self.evil_from.insert(owner);
        let config = self.config();
        let Ok(mut evil) = Client::open(MemoryStorage::from_rows(rows, false), config) else {
            return;
        };
        let Ok(epoch) = evil.epoch(&self.gid) else {
            return;
        };
        let at = self.now.saturating_sub(1 + self.below(120) as u64);
        match evil.rotate(&self.gid, at, &mut self.rng) {
            Ok(p) => {
                self.trace.push(format!(
                    "attacker: a removed member's self-update for epoch {epoch} at {at} ({})",
                    p.outgoing.event.id()
                ));
                self.inject(&p.outgoing.event);
            }
            Err(e) => self
                .trace
                .push(format!("attacker: evil rotate refused: {e}")),
        }
    }
}
