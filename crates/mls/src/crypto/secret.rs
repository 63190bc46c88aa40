//! Secret byte strings: zeroized on drop, never printed, compared in constant time.

use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// A secret value of any length (a key-schedule secret, an AEAD key, a nonce base, ...).
///
/// Not `Copy`; zeroized on drop; `Debug` prints only the length; `==` runs in constant time
/// for equal lengths.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// Wraps bytes as a secret (the vector is moved, not copied).
    pub fn new(bytes: Vec<u8>) -> Self {
        Secret(bytes)
    }

    /// Copies a slice into a new secret.
    pub fn from_slice(bytes: &[u8]) -> Self {
        Secret(bytes.to_vec())
    }

    /// A secret of `len` zero bytes (RFC 9420 uses such "zero" vectors as KDF inputs).
    pub fn zero(len: usize) -> Self {
        Secret(vec![0; len])
    }

    /// The secret bytes. Handle with care: copies made from this slice are not zeroized.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub(crate) fn as_mut_bytes(&mut self) -> &mut [u8] {
        &mut self.0
    }

    /// The length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the secret is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl core::fmt::Debug for Secret {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Secret({} bytes, redacted)", self.0.len())
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        self.0.len() == other.0.len() && bool::from(self.0.ct_eq(&other.0))
    }
}

impl Eq for Secret {}

/// Constant-time equality of two byte strings (false when the lengths differ; the length
/// itself is not secret).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

macro_rules! secret_key_type {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Clone, Zeroize, ZeroizeOnDrop)]
        pub struct $name(Vec<u8>);

        impl $name {
            /// Wraps the serialized private key.
            pub fn new(bytes: Vec<u8>) -> Self {
                $name(bytes)
            }

            /// Copies a serialized private key.
            pub fn from_slice(bytes: &[u8]) -> Self {
                $name(bytes.to_vec())
            }

            /// The serialized private key. Copies made from it are not zeroized.
            pub fn as_bytes(&self) -> &[u8] {
                &self.0
            }
        }

        impl core::fmt::Debug for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str(concat!(stringify!($name), "(redacted)"))
            }
        }

        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                ct_eq(&self.0, &other.0)
            }
        }

        impl Eq for $name {}
    };
}

secret_key_type!(
    /// An HPKE private key, serialized with the KEM's `SerializePrivateKey`.
    HpkePrivateKey
);
