//! Subscription options and renewed subscriptions: a subscription can be limited to some
//! relays; a future-dated event does not move `since` beyond what follows; gift wraps
//! backdated by two days still arrive after a reconnect with the gift-wrap margin.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use nipee_nostr::{Event, EventBuilder, Filter, Keys, Kind, Tag, Timestamp};
use nipee_relay::{
    GIFT_WRAP_MARGIN, Pool, RelayUrl, SubscribeOptions, Subscription, SubscriptionItem,
};

const DAY: u64 = 24 * 60 * 60;

fn note(k: &Keys, content: &str, at: Timestamp) -> Event {
    EventBuilder::text_note(content).sign(k, at).unwrap()
}

/// A kind-1059 event for `to`, dated `at` (a gift wrap's outer layer, as a relay sees it).
fn wrap(to: &Keys, content: &str, at: Timestamp) -> Event {
    EventBuilder::new(Kind::GIFT_WRAP, content)
        .tag(Tag::public_key(&to.public_key()))
        .sign(&keys(), at)
        .unwrap()
}

async fn eose(sub: &mut Subscription) {
    match next_item(sub, 5, "EOSE").await {
        SubscriptionItem::Eose { .. } => {}
        other => panic!("expected EOSE, got {other:?}"),
    }
}

/// Kicks the subscriber off `relay` and returns what its renewed `REQ` brought, up to
/// the `EOSE`.
async fn reconnect(relay: &MiniRelay, sub: &mut Subscription) -> Vec<Event> {
    let before = relay.reqs().len();
    relay.kick();
    let mut got = Vec::new();
    loop {
        match next_item(sub, 5, "the renewed backfill").await {
            SubscriptionItem::Event { event, .. } => got.push(event),
            SubscriptionItem::Eose { .. } => break,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(relay.reqs().len(), before + 1, "one renewed REQ");
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_future_dated_event_does_not_hide_the_events_after_it() {
    let relay = MiniRelay::start().await;
    let pool = Pool::connect(fast_config(), [&relay.url]).unwrap();
    let mut sub = pool
        .subscribe(vec![Filter::new().kind(Kind::TEXT_NOTE)])
        .unwrap();
    eose(&mut sub).await;

    let k = keys();
    let t = now();
    let future = note(&k, "dated tomorrow", t.saturating_add(DAY));
    relay.push_live(&future);
    assert_eq!(next_event(&mut sub, 5, "future event").await, future);
    let normal = note(&k, "normal, delivered live", t);
    relay.push_live(&normal);
    assert_eq!(next_event(&mut sub, 5, "normal event").await, normal);

    // Published while the subscriber is being disconnected: only the renewed REQ can
    // bring it.
    let missed = note(&k, "normal, during the outage", now());
    relay.add_stored(&missed);
    assert_eq!(reconnect(&relay, &mut sub).await, vec![missed.clone()]);

    let reqs = relay.reqs();
    assert_eq!(reqs.len(), 2);
    let since = reqs[1][0].since_value().expect("the renewed REQ has since");
    assert!(
        since <= missed.created_at(),
        "{since:?} > {:?}",
        missed.created_at()
    );
    assert!(since <= now(), "since {since:?} lies in the future");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callers_far_future_since_is_lowered() {
    let relay = MiniRelay::start().await;
    let k = keys();
    let pool = Pool::connect(fast_config(), [&relay.url]).unwrap();
    let mut sub = pool
        .subscribe(vec![
            Filter::new()
                .kind(Kind::TEXT_NOTE)
                .since(now().saturating_add(365 * DAY)),
        ])
        .unwrap();
    eose(&mut sub).await;
    let since = relay.reqs()[0][0].since_value().unwrap();
    assert!(since <= now().saturating_add(15 * 60 + 5), "{since:?}");
    // Events dated after the lowered `since` arrive, sooner than a year from now.
    let sooner = note(&k, "twenty minutes ahead", now().saturating_add(20 * 60));
    relay.push_live(&sooner);
    assert_eq!(
        next_event(&mut sub, 5, "event after the lowered since").await,
        sooner
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gift_wrap_dated_two_days_back_arrives_after_a_reconnect() {
    let bob = keys();
    let filter = Filter::new()
        .kind(Kind::GIFT_WRAP)
        .pubkey_tags([bob.public_key()]);

    for (options, arrives) in [
        (SubscribeOptions::gift_wraps(), true),
        // The control: the pool's default margin (120 s) skips it.
        (SubscribeOptions::new(), false),
    ] {
        let relay = MiniRelay::start().await;
        let pool = Pool::connect(fast_config(), [&relay.url]).unwrap();
        let mut sub = pool
            .subscribe_with(vec![filter.clone()], options.clone())
            .unwrap();
        eose(&mut sub).await;
        let recent = wrap(&bob, "backdated one hour", now().saturating_sub(3600));
        relay.push_live(&recent);
        assert_eq!(next_event(&mut sub, 5, "recent wrap").await, recent);

        // Published during the outage, backdated by (almost) the full two days.
        let old = wrap(
            &bob,
            "backdated two days",
            now().saturating_sub(2 * DAY - 60),
        );
        relay.add_stored(&old);
        let got = reconnect(&relay, &mut sub).await;
        let since = relay.reqs()[1][0].since_value().unwrap();
        if arrives {
            assert_eq!(got, vec![old.clone()]);
            assert!(since <= old.created_at(), "{since:?}");
            assert!(since >= now().saturating_sub(GIFT_WRAP_MARGIN.as_secs() + 2 * 3600));
        } else {
            assert!(got.is_empty(), "{got:?}");
            assert!(since > old.created_at());
        }
        assert_quiet(&mut sub, 100).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_on_some_relays_never_reaches_the_others() {
    let (a, b) = (MiniRelay::start().await, MiniRelay::start().await);
    let pool = Pool::connect(fast_config(), [&a.url, &b.url]).unwrap();
    pool.wait_connected(2, std::time::Duration::from_secs(5))
        .await
        .unwrap();
    let only_a = SubscribeOptions::new().relays(vec![RelayUrl::parse(&a.url).unwrap()]);
    let mut sub = pool
        .subscribe_with(vec![Filter::new().kind(Kind::TEXT_NOTE)], only_a)
        .unwrap();
    match next_item(&mut sub, 5, "EOSE from a").await {
        SubscriptionItem::Eose { relay } => assert_eq!(relay.as_str(), a.url),
        other => panic!("{other:?}"),
    }
    let k = keys();
    b.push_live(&note(&k, "on b", now()));
    let on_a = note(&k, "on a", now());
    a.push_live(&on_a);
    assert_eq!(next_event(&mut sub, 5, "event on a").await, on_a);
    assert_quiet(&mut sub, 100).await;
    assert_eq!(a.reqs().len(), 1);
    assert!(b.reqs().is_empty());
}
