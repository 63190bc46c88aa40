//! KeyPackage decoding and validation; decoding is canonical.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nipee_codec::{Encode, Writer};
use nipee_keypackage::{KeyPackage, ValidationPolicy};

fuzz_target!(|data: &[u8]| {
    if let Ok(kp) = KeyPackage::from_bytes(data) {
        let _ = kp.validate(&ValidationPolicy::at(nipee_fuzz::T));
        let mut w = Writer::new();
        kp.encode(&mut w).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            w.as_bytes(),
            data,
            "a decoded KeyPackage re-encodes differently"
        );
    }
    if let Ok(kp) = KeyPackage::from_mls_message_bytes(data) {
        let _ = kp.validate(&ValidationPolicy::at(nipee_fuzz::T));
    }
});
