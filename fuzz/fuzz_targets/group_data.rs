//! The 0xF2EE group-data extension (both layouts); what decodes re-encodes to the same
//! bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nipee::NostrGroupData;

fuzz_target!(|data: &[u8]| {
    if let Ok(d) = NostrGroupData::decode(data) {
        let again = d.encode().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(again, data, "group data re-encodes differently");
    }
});
