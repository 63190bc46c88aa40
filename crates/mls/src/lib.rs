//! MLS (RFC 9420) for `nipee`: the cryptographic core (a crypto provider for cipher suite
//! 0x0001, tree math, ratchet tree and TreeKEM, key schedule, secret tree, message framing)
//! and the group state machine ([`group`]): creating a group, adding members with one
//! Welcome, joining, proposals and commits, application messages, exporter secrets and
//! versioned persistence. Every module is proven against the official MLS test vectors and
//! live against OpenMLS.
//!
//! No IO and no clock. With the default feature `parallel`, on native targets, the HPKE
//! encryptions of large UpdatePaths and Welcomes and large Ed25519 batches run on rayon's
//! global pool; on wasm32 (or with `default-features = false`) everything runs on the
//! calling thread. The results are the same either way.
//!
//! ```
//! use nipee_keypackage::{KeyPackageBundle, KeyPackageOptions};
//! use nipee_mls::crypto::RustCryptoSuite1;
//! use nipee_mls::group::{Group, GroupConfig, ProcessedMessage};
//!
//! let now = 1_750_000_000; // the caller's clock, seconds since the Unix epoch
//! # use rand::SeedableRng;
//! # let mut rng = rand::rngs::StdRng::seed_from_u64(7);
//! let alice_kp = KeyPackageBundle::generate(b"alice", &KeyPackageOptions::new(now), &mut rng)?;
//! let bob_kp = KeyPackageBundle::generate(b"bob", &KeyPackageOptions::new(now), &mut rng)?;
//!
//! // Alice creates a group and adds Bob from his KeyPackage.
//! let mut alice = Group::create(
//!     RustCryptoSuite1::new(),
//!     GroupConfig::new(now),
//!     b"group id".to_vec(),
//!     alice_kp,
//!     vec![],
//! )?;
//! let out = alice.add_members(vec![bob_kp.key_package().clone()])?;
//! // Send `out.commit` to the group; once the delivery service accepted it:
//! alice.merge_pending_commit()?;
//!
//! // Bob joins from the Welcome.
//! let welcome = out.welcome.expect("a Welcome for Bob");
//! let mut bob = Group::join(
//!     RustCryptoSuite1::new(),
//!     GroupConfig::new(now),
//!     &welcome,
//!     bob_kp.into(),
//!     None,
//!     vec![],
//! )?;
//! assert_eq!(alice.epoch_authenticator(), bob.epoch_authenticator());
//!
//! // They exchange an encrypted message.
//! let message = alice.create_message(b"hello bob", b"")?;
//! match bob.process_message(&message)? {
//!     ProcessedMessage::Application { data, .. } => assert_eq!(data, b"hello bob"),
//!     other => panic!("unexpected {other:?}"),
//! }
//! // Both derive the same application secrets (NIP-EE uses this one).
//! assert_eq!(
//!     alice.export_secret(b"nostr", b"nostr", 32)?,
//!     bob.export_secret(b"nostr", b"nostr", 32)?
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The building blocks are public too, for example the labelled key derivations:
//!
//! ```
//! use nipee_mls::crypto::{derive_secret, CryptoProvider, RustCryptoSuite1};
//! let provider = RustCryptoSuite1::new();
//! let epoch_secret = [7u8; 32];
//! let exporter_secret = derive_secret(&provider, &epoch_secret, b"exporter")?;
//! assert_eq!(exporter_secret.len(), provider.hash_len());
//! // Secrets never print their bytes.
//! assert!(!format!("{exporter_secret:?}").contains("07"));
//! # Ok::<(), nipee_mls::Error>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod crypto;
mod error;
pub mod extensions;
pub mod framing;
pub mod group;
pub mod schedule;
pub mod secret_tree;
pub mod tree;
pub mod welcome;

pub use error::{Error, ErrorKind, Result};

#[cfg(feature = "test-vectors")]
pub mod test_vectors;
