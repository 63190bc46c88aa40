//! Admins change the group through a real nostr-rs-relay: rename, promote, demote, hand
//! over and leave, a forged rename from a non-admin, two admins renaming at once, and a new
//! public id with a late message under the old one.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use nipee::storage::MemoryStorage;
use nipee::{Client, ClientConfig, GroupDataUpdate, GroupId, NostrGroupId, Outcome};
use nipee_driver::{CommitResult, Driver, unix_now};
use nipee_mls::Proposal;
use nipee_nostr::{Keys, PublicKey};
use nipee_relay::test_relay::TestRelay;
use nipee_relay::{Pool, PoolConfig};

async fn driver(url: &str, keys: Keys) -> Driver<MemoryStorage> {
    let pool = Pool::connect(PoolConfig::default(), [url]).unwrap();
    pool.wait_connected(1, Duration::from_secs(5))
        .await
        .unwrap();
    let client = Client::new(keys, MemoryStorage::new(), ClientConfig::with_relays([url])).unwrap();
    let mut d = Driver::new(client, pool);
    d.fetch_timeout = Duration::from_secs(3);
    d.allow_private_relays();
    d
}

struct Three {
    _relay: TestRelay,
    a: Driver<MemoryStorage>,
    b: Driver<MemoryStorage>,
    c: Driver<MemoryStorage>,
    gid: GroupId,
}

impl Three {
    async fn sync_all(&mut self) {
        for _ in 0..2 {
            self.a.sync().await.unwrap();
            self.b.sync().await.unwrap();
            self.c.sync().await.unwrap();
        }
    }

    fn pk(d: &Driver<MemoryStorage>) -> PublicKey {
        d.client().public_key()
    }

    fn converged(&self) {
        let auth = self.a.client().epoch_authenticator(&self.gid).unwrap();
        for d in [&self.b, &self.c] {
            if d.client().group(&self.gid).unwrap().active {
                assert_eq!(d.client().epoch_authenticator(&self.gid).unwrap(), auth);
            }
        }
    }

    fn admins(d: &Driver<MemoryStorage>, gid: &GroupId) -> Vec<PublicKey> {
        d.client().group_data(gid).unwrap().admins
    }
}

async fn three() -> Three {
    let relay = TestRelay::start_async()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let url = relay.url();
    let mut rng = rand::rng();
    let mut a = driver(&url, Keys::generate(&mut rng)).await;
    let mut b = driver(&url, Keys::generate(&mut rng)).await;
    let mut c = driver(&url, Keys::generate(&mut rng)).await;
    b.publish_key_package(false).await.unwrap();
    c.publish_key_package(false).await.unwrap();
    let invitees = [b.client().public_key(), c.client().public_key()];
    let gid = a.create_group("original", "", &invitees).await.unwrap();
    let mut t = Three {
        _relay: relay,
        a,
        b,
        c,
        gid,
    };
    t.sync_all().await;
    t.converged();
    t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rename_is_seen_by_every_member() {
    let mut t = three().await;
    let r =
        t.a.update_group_data(
            &t.gid,
            GroupDataUpdate::new().name("renamed").description("new"),
        )
        .await
        .unwrap();
    assert!(matches!(r, CommitResult::Confirmed { .. }), "{r:?}");
    let outs = t.b.sync().await.unwrap();
    assert!(
        outs.iter().any(|o| matches!(o, Outcome::Commit(i)
            if i.group_data.as_ref().is_some_and(|d| d.name == "renamed"))),
        "{outs:?}"
    );
    t.sync_all().await;
    for d in [&t.a, &t.b, &t.c] {
        let data = d.client().group_data(&t.gid).unwrap();
        assert_eq!(
            (data.name.as_str(), data.description.as_str()),
            ("renamed", "new")
        );
    }
    t.converged();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_promoted_member_adds_and_removes_then_is_demoted() {
    let mut t = three().await;
    let (pa, pb, pc) = (Three::pk(&t.a), Three::pk(&t.b), Three::pk(&t.c));
    // Before promotion bob may not remove carol: refused before anything is published.
    let r = t.b.remove(&t.gid, &[pc]).await;
    assert!(
        matches!(r, Err(nipee_driver::Error::Core(nipee::Error::Policy(_)))),
        "{r:?}"
    );
    t.a.update_group_data(&t.gid, GroupDataUpdate::new().admins(vec![pa, pb]))
        .await
        .unwrap();
    t.sync_all().await;
    assert_eq!(Three::admins(&t.b, &t.gid).len(), 2);
    // Now bob removes carol and adds her back.
    assert!(matches!(
        t.b.remove(&t.gid, &[pc]).await.unwrap(),
        CommitResult::Confirmed { .. }
    ));
    t.sync_all().await;
    assert!(!t.c.client().group(&t.gid).unwrap().active);
    t.c.publish_key_package(false).await.unwrap();
    assert!(matches!(
        t.b.invite(&t.gid, &[pc]).await.unwrap(),
        CommitResult::Confirmed { .. }
    ));
    t.sync_all().await;
    assert!(t.c.client().group(&t.gid).unwrap().active);
    t.converged();
    // Alice demotes bob; bob can no longer change the group.
    t.a.update_group_data(&t.gid, GroupDataUpdate::new().admins(vec![pa]))
        .await
        .unwrap();
    t.sync_all().await;
    let r =
        t.b.update_group_data(&t.gid, GroupDataUpdate::new().name("bob's"))
            .await;
    assert!(
        matches!(r, Err(nipee_driver::Error::Core(nipee::Error::Policy(_)))),
        "{r:?}"
    );
    t.converged();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_hands_over_and_leaves() {
    let mut t = three().await;
    let pb = Three::pk(&t.b);
    t.a.update_group_data(&t.gid, GroupDataUpdate::new().admins(vec![pb]))
        .await
        .unwrap();
    t.sync_all().await;
    t.a.leave(&t.gid).await.unwrap();
    t.b.sync().await.unwrap();
    assert!(matches!(
        t.b.commit_pending_proposals(&t.gid).await.unwrap(),
        CommitResult::Confirmed { .. }
    ));
    t.sync_all().await;
    assert!(!t.a.client().group(&t.gid).unwrap().active);
    assert_eq!(
        t.b.client().epoch_authenticator(&t.gid).unwrap(),
        t.c.client().epoch_authenticator(&t.gid).unwrap()
    );
    assert_eq!(Three::admins(&t.c, &t.gid), vec![pb]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_admins_rename_is_refused_locally_and_forged_is_rejected_by_everyone() {
    let mut t = three().await;
    let r =
        t.b.update_group_data(&t.gid, GroupDataUpdate::new().name("mine"))
            .await;
    assert!(
        matches!(r, Err(nipee_driver::Error::Core(nipee::Error::Policy(_)))),
        "{r:?}"
    );
    // Forged: bob's client built without its own check, published anyway.
    let mut data = t.b.client().group_data(&t.gid).unwrap();
    data.name = "mine".into();
    let mut exts: Vec<nipee_mls::Extension> =
        t.b.client()
            .mls_group(&t.gid)
            .unwrap()
            .extensions()
            .iter()
            .filter(|e| e.extension_type != nipee_keypackage::ExtensionType::NOSTR_GROUP_DATA)
            .cloned()
            .collect();
    exts.push(data.to_extension().unwrap());
    let before_a = t.a.client().epoch_authenticator(&t.gid).unwrap();
    let p =
        t.b.client_mut()
            .commit_unchecked(
                &t.gid,
                vec![Proposal::GroupContextExtensions(exts)],
                unix_now(),
                &mut rand::rng(),
            )
            .unwrap();
    t.b.pool().publish(&p.outgoing.event).await;
    t.a.sync().await.unwrap();
    t.c.sync().await.unwrap();
    for d in [&t.a, &t.c] {
        assert_eq!(d.client().group_data(&t.gid).unwrap().name, "original");
        assert_eq!(d.client().epoch_authenticator(&t.gid).unwrap(), before_a);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_admins_renaming_at_once_converge_on_one_name() {
    let mut t = three().await;
    let (pa, pb) = (Three::pk(&t.a), Three::pk(&t.b));
    t.a.update_group_data(&t.gid, GroupDataUpdate::new().admins(vec![pa, pb]))
        .await
        .unwrap();
    t.sync_all().await;
    // Both rename without seeing the other's commit.
    let ra =
        t.a.update_group_data(&t.gid, GroupDataUpdate::new().name("by alice"))
            .await
            .unwrap();
    let rb =
        t.b.update_group_data(&t.gid, GroupDataUpdate::new().name("by bob"))
            .await
            .unwrap();
    assert!(matches!(ra, CommitResult::Confirmed { .. }));
    assert!(matches!(rb, CommitResult::Confirmed { .. }));
    t.sync_all().await;
    let names: Vec<String> = [&t.a, &t.b, &t.c]
        .iter()
        .map(|d| d.client().group_data(&t.gid).unwrap().name)
        .collect();
    assert!(names.iter().all(|n| n == &names[0]), "{names:?}");
    t.converged();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_public_id_moves_the_group_and_a_late_message_under_the_old_one_is_read() {
    let mut t = three().await;
    let old = t.a.client().group(&t.gid).unwrap().nostr_group_id;
    // Carol writes in the current epoch; bob does not sync yet.
    t.c.send_text(&t.gid, "under the old id").await.unwrap();
    let new = NostrGroupId::from_bytes([0x42; 32]);
    t.a.update_group_data(&t.gid, GroupDataUpdate::new().nostr_group_id(new))
        .await
        .unwrap();
    let outs = t.b.sync().await.unwrap();
    let texts: Vec<String> = outs
        .iter()
        .filter_map(|o| match o {
            Outcome::Message { event, .. } => Some(event.content.clone()),
            _ => None,
        })
        .collect();
    assert!(texts.contains(&"under the old id".to_owned()), "{outs:?}");
    t.sync_all().await;
    for d in [&t.a, &t.b, &t.c] {
        assert_eq!(d.client().group(&t.gid).unwrap().nostr_group_id, new);
    }
    // New messages travel under the new id.
    t.a.send_text(&t.gid, "under the new id").await.unwrap();
    let outs = t.c.sync().await.unwrap();
    assert!(
        outs.iter().any(
            |o| matches!(o, Outcome::Message { event, .. } if event.content == "under the new id")
        ),
        "{outs:?}"
    );
    assert_ne!(old, new);
    t.converged();
}
