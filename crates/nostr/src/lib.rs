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
