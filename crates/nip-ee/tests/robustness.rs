//! Hostile input never panics: random bytes and mutated valid encodings through every
//! decoder of the crate, and messages delivered out of order.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use nipee::inner::chat_message;
use nipee::storage::MemoryStorage;
use nipee::{
    Client, ClientConfig, GroupEventKey, NewGroup, NostrGroupData, Outcome, WelcomeRumor,
    decode_inner_event, identity_to_pubkey,
};
use nipee_nostr::{Keys, Kind, Tags, Timestamp, UnsignedEvent};
use proptest::prelude::*;

const GROUP_DATA: &str = "1e7e4a209aafc3ab5110020db8f8fa8d73b9a2a7fcb9d45f366adfb31e95bb5507696e7465726f70116e6f7374722d6d6c7320766563746f72734042404037396265363637656639646362626163353561303632393563653837306230373032396266636462326463653238643935396632383135623136663831373938141377733a2f2f3132372e302e302e313a373737370000";

proptest! {
    #[test]
    fn group_data_decoding_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = NostrGroupData::decode(&bytes);
    }

    #[test]
    fn mutated_group_data_either_fails_or_reencodes_exactly(pos in 0usize..149, byte in any::<u8>()) {
        let mut b = hex::decode(GROUP_DATA).unwrap();
        b[pos] = byte;
        if let Ok(d) = NostrGroupData::decode(&b) {
            prop_assert_eq!(d.encode().unwrap(), b);
        }
    }

    #[test]
    fn inner_event_decoding_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let pk = Keys::generate(&mut rand::rng()).public_key();
        let _ = decode_inner_event(&bytes, &pk);
        let _ = identity_to_pubkey(&bytes);
    }

    #[test]
    fn welcome_rumor_parsing_never_panics(content in "[0-9a-f]{0,200}") {
        let pk = Keys::generate(&mut rand::rng()).public_key();
        let mut tags = Tags::new();
        tags.push(nipee_nostr::Tag::new(["e", &"ab".repeat(32)]));
        let r = UnsignedEvent::new(pk, Timestamp::from_secs(1), Kind::MLS_WELCOME, tags, content);
        let _ = WelcomeRumor::from_rumor(&r);
    }

    #[test]
    fn group_event_decryption_never_panics(content in ".{0,300}") {
        let key = GroupEventKey::from_exporter_secret(&[7u8; 32]).unwrap();
        let _ = key.decrypt(&content);
    }
}

#[test]
fn messages_of_one_epoch_decrypt_in_any_order() {
    let mut rng = rand::rng();
    let now = 1_800_000_000;
    let config = ClientConfig::with_relays(["wss://r.example"]);
    let mut alice = Client::new(
        Keys::generate(&mut rng),
        MemoryStorage::new(),
        config.clone(),
    )
    .unwrap();
    let mut bob = Client::new(Keys::generate(&mut rng), MemoryStorage::new(), config).unwrap();
    let kp = bob.create_key_package(false, now, &mut rng).unwrap().event;
    let (gid, w) = alice
        .create_group(NewGroup::new("g", vec![kp]), now, &mut rng)
        .unwrap();
    let _ = bob.process(&w.publish[0].event, now, &mut rng).unwrap();
    let events: Vec<_> = (0..20)
        .map(|i| {
            let m = chat_message(
                alice.public_key(),
                &format!("m{i}"),
                Timestamp::from_secs(now),
            );
            alice.send(&gid, &m, now, &mut rng).unwrap().event
        })
        .collect();
    let mut got = Vec::new();
    for e in events.iter().rev() {
        match bob.process(e, now, &mut rng).unwrap().outcome() {
            Outcome::Message { event, .. } => got.push(event.content),
            other => panic!("{other:?}"),
        }
    }
    let want: Vec<String> = (0..20).rev().map(|i| format!("m{i}")).collect();
    assert_eq!(got, want);
}
