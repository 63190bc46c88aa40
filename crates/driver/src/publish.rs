//! Publishing what the core hands out: each event to the relays it names, pooled relays
//! directly, relays other users named on a short-lived filtered connection, and every
//! relay's answer in the form the core takes.

use nipee::{Outgoing, RelayAnswer};
use nipee_nostr::Event;
use nipee_relay::discovery::{DiscoveryConfig, check_relay_url};
use nipee_relay::{Pool, PublishOutcome, RelayUrl};

pub(crate) fn same_relay(a: &str, b: &str) -> bool {
    a.trim_end_matches('/')
        .eq_ignore_ascii_case(b.trim_end_matches('/'))
}

/// The runs of `events` the driver publishes together, in order: consecutive events of one
/// kind (a tree's chunks, then the Welcome wraps that point to them).
pub(crate) fn kind_runs(events: &[Outgoing]) -> impl Iterator<Item = &[Outgoing]> {
    events.chunk_by(|a, b| a.event.kind() == b.event.kind())
}

/// The pool's URL for `url`, if the pool has that relay.
pub(crate) fn in_pool(pool: &Pool, url: &str) -> Option<RelayUrl> {
    pool.relays()
        .into_iter()
        .find(|r| same_relay(r.as_str(), url))
}

/// Every relay's answer in `outcome`, for the relays asked.
fn answers_of(outcome: &PublishOutcome, asked: &[RelayUrl]) -> Vec<RelayAnswer> {
    asked
        .iter()
        .map(|u| match outcome.result(u) {
            Some(Ok(s)) if s.accepted => RelayAnswer::Accepted {
                relay: u.to_string(),
            },
            Some(Ok(s)) => RelayAnswer::Rejected {
                relay: u.to_string(),
                message: s.reason.message().to_owned(),
            },
            _ => RelayAnswer::NoAnswer {
                relay: u.to_string(),
            },
        })
        .collect()
}

/// What publishing needs of the driver (not the client, so that several publications can
/// be in flight while the client waits for their answers).
pub(crate) struct Publisher<'a> {
    pub(crate) pool: &'a Pool,
    pub(crate) discovery: &'a DiscoveryConfig,
}

impl Publisher<'_> {
    pub(crate) async fn publish(&self, o: &Outgoing) -> Vec<RelayAnswer> {
        let (mut pooled, mut foreign) = (Vec::new(), Vec::new());
        for url in &o.relays {
            match in_pool(self.pool, url) {
                Some(u) => pooled.push(u),
                None => foreign.push(url.clone()),
            }
        }
        let mut answers = Vec::new();
        if !pooled.is_empty() {
            let outcome = self.pool.publish_to(&o.event, Some(&pooled)).await;
            answers = answers_of(&outcome, &pooled);
        }
        if !foreign.is_empty() {
            answers.extend(self.publish_elsewhere(&foreign, &o.event).await);
        }
        answers
    }

    /// Publishes on short-lived connections to relays other users named (their
    /// KeyPackage relays), after the discovery URL policy; closed afterwards.
    async fn publish_elsewhere(&self, urls: &[String], event: &Event) -> Vec<RelayAnswer> {
        let allowed: Vec<String> = urls
            .iter()
            .filter(|u| check_relay_url(u, self.discovery.allow_private).is_ok())
            .take(self.discovery.max_relays)
            .cloned()
            .collect();
        let mut answers: Vec<RelayAnswer> = urls
            .iter()
            .filter(|u| !allowed.contains(u))
            .map(|u| RelayAnswer::NoAnswer { relay: u.clone() })
            .collect();
        if allowed.is_empty() {
            return answers;
        }
        let Ok(pool) = Pool::connect(self.discovery.pool.clone(), allowed.iter()) else {
            answers.extend(
                allowed
                    .iter()
                    .map(|u| RelayAnswer::NoAnswer { relay: u.clone() }),
            );
            return answers;
        };
        let _ = pool
            .wait_connected(allowed.len(), self.discovery.timeout)
            .await;
        let outcome = pool.publish(event).await;
        answers.extend(answers_of(&outcome, &pool.relays()));
        pool.close().await;
        answers
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nipee::Purpose;
    use nipee_nostr::{EventBuilder, Keys, Kind, Timestamp};

    #[test]
    fn a_change_of_kind_starts_a_new_run_and_order_is_kept() {
        let keys = Keys::generate(&mut rand::rng());
        let out = |kind: u16, n: usize| Outgoing {
            event: EventBuilder::new(Kind::new(kind), format!("{n}"))
                .sign(&keys, Timestamp::from_secs(1_800_000_000))
                .expect("signs"),
            relays: vec![],
            purpose: Purpose::KeyPackage,
        };
        let events = [
            out(447, 0),
            out(447, 1),
            out(1059, 2),
            out(1059, 3),
            out(447, 4),
        ];
        let runs: Vec<Vec<String>> = kind_runs(&events)
            .map(|r| r.iter().map(|o| o.event.content().to_owned()).collect())
            .collect();
        assert_eq!(runs, [vec!["0", "1"], vec!["2", "3"], vec!["4"]]);
        assert_eq!(kind_runs(&[]).count(), 0);
    }
}
