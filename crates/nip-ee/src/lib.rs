//! NIP-EE (Nostr group messaging over MLS, RFC 9420) for nipee: the wire formats of the
//! `nip-ee` profile, interoperable with rust-nostr's `nostr-mls` v0.43, and a sans-IO
//! client core that is safe on a hostile relay. Events go in; events to publish, reads to
//! perform and one atomic storage write per operation come out. Time and randomness are
//! parameters; nothing here opens a socket, a file or a clock. Hosts: `nipee-driver`
//! (relays, native), `nipee-sqlite` (storage), `nipee-wasm` (JavaScript).
//!
//! Two clients exchange a message in memory; in real use every event below goes through
//! relays, and the host reports each relay's answer with [`Client::published`]:
//!
//! ```
//! use nipee::inner::chat_message;
//! use nipee::storage::MemoryStorage;
//! use nipee::{Client, ClientConfig, NewGroup, Outcome};
//! use nipee_nostr::{Keys, Timestamp};
//!
//! let mut rng = rand::rng();
//! let now = 1_800_000_000;
//! let config = ClientConfig::with_relays(["wss://relay.example"]);
//! let mut alice = Client::new(Keys::generate(&mut rng), MemoryStorage::new(), config.clone())?;
//! let mut bob = Client::new(Keys::generate(&mut rng), MemoryStorage::new(), config)?;
//!
//! // Bob publishes a KeyPackage (kind 443); alice creates a group with him, which yields
//! // one gift-wrapped Welcome (kind 1059 → 13 → 444) to publish.
//! let bob_key_package = bob.create_key_package(false, now, &mut rng)?.event;
//! let (group, created) =
//!     alice.create_group(NewGroup::new("friends", vec![bob_key_package]), now, &mut rng)?;
//! let joined = bob.process(&created.publish[0].event, now, &mut rng)?;
//! assert!(matches!(joined.outcome(), Outcome::Joined { .. }));
//!
//! // Alice sends a kind-9 message as a kind-445 group event; bob decrypts it.
//! let hello = chat_message(alice.public_key(), "hello bob", Timestamp::from_secs(now));
//! let event = alice.send(&group, &hello, now, &mut rng)?.event;
//! match bob.process(&event, now, &mut rng)?.outcome() {
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
//! * [`client`]: the sans-IO core ([`Client`]): KeyPackages, groups, own commits (two
//!   phase: [`PendingCommit`] → [`Client::published`] / [`Client::fetched`]), messages,
//!   [`Client::process`] returning [`Effects`], the admin rules, commit races, the outbox,
//!   the buffer of future-epoch events, and views for tools.
//! * [`profile`]: [`Profile`], through which the core reaches every wire format
//!   (`nip-ee` and `marmot`), and [`EventKey`], one epoch's group-event key in either.
//! * [`marmot`]: the Marmot formats of MDK / White Noise (MIPs 00–03).
//! * [`group_data`]: the `nostr_group_data` (0xF2EE) GroupContext extension.
//! * [`key_package_event`]: kind 443 and the credential rule.
//! * [`welcome_event`]: the kind-444 Welcome rumor and its NIP-59 gift wrap.
//! * [`envelope`]: the kind-445 envelope (NIP-44 v2 under the epoch's exporter secret).
//! * [`inner`]: inner application events (unsigned, author = MLS sender, no `h` tag).
//! * [`ids`]: [`GroupId`] (the MLS group id, the key of all per-group state) and
//!   [`NostrGroupId`] (the public `h` tag).
//! * [`storage`]: the [`Storage`] trait (atomic batches of opaque versioned blobs) and
//!   [`MemoryStorage`].
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod client;
pub mod envelope;
mod error;
pub mod group_data;
pub mod ids;
pub mod inner;
pub mod key_package_event;
pub mod marmot;
pub mod profile;
pub mod storage;
pub mod tree_transfer;
pub mod welcome_event;

pub use client::{
    Client, ClientConfig, CommitInfo, Effects, FetchReport, FetchRequest, GroupDataUpdate,
    GroupSummary, IgnoreReason, MemberInfo, NewGroup, Outcome, Outgoing, PendingCommit,
    PolicyViolation, Purpose, RelayAnswer, SubscriptionSpec, TreeNode,
};
pub use client::{InboxEntry, InboxId};
pub use envelope::{GroupEventKey, build_group_event, group_event_group_id};
pub use error::{Error, ErrorKind, Result};
pub use group_data::{GroupImage, NostrGroupData};
pub use ids::{GroupId, NostrGroupId};
pub use inner::{decode_inner_event, encode_inner_event};
pub use key_package_event::{
    KeyPackageEvent, KeyPackageEventOptions, NewKeyPackage, build_key_package_event,
    credential_identity, credential_pubkey, generate_key_package, identity_to_pubkey,
    parse_key_package_event,
};
pub use profile::{EventKey, Profile};
pub use storage::{MemoryStorage, Storage};
pub use welcome_event::{OpenedWelcome, WelcomeRumor, open_welcome};
