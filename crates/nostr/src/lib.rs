//! Nostr primitives for nipee: keys, NIP-01 events and filters, BIP-340 signatures,
//! NIP-19 bech32, NIP-44 v2 encryption and NIP-59 gift wrap. Sans-IO: time is a parameter
//! and randomness comes from a caller-supplied RNG or `getrandom`.
//!
//! ```
//! use nipee_nostr::{EventBuilder, Event, Keys, Timestamp};
//!
//! let mut rng = rand::rng();
//! let alice = Keys::generate(&mut rng);
//! let note = EventBuilder::text_note("hello").sign(&alice, Timestamp::from_secs(1_700_000_000))?;
//! let parsed = Event::from_json(&note.to_json())?; // verifies id and signature
//! assert_eq!(parsed, note);
//! # Ok::<(), nipee_nostr::Error>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod error;
pub mod event;
pub mod filter;
pub mod keys;
pub mod nip19;
pub mod nip44;
pub mod nip59;
pub mod nips;
pub mod tag;
mod util;

pub use error::{Error, ErrorKind, Result};
pub use event::{Event, EventBuilder, EventId, Kind, ParseLimits, Timestamp, UnsignedEvent};
pub use filter::Filter;
pub use keys::{Keys, PublicKey, SecretKey, Signature};
pub use tag::{Tag, Tags};
