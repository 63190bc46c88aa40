//! Nostr primitives for nipee: keys, NIP-01 events and filters, BIP-340 signatures,
//! NIP-19 bech32, NIP-44 v2 encryption, NIP-59 gift wrap, and typed NIP-09/40/65/70 and
//! NIP-EE (kind 10051) helpers.
//!
//! Sans-IO: time is always a parameter (`now`, `created_at`) and randomness comes from a
//! caller-supplied RNG (`rand_core` 0.10 `CryptoRng`) or, in the `*_os` / `sign` helpers,
//! from `getrandom`.
//!
//! ```
//! use nipee_nostr::nip44::{self, ConversationKey};
//! use nipee_nostr::{nip59, Event, EventBuilder, Filter, Keys, Kind, Timestamp};
//!
//! let mut rng = rand::rng();
//! let now = Timestamp::from_secs(1_700_000_000);
//! let alice = Keys::generate(&mut rng);
//! let bob = Keys::generate(&mut rng);
//!
//! // Sign, serialize, and parse back: parsing untrusted JSON verifies id and signature.
//! let note = EventBuilder::text_note("hello").sign(&alice, now)?;
//! let parsed = Event::from_json(&note.to_json())?;
//! assert_eq!(parsed, note);
//! assert!(Filter::new().author(alice.public_key()).kind(Kind::TEXT_NOTE).matches(&parsed));
//!
//! // NIP-44 v2 over bytes, with a conversation key derived once and reused.
//! let ab = ConversationKey::derive(alice.secret_key(), &bob.public_key());
//! let ba = ConversationKey::derive(bob.secret_key(), &alice.public_key());
//! let payload = nip44::encrypt(&ab, b"\x00binary MLS bytes\xff", &mut rng)?;
//! assert_eq!(nip44::decrypt(&ba, &payload)?, b"\x00binary MLS bytes\xff");
//!
//! // NIP-59: rumor -> seal -> gift wrap, and back.
//! let rumor = EventBuilder::new(Kind::MLS_WELCOME, "welcome").build(alice.public_key(), now);
//! let wrap = nip59::gift_wrap(&alice, &bob.public_key(), &rumor, now, &mut rng)?;
//! assert!(wrap.created_at() <= now);
//! let opened = nip59::unwrap_gift_wrap(&bob, &wrap)?;
//! assert_eq!(opened.sender, alice.public_key());
//! assert_eq!(opened.rumor, rumor);
//! # Ok::<(), nipee_nostr::Error>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod error;
pub mod event;
pub mod filter;
mod id;
pub mod keys;
mod kind;
pub mod nip19;
pub mod nip44;
pub mod nip59;
pub mod nips;
pub mod signer;
pub mod tag;
mod timestamp;
mod util;

pub use error::{Error, ErrorKind, Result};
pub use event::{Event, EventBuilder, EventId, Kind, ParseLimits, Timestamp, UnsignedEvent};
pub use filter::Filter;
pub use keys::{Keys, PublicKey, SecretKey, Signature};
pub use signer::Signer;
pub use tag::{Tag, Tags};

/// Repository hygiene: no two modules of this crate import each other (`use crate::`).
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tidy {
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::Path;

    fn module_of(src: &Path, file: &Path) -> String {
        let rel = file.strip_prefix(src).unwrap_or(file).with_extension("");
        let parts: Vec<String> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .filter(|p| p != "mod")
            .collect();
        parts.join("::")
    }

    fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    #[test]
    fn no_two_modules_import_each_other() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut all = Vec::new();
        files(&src, &mut all);
        let mut imports: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for file in &all {
            let this = module_of(&src, file);
            let text = std::fs::read_to_string(file).unwrap_or_default();
            // Test modules may reach anywhere; only library code counts.
            let code = text.split("#[cfg(test)]").next().unwrap_or("");
            for line in code.lines().map(str::trim) {
                let Some(path) = line
                    .strip_prefix("use crate::")
                    .or_else(|| line.strip_prefix("pub use crate::"))
                else {
                    continue;
                };
                let segs: Vec<&str> = path
                    .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                    .next()
                    .unwrap_or("")
                    .split("::")
                    .collect();
                // The longest prefix of the path that names a module file.
                let mut target = String::new();
                for i in (1..=segs.len()).rev() {
                    let candidate = segs[..i].join("::");
                    if all.iter().any(|f| module_of(&src, f) == candidate) {
                        target = candidate;
                        break;
                    }
                }
                if !target.is_empty() && target != this {
                    imports.entry(this.clone()).or_default().insert(target);
                }
            }
        }
        let mut circles = Vec::new();
        for (a, targets) in &imports {
            for b in targets {
                if a < b && imports.get(b).is_some_and(|t| t.contains(a)) {
                    circles.push(format!("{a} <-> {b}"));
                }
            }
        }
        assert!(imports.len() > 3, "the scan found the modules: {imports:?}");
        assert!(
            circles.is_empty(),
            "modules importing each other: {circles:?}"
        );
    }
}
