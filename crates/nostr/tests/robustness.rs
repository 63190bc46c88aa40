//! Bad input yields typed errors, never panics; plus the NIP-59 attack cases and the
//! typed NIP helpers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use nipee_nostr::nip44::{self, ConversationKey, LengthPrefix};
use nipee_nostr::nips::nip09::DeletionRequest;
use nipee_nostr::nips::nip65::{RelayList, RelayUsage};
use nipee_nostr::nips::nipee_relays::KeyPackageRelays;
use nipee_nostr::{
    Error, ErrorKind, Event, EventBuilder, EventId, Filter, Keys, Kind, ParseLimits, PublicKey,
    SecretKey, Tag, Tags, Timestamp, UnsignedEvent, nip59,
};
use proptest::prelude::*;

const NOW: Timestamp = Timestamp::from_secs(1_750_000_000);

fn keys(n: u8) -> Keys {
    let mut b = [0u8; 32];
    b[31] = n;
    Keys::new(SecretKey::from_bytes(&b).unwrap())
}

fn note() -> Event {
    EventBuilder::text_note("hello")
        .tag(Tag::public_key(&keys(2).public_key()))
        .build(keys(1).public_key(), NOW)
        .sign_with_aux_rand(&keys(1), &[0; 32])
        .unwrap()
}

fn replace(json: &str, field: &str, new_value: &str) -> String {
    let mut v: serde_json::Value = serde_json::from_str(json).unwrap();
    v[field] = serde_json::Value::String(new_value.to_string());
    v.to_string()
}

#[test]
fn malformed_json_is_a_json_error() {
    for bad in ["", "{", "[]", "null", "{\"id\":1}", "{\"kind\":1}"] {
        let e = Event::from_json(bad).unwrap_err();
        assert!(matches!(e, Error::Json { .. }), "{bad}: {e:?}");
        assert_eq!(e.kind(), ErrorKind::Malformed);
    }
    let j = note().to_json();
    let big_kind = j.replace("\"kind\":1", "\"kind\":70000");
    assert!(matches!(
        Event::from_json(&big_kind),
        Err(Error::Json { .. })
    ));
    let neg_time = j.replace(
        &format!("\"created_at\":{}", NOW.as_u64()),
        "\"created_at\":-1",
    );
    assert!(matches!(
        Event::from_json(&neg_time),
        Err(Error::Json { .. })
    ));
}

#[test]
fn wrong_id_is_id_mismatch_and_bad_signature_is_bad_signature() {
    let ev = note();
    let j = ev.to_json();
    let wrong_id = replace(&j, "id", &"00".repeat(32));
    let e = Event::from_json(&wrong_id).unwrap_err();
    assert!(matches!(e, Error::IdMismatch { .. }), "{e:?}");
    assert_eq!(e.kind(), ErrorKind::Invalid);

    let tampered_content = replace(&j, "content", "hellO");
    assert!(matches!(
        Event::from_json(&tampered_content),
        Err(Error::IdMismatch { .. })
    ));

    let mut sig = ev.sig().to_hex();
    sig.replace_range(0..2, if sig.starts_with("00") { "01" } else { "00" });
    let bad_sig = replace(&j, "sig", &sig);
    assert!(matches!(
        Event::from_json(&bad_sig),
        Err(Error::BadSignature { .. })
    ));
    // The explicitly unchecked path accepts it, and verify() then rejects it.
    let unchecked = Event::from_json_unchecked(&bad_sig).unwrap();
    assert!(!unchecked.is_verified());
    assert!(matches!(
        unchecked.verify(),
        Err(Error::BadSignature { .. })
    ));
    assert!(unchecked.into_verified().is_err());
    assert!(Event::from_json(&j).unwrap().is_verified());
    let good_unchecked = Event::from_json_unchecked(&j).unwrap();
    assert!(!good_unchecked.is_verified());
    assert!(good_unchecked.into_verified().unwrap().is_verified());
    assert!(ev.is_verified());
    // The serde path verifies too.
    assert!(serde_json::from_str::<Event>(&bad_sig).is_err());
    assert!(serde_json::from_str::<Event>(&j).is_ok());
    let v: serde_json::Value = serde_json::from_str(&bad_sig).unwrap();
    assert!(matches!(
        Event::from_value(&v),
        Err(Error::BadSignature { .. })
    ));
}

#[test]
fn uppercase_or_non_hex_fields_are_hex_errors() {
    let ev = note();
    let j = ev.to_json();
    for field in ["id", "pubkey", "sig"] {
        let v: serde_json::Value = serde_json::from_str(&j).unwrap();
        let orig = v[field].as_str().unwrap().to_string();
        let upper = replace(&j, field, &orig.to_uppercase());
        assert!(
            matches!(Event::from_json(&upper), Err(Error::Hex { .. })),
            "{field} uppercase"
        );
        let nonhex = replace(&j, field, &format!("zz{}", &orig[2..]));
        assert!(
            matches!(Event::from_json(&nonhex), Err(Error::Hex { .. })),
            "{field} non-hex"
        );
        let short = replace(&j, field, &orig[2..]);
        assert!(
            matches!(
                Event::from_json(&short),
                Err(Error::Length { field: f, .. }) if f == field
            ),
            "{field} short"
        );
    }
    // A pubkey that is not on the curve.
    let off_curve = replace(&j, "pubkey", &"ff".repeat(32));
    assert!(matches!(
        Event::from_json(&off_curve),
        Err(Error::InvalidKey { .. })
    ));
}

#[test]
fn oversized_input_is_too_large() {
    let ev = EventBuilder::text_note("x".repeat(5000))
        .sign(&keys(1), NOW)
        .unwrap();
    let limits = ParseLimits::new(4096, 10, 10);
    assert!(matches!(
        Event::from_json_with_limits(&ev.to_json(), &limits),
        Err(Error::TooLarge { .. })
    ));
    let many_tags = EventBuilder::text_note("x")
        .tags((0..11).map(|i| Tag::new(["t", &i.to_string()])))
        .sign(&keys(1), NOW)
        .unwrap();
    assert!(matches!(
        Event::from_json_with_limits(&many_tags.to_json(), &limits),
        Err(Error::TooLarge { field: "tags", .. })
    ));
    let ck = ConversationKey::from_bytes([1; 32]);
    let p = nip44::encrypt_with_nonce(&ck, &[7u8; 5000], &[2; 32], LengthPrefix::Extended).unwrap();
    assert!(matches!(
        nip44::decrypt_with_limit(&ck, &p, 1000),
        Err(Error::TooLarge { .. })
    ));
    assert_eq!(
        nip44::decrypt_with_limit(&ck, &p, 5000).unwrap(),
        vec![7u8; 5000]
    );
}

#[test]
fn nip44_payload_errors_are_typed() {
    let ck = ConversationKey::from_bytes([1; 32]);
    let good = nip44::encrypt_with_nonce(&ck, b"hello", &[2; 32], LengthPrefix::Classic).unwrap();
    let mut raw = base64_decode(&good);

    // Wrong version.
    raw[0] = 1;
    assert!(matches!(
        nip44::decrypt(&ck, &base64_encode(&raw)),
        Err(Error::UnsupportedVersion { version: Some(1) })
    ));
    raw[0] = 2;
    // Bad MAC.
    let last = raw.len() - 1;
    raw[last] ^= 1;
    assert!(matches!(
        nip44::decrypt(&ck, &base64_encode(&raw)),
        Err(Error::BadMac)
    ));
    raw[last] ^= 1;
    // Flipping a ciphertext bit breaks the MAC, never the padding check first.
    raw[40] ^= 1;
    assert!(matches!(
        nip44::decrypt(&ck, &base64_encode(&raw)),
        Err(Error::BadMac)
    ));
    raw[40] ^= 1;
    // Truncated: below 132 characters the length check fires first (spec order) ...
    assert!(matches!(
        nip44::decrypt(&ck, &good[..good.len() - 1]),
        Err(Error::Nip44Payload { .. })
    ));
    // ... above it the base64 decoder rejects the truncated input.
    let long = nip44::encrypt_with_nonce(&ck, &[1; 100], &[2; 32], LengthPrefix::Classic).unwrap();
    for cut in 1..4 {
        assert!(matches!(
            nip44::decrypt(&ck, &long[..long.len() - cut]),
            Err(Error::Base64 { .. })
        ));
    }
    // '#' prefix and empty.
    assert!(matches!(
        nip44::decrypt(&ck, "#abc"),
        Err(Error::UnsupportedVersion { version: None })
    ));
    // Wrong key is a MAC failure.
    let other = ConversationKey::from_bytes([9; 32]);
    assert!(matches!(nip44::decrypt(&other, &good), Err(Error::BadMac)));
    // Non-UTF-8 plaintext through the string API.
    let bin =
        nip44::encrypt_with_nonce(&ck, &[0xff, 0xfe], &[2; 32], LengthPrefix::Classic).unwrap();
    assert!(matches!(nip44::decrypt_str(&ck, &bin), Err(Error::NotUtf8)));
    assert_eq!(nip44::decrypt(&ck, &bin).unwrap(), vec![0xff, 0xfe]);
    // Empty plaintext is misuse.
    assert_eq!(
        nip44::encrypt_with_nonce(&ck, b"", &[2; 32], LengthPrefix::Extended)
            .unwrap_err()
            .kind(),
        ErrorKind::Misuse
    );
}

#[test]
fn bad_padding_under_a_valid_mac_is_bad_padding() {
    // Build a payload whose MAC is right but whose length prefix lies, using the public
    // message-key derivation (what an attacker holding the conversation key could do).
    use chacha20::ChaCha20;
    use chacha20::cipher::{KeyIvInit, StreamCipher};
    use hmac::{Hmac, KeyInit, Mac};
    let ck = ConversationKey::from_bytes([5; 32]);
    let nonce = [6u8; 32];
    let k = nip44::message_keys(&ck, &nonce).unwrap();
    for padded in [
        {
            let mut p = vec![0u8, 40]; // claims 40 bytes, but only 32 follow
            p.extend_from_slice(&[b'a'; 32]);
            p
        },
        {
            let mut p = vec![0u8, 0, 0, 0, 0, 10]; // extended prefix with a small length
            p.extend_from_slice(&[b'a'; 32]);
            p
        },
        {
            let mut p = vec![0u8, 5]; // 5 bytes padded to 64 instead of 32
            p.extend_from_slice(&[b'a'; 64]);
            p
        },
    ] {
        let mut ct = padded.clone();
        ChaCha20::new(&k.chacha_key.into(), &k.chacha_nonce.into()).apply_keystream(&mut ct);
        let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&k.hmac_key).unwrap();
        mac.update(&nonce);
        mac.update(&ct);
        let mut raw = vec![2u8];
        raw.extend_from_slice(&nonce);
        raw.extend_from_slice(&ct);
        raw.extend_from_slice(&mac.finalize().into_bytes());
        let got = nip44::decrypt(&ck, &base64_encode(&raw));
        assert!(matches!(got, Err(Error::BadPadding { .. })), "{got:?}");
    }
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

fn base64_encode(b: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(b)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, .. ProptestConfig::default() })]

    #[test]
    fn event_parser_never_panics_on_arbitrary_text(s in any::<String>()) {
        let _ = Event::from_json(&s);
        let _ = Event::from_json_unchecked(&s);
        let _ = UnsignedEvent::from_json(&s);
        let _ = Filter::from_json(&s);
    }

    #[test]
    fn event_parser_never_panics_on_mutated_events(
        pos in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let j = note().to_json().into_bytes();
        let mut m = j.clone();
        let i = pos.index(m.len());
        m[i] = byte;
        if let Ok(s) = String::from_utf8(m) {
            match Event::from_json(&s) {
                // Only a no-op mutation or one JSON ignores can still verify.
                Ok(ev) => prop_assert_eq!(ev, note()),
                Err(e) => prop_assert!(!e.to_string().is_empty()),
            }
        }
    }

    #[test]
    fn nip44_decrypt_never_panics_on_arbitrary_payloads(s in any::<String>()) {
        let ck = ConversationKey::from_bytes([3; 32]);
        let _ = nip44::decrypt(&ck, &s);
    }

    #[test]
    fn nip44_decrypt_never_panics_on_arbitrary_bytes(raw in prop::collection::vec(any::<u8>(), 0..400)) {
        let ck = ConversationKey::from_bytes([3; 32]);
        let _ = nip44::decrypt_bytes(&ck, &raw);
        let _ = nip44::decrypt(&ck, &base64_encode(&raw));
    }

    #[test]
    fn nip44_rejects_every_single_bit_flip(
        pt in prop::collection::vec(any::<u8>(), 1..200),
        bit in any::<prop::sample::Index>(),
    ) {
        let ck = ConversationKey::from_bytes([4; 32]);
        let p = nip44::encrypt_with_nonce(&ck, &pt, &[8; 32], LengthPrefix::Extended).unwrap();
        let mut raw = base64_decode(&p);
        let b = bit.index(raw.len() * 8);
        raw[b / 8] ^= 1 << (b % 8);
        prop_assert!(nip44::decrypt(&ck, &base64_encode(&raw)).is_err());
    }

    #[test]
    fn canonical_serialization_matches_serde_json(content in any::<String>(), tag in any::<String>()) {
        let pk = keys(1).public_key();
        let tags = Tags::from(vec![Tag::new(["t", tag.as_str()])]);
        let u = UnsignedEvent::new(pk, NOW, Kind::TEXT_NOTE, tags, content.clone());
        let expected = serde_json::to_string(&(0, pk.to_hex(), NOW.as_u64(), 1, vec![vec!["t", tag.as_str()]], content)).unwrap();
        prop_assert_eq!(u.canonical_serialization(), expected);
    }
}

// ---- NIP-59 attack cases -------------------------------------------------------------

fn wrap_raw_seal(seal: &Event, receiver: &PublicKey, rng: &mut impl rand::CryptoRng) -> Event {
    let eph = Keys::generate(rng);
    let ck = ConversationKey::derive(eph.secret_key(), receiver);
    let content = nip44::encrypt(&ck, seal.to_json().as_bytes(), rng).unwrap();
    EventBuilder::new(Kind::GIFT_WRAP, content)
        .tag(Tag::public_key(receiver))
        .sign_with_rng(&eph, NOW, rng)
}

fn seal_raw(
    author: &Keys,
    receiver: &PublicKey,
    rumor_json: &str,
    tags: Vec<Tag>,
    rng: &mut impl rand::CryptoRng,
) -> Event {
    let ck = ConversationKey::derive(author.secret_key(), receiver);
    let content = nip44::encrypt(&ck, rumor_json.as_bytes(), rng).unwrap();
    EventBuilder::new(Kind::SEAL, content)
        .tags(tags)
        .sign_with_rng(author, NOW, rng)
}

#[test]
fn seal_signed_by_someone_else_than_the_rumor_author_is_rejected() {
    let mut rng = rand::rng();
    let (alice, bob, mallory) = (keys(1), keys(2), keys(3));
    let rumor = UnsignedEvent::new(
        alice.public_key(),
        NOW,
        Kind::TEXT_NOTE,
        Tags::new(),
        "I am alice",
    );
    let seal = seal_raw(
        &mallory,
        &bob.public_key(),
        &rumor.to_json(),
        vec![],
        &mut rng,
    );
    let wrap = wrap_raw_seal(&seal, &bob.public_key(), &mut rng);
    let e = nip59::unwrap_gift_wrap(&bob, &wrap).unwrap_err();
    assert!(matches!(e, Error::SealAuthorMismatch { .. }), "{e:?}");
    // The builder refuses to make such a seal in the first place.
    assert_eq!(
        nip59::gift_wrap(&mallory, &bob.public_key(), &rumor, NOW, &mut rng)
            .unwrap_err()
            .kind(),
        ErrorKind::Misuse
    );
}

#[test]
fn signed_rumor_seal_with_tags_and_wrong_kinds_are_rejected() {
    let mut rng = rand::rng();
    let (alice, bob) = (keys(1), keys(2));
    let signed = EventBuilder::text_note("signed").sign(&alice, NOW).unwrap();
    let seal = seal_raw(
        &alice,
        &bob.public_key(),
        &signed.to_json(),
        vec![],
        &mut rng,
    );
    let wrap = wrap_raw_seal(&seal, &bob.public_key(), &mut rng);
    assert!(matches!(
        nip59::unwrap_gift_wrap(&bob, &wrap),
        Err(Error::GiftWrap { layer: "rumor", .. })
    ));

    let rumor = UnsignedEvent::new(alice.public_key(), NOW, Kind::TEXT_NOTE, Tags::new(), "x");
    let tagged = seal_raw(
        &alice,
        &bob.public_key(),
        &rumor.to_json(),
        vec![Tag::public_key(&bob.public_key())],
        &mut rng,
    );
    let wrap = wrap_raw_seal(&tagged, &bob.public_key(), &mut rng);
    assert!(matches!(
        nip59::unwrap_gift_wrap(&bob, &wrap),
        Err(Error::GiftWrap { layer: "seal", .. })
    ));

    let not_a_seal = EventBuilder::text_note("x").sign(&alice, NOW).unwrap();
    let wrap = wrap_raw_seal(&not_a_seal, &bob.public_key(), &mut rng);
    assert!(matches!(
        nip59::unwrap_gift_wrap(&bob, &wrap),
        Err(Error::UnexpectedKind { found: 1, .. })
    ));
    assert!(matches!(
        nip59::unwrap_gift_wrap(&bob, &not_a_seal),
        Err(Error::UnexpectedKind { found: 1, .. })
    ));

    // Rumor id that does not match its fields.
    let mut v: serde_json::Value = serde_json::from_str(&rumor.to_json()).unwrap();
    v["id"] = serde_json::Value::String("11".repeat(32));
    let seal = seal_raw(&alice, &bob.public_key(), &v.to_string(), vec![], &mut rng);
    let wrap = wrap_raw_seal(&seal, &bob.public_key(), &mut rng);
    assert!(matches!(
        nip59::unwrap_gift_wrap(&bob, &wrap),
        Err(Error::IdMismatch { .. })
    ));
}

#[test]
fn tampered_gift_wrap_signature_is_rejected_even_if_built_unchecked() {
    let mut rng = rand::rng();
    let (alice, bob) = (keys(1), keys(2));
    let rumor = UnsignedEvent::new(alice.public_key(), NOW, Kind::TEXT_NOTE, Tags::new(), "x");
    let wrap = nip59::gift_wrap(&alice, &bob.public_key(), &rumor, NOW, &mut rng).unwrap();
    let mut sig = wrap.sig().to_hex();
    sig.replace_range(0..2, if sig.starts_with("00") { "01" } else { "00" });
    let bad = Event::from_json_unchecked(&replace(&wrap.to_json(), "sig", &sig)).unwrap();
    assert!(matches!(
        nip59::unwrap_gift_wrap(&bob, &bad),
        Err(Error::BadSignature { what: "gift wrap" })
    ));
}

#[test]
fn gift_wrap_timestamps_are_random_and_never_in_the_future() {
    let mut rng = rand::rng();
    let (alice, bob) = (keys(1), keys(2));
    let rumor = UnsignedEvent::new(alice.public_key(), NOW, Kind::TEXT_NOTE, Tags::new(), "x");
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..20 {
        let wrap = nip59::gift_wrap(&alice, &bob.public_key(), &rumor, NOW, &mut rng).unwrap();
        let u = nip59::unwrap_gift_wrap(&bob, &wrap).unwrap();
        for t in [wrap.created_at(), u.seal.created_at()] {
            assert!(t <= NOW && t >= NOW.saturating_sub(nip59::DEFAULT_MAX_BACKDATE_SECS));
            seen.insert(t);
        }
        assert_eq!(wrap.tags().public_keys().unwrap(), vec![bob.public_key()]);
        assert!(u.seal.tags().is_empty());
        assert_eq!(u.rumor, rumor);
    }
    assert!(seen.len() > 30, "timestamps are not randomized: {seen:?}");
}

#[test]
fn classic_gift_wraps_open_with_a_classic_decoder_and_refuse_what_does_not_fit() {
    let mut rng = rand::rng();
    let (alice, bob) = (keys(1), keys(2));
    let classic = nip59::GiftWrapOptions::new().with_length_prefix(LengthPrefix::Classic);
    let small = UnsignedEvent::new(alice.public_key(), NOW, Kind::TEXT_NOTE, Tags::new(), "x");
    let wrap =
        nip59::gift_wrap_with(&alice, &bob.public_key(), &small, NOW, &classic, &mut rng).unwrap();
    // Both layers read with a decoder that knows only the 2-byte prefix.
    let ck = ConversationKey::derive(bob.secret_key(), &wrap.pubkey());
    let seal = Event::from_json(
        &String::from_utf8(nip44::decrypt_classic(&ck, wrap.content()).unwrap()).unwrap(),
    )
    .unwrap();
    let ck = ConversationKey::derive(bob.secret_key(), &alice.public_key());
    let rumor = nip44::decrypt_classic(&ck, seal.content()).unwrap();
    assert_eq!(String::from_utf8(rumor).unwrap(), small.to_json());
    assert_eq!(nip59::unwrap_gift_wrap(&bob, &wrap).unwrap().rumor, small);
    // A 60 000-byte rumor fits the classic seal, but its seal (base64 grows it by a third)
    // does not fit the classic wrap; the extended default carries it.
    let big = UnsignedEvent::new(
        alice.public_key(),
        NOW,
        Kind::TEXT_NOTE,
        Tags::new(),
        "y".repeat(60_000),
    );
    let e = nip59::gift_wrap_with(&alice, &bob.public_key(), &big, NOW, &classic, &mut rng)
        .unwrap_err();
    assert!(
        matches!(e, Error::PlaintextTooLong { found, limit: 65_535, prefix: "classic" } if found > 80_000),
        "{e}"
    );
    assert_eq!(e.kind(), ErrorKind::Misuse);
    let wrap = nip59::gift_wrap(&alice, &bob.public_key(), &big, NOW, &mut rng).unwrap();
    assert_eq!(nip59::unwrap_gift_wrap(&bob, &wrap).unwrap().rumor, big);
}

// ---- filters, tags and typed NIPs ----------------------------------------------------

#[test]
fn filters_serialize_for_req_and_match_locally() {
    let ev = note();
    let f = Filter::new()
        .kind(Kind::TEXT_NOTE)
        .author(keys(1).public_key())
        .pubkey_tags([keys(2).public_key()])
        .since(NOW)
        .until(NOW)
        .limit(10);
    assert!(f.matches(&ev));
    let json = f.to_json();
    assert_eq!(
        json,
        format!(
            "{{\"authors\":[\"{}\"],\"kinds\":[1],\"#p\":[\"{}\"],\"since\":{n},\"until\":{n},\"limit\":10}}",
            keys(1).public_key().to_hex(),
            keys(2).public_key().to_hex(),
            n = NOW.as_u64()
        )
    );
    assert_eq!(Filter::from_json(&json).unwrap(), f);
    assert!(!Filter::new().kind(Kind::GIFT_WRAP).matches(&ev));
    assert!(!Filter::new().author(keys(3).public_key()).matches(&ev));
    assert!(!Filter::new().since(NOW.saturating_add(1)).matches(&ev));
    assert!(!Filter::new().until(NOW.saturating_sub(1)).matches(&ev));
    assert!(!Filter::new().group("abcd").matches(&ev));
    assert!(Filter::new().id(ev.id()).matches(&ev));
    assert!(!Filter::new().id(EventId::from_bytes([0; 32])).matches(&ev));
    assert!(
        Filter::new()
            .tag('z', ["nope"])
            .unwrap()
            .tag('p', [keys(2).public_key().to_hex()])
            .is_ok()
    );
    assert!(Filter::new().tag('1', ["x"]).is_err());
    assert!(Filter::from_json("{\"authors\":[\"ABC\"]}").is_err());
    assert!(Filter::from_json("{\"kinds\":[70000]}").is_err());
}

#[test]
fn typed_tags_round_trip() {
    let id = EventId::from_bytes([0xab; 32]);
    let pk = keys(2).public_key();
    let ev = EventBuilder::new(Kind::MLS_KEY_PACKAGE, "00")
        .tag(Tag::event(&id, Some("wss://r.example"), None))
        .tag(Tag::public_key(&pk))
        .tag(Tag::group("beef"))
        .tag(Tag::identifier("d1"))
        .tag(Tag::relays(["wss://a.example", "wss://b.example"]))
        .tag(Tag::client("nipee", None, None))
        .tag(Tag::expiration(NOW.saturating_add(60)))
        .tag(Tag::protected())
        .sign(&keys(1), NOW)
        .unwrap();
    let t = ev.tags();
    assert_eq!(t.event_ids().unwrap(), vec![id]);
    assert_eq!(t.public_keys().unwrap(), vec![pk]);
    assert_eq!(t.group(), Some("beef"));
    assert_eq!(t.identifier(), Some("d1"));
    assert_eq!(t.relays(), vec!["wss://a.example", "wss://b.example"]);
    assert_eq!(t.client(), Some("nipee"));
    assert_eq!(t.expiration().unwrap(), Some(NOW.saturating_add(60)));
    assert!(ev.is_protected());
    assert!(!ev.is_expired(NOW));
    assert!(ev.is_expired(NOW.saturating_add(60)));
    let bad = Tags::from(vec![Tag::new(["expiration", "+5"])]);
    assert!(matches!(bad.expiration(), Err(Error::Tag { .. })));
    let bad_e = Tags::from(vec![Tag::new(["e", "XYZ"])]);
    assert!(matches!(bad_e.event_ids(), Err(Error::Tag { .. })));
}

#[test]
fn deletion_relay_list_and_key_package_relays_round_trip() {
    let author = keys(1);
    let target = note();
    let req = DeletionRequest {
        event_ids: vec![target.id()],
        kinds: vec![Kind::TEXT_NOTE],
        reason: "oops".into(),
        ..Default::default()
    };
    let ev = req.to_builder().unwrap().sign(&author, NOW).unwrap();
    let parsed = DeletionRequest::from_event(&ev).unwrap();
    assert_eq!(parsed, req);
    assert!(parsed.deletes(&ev.pubkey(), &target));
    assert!(!parsed.deletes(&keys(3).public_key(), &target));
    assert!(DeletionRequest::default().to_builder().is_err());

    let rl = RelayList {
        relays: vec![
            ("wss://both.example".into(), RelayUsage::Both),
            ("wss://read.example".into(), RelayUsage::Read),
            ("wss://write.example".into(), RelayUsage::Write),
        ],
    };
    let ev = rl.to_builder().unwrap().sign(&author, NOW).unwrap();
    assert_eq!(ev.kind(), Kind::RELAY_LIST);
    let back = RelayList::from_event(&ev).unwrap();
    assert_eq!(back, rl);
    assert_eq!(
        back.read_relays().collect::<Vec<_>>(),
        vec!["wss://both.example", "wss://read.example"]
    );
    assert_eq!(
        back.write_relays().collect::<Vec<_>>(),
        vec!["wss://both.example", "wss://write.example"]
    );
    assert!(
        RelayList {
            relays: vec![("http://x".into(), RelayUsage::Both)]
        }
        .to_builder()
        .is_err()
    );

    let kpr = KeyPackageRelays {
        relays: vec![
            "wss://inbox.nostr.wine".into(),
            "wss://myrelay.nostr1.com".into(),
        ],
    };
    let ev = kpr.to_builder().unwrap().sign(&author, NOW).unwrap();
    assert_eq!(ev.kind().as_u16(), 10051);
    assert_eq!(ev.tags().with_name("relay").count(), 2);
    assert_eq!(KeyPackageRelays::from_event(&ev).unwrap(), kpr);
    assert!(KeyPackageRelays::from_event(&note()).is_err());
    assert!(KeyPackageRelays::default().to_builder().is_err());
}

#[test]
fn secrets_do_not_print_and_keys_parse_strictly() {
    let k = keys(7);
    let dbg = format!("{:?} {:?}", k, k.secret_key());
    assert!(!dbg.contains(k.secret_key().to_secret_hex().as_str()));
    assert!(dbg.contains("SecretKey(..)"));
    let ck = ConversationKey::derive(k.secret_key(), &keys(8).public_key());
    assert_eq!(format!("{ck:?}"), "ConversationKey(..)");
    assert!(matches!(
        SecretKey::from_slice(&[1u8; 33]),
        Err(Error::Length {
            field: "secret key",
            expected: 32,
            found: 33,
            ..
        })
    ));
    assert!(matches!(
        PublicKey::from_slice(&[1u8; 31]),
        Err(Error::Length {
            field: "public key",
            ..
        })
    ));
    assert!(matches!(
        SecretKey::from_bytes(&[0u8; 32]),
        Err(Error::InvalidKey { .. })
    ));
    assert_eq!(
        Keys::parse(&k.secret_key().to_bech32())
            .unwrap()
            .public_key(),
        k.public_key()
    );
    assert_eq!(
        PublicKey::parse(&k.public_key().to_bech32()).unwrap(),
        k.public_key()
    );
    let signed_by_other = EventBuilder::text_note("x").build(keys(1).public_key(), NOW);
    assert_eq!(
        signed_by_other.sign(&k).unwrap_err().kind(),
        ErrorKind::Misuse
    );
}
