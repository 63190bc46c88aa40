//! One subscription's state on one relay, and the filters its `REQ` carries: where a
//! renewed subscription resumes (`since`), and how far-future timestamps are kept from
//! pushing it past events still to come. No IO; time is a parameter.

use std::sync::Arc;
use std::time::Duration;

use nipee_nostr::{Filter, Timestamp};
use serde_json::Value;

use crate::shared::{Mode, SubShared};

/// Per-relay state of one subscription.
pub(crate) struct RelaySub {
    pub(crate) shared: Arc<SubShared>,
    /// A `REQ` was sent on this connection and its `EOSE` has not arrived yet.
    pub(crate) eose_pending: bool,
    /// A `REQ` is open on the relay: sent, and neither `CLOSE`d by us nor `CLOSED` by it.
    pub(crate) req_open: bool,
    /// A one-shot fetch has finished on this relay (`EOSE`, `CLOSED` or failure): no
    /// further `REQ`, and events that still arrive are ignored.
    pub(crate) done: bool,
    /// Every event up to this `created_at` has been received from this relay (the newest
    /// seen after a completed backfill, advanced by live events), each value clamped to
    /// its arrival time plus the allowed future skew.
    pub(crate) synced_until: Option<Timestamp>,
    /// Newest (clamped) `created_at` of the current, unfinished backfill (relays send
    /// stored events newest first, so this says nothing until `EOSE`).
    pub(crate) backfill_newest: Option<Timestamp>,
    /// A re-`REQ` after `CLOSED auth-required:` was already tried on this connection.
    pub(crate) auth_retried: bool,
}

impl RelaySub {
    pub(crate) fn new(shared: Arc<SubShared>) -> Self {
        RelaySub {
            shared,
            eose_pending: false,
            req_open: false,
            done: false,
            synced_until: None,
            backfill_newest: None,
            auth_retried: false,
        }
    }

    pub(crate) fn is_fetch(&self) -> bool {
        self.shared.mode == Mode::Fetch
    }

    /// Records that an event with `created_at` arrived at `now`. A `created_at` later
    /// than `now + max_future_skew` counts as that: one future-dated event must not move
    /// the resume point past everything that follows.
    pub(crate) fn note_created_at(
        &mut self,
        created_at: Timestamp,
        now: Timestamp,
        max_future_skew: Duration,
    ) {
        let t = created_at.min(now.saturating_add(max_future_skew.as_secs()));
        let slot = if self.eose_pending {
            &mut self.backfill_newest
        } else {
            &mut self.synced_until
        };
        *slot = Some(slot.map_or(t, |s| s.max(t)));
    }

    /// The backfill finished (`EOSE`): what it delivered is now known to be complete.
    pub(crate) fn backfill_done(&mut self) {
        self.eose_pending = false;
        if let Some(b) = self.backfill_newest.take() {
            self.synced_until = Some(self.synced_until.map_or(b, |s| s.max(b)));
        }
    }

    /// The filters for a `REQ` sent at `now`.
    ///
    /// Any `since` later than `now + max_future_skew` is lowered to that. Once this
    /// relay has delivered a complete backfill (a live subscription being renewed),
    /// `since` moves up to `min(synced_until, lost_at) - margin`, where `lost_at` is when
    /// the previous connection ended, and `limit` is dropped so that a gap larger than
    /// the limit is still filled.
    pub(crate) fn req_filters(
        &self,
        now: Timestamp,
        max_future_skew: Duration,
        lost_at: Option<Timestamp>,
    ) -> Vec<Filter> {
        let ceiling = now.saturating_add(max_future_skew.as_secs());
        let resume = match (self.synced_until, self.is_fetch()) {
            (Some(synced), false) => {
                let until = lost_at.map_or(synced, |l| synced.min(l));
                Some(until.saturating_sub(self.shared.margin.as_secs()))
            }
            _ => None,
        };
        self.shared
            .filters
            .iter()
            .map(|f| {
                let f = clamp_since(f, ceiling);
                match resume {
                    Some(since) => resume_filter(&f, since),
                    None => f,
                }
            })
            .collect()
    }
}

/// `f` with a `since` later than `ceiling` lowered to `ceiling`.
pub(crate) fn clamp_since(f: &Filter, ceiling: Timestamp) -> Filter {
    match f.since_value() {
        Some(s) if s > ceiling => f.clone().since(ceiling),
        _ => f.clone(),
    }
}

/// `f` restricted to `created_at >= since` without a `limit` (unless its own `since` is
/// already later). `nipee-nostr`'s `Filter` has no way to clear `limit`, so this goes
/// through its JSON form.
pub(crate) fn resume_filter(f: &Filter, since: Timestamp) -> Filter {
    if f.since_value().is_some_and(|s| s >= since) {
        return f.clone();
    }
    let mut f = f.clone().since(since);
    if f.limit_value().is_some()
        && let Ok(mut v) = serde_json::from_str::<Value>(&f.to_json())
    {
        if let Some(obj) = v.as_object_mut() {
            obj.remove("limit");
        }
        if let Ok(g) = Filter::from_value(&v) {
            f = g;
        }
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use nipee_nostr::Kind;
    use tokio::sync::mpsc;

    use crate::dedup::SeenSet;

    const SKEW: Duration = Duration::from_secs(900);

    fn at(secs: u64) -> Timestamp {
        Timestamp::from_secs(secs)
    }

    fn sub_with(filter: Filter, margin: u64, mode: Mode) -> RelaySub {
        let (tx, _rx) = mpsc::channel(1);
        RelaySub::new(Arc::new(SubShared {
            id: "s".into(),
            filters: vec![filter],
            margin: Duration::from_secs(margin),
            relays: None,
            mode,
            tx,
            seen: std::sync::Mutex::new(SeenSet::new(10)),
        }))
    }

    fn sub(margin: u64) -> RelaySub {
        sub_with(
            Filter::new().kind(Kind::TEXT_NOTE).limit(5),
            margin,
            Mode::Live,
        )
    }

    fn since(s: &RelaySub, now: u64, lost_at: Option<u64>) -> Option<Timestamp> {
        let f = s.req_filters(at(now), SKEW, lost_at.map(at));
        f[0].since_value()
    }

    #[test]
    fn resume_filter_moves_since_up_and_drops_limit() {
        let f = Filter::new().kind(Kind::TEXT_NOTE).limit(10);
        let r = resume_filter(&f, at(1000));
        assert_eq!(r.since_value(), Some(at(1000)));
        assert_eq!(r.limit_value(), None);
        assert!(r.to_json().contains("\"kinds\":[1]"));
    }

    #[test]
    fn resume_filter_keeps_a_later_since() {
        let f = Filter::new().since(at(5000)).limit(3);
        assert_eq!(resume_filter(&f, at(1000)), f);
    }

    #[test]
    fn backfill_only_counts_after_eose() {
        let mut s = sub(60);
        s.eose_pending = true;
        s.note_created_at(at(2000), at(3000), SKEW);
        // Connection lost before EOSE: nothing is known to be complete.
        assert_eq!(s.synced_until, None);
        assert_eq!(s.req_filters(at(3000), SKEW, None), s.shared.filters);
        // A completed backfill then a live event.
        s.backfill_done();
        s.note_created_at(at(2500), at(3000), SKEW);
        let f = s.req_filters(at(3000), SKEW, Some(at(3000)));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].since_value(), Some(at(2440)));
        assert_eq!(f[0].limit_value(), None);
    }

    #[test]
    fn a_future_dated_event_cannot_push_since_past_the_disconnection() {
        let mut s = sub(120);
        s.backfill_done();
        // Received at 10 000, dated a day later: counts as 10 000 + 15 min.
        s.note_created_at(at(10_000 + 86_400), at(10_000), SKEW);
        assert_eq!(s.synced_until, Some(at(10_900)));
        // Lost at 10 005, renewed at 10 010: resumes from the loss minus the margin.
        assert_eq!(since(&s, 10_010, Some(10_005)), Some(at(9_885)));
        // Without a known loss time the clamp alone bounds it.
        assert_eq!(since(&s, 10_010, None), Some(at(10_780)));
    }

    #[test]
    fn a_callers_far_future_since_is_lowered_to_now_plus_skew() {
        let s = sub_with(Filter::new().since(at(99_999_999)), 60, Mode::Live);
        assert_eq!(since(&s, 1_000, None), Some(at(1_900)));
        let s = sub_with(Filter::new().since(at(1_500)), 60, Mode::Live);
        assert_eq!(since(&s, 1_000, None), Some(at(1_500)));
    }

    #[test]
    fn the_gift_wrap_margin_reaches_two_days_back() {
        let mut s = sub(crate::config::GIFT_WRAP_MARGIN.as_secs());
        s.backfill_done();
        let now = 1_700_000_000;
        s.note_created_at(at(now - 3_600), at(now), SKEW);
        let resumed = since(&s, now + 60, Some(now + 30)).unwrap();
        // A wrap published after the disconnection, backdated by the full two days.
        assert!(resumed <= at(now + 30 - 2 * 86_400), "{resumed:?}");
    }

    #[test]
    fn fetches_never_resume() {
        let mut s = sub_with(
            Filter::new().kind(Kind::TEXT_NOTE).limit(5),
            60,
            Mode::Fetch,
        );
        s.backfill_done();
        s.note_created_at(at(2_000), at(2_000), SKEW);
        assert_eq!(
            s.req_filters(at(3_000), SKEW, Some(at(2_500))),
            s.shared.filters
        );
    }
}
