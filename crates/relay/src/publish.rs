//! Publishing: send an event to the pool's relays (all, or a subset) and collect each
//! relay's `OK`.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::future::{BoxFuture, FutureExt};
use futures_util::stream::FuturesUnordered;
use nipee_nostr::{Event, EventId};
use tokio::sync::{mpsc, oneshot};

use crate::error::{Error, Result};
use crate::message::event_message;
use crate::outcome::{OkStatus, PublishOutcome};
use crate::pool::Pool;
use crate::shared::{Command, PendingPublish};
use crate::url::RelayUrl;

type Answer = (RelayUrl, Result<OkStatus>);

impl Pool {
    /// Sends `event` to every relay and waits (at most [`crate::PoolConfig::ok_timeout`])
    /// for each relay's `OK`. A relay that is disconnected gets the event when it
    /// reconnects, if that happens within the timeout.
    pub async fn publish(&self, event: &Event) -> PublishOutcome {
        self.publish_to(event, None).await
    }

    /// Like [`Pool::publish`], to `relays` only (`None` for every relay). Each relay
    /// asked gets one entry in the outcome, with its URL: accepted (`OK true` and the
    /// relay's message), rejected (`OK false`, with the machine-readable prefix in
    /// [`crate::Reason::prefix`]), or no answer ([`Error::Timeout`] when no `OK` came in
    /// time, also when the relay stayed disconnected; [`Error::NotInPool`] for a URL that
    /// is not one of the pool's relays).
    pub async fn publish_to(&self, event: &Event, relays: Option<&[RelayUrl]>) -> PublishOutcome {
        let results = futures_util::future::join_all(self.sends(event, relays)).await;
        PublishOutcome {
            event_id: event.id(),
            results,
        }
    }

    /// Sends `event` to every relay and returns as soon as `n` relays have accepted it.
    /// The other relays still receive the event; their answers are not awaited.
    ///
    /// # Errors
    /// As [`Pool::publish_until_accepted_to`].
    pub async fn publish_until_accepted(&self, event: &Event, n: usize) -> Result<PublishOutcome> {
        self.publish_until_accepted_to(event, n, None).await
    }

    /// Sends `event` to `relays` (`None` for every relay) and returns as soon as `n` of
    /// them have accepted it. For a NIP-EE commit, pass the group's relays: the commit
    /// counts as acknowledged only when one of them stored it.
    ///
    /// # Errors
    /// [`Error::Misuse`] if `n` is 0 or larger than the number of relays asked;
    /// [`Error::NotEnoughAccepted`] once every relay asked has answered, failed or timed
    /// out without `n` acceptances.
    pub async fn publish_until_accepted_to(
        &self,
        event: &Event,
        n: usize,
        relays: Option<&[RelayUrl]>,
    ) -> Result<PublishOutcome> {
        let sends = self.sends(event, relays);
        if n == 0 || n > sends.len() {
            return Err(Error::Misuse {
                field: "n",
                reason: "must be between 1 and the number of relays asked",
            });
        }
        let mut running: FuturesUnordered<_> = sends.into_iter().collect();
        let mut outcome = PublishOutcome {
            event_id: event.id(),
            results: Vec::new(),
        };
        while let Some(r) = running.next().await {
            outcome.results.push(r);
            if outcome.accepted() >= n {
                return Ok(outcome);
            }
        }
        let details = outcome
            .results
            .iter()
            .map(|(u, r)| match r {
                Ok(s) => format!("{u}: {} {}", s.accepted, s.reason),
                Err(e) => format!("{u}: {e}"),
            })
            .collect::<Vec<_>>()
            .join("; ");
        Err(Error::NotEnoughAccepted {
            event_id: event.id().to_hex(),
            required: n,
            accepted: outcome.accepted(),
            details,
        })
    }

    /// One future per relay asked (duplicates in `relays` merged), in the order asked.
    fn sends(&self, event: &Event, relays: Option<&[RelayUrl]>) -> Vec<BoxFuture<'static, Answer>> {
        let message: Arc<str> = event_message(event).into();
        let timeout = self.config().ok_timeout;
        let senders = self.senders();
        let asked: Vec<RelayUrl> = match relays {
            None => senders.iter().map(|(u, _)| u.clone()).collect(),
            Some(list) => {
                let mut unique: Vec<RelayUrl> = Vec::with_capacity(list.len());
                for u in list {
                    if !unique.contains(u) {
                        unique.push(u.clone());
                    }
                }
                unique
            }
        };
        asked
            .into_iter()
            .map(|url| match senders.iter().find(|(u, _)| *u == url) {
                Some((_, tx)) => {
                    publish_one(url, tx.clone(), event.id(), message.clone(), timeout).boxed()
                }
                None => {
                    let e = Error::NotInPool {
                        url: url.to_string(),
                    };
                    futures_util::future::ready((url, Err(e))).boxed()
                }
            })
            .collect()
    }
}

async fn publish_one(
    url: RelayUrl,
    tx: mpsc::Sender<Command>,
    id: EventId,
    message: Arc<str>,
    timeout: Duration,
) -> Answer {
    let (reply, rx) = oneshot::channel();
    let cmd = Command::Publish(PendingPublish {
        id,
        message,
        reply,
        auth_retried: false,
    });
    let wait = async {
        tx.send(cmd).await.map_err(|_| Error::Shutdown)?;
        rx.await.map_err(|_| Error::Shutdown)?
    };
    let r = match tokio::time::timeout(timeout, wait).await {
        Ok(r) => r,
        Err(_) => Err(Error::Timeout {
            url: url.to_string(),
            what: "OK",
            after: timeout,
        }),
    };
    (url, r)
}
