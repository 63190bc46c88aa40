//! The cryptographic core of MLS (RFC 9420) for `nipee`: a crypto provider for cipher suite
//! 0x0001, the array-based tree math, the key schedule, the secret tree and message framing.
//! Every module is proven against the official MLS test vectors.
//!
//! ```
//! use nipee_mls::crypto::{derive_secret, CryptoProvider, RustCryptoSuite1};
//!
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
