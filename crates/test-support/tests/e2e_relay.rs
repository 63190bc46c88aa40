//! End to end through a real nostr-rs-relay 0.8.12 (the `test-relay` harness of
//! nipee-relay): three drivers with separate storage.
#![cfg(feature = "relay")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use nipee::driver::Driver;
use nipee::storage::MemoryStorage;
use nipee::{Client, ClientConfig, Outcome};
use nipee_nostr::Keys;
use nipee_relay::test_relay::TestRelay;
use nipee_relay::{Pool, PoolConfig};

async fn driver(url: &str, keys: Keys, storage: MemoryStorage) -> Driver<MemoryStorage> {
    let mut pc = PoolConfig::default();
    pc.ok_timeout = Duration::from_secs(5);
    let pool = Pool::connect(pc, [url]).unwrap();
    pool.wait_connected(1, Duration::from_secs(5))
        .await
        .unwrap();
    let config = ClientConfig {
        relays: vec![url.to_owned()],
        ..ClientConfig::default()
    };
    let mut d = Driver::new(Client::new(keys, storage, config).unwrap(), pool);
    d.fetch_timeout = Duration::from_secs(3);
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
    let relays = vec![url.clone()];

    bob.publish_key_package(false, &relays).await.unwrap();
    carol.publish_key_package(true, &relays).await.unwrap();
    let gid = alice
        .create_group("e2e", "through a relay", &[kb.public_key()])
        .await
        .unwrap();
    let joined = bob.sync().await.unwrap();
    assert!(
        matches!(joined.first(), Some(Outcome::Joined { .. })),
        "{joined:?}"
    );

    // Alice adds carol: commit first, then the Welcome. Carol joined through a last-resort
    // KeyPackage, so her driver rotates at once.
    alice.invite(&gid, &[kc.public_key()]).await.unwrap();
    let c = carol.sync().await.unwrap();
    assert!(
        matches!(
            c.first(),
            Some(Outcome::Joined {
                rotate_now: true,
                ..
            })
        ),
        "{c:?}"
    );
    bob.sync().await.unwrap();
    alice.sync().await.unwrap();
    let auth = alice.client().epoch_authenticator(&gid).unwrap();
    assert_eq!(bob.client().epoch_authenticator(&gid).unwrap(), auth);
    assert_eq!(carol.client().epoch_authenticator(&gid).unwrap(), auth);

    let hello = alice.send_text(&gid, "hello all").await.unwrap();
    bob.send_text(&gid, "hi from bob").await.unwrap();
    bob.react(&gid, &hello, "🤙").await.unwrap();
    carol.send_text(&gid, "hi from carol").await.unwrap();
    let got = bob.sync().await.unwrap();
    assert!(texts(&got).contains(&"hello all".to_owned()));
    assert!(texts(&got).contains(&"hi from carol".to_owned()));
    let got = alice.sync().await.unwrap();
    assert!(texts(&got).contains(&"hi from bob".to_owned()));
    assert!(
        got.iter()
            .any(|o| matches!(o, Outcome::Message { event, .. } if event.kind.as_u16() == 7))
    );
    carol.sync().await.unwrap();

    // Alice and carol commit in the same epoch without seeing each other's commit: both
    // are acknowledged by the relay, and everyone converges on the winner (lowest
    // created_at, then lowest id).
    alice.rotate(&gid).await.unwrap();
    carol.rotate(&gid).await.unwrap();
    alice.sync().await.unwrap();
    carol.sync().await.unwrap();
    bob.sync().await.unwrap();
    let auth = alice.client().epoch_authenticator(&gid).unwrap();
    assert_eq!(bob.client().epoch_authenticator(&gid).unwrap(), auth);
    assert_eq!(carol.client().epoch_authenticator(&gid).unwrap(), auth);

    // Bob rotates; alice removes carol; carol cannot read what follows.
    bob.rotate(&gid).await.unwrap();
    alice.sync().await.unwrap();
    carol.sync().await.unwrap();
    alice.remove(&gid, &[kc.public_key()]).await.unwrap();
    let after = alice.send_text(&gid, "carol is gone").await;
    after.unwrap();
    let b = bob.sync().await.unwrap();
    assert!(texts(&b).contains(&"carol is gone".to_owned()), "{b:?}");
    let c = carol.sync().await.unwrap();
    assert!(
        c.iter().any(|o| matches!(o, Outcome::Removed { .. })),
        "{c:?}"
    );
    assert!(!texts(&c).contains(&"carol is gone".to_owned()));
    assert!(!carol.client().group(&gid).unwrap().active);
    assert_eq!(
        alice.client().epoch_authenticator(&gid).unwrap(),
        bob.client().epoch_authenticator(&gid).unwrap()
    );

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
    assert_eq!(
        alice.client().epoch_authenticator(&gid).unwrap(),
        bob.client().epoch_authenticator(&gid).unwrap()
    );
    drop(relay);
}
