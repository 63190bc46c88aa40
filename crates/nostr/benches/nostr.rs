//! nipee-nostr against rust-nostr (`nostr` 0.45) in the same run: sign, verify, NIP-44
//! encrypt/decrypt of 1 KiB with a cached conversation key, gift wrap and unwrap.
//!
//! `cargo bench -p nipee-nostr --bench nostr -- --warm-up-time 1 --measurement-time 3`
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;

use base64::Engine as _;
use criterion::{Criterion, criterion_group, criterion_main};
use nipee_nostr::nip44::{self, ConversationKey, LengthPrefix};
use nipee_nostr::{
    Event, EventBuilder, Keys, Kind, SecretKey, Tag, Tags, Timestamp, UnsignedEvent, nip59,
};
use nostr::nips::nip59::{GiftWrapBuilder, UnwrappedGift};
use nostr::prelude as n;
use nostr::prelude::{FinalizeEvent as _, FinalizeUnsignedEvent as _};

const NOW: u64 = 1_750_000_000;
const CONTENT: &str =
    "Benchmark note: the quick brown fox jumps over the lazy dog. \"quoted\"\n\ttabbed ✓";

fn pair(seed: u8) -> (Keys, n::Keys) {
    let mut b = [0u8; 32];
    b[0] = 0x11;
    b[31] = seed;
    (
        Keys::new(SecretKey::from_bytes(&b).unwrap()),
        n::Keys::new(n::SecretKey::from_slice(&b).unwrap()),
    )
}

fn bench_sign_verify(c: &mut Criterion) {
    let (ours, theirs) = pair(1);
    let (_, their_bob) = pair(2);
    let tag_hex = their_bob.public_key().to_hex();

    let mut g = c.benchmark_group("sign");
    g.bench_function("nipee", |b| {
        b.iter(|| {
            EventBuilder::text_note(black_box(CONTENT))
                .tag(Tag::new(["p", tag_hex.as_str()]))
                .sign(&ours, Timestamp::from_secs(NOW))
                .unwrap()
        })
    });
    g.bench_function("rust-nostr", |b| {
        b.iter(|| {
            n::EventBuilder::new(n::Kind::from(1u16), black_box(CONTENT))
                .tags([n::Tag::parse(["p", tag_hex.as_str()]).unwrap()])
                .custom_created_at(n::Timestamp::from_secs(NOW))
                .finalize(&theirs)
                .unwrap()
        })
    });
    g.finish();

    let ev = EventBuilder::text_note(CONTENT)
        .tag(Tag::new(["p", tag_hex.as_str()]))
        .sign(&ours, Timestamp::from_secs(NOW))
        .unwrap();
    let json = ev.to_json();
    let their_ev = n::Event::from_json(&json).unwrap();

    let mut g = c.benchmark_group("verify");
    g.bench_function("nipee", |b| b.iter(|| black_box(&ev).verify().unwrap()));
    g.bench_function("rust-nostr", |b| {
        b.iter(|| black_box(&their_ev).verify().unwrap())
    });
    g.finish();

    let mut g = c.benchmark_group("parse_and_verify_json");
    g.bench_function("nipee", |b| {
        b.iter(|| Event::from_json(black_box(&json)).unwrap())
    });
    g.bench_function("rust-nostr", |b| {
        b.iter(|| {
            let e = n::Event::from_json(black_box(&json)).unwrap();
            e.verify().unwrap();
            e
        })
    });
    g.finish();
}

fn bench_nip44(c: &mut Criterion) {
    let (a, ta) = pair(3);
    let (b_keys, tb) = pair(4);
    let ours = ConversationKey::derive(a.secret_key(), &b_keys.public_key());
    let theirs =
        nostr::nips::nip44::v2::ConversationKey::derive(ta.secret_key(), &tb.public_key()).unwrap();
    assert_eq!(ours.as_bytes().as_slice(), theirs.as_bytes());
    let pt = vec![0x5au8; 1024];
    let nonce = [7u8; 32];

    let mut g = c.benchmark_group("nip44_encrypt_1KiB_base64");
    g.bench_function("nipee", |b| {
        b.iter(|| {
            nip44::encrypt_with_nonce(&ours, black_box(&pt), &nonce, LengthPrefix::Extended)
                .unwrap()
        })
    });
    g.bench_function("rust-nostr", |b| {
        b.iter(|| {
            let raw =
                nostr::nips::nip44::v2::encrypt_to_bytes_with_nonce(&theirs, black_box(&pt), nonce)
                    .unwrap();
            base64::engine::general_purpose::STANDARD.encode(raw)
        })
    });
    g.finish();

    let payload = nip44::encrypt_with_nonce(&ours, &pt, &nonce, LengthPrefix::Extended).unwrap();
    let raw = base64::engine::general_purpose::STANDARD
        .decode(&payload)
        .unwrap();
    let mut g = c.benchmark_group("nip44_decrypt_1KiB_base64");
    g.bench_function("nipee", |b| {
        b.iter(|| nip44::decrypt(&ours, black_box(&payload)).unwrap())
    });
    g.bench_function("rust-nostr", |b| {
        b.iter(|| {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(black_box(&payload))
                .unwrap();
            nostr::nips::nip44::v2::decrypt_to_bytes(&theirs, &raw).unwrap()
        })
    });
    g.finish();

    let mut g = c.benchmark_group("nip44_decrypt_1KiB_raw");
    g.bench_function("nipee", |b| {
        b.iter(|| nip44::decrypt_bytes(&ours, black_box(&raw)).unwrap())
    });
    g.bench_function("rust-nostr", |b| {
        b.iter(|| nostr::nips::nip44::v2::decrypt_to_bytes(&theirs, black_box(&raw)).unwrap())
    });
    g.finish();
}

fn bench_gift_wrap(c: &mut Criterion) {
    let (alice, talice) = pair(5);
    let (bob, tbob) = pair(6);
    let now = Timestamp::from_secs(NOW);
    let rumor = UnsignedEvent::new(
        alice.public_key(),
        now,
        Kind::MLS_WELCOME,
        Tags::from(vec![Tag::relays(["wss://relay.example"])]),
        "w".repeat(1024),
    );
    let their_rumor = n::EventBuilder::new(n::Kind::from(444u16), "w".repeat(1024))
        .tags([n::Tag::parse(["relays", "wss://relay.example"]).unwrap()])
        .custom_created_at(n::Timestamp::from_secs(NOW))
        .finalize_unsigned(talice.public_key());
    let mut rng = rand::rng();

    let mut g = c.benchmark_group("gift_wrap_1KiB");
    g.bench_function("nipee", |b| {
        b.iter(|| {
            nip59::gift_wrap(&alice, &bob.public_key(), black_box(&rumor), now, &mut rng).unwrap()
        })
    });
    g.bench_function("rust-nostr", |b| {
        b.iter(|| {
            GiftWrapBuilder::new(tbob.public_key(), black_box(their_rumor.clone()))
                .finalize(&talice)
                .unwrap()
        })
    });
    g.finish();

    let wrap = nip59::gift_wrap(&alice, &bob.public_key(), &rumor, now, &mut rng).unwrap();
    let their_wrap = n::Event::from_json(wrap.to_json()).unwrap();
    let mut g = c.benchmark_group("unwrap_1KiB");
    g.bench_function("nipee", |b| {
        b.iter(|| nip59::unwrap_gift_wrap(&bob, black_box(&wrap)).unwrap())
    });
    g.bench_function("rust-nostr", |b| {
        b.iter(|| UnwrappedGift::from_gift_wrap(&tbob, black_box(&their_wrap)).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench_sign_verify, bench_nip44, bench_gift_wrap);
criterion_main!(benches);
