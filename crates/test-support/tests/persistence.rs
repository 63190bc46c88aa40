//! What the client writes per operation: an application message (received or sent)
//! rewrites only the secret-tree pieces of its sender's path, never the group row; a client
//! reloaded from those writes continues, and a used message key is gone from what is
//! stored.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use nipee::Outcome;
use nipee::storage::{Table, group_key};
use nipee_test_support::mem::Net;

fn rows(net: &Net, who: usize) -> Vec<(Table, Vec<u8>, Vec<u8>)> {
    net.members[who]
        .client
        .storage()
        .rows()
        .map(|(t, k, v)| (t, k.to_vec(), v.to_vec()))
        .collect()
}

#[test]
fn an_application_message_rewrites_only_its_senders_ratchet_and_a_reload_continues() {
    let mut net = Net::new(31);
    let (a, b, c) = (net.add("alice"), net.add("bob"), net.add("carol"));
    let gid = net.group(a, &[b, c]);
    let key = group_key(gid.as_bytes());
    let group_row = |net: &Net, who: usize| {
        net.members[who]
            .client
            .storage()
            .rows()
            .find(|(t, k, _)| *t == Table::Group && *k == key.as_slice())
            .map(|(_, _, v)| v.to_vec())
            .unwrap()
    };
    let before = group_row(&net, b);
    let before_rows = rows(&net, b);
    let first = net.say(a, &gid, "one");
    net.say(c, &gid, "two");
    net.sync(b);
    // Bob sends too: his own ratchet, again without the group row.
    net.say(b, &gid, "three");
    assert_eq!(
        group_row(&net, b),
        before,
        "a message rewrote the group row"
    );
    let changed: Vec<_> = rows(&net, b)
        .into_iter()
        .filter(|r| !before_rows.contains(r))
        .collect();
    assert!(
        changed
            .iter()
            // The inbox's counter (Meta) moves when the host acknowledges what it took.
            .all(|(t, _, _)| matches!(
                t,
                Table::Ratchet | Table::Processed | Table::Outbox | Table::Meta
            )),
        "{:?}",
        changed.iter().map(|(t, _, _)| t).collect::<Vec<_>>()
    );
    assert!(changed.iter().any(|(t, _, _)| *t == Table::Ratchet));

    // Reloaded from these writes, bob continues: he reads what follows, and the others
    // read him.
    net.restart(b);
    net.say(a, &gid, "four");
    net.sync_all();
    net.restart(b);
    net.say(b, &gid, "five");
    net.sync_all();
    assert_eq!(net.texts(b), vec!["one", "two", "four"]);
    assert!(net.texts(a).contains(&"five".to_owned()));
    assert!(net.texts(c).contains(&"five".to_owned()));

    // The key of a message read before the reload is not in what was stored: with the
    // processed marks forgotten, the message is still refused.
    let later = net.now + 40 * 86_400;
    net.members[b].client.prune_processed(later).unwrap();
    net.restart(b);
    let r = net.members[b].client.process(&first, net.now, &mut net.rng);
    assert!(
        r.is_err() || matches!(r.unwrap().outcome(), Outcome::Ignored(_)),
        "a used message key was read back from storage"
    );

    // A commit writes the group again; messages after it still reload.
    let now = net.now;
    let p = net.members[c]
        .client
        .rotate(&gid, now, &mut net.rng)
        .unwrap();
    net.commit(c, p);
    net.sync_all();
    net.say(a, &gid, "six");
    net.sync_all();
    net.restart(b);
    net.say(c, &gid, "seven");
    net.sync_all();
    net.assert_converged(&gid, &[a, b, c]);
    assert_eq!(net.texts(b).last().map(String::as_str), Some("seven"));
}

#[test]
fn member_keys_decoded_once_per_tree_follow_every_commit() {
    let mut net = Net::new(32);
    let (a, b, c) = (net.add("alice"), net.add("bob"), net.add("carol"));
    let gid = net.group(a, &[b]);
    let keys = |net: &Net| {
        let mut k: Vec<_> = net.members[b]
            .client
            .members(&gid)
            .unwrap()
            .into_iter()
            .map(|m| m.pubkey)
            .collect();
        k.sort();
        k
    };
    let mut two = vec![net.pk(a), net.pk(b)];
    two.sort();
    assert_eq!(keys(&net), two);
    let kp = net.key_package(c, false);
    let now = net.now;
    let p = net.members[a]
        .client
        .invite(&gid, &[kp], now, &mut net.rng)
        .unwrap();
    net.commit(a, p);
    net.sync_all();
    let mut three = vec![net.pk(a), net.pk(b), net.pk(c)];
    three.sort();
    assert_eq!(keys(&net), three);
    // Carol's messages are read with her key from the cache of the new tree.
    net.say(c, &gid, "from carol");
    net.sync_all();
    assert_eq!(net.texts(b), vec!["from carol"]);
    let now = net.now;
    let carol = net.pk(c);
    let p = net.members[a]
        .client
        .remove(&gid, &[carol], now, &mut net.rng)
        .unwrap();
    net.commit(a, p);
    net.sync_all();
    assert_eq!(keys(&net), two);
    assert_eq!(net.members[b].client.group(&gid).unwrap().members.len(), 2);
}
