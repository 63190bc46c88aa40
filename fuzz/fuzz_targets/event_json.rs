//! Nostr event JSON: parse, verify (id and signature), and round-trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nipee_nostr::Event;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(e) = Event::from_json(s) {
        let again = Event::from_json(&e.to_json()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(again.id(), e.id());
    }
});
