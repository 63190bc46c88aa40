//! Flat RFC 9420 KeyPackages and LeafNodes for cipher suite 0x0001
//! (`MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519`), byte-exact on the wire
//! and interoperable with OpenMLS.
//!
//! Generate a KeyPackage, encode it in an `MLSMessage`, decode and validate it:
//!
//! ```
//! use nipee_keypackage::{KeyPackage, KeyPackageBundle, KeyPackageOptions, ValidationPolicy};
//!
//! let now = 1_750_000_000; // seconds since the Unix epoch, from the caller's clock
//! # let mut rng = rand::rngs::StdRng::seed_from_u64(7);
//! # use rand::SeedableRng;
//! // Any `rand_core::CryptoRng` will do (or `generate_with_os_entropy` with
//! // the `getrandom` feature).
//! let bundle = KeyPackageBundle::generate(b"alice", &KeyPackageOptions::nip_ee(now), &mut rng)?;
//!
//! let bytes = bundle.key_package().to_mls_message_bytes()?;
//! let received = KeyPackage::from_mls_message_bytes(&bytes)?;
//! received.validate(&ValidationPolicy::at(now + 60))?;
//!
//! assert_eq!(&received, bundle.key_package());
//! assert!(received.is_last_resort());
//! assert_eq!(received.reference()?, bundle.key_package().reference()?);
//! assert_eq!(received.leaf_node.credential.identity(), Some(&b"alice"[..]));
//!
//! // Store the private keys (encrypt them at rest) and load them back.
//! let stored = bundle.to_storage_bytes()?;
//! let loaded = KeyPackageBundle::from_storage_bytes(&stored)?;
//! assert_eq!(loaded.key_package(), bundle.key_package());
//! # Ok::<(), nipee_keypackage::Error>(())
//! ```
//!
//! # Shape
//!
//! * "Flat" types: every key is a `[u8; 32]` and every signature a
//!   `[u8; 64]`, so a 33-byte key cannot exist; decoding one fails with
//!   [`nipee_codec::Error::LengthMismatch`] naming the field.
//! * [`LeafNode`] is a standalone API (the ratchet tree of `nipee-mls` stores
//!   it): encode/decode, [`LeafNode::tbs_bytes`], [`LeafNode::verify_signature`],
//!   [`LeafNode::validate`] for each [`LeafNodeContext`], and
//!   [`UnsignedLeafNode::sign`] to build leaves for Update and Commit.
//! * Decoding is strict (minimal varints, no trailing bytes, every vector
//!   bounded by [`limits`]) and canonical, so `encode(decode(b)) == b`.
//! * A KeyPackage of another cipher suite decodes as far as its suite and
//!   fails with [`Error::UnsupportedCipherSuite`].
//! * Validation ([`KeyPackage::validate`]) covers RFC 9420 §10.1 and the
//!   group-independent parts of §7.3; each failure is its own [`Error`]
//!   variant. Time is a parameter ([`LifetimeCheck`]).
//! * Unknown values (RFC 9420 §13, §13.5): validation ignores every unknown
//!   and GREASE value in the capabilities and every unknown extension in
//!   `KeyPackage.extensions` (their types need not be listed in the
//!   capabilities); a `LeafNode` extension must be listed, GREASE or not; no
//!   extension list may repeat a type; a GREASE credential type is refused
//!   like any credential type the policy does not accept. Generation puts
//!   GREASE in the four capability lists §13.5 names unless
//!   [`KeyPackageOptions::grease`] is off, and GREASE extensions in
//!   `LeafNode.extensions` and `KeyPackage.extensions` with
//!   [`KeyPackageOptions::grease_extensions`] (off by default: OpenMLS up to
//!   0.9.2 refuses them); [`grease`] makes the selection.
//! * Private keys ([`HpkeSecretKey`], [`SignatureSecretKey`]) zeroize on drop,
//!   print no secret, and compare in constant time.
//! * Sans-IO: no clock, no files, no sockets; randomness comes from the
//!   caller's `rand_core::CryptoRng`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod bundle;
mod capabilities;
mod credential;
mod error;
mod extension;
pub mod grease;
mod key_package;
mod keys;
mod leaf_node;
mod lifetime;
pub mod limits;
pub mod sign;
mod types;
mod validation;

pub use bundle::{
    DEFAULT_BACKDATE_SECS, DEFAULT_LIFETIME_SECS, KeyPackageBundle, KeyPackageOptions,
    STORAGE_VERSION,
};
pub use capabilities::Capabilities;
pub use credential::Credential;
pub use error::{Error, ErrorKind, ExtensionLocation};
pub use extension::Extension;
pub use key_package::{
    KEY_PACKAGE_REF_LABEL, KEY_PACKAGE_TBS_LABEL, KeyPackage, KeyPackageRef, SUITE,
};
pub use keys::{HpkeSecretKey, SignatureSecretKey};
pub use leaf_node::{
    LEAF_NODE_TBS_LABEL, LeafNode, LeafNodeContext, LeafNodeSource, UnsignedLeafNode,
};
pub use lifetime::Lifetime;
pub use nipee_codec::{self, Decode, Encode};
pub use types::{
    CipherSuite, CredentialType, ExtensionType, GREASE_VALUES, LeafNodeSourceType, ProposalType,
    ProtocolVersion, WireFormat, is_grease,
};
pub use validation::{DEFAULT_MAX_LIFETIME_SECS, LifetimeCheck, ValidationPolicy};
