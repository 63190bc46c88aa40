//! Joining from a Welcome with a real KeyPackage's keys: mode 0 takes the input as the
//! Welcome, mode 1 flips bytes of a genuine Welcome made for those keys.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nipee_mls::RustCryptoSuite1;
use nipee_mls::group::{Group, GroupConfig};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let f = nipee_fuzz::fixture();
    let welcome = if mode & 1 == 0 {
        rest.to_vec()
    } else {
        nipee_fuzz::patched(&f.welcome, rest)
    };
    let tree = (mode & 2 != 0).then_some(rest);
    if let Ok(staged) = Group::stage_join(
        RustCryptoSuite1::new(),
        GroupConfig::new(nipee_fuzz::T),
        &welcome,
        nipee_fuzz::carol_join_keys(),
        tree,
        vec![],
    ) {
        let _ = staged.into_group().epoch();
    }
});
