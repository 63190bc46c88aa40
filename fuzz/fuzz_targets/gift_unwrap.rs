//! Gift-wrap unwrapping: mode 0 takes the input as the wrap's JSON; mode 1 wraps the input
//! as the sealed JSON under a valid outer layer, so the seal and rumor parsers see it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nipee_nostr::nip44::{self, ConversationKey};
use nipee_nostr::{Event, EventBuilder, Keys, Kind, Tag, Timestamp};
use rand::SeedableRng;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let f = nipee_fuzz::fixture();
    let wrap = if mode & 1 == 0 {
        let Ok(s) = std::str::from_utf8(rest) else {
            return;
        };
        let Ok(e) = Event::from_json(s) else {
            return;
        };
        e
    } else {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let eph = Keys::generate(&mut rng);
        let key = ConversationKey::derive(eph.secret_key(), &f.bob.public_key());
        let Ok(content) = nip44::encrypt(&key, rest, &mut rng) else {
            return;
        };
        EventBuilder::new(Kind::GIFT_WRAP, content)
            .tag(Tag::public_key(&f.bob.public_key()))
            .sign(&eph, Timestamp::from_secs(nipee_fuzz::T))
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let _ = nipee_nostr::nip59::unwrap_gift_wrap(&f.bob, &wrap);
});
