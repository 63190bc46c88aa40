//! Hostile input to the Marmot decoders never panics: random and mutated bytes through the
//! versioned group data, random contents through the kind-445 envelope, the Welcome rumor
//! and the KeyPackage event parser.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use nipee::marmot::envelope::MarmotEventKey;
use nipee::marmot::{group_data, key_package_event, welcome};
use nipee::{NostrGroupData, Profile};
use nipee_keypackage::ValidationPolicy;
use nipee_nostr::{EventBuilder, Keys, Kind, Tag, Tags, Timestamp, UnsignedEvent};
use proptest::prelude::*;

fn sample() -> Vec<u8> {
    let admin = Keys::generate(&mut rand::rng()).public_key();
    group_data::encode(&NostrGroupData::new(
        [5; 32],
        "g",
        "d",
        vec![admin],
        vec!["wss://r.example".into()],
    ))
    .unwrap()
}

proptest! {
    #[test]
    fn group_data_decoding_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = group_data::decode(&bytes);
    }

    #[test]
    fn mutated_group_data_either_fails_or_reencodes_exactly(pos in 0usize..90, byte in any::<u8>()) {
        let mut b = sample();
        let pos = pos % b.len();
        b[pos] = byte;
        if let Ok(d) = group_data::decode(&b) {
            prop_assert_eq!(group_data::encode(&d).unwrap(), b);
        }
    }

    #[test]
    fn group_event_decryption_never_panics(content in ".{0,300}") {
        let key = MarmotEventKey::from_exporter_secret(&[7u8; 32]);
        let _ = key.decrypt(&content);
    }

    #[test]
    fn welcome_rumor_parsing_never_panics(content in "[A-Za-z0-9+/=]{0,200}") {
        let pk = Keys::generate(&mut rand::rng()).public_key();
        let mut tags = Tags::new();
        tags.push(Tag::relays(["wss://r.example"]));
        tags.push(Tag::new(["e", &"ab".repeat(32)]));
        tags.push(nipee::marmot::encoding_tag());
        let r = UnsignedEvent::new(pk, Timestamp::from_secs(1), Kind::MLS_WELCOME, tags, content);
        let _ = welcome::from_rumor(&r);
    }

    #[test]
    fn key_package_event_parsing_never_panics(content in "[A-Za-z0-9+/=]{0,300}", d in "[0-9a-f]{0,70}") {
        let keys = Keys::generate(&mut rand::rng());
        let e = EventBuilder::new(Kind::new(30443), content)
            .tag(Tag::identifier(&d))
            .tag(Tag::new(["mls_protocol_version", "1.0"]))
            .tag(Tag::new(["mls_ciphersuite", "0x0001"]))
            .tag(Tag::new(["mls_extensions", "0x000a", "0xf2ee"]))
            .tag(Tag::new(["mls_proposals", "0x000a"]))
            .tag(Tag::relays(["wss://r.example"]))
            .tag(Tag::new(["i", &"00".repeat(32)]))
            .tag(nipee::marmot::encoding_tag())
            .sign(&keys, Timestamp::from_secs(1_800_000_000))
            .unwrap();
        prop_assert_eq!(Profile::of_key_package_event(&e), Profile::Marmot);
        prop_assert!(key_package_event::parse_key_package_event(&e, &ValidationPolicy::at(1_800_000_000)).is_err());
    }
}
