//! A bounded set of seen event ids (first in, first out).

use std::collections::{HashMap, VecDeque};

use nipee_nostr::{EventId, Timestamp};

/// Remembers up to `capacity` verified event ids with their `created_at`; the oldest
/// insertions are forgotten first, so memory stays bounded on endless subscriptions.
#[derive(Debug)]
pub(crate) struct SeenSet {
    capacity: usize,
    map: HashMap<EventId, Timestamp>,
    order: VecDeque<EventId>,
}

impl SeenSet {
    pub(crate) fn new(capacity: usize) -> Self {
        SeenSet {
            capacity: capacity.max(1),
            map: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// The `created_at` recorded for `id`, if it was seen.
    pub(crate) fn get(&self, id: &EventId) -> Option<Timestamp> {
        self.map.get(id).copied()
    }

    /// Records `id`; returns `false` if it was already there.
    pub(crate) fn insert(&mut self, id: EventId, created_at: Timestamp) -> bool {
        if self.map.contains_key(&id) {
            return false;
        }
        while self.order.len() >= self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.map.remove(&old);
            } else {
                break;
            }
        }
        self.map.insert(id, created_at);
        self.order.push_back(id);
        true
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> EventId {
        EventId::from_bytes([n; 32])
    }

    #[test]
    fn remembers_and_rejects_duplicates() {
        let mut s = SeenSet::new(10);
        assert!(s.insert(id(1), Timestamp::from_secs(5)));
        assert!(!s.insert(id(1), Timestamp::from_secs(6)));
        assert_eq!(s.get(&id(1)), Some(Timestamp::from_secs(5)));
        assert_eq!(s.get(&id(2)), None);
    }

    #[test]
    fn stays_bounded_and_forgets_oldest_first() {
        let mut s = SeenSet::new(3);
        for n in 0..10 {
            assert!(s.insert(id(n), Timestamp::from_secs(u64::from(n))));
            assert!(s.len() <= 3);
        }
        assert_eq!(s.get(&id(6)), None);
        assert!(s.get(&id(7)).is_some() && s.get(&id(9)).is_some());
    }
}
