//! A group at a fixed state staging any message: mode 0 takes the input as the MLS message,
//! modes 1 and 2 flip bytes of a genuine application message or commit of that epoch.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nipee_mls::MlsMessageIn;

thread_local! {
    static BOB: nipee::Client<nipee::storage::MemoryStorage> = nipee_fuzz::bob();
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let f = nipee_fuzz::fixture();
    let bytes = match mode % 3 {
        0 => rest.to_vec(),
        1 => nipee_fuzz::patched(&f.app_message, rest),
        _ => nipee_fuzz::patched(&f.commit, rest),
    };
    let Ok(msg) = MlsMessageIn::parse(&bytes) else {
        return;
    };
    BOB.with(|bob| {
        let group = bob.mls_group(&f.gid).unwrap_or_else(|e| panic!("{e}"));
        let _ = group.stage(&msg);
    });
});
