//! Live events: the subscriptions the core lists, held until the callback has had enough.

use std::collections::BTreeMap;
use std::time::Duration;

use nipee::storage::Storage;
use nipee::{Client, Outcome, SubscriptionSpec};
use nipee_relay::{SubscribeOptions, Subscription, SubscriptionItem};

use crate::{Driver, Error, Kept, Result, unix_now};

impl<S: Storage> Driver<S> {
    /// Hands each outcome to `on_outcome`, acknowledging its inbox entry once the callback
    /// returned; `false` when the callback asked to stop.
    fn deliver<F>(&mut self, kept: Kept, on_outcome: &mut F) -> Result<bool>
    where
        F: FnMut(&Client<S>, &Outcome) -> bool,
    {
        for (o, id) in kept {
            if matches!(o, Outcome::Ignored(_)) {
                continue;
            }
            let more = on_outcome(&self.client, &o);
            if let Some(id) = id {
                self.client.acknowledge(&[id])?;
            }
            if !more {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Streams live events: hands `on_outcome` what the inbox still holds (outcomes of an
    /// earlier run that were never acknowledged), syncs, then holds the subscriptions the
    /// core lists, processes each event, hands every non-ignored outcome to `on_outcome`
    /// until it returns `false`, and polls every `poll_every`. Each outcome's inbox entry
    /// is acknowledged once `on_outcome` returned for it, so an outcome the process dies
    /// before handing over comes again at the next start (at least once: recognise a
    /// message by its inner event id).
    ///
    /// # Errors
    /// Relay and storage errors.
    pub async fn listen<F>(&mut self, poll_every: Duration, mut on_outcome: F) -> Result<()>
    where
        F: FnMut(&Client<S>, &Outcome) -> bool,
    {
        let mut first = self.leftovers()?;
        first.extend(self.sync_kept().await?);
        if !self.deliver(first, &mut on_outcome)? {
            return Ok(());
        }
        let mut subs: BTreeMap<String, (SubscriptionSpec, Subscription)> = BTreeMap::new();
        let mut tick = tokio::time::interval(poll_every);
        tick.tick().await;
        loop {
            // Hold exactly what the core lists.
            let specs = self.client.subscriptions();
            subs.retain(|k, (s, _)| specs.iter().any(|x| &x.key == k && x == s));
            for spec in specs {
                if subs.contains_key(&spec.key) {
                    continue;
                }
                let mut options =
                    SubscribeOptions::new().margin(Duration::from_secs(spec.margin_secs));
                if let Some(r) = self.spec_relays(&spec).await {
                    options = options.relays(r);
                }
                let sub = self
                    .pool
                    .subscribe_with(vec![spec.filter.clone()], options)?;
                subs.insert(spec.key.clone(), (spec, sub));
            }
            let next = async {
                let futs = subs
                    .values_mut()
                    .map(|(_, s)| Box::pin(s.next_item()))
                    .collect::<Vec<_>>();
                if futs.is_empty() {
                    std::future::pending::<Option<SubscriptionItem>>().await
                } else {
                    futures_util::future::select_all(futs).await.0
                }
            };
            let effects = tokio::select! {
                item = next => match item {
                    None => return Ok(()),
                    Some(SubscriptionItem::Event { event, .. }) => {
                        match self.client.process(&event, unix_now(), &mut rand::rng()) {
                            Ok(e) => e,
                            Err(nipee::Error::Storage { reason }) => {
                                return Err(Error::Core(nipee::Error::Storage { reason }));
                            }
                            Err(_) => continue,
                        }
                    }
                    Some(_) => continue,
                },
                _ = tick.tick() => self.client.poll(unix_now(), &mut rand::rng())?,
            };
            let kept = self.run_kept(effects).await?;
            if !self.deliver(kept, &mut on_outcome)? {
                return Ok(());
            }
        }
    }
}
