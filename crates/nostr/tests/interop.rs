//! Differential tests against rust-nostr (`nostr` 0.45): events, NIP-44 and gift wraps
//! produced on one side must be accepted by the other, and ids must agree.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine as _;
use nipee_nostr::nip44::{self, ConversationKey, LengthPrefix};
use nipee_nostr::{
    Event, EventBuilder, Keys, Kind, PublicKey, SecretKey, Tag, Tags, Timestamp, UnsignedEvent,
    nip59,
};
use nostr::nips::nip59::{GiftWrapBuilder, UnwrappedGift};
use nostr::prelude as n;
use nostr::prelude::{FinalizeEvent as _, FinalizeUnsignedEvent as _};
use proptest::prelude::*;

fn their_keys(k: &Keys) -> n::Keys {
    n::Keys::new(n::SecretKey::from_slice(&*k.secret_key().to_secret_bytes()).unwrap())
}

fn their_pk(pk: &PublicKey) -> n::PublicKey {
    n::PublicKey::from_slice(pk.as_bytes()).unwrap()
}

fn our_keys(k: &n::Keys) -> Keys {
    Keys::new(SecretKey::from_bytes(&k.secret_key().to_secret_bytes()).unwrap())
}

fn their_tags(tags: &[Vec<String>]) -> Vec<n::Tag> {
    tags.iter()
        .map(|t| n::Tag::parse(t.clone()).unwrap())
        .collect()
}

fn tag_strategy() -> impl Strategy<Value = Vec<String>> {
    (
        prop_oneof![
            Just("t".to_string()),
            Just("client".to_string()),
            Just("x".to_string()),
            Just("relays".to_string()),
            "[a-z]{2,6}",
        ],
        prop::collection::vec(any::<String>(), 0..3),
    )
        .prop_map(|(name, mut rest)| {
            rest.insert(0, name);
            rest
        })
}

fn event_strategy() -> impl Strategy<Value = (u16, u64, Vec<Vec<String>>, String, [u8; 32])> {
    (
        any::<u16>(),
        0u64..=u64::from(u32::MAX) * 4,
        prop::collection::vec(tag_strategy(), 0..4),
        any::<String>(),
        any::<[u8; 32]>(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    #[test]
    fn events_signed_here_verify_in_rust_nostr_with_the_same_id(
        (kind, ts, tags, content, seed) in event_strategy()
    ) {
        let keys = match SecretKey::from_bytes(&seed) { Ok(sk) => Keys::new(sk), Err(_) => return Ok(()) };
        let mut rng = rand::rng();
        let ev = EventBuilder::new(Kind::new(kind), content.clone())
            .tags(tags.iter().map(|t| Tag::new(t.clone())))
            .sign_with_rng(&keys, Timestamp::from_secs(ts), &mut rng);
        let theirs = n::Event::from_json(ev.to_json()).unwrap();
        theirs.verify().unwrap();
        prop_assert_eq!(theirs.id.to_bytes(), ev.id().to_bytes());
        // Same fields built natively on their side give the same id.
        let their_unsigned = n::UnsignedEvent::new(
            their_pk(&keys.public_key()),
            n::Timestamp::from_secs(ts),
            n::Kind::from(kind),
            their_tags(&tags),
            content,
        );
        prop_assert_eq!(their_unsigned.compute_id().to_bytes(), ev.id().to_bytes());
    }

    #[test]
    fn events_signed_in_rust_nostr_verify_here(
        (kind, ts, tags, content, seed) in event_strategy()
    ) {
        let Ok(sk) = n::SecretKey::from_slice(&seed) else { return Ok(()) };
        let keys = n::Keys::new(sk);
        let theirs = n::EventBuilder::new(n::Kind::from(kind), content)
            .tags(their_tags(&tags))
            .custom_created_at(n::Timestamp::from_secs(ts))
            .finalize(&keys)
            .unwrap();
        let ours = Event::from_json(&theirs.as_json()).unwrap();
        prop_assert_eq!(ours.id().to_bytes(), theirs.id.to_bytes());
        prop_assert_eq!(ours.sig().to_bytes(), theirs.sig.to_bytes());
        // And ours re-serializes to JSON they accept.
        n::Event::from_json(ours.to_json()).unwrap().verify().unwrap();
    }

    #[test]
    fn nip44_payloads_decrypt_both_ways(
        pt in prop::collection::vec(any::<u8>(), 1..3000),
        a in any::<[u8; 32]>(),
        b in any::<[u8; 32]>(),
        nonce in any::<[u8; 32]>(),
    ) {
        let (Ok(sa), Ok(sb)) = (SecretKey::from_bytes(&a), SecretKey::from_bytes(&b)) else { return Ok(()) };
        let ours = ConversationKey::derive(&sa, &sb.public_key());
        let theirs = nostr::nips::nip44::v2::ConversationKey::derive(
            &n::SecretKey::from_slice(&b).unwrap(),
            &their_pk(&sa.public_key()),
        ).unwrap();
        prop_assert_eq!(ours.as_bytes().as_slice(), theirs.as_bytes());

        let payload = nip44::encrypt_with_nonce(&ours, &pt, &nonce, LengthPrefix::Extended).unwrap();
        let raw = base64::engine::general_purpose::STANDARD.decode(&payload).unwrap();
        prop_assert_eq!(&nostr::nips::nip44::v2::decrypt_to_bytes(&theirs, &raw).unwrap(), &pt);

        let their_raw = nostr::nips::nip44::v2::encrypt_to_bytes_with_nonce(&theirs, &pt, nonce).unwrap();
        prop_assert_eq!(&their_raw, &raw);
        prop_assert_eq!(nip44::decrypt_bytes(&ours, &their_raw).unwrap(), pt);
    }
}

#[test]
fn extended_prefix_payloads_decrypt_both_ways() {
    let mut rng = rand::rng();
    let a = Keys::generate(&mut rng);
    let b = Keys::generate(&mut rng);
    let ours = ConversationKey::derive(a.secret_key(), &b.public_key());
    let theirs = nostr::nips::nip44::v2::ConversationKey::derive(
        their_keys(&b).secret_key(),
        &their_pk(&a.public_key()),
    )
    .unwrap();
    for n in [65_535usize, 65_536, 100_000] {
        let pt: Vec<u8> = (0..n).map(|i| (i * 31 % 251) as u8).collect();
        let p = nip44::encrypt(&ours, &pt, &mut rng).unwrap();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(&p)
            .unwrap();
        assert_eq!(
            nostr::nips::nip44::v2::decrypt_to_bytes(&theirs, &raw).unwrap(),
            pt
        );
        let their =
            nostr::nips::nip44::v2::encrypt_to_bytes_with_nonce(&theirs, &pt, [7; 32]).unwrap();
        assert_eq!(nip44::decrypt_bytes(&ours, &their).unwrap(), pt);
    }
}

#[test]
fn nip44_string_api_interoperates_with_rust_nostr_keys_api() {
    let mut rng = rand::rng();
    let a = Keys::generate(&mut rng);
    let b = Keys::generate(&mut rng);
    let ck = ConversationKey::derive(a.secret_key(), &b.public_key());
    let p = nip44::encrypt_str(&ck, "héllo ✓ nostr", &mut rng).unwrap();
    let back =
        nostr::nips::nip44::decrypt(their_keys(&b).secret_key(), &their_pk(&a.public_key()), &p)
            .unwrap();
    assert_eq!(back, "héllo ✓ nostr");
    let theirs = nostr::nips::nip44::encrypt(
        their_keys(&b).secret_key(),
        &their_pk(&a.public_key()),
        "reply ✓",
        nostr::nips::nip44::Version::V2,
    )
    .unwrap();
    assert_eq!(nip44::decrypt_str(&ck, &theirs).unwrap(), "reply ✓");
}

#[test]
fn gift_wraps_made_here_unwrap_in_rust_nostr() {
    let mut rng = rand::rng();
    let alice = Keys::generate(&mut rng);
    let bob = Keys::generate(&mut rng);
    let now = Timestamp::from_secs(1_750_000_000);
    for content in ["hi bob", &"x".repeat(70_000)] {
        let rumor = UnsignedEvent::new(
            alice.public_key(),
            now,
            Kind::MLS_WELCOME,
            Tags::from(vec![Tag::relays(["wss://relay.example"])]),
            content,
        );
        let wrap = nip59::gift_wrap(&alice, &bob.public_key(), &rumor, now, &mut rng).unwrap();
        assert!(wrap.created_at() <= now);
        assert!(wrap.created_at() >= now.saturating_sub(nip59::DEFAULT_MAX_BACKDATE_SECS));
        let theirs = n::Event::from_json(wrap.to_json()).unwrap();
        theirs.verify().unwrap();
        let unwrapped = UnwrappedGift::from_gift_wrap(&their_keys(&bob), &theirs).unwrap();
        assert_eq!(unwrapped.sender.to_bytes(), alice.public_key().to_bytes());
        assert_eq!(unwrapped.rumor.content, content);
        assert_eq!(
            unwrapped.rumor.id.unwrap().to_bytes(),
            rumor.id().to_bytes()
        );
    }
}

#[test]
fn gift_wraps_made_in_rust_nostr_unwrap_here() {
    let alice = n::Keys::generate();
    let bob = n::Keys::generate();
    let rumor = n::EventBuilder::new(n::Kind::from(444u16), "welcome bytes")
        .tags([n::Tag::parse(["e", &"ab".repeat(32)]).unwrap()])
        .finalize_unsigned(alice.public_key());
    let wrap = GiftWrapBuilder::new(bob.public_key(), rumor.clone())
        .finalize(&alice)
        .unwrap();
    let ours = Event::from_json(&wrap.as_json()).unwrap();
    let u = nip59::unwrap_gift_wrap(&our_keys(&bob), &ours).unwrap();
    assert_eq!(u.sender.to_bytes(), alice.public_key().to_bytes());
    assert_eq!(u.rumor.content, "welcome bytes");
    assert_eq!(u.rumor.kind, Kind::MLS_WELCOME);
    assert_eq!(u.rumor.id().to_bytes(), rumor.compute_id().to_bytes());
}

#[test]
fn nip19_entities_agree_with_rust_nostr() {
    use nipee_nostr::EventId;
    use nipee_nostr::nip19::{Nip19Event, Nip19Profile};
    use nostr::nips::nip19::{FromBech32 as _, ToBech32 as _};
    let mut rng = rand::rng();
    let k = Keys::generate(&mut rng);
    let tk = their_keys(&k);
    // npub / nsec both ways.
    assert_eq!(
        k.public_key().to_bech32(),
        tk.public_key().to_bech32().unwrap()
    );
    assert_eq!(
        k.secret_key().to_bech32().as_str(),
        tk.secret_key().to_bech32().unwrap()
    );
    assert_eq!(
        PublicKey::from_bech32(&tk.public_key().to_bech32().unwrap()).unwrap(),
        k.public_key()
    );
    // nprofile / nevent made by rust-nostr decode here.
    let relay = n::RelayUrl::parse("wss://relay.example.com").unwrap();
    let their_profile = nostr::nips::nip19::Nip19Profile::new(tk.public_key(), [relay.clone()]);
    let ours = Nip19Profile::from_bech32(&their_profile.to_bech32().unwrap()).unwrap();
    assert_eq!(ours.public_key, k.public_key());
    assert_eq!(ours.relays.len(), 1);
    assert!(ours.relays[0].starts_with("wss://relay.example.com"));
    let id = [0x5au8; 32];
    let their_event = nostr::nips::nip19::Nip19Event::new(n::EventId::from_byte_array(id))
        .author(tk.public_key())
        .kind(n::Kind::from(445u16))
        .relays([relay]);
    let ours = Nip19Event::from_bech32(&their_event.to_bech32().unwrap()).unwrap();
    assert_eq!(ours.id, EventId::from_bytes(id));
    assert_eq!(ours.author, Some(k.public_key()));
    assert_eq!(ours.kind, Some(Kind::new(445)));
    // And ours decode there.
    let back = nostr::nips::nip19::Nip19Event::from_bech32(&ours.to_bech32().unwrap()).unwrap();
    assert_eq!(back.event_id.to_bytes(), id);
    assert_eq!(back.kind, Some(n::Kind::from(445u16)));

    // note, both ways.
    let their_note = n::EventId::from_byte_array(id).to_bech32().unwrap();
    assert_eq!(EventId::from_bytes(id).to_bech32(), their_note);
    assert_eq!(
        EventId::from_bech32(&their_note).unwrap(),
        EventId::from_bytes(id)
    );

    // naddr, both ways.
    use nipee_nostr::nip19::Nip19Address;
    let coordinate = nostr::nips::nip01::Coordinate::new(n::Kind::from(30_000u16), tk.public_key())
        .identifier("nipee-list");
    let their_addr = nostr::nips::nip19::Nip19Coordinate::new(
        coordinate,
        [n::RelayUrl::parse("wss://relay.example.com").unwrap()],
    );
    let ours = Nip19Address::from_bech32(&their_addr.to_bech32().unwrap()).unwrap();
    assert_eq!(ours.identifier, "nipee-list");
    assert_eq!(ours.author, k.public_key());
    assert_eq!(ours.kind, Kind::new(30_000));
    assert_eq!(ours.relays.len(), 1);
    let back =
        nostr::nips::nip19::Nip19Coordinate::from_bech32(&ours.to_bech32().unwrap()).unwrap();
    assert_eq!(back.identifier, "nipee-list");
    assert_eq!(back.public_key, tk.public_key());
    assert_eq!(back.kind, n::Kind::from(30_000u16));
    assert_eq!(back.relays.len(), 1);
}
