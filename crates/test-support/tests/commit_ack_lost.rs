//! An own commit whose relay `OK` is lost: the relay stored it, so the other members will
//! apply it, and the committer must not discard it (that would fork the group). The driver
//! reads the commit back and confirms it. Runs against a real nostr-rs-relay.
#![cfg(feature = "relay")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use nipee::driver::Driver;
use nipee::storage::MemoryStorage;
use nipee::{Client, ClientConfig, Outcome};
use nipee_nostr::Keys;
use nipee_relay::test_relay::TestRelay;
use nipee_relay::{Pool, PoolConfig};

async fn pool(url: &str, ok_timeout: Duration) -> Pool {
    let mut pc = PoolConfig::default();
    pc.ok_timeout = ok_timeout;
    let pool = Pool::connect(pc, [url]).unwrap();
    pool.wait_connected(1, Duration::from_secs(5))
        .await
        .unwrap();
    pool
}

async fn driver(url: &str, keys: Keys) -> Driver<MemoryStorage> {
    let config = ClientConfig {
        relays: vec![url.to_owned()],
        ..ClientConfig::default()
    };
    let client = Client::new(keys, MemoryStorage::new(), config).unwrap();
    let mut d = Driver::new(client, pool(url, Duration::from_secs(5)).await);
    d.fetch_timeout = Duration::from_secs(3);
    d
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_stored_by_the_relay_whose_ok_was_lost_is_confirmed_not_discarded() {
    let relay = TestRelay::start_async()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let url = relay.url();
    let mut rng = rand::rng();
    let (ka, kb) = (Keys::generate(&mut rng), Keys::generate(&mut rng));
    let alice = driver(&url, ka).await;
    let mut bob = driver(&url, kb.clone()).await;
    bob.publish_key_package(false, std::slice::from_ref(&url))
        .await
        .unwrap();
    let mut alice = alice;
    let gid = alice
        .create_group("ack", "lost OK", &[kb.public_key()])
        .await
        .unwrap();
    let joined = bob.sync().await.unwrap();
    assert!(
        matches!(joined.first(), Some(Outcome::Joined { .. })),
        "{joined:?}"
    );
    let epoch_before = alice.client().group(&gid).unwrap().epoch;

    // Alice's next commit goes through a pool that gives up waiting for `OK` at once: the
    // relay still receives and stores the event, but no acknowledgement arrives in time.
    let client = alice.into_client();
    let mut alice = Driver::new(client, pool(&url, Duration::ZERO).await);
    alice.fetch_timeout = Duration::from_secs(3);
    let epoch = alice
        .rotate(&gid)
        .await
        .expect("the commit is read back from the relay and confirmed");
    assert_eq!(epoch, epoch_before + 1);
    assert_eq!(alice.client().group(&gid).unwrap().epoch, epoch_before + 1);

    // Bob applies the stored commit; both are in the same epoch with the same secrets.
    bob.sync().await.unwrap();
    assert_eq!(bob.client().group(&gid).unwrap().epoch, epoch_before + 1);
    assert_eq!(
        alice.client().epoch_authenticator(&gid).unwrap(),
        bob.client().epoch_authenticator(&gid).unwrap()
    );
}
