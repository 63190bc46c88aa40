//! Relay faults with a real nostr-rs-relay: restarted during a commit and during a Welcome,
//! refusing an event (`OK false`: dated too far ahead), two relays with one down. (A relay
//! that answers slowly is in `relay_e2e.rs`: a commit whose `OK` never came is read back.) Each
//! ends with every member on one epoch authenticator and the group still working.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use nipee::storage::MemoryStorage;
use nipee::{Client, ClientConfig, Effects, GroupId, Outcome};
use nipee_driver::{CommitResult, Driver, unix_now};
use nipee_nostr::Keys;
use nipee_relay::test_relay::TestRelay;
use nipee_relay::{Pool, PoolConfig};

async fn driver(urls: &[String], keys: Keys) -> Driver<MemoryStorage> {
    let client = Client::new(keys, MemoryStorage::new(), ClientConfig::with_relays(urls)).unwrap();
    let mut pc = PoolConfig::default();
    pc.ok_timeout = Duration::from_secs(3);
    let pool = Pool::connect(pc, urls.iter().map(String::as_str)).unwrap();
    // At least one relay (another may be down on purpose).
    pool.wait_connected(1, Duration::from_secs(10))
        .await
        .unwrap();
    let mut d = Driver::new(client, pool);
    d.fetch_timeout = Duration::from_secs(3);
    d.allow_private_relays();
    d
}

fn texts(outcomes: &[Outcome]) -> Vec<String> {
    outcomes
        .iter()
        .filter_map(|o| match o {
            Outcome::Message { event, .. } => Some(event.content.clone()),
            _ => None,
        })
        .collect()
}

fn same_epoch(a: &Driver<MemoryStorage>, b: &Driver<MemoryStorage>, gid: &GroupId) {
    assert_eq!(
        a.client().epoch_authenticator(gid).unwrap(),
        b.client().epoch_authenticator(gid).unwrap()
    );
}

/// Syncs until `f` holds (the pool reconnects with backoff after a relay restart).
async fn sync_until<F>(d: &mut Driver<MemoryStorage>, mut f: F) -> Vec<Outcome>
where
    F: FnMut(&Driver<MemoryStorage>) -> bool,
{
    let mut all = Vec::new();
    for _ in 0..30 {
        if let Ok(o) = d.sync().await {
            all.extend(o);
        }
        if f(d) {
            return all;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("the condition never held: {all:?}");
}

async fn pair(urls: &[String]) -> (Driver<MemoryStorage>, Driver<MemoryStorage>, GroupId, Keys) {
    let mut rng = rand::rng();
    let (ka, kb) = (Keys::generate(&mut rng), Keys::generate(&mut rng));
    let mut alice = driver(urls, ka).await;
    let mut bob = driver(urls, kb.clone()).await;
    bob.publish_key_package(false).await.unwrap();
    let gid = alice
        .create_group("faults", "", &[kb.public_key()])
        .await
        .unwrap();
    bob.sync().await.unwrap();
    same_epoch(&alice, &bob, &gid);
    (alice, bob, gid, kb)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_made_while_the_relay_restarts_is_confirmed_when_it_is_back() {
    let mut relay = TestRelay::start_async().await.unwrap();
    let urls = vec![relay.url()];
    let (mut alice, mut bob, gid, _) = pair(&urls).await;
    let epoch = alice.client().epoch(&gid).unwrap();

    relay.stop();
    let r = alice.rotate(&gid).await.unwrap();
    assert_eq!(r, CommitResult::Pending, "nobody could have confirmed it");
    relay.restart_async().await.unwrap();

    // The restarted relay kept its database; alice's sync republishes the commit.
    sync_until(&mut alice, |a| {
        !a.client().group(&gid).unwrap().pending_commit
    })
    .await;
    assert_eq!(alice.client().epoch(&gid).unwrap(), epoch + 1);
    sync_until(&mut bob, |b| b.client().epoch(&gid).unwrap() == epoch + 1).await;
    same_epoch(&alice, &bob, &gid);
    bob.send_text(&gid, "after the restart").await.unwrap();
    let got = sync_until(&mut alice, |_| true).await;
    assert!(
        texts(&got).contains(&"after the restart".to_owned()),
        "{got:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_welcome_the_relay_missed_while_restarting_is_published_when_it_is_back() {
    let mut relay = TestRelay::start_async().await.unwrap();
    let urls = vec![relay.url()];
    let (mut alice, mut bob, gid, _) = pair(&urls).await;
    let kc = Keys::generate(&mut rand::rng());
    let mut carol = driver(&urls, kc.clone()).await;
    carol.publish_key_package(false).await.unwrap();
    let kps = alice.fetch_key_packages(&[kc.public_key()]).await.unwrap();

    // The commit is acknowledged; the relay goes down before the Welcome is sent.
    let p = alice
        .client_mut()
        .invite(&gid, &kps, unix_now(), &mut rand::rng())
        .unwrap();
    let answers = alice.publish_outgoing(&p.outgoing).await;
    let effects = alice
        .client_mut()
        .published(
            &p.outgoing.event.id(),
            &answers,
            unix_now(),
            &mut rand::rng(),
        )
        .unwrap();
    assert!(
        effects
            .outcomes
            .iter()
            .any(|o| matches!(o, Outcome::OwnCommitConfirmed(_)))
    );
    relay.stop();
    let _ = alice
        .run(Effects {
            publish: effects.publish,
            ..Effects::default()
        })
        .await;
    assert!(
        !alice.client().outbox().unwrap().is_empty(),
        "the Welcome waits in the outbox"
    );
    relay.restart_async().await.unwrap();
    sync_until(&mut alice, |a| a.client().outbox().unwrap().is_empty()).await;
    let joined = sync_until(&mut carol, |c| c.client().group(&gid).is_ok()).await;
    assert!(
        joined.iter().any(|o| matches!(o, Outcome::Joined { .. })),
        "{joined:?}"
    );
    sync_until(&mut bob, |b| {
        b.client().epoch(&gid).ok() == carol.client().epoch(&gid).ok()
    })
    .await;
    same_epoch(&alice, &carol, &gid);
    same_epoch(&alice, &bob, &gid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_every_group_relay_refuses_is_discarded_and_nothing_forks() {
    let relay = TestRelay::start_async().await.unwrap();
    let urls = vec![relay.url()];
    let (mut alice, mut bob, gid, _) = pair(&urls).await;
    let epoch = alice.client().epoch(&gid).unwrap();

    // Alice's clock runs an hour ahead: the relay refuses her commit (`OK false`,
    // "invalid: ... too far off from the current time").
    let p = alice
        .client_mut()
        .rotate(&gid, unix_now() + 3_600, &mut rand::rng())
        .unwrap();
    let answers = alice.publish_outgoing(&p.outgoing).await;
    assert!(
        answers
            .iter()
            .all(|a| matches!(a, nipee::RelayAnswer::Rejected { .. })),
        "{answers:?}"
    );
    let effects = alice
        .client_mut()
        .published(
            &p.outgoing.event.id(),
            &answers,
            unix_now(),
            &mut rand::rng(),
        )
        .unwrap();
    assert!(
        effects
            .outcomes
            .iter()
            .any(|o| matches!(o, Outcome::OwnCommitDiscarded { .. })),
        "{:?}",
        effects.outcomes
    );
    assert_eq!(alice.client().epoch(&gid).unwrap(), epoch);
    assert!(!alice.client().group(&gid).unwrap().pending_commit);
    bob.sync().await.unwrap();
    same_epoch(&alice, &bob, &gid);
    // The next commit, with a right clock, goes through.
    let r = alice.rotate(&gid).await.unwrap();
    assert!(matches!(r, CommitResult::Confirmed { .. }), "{r:?}");
    bob.sync().await.unwrap();
    same_epoch(&alice, &bob, &gid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_one_of_two_relays_down_the_group_goes_on_through_the_other() {
    let first = TestRelay::start_async().await.unwrap();
    let mut second = TestRelay::start_async().await.unwrap();
    let urls = vec![first.url(), second.url()];
    let (mut alice, mut bob, gid, _) = pair(&urls).await;

    second.stop();
    let r = alice.rotate(&gid).await.unwrap();
    assert!(matches!(r, CommitResult::Confirmed { .. }), "{r:?}");
    alice.send_text(&gid, "one relay is down").await.unwrap();
    let got = sync_until(&mut bob, |b| {
        b.client().epoch(&gid).ok() == Some(alice.client().epoch(&gid).unwrap())
    })
    .await;
    assert!(
        texts(&got).contains(&"one relay is down".to_owned()),
        "{got:?}"
    );
    same_epoch(&alice, &bob, &gid);

    second.restart_async().await.unwrap();
    let r = bob.rotate(&gid).await.unwrap();
    assert!(matches!(r, CommitResult::Confirmed { .. }), "{r:?}");
    bob.send_text(&gid, "both are back").await.unwrap();
    let got = sync_until(&mut alice, |a| {
        a.client().epoch(&gid).ok() == Some(bob.client().epoch(&gid).unwrap())
    })
    .await;
    assert!(texts(&got).contains(&"both are back".to_owned()), "{got:?}");
    same_epoch(&alice, &bob, &gid);
}
