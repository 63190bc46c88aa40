//! Kinds 443, 444 (in a gift wrap) and 445 through `Client::process` of a member at a fixed
//! state: mode 0 encrypts the input under the epoch key as a group event; modes 1 and 2
//! flip bytes of a genuine message or commit first; mode 3 gift-wraps the input as a
//! Welcome for an unused KeyPackage; mode 4 makes it a KeyPackage event; mode 5 parses it
//! as any event's JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nipee::WelcomeRumor;
use nipee_nostr::{Event, EventBuilder, Kind, Timestamp};
use rand::SeedableRng;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let f = nipee_fuzz::fixture();
    let mut rng = rand::rngs::StdRng::seed_from_u64(2);
    let now = nipee_fuzz::T;
    let group_event = |mls: &[u8], rng: &mut rand::rngs::StdRng| {
        // NIP-44 has no empty plaintext: an empty group event cannot be made.
        if mls.is_empty() {
            return None;
        }
        let content = f
            .event_key
            .encrypt(mls, rng)
            .unwrap_or_else(|e| panic!("{e}"));
        Some(
            EventBuilder::new(Kind::MLS_GROUP_MESSAGE, content)
                .tags(f.group_tags.clone())
                .sign(&f.alice, Timestamp::from_secs(now))
                .unwrap_or_else(|e| panic!("{e}")),
        )
    };
    let event = match mode % 6 {
        0..=2 => {
            let mls = match mode % 6 {
                0 => rest.to_vec(),
                1 => nipee_fuzz::patched(&f.app_message, rest),
                _ => nipee_fuzz::patched(&f.commit, rest),
            };
            let Some(e) = group_event(&mls, &mut rng) else {
                return;
            };
            e
        }
        3 => {
            let rumor = WelcomeRumor {
                mls_message: rest.to_vec(),
                key_package_event_id: f.spare_key_package,
                relays: vec![],
                ratchet_tree: None,
            };
            rumor
                .gift_wrap(
                    &f.alice,
                    &f.bob.public_key(),
                    Timestamp::from_secs(now),
                    &mut rng,
                )
                .unwrap_or_else(|e| panic!("{e}"))
        }
        4 => EventBuilder::new(Kind::MLS_KEY_PACKAGE, hex::encode(rest))
            .sign(&f.alice, Timestamp::from_secs(now))
            .unwrap_or_else(|e| panic!("{e}")),
        _ => {
            let Ok(s) = std::str::from_utf8(rest) else {
                return;
            };
            let Ok(e) = Event::from_json(s) else {
                return;
            };
            e
        }
    };
    let mut bob = nipee_fuzz::bob();
    if let Err(e) = bob.process(&event, now, &mut rng) {
        // Hostile input is refused with a typed error, never an internal one.
        assert!(
            !matches!(
                e,
                nipee::Error::Internal { .. } | nipee::Error::Storage { .. }
            ),
            "{e}"
        );
    }
});
