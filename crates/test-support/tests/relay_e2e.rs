//! The driver against a real nostr-rs-relay 0.8.12 (the `test-relay` harness of
//! nipee-relay): three clients with separate storage through one relay; a commit whose
//! relay `OK` is lost; a crash before publishing; a gift wrap dated two days back after a
//! reconnect; a commit race between two admins.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use nipee::storage::MemoryStorage;
use nipee::{Client, ClientConfig, GroupId, Outcome, WelcomeRumor};
use nipee_driver::{CommitResult, Driver, unix_now};
use nipee_nostr::{Keys, Timestamp};
use nipee_relay::test_relay::TestRelay;
use nipee_relay::{Pool, PoolConfig};
use nipee_test_support::mem::stored_rows;

async fn pool(url: &str, ok_timeout: Duration) -> Pool {
    let mut pc = PoolConfig::default();
    pc.ok_timeout = ok_timeout;
    let pool = Pool::connect(pc, [url]).unwrap();
    pool.wait_connected(1, Duration::from_secs(5))
        .await
        .unwrap();
    pool
}

async fn driver(url: &str, keys: Keys, storage: MemoryStorage) -> Driver<MemoryStorage> {
    let client = Client::new(keys, storage, ClientConfig::with_relays([url])).unwrap();
    let mut d = Driver::new(client, pool(url, Duration::from_secs(5)).await);
    d.fetch_timeout = Duration::from_secs(3);
    d.allow_private_relays();
    d
}

/// A relay, alice and bob (with their keys) in a group alice created.
struct Pair {
    relay: TestRelay,
    url: String,
    ka: Keys,
    kb: Keys,
    alice: Driver<MemoryStorage>,
    bob: Driver<MemoryStorage>,
    gid: GroupId,
}

/// Alice creates group `name` with bob (who published a KeyPackage); bob joins.
async fn pair(name: &str, description: &str) -> Pair {
    let relay = TestRelay::start_async()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let url = relay.url();
    let mut rng = rand::rng();
    let (ka, kb) = (Keys::generate(&mut rng), Keys::generate(&mut rng));
    let mut alice = driver(&url, ka.clone(), MemoryStorage::new()).await;
    let mut bob = driver(&url, kb.clone(), MemoryStorage::new()).await;
    bob.publish_key_package(false).await.unwrap();
    let gid = alice
        .create_group(name, description, &[kb.public_key()])
        .await
        .unwrap();
    bob.sync().await.unwrap();
    Pair {
        relay,
        url,
        ka,
        kb,
        alice,
        bob,
        gid,
    }
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_clients_through_a_real_relay() {
    let relay = TestRelay::start_async()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let url = relay.url();
    let mut rng = rand::rng();
    let (ka, kb, kc) = (
        Keys::generate(&mut rng),
        Keys::generate(&mut rng),
        Keys::generate(&mut rng),
    );
    let mut alice = driver(&url, ka.clone(), MemoryStorage::new()).await;
    let mut bob = driver(&url, kb.clone(), MemoryStorage::new()).await;
    let mut carol = driver(&url, kc.clone(), MemoryStorage::new()).await;

    bob.publish_key_package(false).await.unwrap();
    carol.publish_key_package(true).await.unwrap();
    let gid = alice
        .create_group("e2e", "through a relay", &[kb.public_key()])
        .await
        .unwrap();
    let joined = bob.sync().await.unwrap();
    assert!(
        matches!(joined.first(), Some(Outcome::Joined { .. })),
        "{joined:?}"
    );

    // Carol joins through a last-resort KeyPackage: her client rotates at once.
    assert!(matches!(
        alice.invite(&gid, &[kc.public_key()]).await.unwrap(),
        CommitResult::Confirmed { .. }
    ));
    let c = carol.sync().await.unwrap();
    assert!(matches!(c.first(), Some(Outcome::Joined { .. })), "{c:?}");
    assert!(
        c.iter()
            .any(|o| matches!(o, Outcome::OwnCommitConfirmed(_))),
        "carol did not rotate: {c:?}"
    );
    bob.sync().await.unwrap();
    alice.sync().await.unwrap();
    same_epoch(&alice, &bob, &gid);
    same_epoch(&alice, &carol, &gid);

    let hello = alice.send_text(&gid, "hello all").await.unwrap();
    bob.send_text(&gid, "hi from bob").await.unwrap();
    bob.react(&gid, &hello, "🤙").await.unwrap();
    carol.send_text(&gid, "hi from carol").await.unwrap();
    let got = bob.sync().await.unwrap();
    assert!(texts(&got).contains(&"hello all".to_owned()), "{got:?}");
    assert!(texts(&got).contains(&"hi from carol".to_owned()));
    let got = alice.sync().await.unwrap();
    assert!(texts(&got).contains(&"hi from bob".to_owned()));
    assert!(
        got.iter()
            .any(|o| matches!(o, Outcome::Message { event, .. } if event.kind.as_u16() == 7))
    );
    carol.sync().await.unwrap();

    // Alice and carol commit in the same epoch without seeing each other's commit: both are
    // acknowledged, and everyone converges on one of them.
    alice.rotate(&gid).await.unwrap();
    carol.rotate(&gid).await.unwrap();
    alice.sync().await.unwrap();
    carol.sync().await.unwrap();
    bob.sync().await.unwrap();
    alice.sync().await.unwrap();
    same_epoch(&alice, &bob, &gid);
    same_epoch(&alice, &carol, &gid);

    // Alice removes carol; carol cannot read what follows.
    alice.remove(&gid, &[kc.public_key()]).await.unwrap();
    alice.send_text(&gid, "carol is gone").await.unwrap();
    let b = bob.sync().await.unwrap();
    assert!(texts(&b).contains(&"carol is gone".to_owned()), "{b:?}");
    let c = carol.sync().await.unwrap();
    assert!(
        c.iter().any(|o| matches!(o, Outcome::Removed { .. })),
        "{c:?}"
    );
    assert!(!texts(&c).contains(&"carol is gone".to_owned()));
    assert!(!carol.client().group(&gid).unwrap().active);
    same_epoch(&alice, &bob, &gid);

    // Bob is killed mid-conversation and restarts from his storage: nothing is lost.
    let storage = bob.into_client().into_storage();
    alice.send_text(&gid, "while bob was down").await.unwrap();
    alice.rotate(&gid).await.unwrap();
    alice.send_text(&gid, "after a rotation").await.unwrap();
    let mut bob = driver(&url, kb, storage).await;
    let b = bob.sync().await.unwrap();
    let t = texts(&b);
    assert!(t.contains(&"while bob was down".to_owned()), "{b:?}");
    assert!(t.contains(&"after a rotation".to_owned()), "{b:?}");
    same_epoch(&alice, &bob, &gid);
    drop(relay);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_stored_by_the_relay_whose_ok_was_lost_is_confirmed_not_discarded() {
    let Pair {
        relay: _relay,
        url,
        alice,
        mut bob,
        gid,
        ..
    } = pair("ack", "lost OK").await;
    let epoch_before = alice.client().epoch(&gid).unwrap();

    // Alice's next commit goes through a pool that gives up waiting for OK at once: the
    // relay stores the event, but no acknowledgement arrives in time. The core asks for a
    // read-back, which finds it.
    let client = alice.into_client();
    let mut alice = Driver::new(client, pool(&url, Duration::ZERO).await);
    alice.fetch_timeout = Duration::from_secs(3);
    alice.allow_private_relays();
    let r = alice.rotate(&gid).await.unwrap();
    assert_eq!(
        r,
        CommitResult::Confirmed {
            epoch: epoch_before + 1
        }
    );

    bob.sync().await.unwrap();
    assert_eq!(bob.client().epoch(&gid).unwrap(), epoch_before + 1);
    same_epoch(&alice, &bob, &gid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_before_publishing_ends_with_every_member_on_one_epoch() {
    let Pair {
        relay: _relay,
        url,
        ka,
        mut alice,
        mut bob,
        gid,
        ..
    } = pair("crash", "").await;

    // The commit is built and stored, then the process dies before anything is sent.
    let _pending = alice
        .client_mut()
        .rotate(&gid, unix_now(), &mut rand::rng())
        .unwrap();
    let storage = alice.into_client().into_storage();
    let mut alice = driver(&url, ka, storage).await;
    assert!(alice.client().group(&gid).unwrap().pending_commit);
    // The restarted client republishes the same commit from its outbox and confirms it.
    alice.sync().await.unwrap();
    assert!(!alice.client().group(&gid).unwrap().pending_commit);
    bob.sync().await.unwrap();
    same_epoch(&alice, &bob, &gid);
    bob.send_text(&gid, "after the crash").await.unwrap();
    let a = alice.sync().await.unwrap();
    assert!(texts(&a).contains(&"after the crash".to_owned()), "{a:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gift_wrap_dated_two_days_back_is_received_after_a_reconnect() {
    let relay = TestRelay::start_async()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let url = relay.url();
    let mut rng = rand::rng();
    let (ka, kb) = (Keys::generate(&mut rng), Keys::generate(&mut rng));
    let mut alice = driver(&url, ka, MemoryStorage::new()).await;
    let mut bob = driver(&url, kb.clone(), MemoryStorage::new()).await;
    let kp = bob.publish_key_package(false).await.unwrap();
    // Bob syncs once (nothing yet): his sync point moves to now.
    bob.sync().await.unwrap();

    // Alice makes a group with bob but publishes the Welcome herself, wrapped with the
    // oldest timestamp NIP-59 allows (two days back), after bob's last sync.
    let now = unix_now();
    let (gid, effects) = alice
        .client_mut()
        .create_group(
            nipee::NewGroup::new("late", vec![kp.clone()]),
            now,
            &mut rand::rng(),
        )
        .unwrap();
    let wrap = effects.publish[0].event.clone();
    let opened = nipee::open_welcome(&kb, &wrap).unwrap();
    let rumor = WelcomeRumor {
        mls_message: opened.rumor.mls_message.clone(),
        key_package_event_id: opened.rumor.key_package_event_id,
        relays: opened.rumor.relays.clone(),
        ratchet_tree: None,
    };
    let backdated = rumor.to_rumor(alice.client().public_key(), Timestamp::from_secs(now));
    let mut options = nipee_nostr::nip59::GiftWrapOptions::new();
    options.max_backdate_secs = 0;
    let wrapped = nipee_nostr::nip59::gift_wrap_with(
        alice.client().keys(),
        &kb.public_key(),
        &backdated,
        Timestamp::from_secs(now - 2 * 86_400 + 60),
        &options,
        &mut rand::rng(),
    )
    .unwrap();
    assert!(wrapped.created_at().as_u64() < now - 2 * 86_400 + 120);
    alice.pool().publish(&wrapped).await;

    // Bob reconnects (a new pool) and syncs: the two-day margin finds the wrap.
    let storage = bob.into_client().into_storage();
    let mut bob = driver(&url, kb, storage).await;
    let got = bob.sync().await.unwrap();
    assert!(
        got.iter().any(|o| matches!(o, Outcome::Joined { .. })),
        "{got:?}"
    );
    assert!(bob.client().group(&gid).unwrap().active);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_driver_hands_over_what_the_inbox_kept_after_a_restart() {
    let Pair {
        relay: _relay,
        url,
        kb,
        mut alice,
        mut bob,
        gid,
        ..
    } = pair("inbox", "").await;
    assert!(
        bob.inbox().unwrap().is_empty(),
        "sync acknowledged the join"
    );

    // Bob's host takes outcomes from the inbox itself; his app dies before taking one.
    bob.auto_acknowledge = false;
    alice.send_text(&gid, "kept").await.unwrap();
    let live = bob.sync().await.unwrap();
    assert_eq!(texts(&live), ["kept"]);
    let held = bob.inbox().unwrap();
    assert_eq!(held.len(), 1);
    let rows = stored_rows(&bob.into_client().into_storage());

    // Restarted with the default (acknowledge on return): the first sync returns it first.
    let mut bob = driver(&url, kb, MemoryStorage::from_rows(rows, false)).await;
    alice.send_text(&gid, "new").await.unwrap();
    let again = bob.sync().await.unwrap();
    assert_eq!(texts(&again), ["kept", "new"]);
    assert!(bob.inbox().unwrap().is_empty());
    assert_eq!(bob.acknowledge(&[held[0].id]).unwrap(), 0);
    assert!(texts(&bob.sync().await.unwrap()).is_empty());
}
