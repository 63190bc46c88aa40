//! MLSMessage decoding (every wire format) and its header accessors.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nipee_mls::MlsMessageIn;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = MlsMessageIn::parse(data) {
        let _ = (
            m.wire_format(),
            m.group_id(),
            m.epoch(),
            m.content_type(),
            m.public_sender(),
            m.authenticated_data(),
            m.is_commit(),
        );
        assert_eq!(m.as_bytes(), data);
    }
    let _ = nipee_mls::welcome_key_package_refs(data);
});
