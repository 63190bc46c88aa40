//! Flat RFC 9420 LeafNodes and KeyPackages for cipher suite 0x0001
//! (`MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519`).
//!
//! ```
//! use nipee_keypackage::{
//!     Capabilities, Credential, LeafNode, LeafNodeContext, LeafNodeSource, Lifetime,
//!     SignatureSecretKey, UnsignedLeafNode, ValidationPolicy, Encode,
//! };
//!
//! let signer = SignatureSecretKey::from_bytes([7; 32]);
//! let leaf = UnsignedLeafNode {
//!     encryption_key: [9; 32],
//!     signature_key: signer.public_key(),
//!     credential: Credential::basic(b"alice".to_vec())?,
//!     capabilities: Capabilities::default(),
//!     leaf_node_source: LeafNodeSource::KeyPackage {
//!         lifetime: Lifetime { not_before: 1_000, not_after: 2_000 },
//!     },
//!     extensions: vec![],
//! }
//! .sign(&signer, &[], 0)?;
//! let bytes = leaf.to_bytes()?;
//! let decoded = LeafNode::from_bytes(&bytes)?;
//! decoded.validate(&ValidationPolicy::at(1_500), LeafNodeContext::KeyPackage)?;
//! assert_eq!(decoded, leaf);
//! # Ok::<(), nipee_keypackage::Error>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod capabilities;
mod credential;
mod error;
mod extension;
mod keys;
mod leaf_node;
mod lifetime;
pub mod limits;
pub mod sign;
mod types;
mod validation;

pub use capabilities::Capabilities;
pub use credential::Credential;
pub use error::{Error, ErrorKind, ExtensionLocation};
pub use extension::Extension;
pub use keys::{HpkeSecretKey, SignatureSecretKey};
pub use leaf_node::{
    LEAF_NODE_TBS_LABEL, LeafNode, LeafNodeContext, LeafNodeSource, LeafNodeSourceType,
    UnsignedLeafNode,
};
pub use lifetime::Lifetime;
pub use nipee_codec::{Decode, Encode};
pub use types::{
    CipherSuite, CredentialType, ExtensionType, GREASE_VALUES, ProposalType, ProtocolVersion,
    WireFormat, is_grease,
};
pub use validation::{DEFAULT_MAX_LIFETIME_SECS, LifetimeCheck, ValidationPolicy};
