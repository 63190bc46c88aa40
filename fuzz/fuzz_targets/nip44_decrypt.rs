//! NIP-44 v2 decryption of any payload (base64 string and raw bytes).
#![no_main]

use libfuzzer_sys::fuzz_target;
use nipee_nostr::nip44::{self, ConversationKey};

fuzz_target!(|data: &[u8]| {
    let key = ConversationKey::from_bytes([7; 32]);
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = nip44::decrypt(&key, s);
    }
    let _ = nip44::decrypt_bytes(&key, data);
});
