//! NIP-EE (Nostr group messaging over MLS, RFC 9420) for nipee: the wire formats of the
//! `nip-ee` profile, interoperable with rust-nostr's `nostr-mls` v0.43, a sans-IO client
//! core (events in, events and state changes out) with persistent storage, and (feature
//! `relay`) an async driver on `nipee-relay`. Time and randomness are parameters.
//!
//! Two clients exchange a message in memory; in real use every event below goes through
//! relays:
//!
//! ```
//! use nipee::inner::chat_message;
//! use nipee::storage::MemoryStorage;
//! use nipee::{Client, ClientConfig, Outcome};
//! use nipee_nostr::{Keys, Timestamp};
//!
//! let mut rng = rand::rng();
//! let now = 1_800_000_000;
//! let config = ClientConfig { relays: vec!["wss://relay.example".into()], ..Default::default() };
//! let mut alice = Client::new(Keys::generate(&mut rng), MemoryStorage::new(), config.clone())?;
//! let mut bob = Client::new(Keys::generate(&mut rng), MemoryStorage::new(), config)?;
//!
//! // Bob publishes a KeyPackage (kind 443); alice creates a group with him, which yields
//! // one gift-wrapped Welcome (kind 1059 → 13 → 444).
//! let bob_key_package = bob.create_key_package(false, now, &mut rng)?;
//! let (group, welcomes) = alice.create_group(
//!     "friends", "", vec![alice.public_key()], &[bob_key_package], now, &mut rng,
//! )?;
//! assert!(matches!(bob.process(&welcomes[0], now)?, Outcome::Joined { .. }));
//!
//! // Alice sends a kind-9 message as a kind-445 group event; bob decrypts it.
//! let hello = chat_message(alice.public_key(), "hello bob", Timestamp::from_secs(now));
//! let event = alice.send(&group, &hello, now, &mut rng)?;
//! match bob.process(&event, now)? {
//!     Outcome::Message { event, .. } => {
//!         assert_eq!(event.content, "hello bob");
//!         assert_eq!(event.pubkey, alice.public_key());
//!     }
//!     other => panic!("unexpected {other:?}"),
//! }
//! // Both are in the same epoch with the same authenticator.
//! assert_eq!(alice.epoch_authenticator(&group)?, bob.epoch_authenticator(&group)?);
//! # Ok::<(), nipee::Error>(())
//! ```
//!
//! The formats can be used on their own; here a KeyPackage event is built and parsed:
//!
//! ```
//! use nipee::{
//!     build_key_package_event, generate_key_package, parse_key_package_event,
//!     KeyPackageEventOptions, NewKeyPackage,
//! };
//! use nipee_keypackage::ValidationPolicy;
//! use nipee_nostr::{Event, Keys, Timestamp};
//!
//! let mut rng = rand::rng();
//! let now = 1_800_000_000;
//! let alice = Keys::generate(&mut rng);
//! let bundle = generate_key_package(
//!     &alice.public_key(),
//!     &NewKeyPackage { now, last_resort: true },
//!     &mut rng,
//! )?;
//! let options = KeyPackageEventOptions {
//!     relays: vec!["wss://relay.example".into()],
//!     client: Some("nipee".into()),
//!     protected: false,
//! };
//! let event =
//!     build_key_package_event(&alice, bundle.key_package(), &options, Timestamp::from_secs(now))?;
//! let received = Event::from_json(&event.to_json())?;
//! let parsed = parse_key_package_event(&received, &ValidationPolicy::at(now + 60))?;
//! assert_eq!(parsed.author, alice.public_key());
//! assert_eq!(&parsed.key_package, bundle.key_package());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Map
//!
//! * [`profile`]: [`Profile`], through which the client core reaches every wire format
//!   (only `nip-ee` is implemented; a Marmot profile would be a new variant).
//! * [`group_data`]: the `nostr_group_data` (0xF2EE) GroupContext extension.
//! * [`key_package_event`]: kind 443 and the credential rule (identity = the 64 hex
//!   characters of the Nostr key, equal to the event author; MLS signature key ≠ Nostr key).
//! * [`welcome_event`]: the kind-444 Welcome rumor and its NIP-59 gift wrap.
//! * [`envelope`]: the kind-445 envelope (NIP-44 v2 under the epoch's exporter secret).
//! * [`inner`]: inner application events (unsigned, author = MLS sender, no `h` tag).
//! * [`storage`]: the [`Storage`] trait over opaque versioned blobs, with an in-memory and
//!   (feature `sqlite`) an SQLite implementation.
//! * [`client`]: the sans-IO core ([`Client`]): KeyPackages, create / invite / remove /
//!   rotate (two-phase: [`PendingPublish`], `confirm`, `discard`), join, send, leave,
//!   [`Client::process`] returning an [`Outcome`]; admin rules ([`AdminPolicy`]) enforced
//!   through the MLS policy hook; commit races resolved by rollback.
//! * [`replay`]: the runner for `nipee-interop-vectors/1` files (see the example
//!   `nip-ee-vectors`).
//! * `driver` (feature `relay`): the async driver on `nipee-relay`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod client;
#[cfg(feature = "relay")]
pub mod driver;
pub mod envelope;
mod error;
pub mod group_data;
pub mod inner;
pub mod key_package_event;
pub mod profile;
pub mod replay;
pub mod storage;
pub mod welcome_event;

pub use client::{
    AdminPolicy, Client, ClientConfig, GroupSummary, IgnoreReason, Outcome, PendingPublish,
    PendingWelcomes,
};
pub use envelope::{GroupEventKey, build_group_event, group_event_group_id};
pub use error::{Error, ErrorKind, Result};
pub use group_data::{GroupImage, NostrGroupData};
pub use inner::{decode_inner_event, encode_inner_event};
pub use key_package_event::{
    KeyPackageEvent, KeyPackageEventOptions, NewKeyPackage, build_key_package_event,
    credential_identity, credential_pubkey, generate_key_package, identity_to_pubkey,
    parse_key_package_event,
};
pub use profile::Profile;
pub use storage::{MemoryStorage, Storage};
pub use welcome_event::{OpenedWelcome, WelcomeRumor, open_welcome};
