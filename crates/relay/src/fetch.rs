//! One-shot reads: ask relays for stored events and report, per relay, whether it
//! finished (`EOSE`) or not and why.

use std::collections::HashMap;

use nipee_nostr::Filter;

use crate::config::FetchOptions;
use crate::error::Result;
use crate::outcome::{FetchReport, FetchStatus, RefusedUrl, SubscriptionItem};
use crate::pool::Pool;
use crate::shared::{Delivery, Mode};
use crate::url::RelayUrl;
use crate::url_policy::UrlRefusal;

impl Pool {
    /// Fetches the stored events matching `filters` from the pool's relays (all, or
    /// [`FetchOptions::relays`]), waiting at most [`FetchOptions::timeout`].
    ///
    /// Each relay asked gets one `REQ`; it finishes at its `EOSE`
    /// ([`FetchStatus::Complete`]), its `CLOSED` ([`FetchStatus::Closed`]), a failed
    /// connection attempt, a reconnect delay or a lost connection
    /// ([`FetchStatus::Failed`]), or the timeout ([`FetchStatus::TimedOut`]). A relay
    /// that is connecting when the fetch starts is waited for. Events are verified,
    /// match a filter, and appear once; events a relay sends after its `EOSE` are
    /// ignored. The `REQ` is closed on every relay when the fetch ends.
    ///
    /// [`FetchReport::is_complete`] tells "every relay asked answered, and what is not
    /// in the report is not there" from an answer with gaps.
    ///
    /// # Errors
    /// [`crate::Error::Misuse`] for an empty filter list; [`crate::Error::Internal`] if
    /// no random subscription id can be drawn.
    pub async fn fetch(&self, filters: Vec<Filter>, options: FetchOptions) -> Result<FetchReport> {
        let in_pool = self.relays();
        let mut report = FetchReport::default();
        let asked: Vec<RelayUrl> = match options.relays {
            None => in_pool,
            Some(list) => {
                let mut asked = Vec::new();
                for url in list {
                    if asked.contains(&url) {
                        continue;
                    }
                    if in_pool.contains(&url) {
                        asked.push(url);
                    } else {
                        report.refused.push(RefusedUrl {
                            url: url.to_string(),
                            reason: UrlRefusal::NotInPool,
                        });
                    }
                }
                asked
            }
        };
        let margin = self.config().resubscribe_margin;
        let mut sub = self.open(filters, margin, Some(asked.clone()), Mode::Fetch)?;
        let mut statuses: HashMap<RelayUrl, FetchStatus> = HashMap::new();
        let deadline = tokio::time::Instant::now() + options.timeout;
        let max_events = options.max_events.max(1);
        while statuses.len() < asked.len() {
            let delivery = match tokio::time::timeout_at(deadline, sub.next_delivery()).await {
                Ok(Some(d)) => d,
                Ok(None) => {
                    // The pool was closed or dropped under the fetch.
                    for url in &asked {
                        statuses
                            .entry(url.clone())
                            .or_insert_with(|| FetchStatus::Failed("the pool shut down".into()));
                    }
                    break;
                }
                Err(_) => break,
            };
            match delivery {
                Delivery::Item(SubscriptionItem::Event { event, .. }) => {
                    report.events.push(event);
                    if report.events.len() >= max_events {
                        report.truncated = true;
                        break;
                    }
                }
                Delivery::Item(SubscriptionItem::Eose { relay }) => {
                    statuses.entry(relay).or_insert(FetchStatus::Complete);
                }
                Delivery::Item(SubscriptionItem::Closed { relay, reason }) => {
                    statuses.entry(relay).or_insert(FetchStatus::Closed(reason));
                }
                Delivery::Failed { relay, reason } => {
                    statuses.entry(relay).or_insert(FetchStatus::Failed(reason));
                }
            }
        }
        drop(sub);
        let unfinished = if report.truncated {
            FetchStatus::EventLimit
        } else {
            FetchStatus::TimedOut
        };
        report.relays = asked
            .into_iter()
            .map(|url| {
                let status = statuses.remove(&url).unwrap_or_else(|| unfinished.clone());
                (url, status)
            })
            .collect();
        Ok(report)
    }
}
