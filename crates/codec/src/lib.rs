//! The MLS flavour of the TLS presentation language (RFC 9420 §2.1), strict.
//!
//! ```
//! use nipee_codec::{Error, Reader, Writer};
//!
//! // Encode `opaque key<V>` followed by a uint16.
//! let mut w = Writer::new();
//! w.vl_bytes("key", &[7u8; 32])?;
//! w.u16(0x0001);
//! let bytes = w.into_bytes();
//! assert_eq!(bytes[0], 32); // one-byte varint length header
//!
//! // Decode it back, insisting on a 32-byte key and no trailing bytes.
//! let mut r = Reader::new(&bytes);
//! let key: [u8; 32] = r.vl_array("key")?;
//! let suite = r.u16("cipher_suite")?;
//! r.finish()?;
//! assert_eq!((key, suite), ([7u8; 32], 1));
//!
//! // A 33-byte key where 32 are due is a typed error naming the field.
//! let mut w = Writer::new();
//! w.vl_bytes("key", &[7u8; 33])?;
//! let err = Reader::new(w.as_bytes()).vl_array::<32>("init_key").unwrap_err();
//! assert_eq!(err, Error::LengthMismatch { field: "init_key", expected: 32, found: 33 });
//! # Ok::<(), Error>(())
//! ```
//!
//! What this crate adds to [`tls_codec`] (which it re-exports, with its `mls`
//! feature, for structures that derive their encoding):
//!
//! * the variable-length integer of RFC 9420 §2.1.2 with minimal encoding
//!   enforced and the reserved `0b11` prefix rejected ([`varint`]);
//! * a [`Reader`] whose every read names its field, checks a declared length
//!   against the remaining input before allocating, and bounds the number of
//!   vector elements; and a matching [`Writer`];
//! * fixed-size values read from `opaque<V>` vectors whose length must match
//!   exactly ([`Reader::vl_array`]): never truncated, never padded;
//! * [`decode_exact`], which fails on trailing bytes;
//! * one error type, [`Error`], with a stable [`ErrorKind`].
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod error;
mod reader;
pub mod varint;
mod writer;

pub use error::{Error, ErrorKind};
pub use reader::Reader;
pub use tls_codec;
pub use varint::MAX_VARINT;
pub use writer::Writer;

/// A value that can be read from the MLS presentation language.
pub trait Decode: Sized {
    /// The error decoding returns; it can carry this crate's [`Error`].
    type Error: From<Error>;

    /// Reads one value from `r`, leaving the reader after it.
    ///
    /// # Errors
    /// When the input does not hold a valid value.
    fn decode(r: &mut Reader<'_>) -> Result<Self, Self::Error>;
}

/// A value that can be written in the MLS presentation language.
pub trait Encode {
    /// The error encoding returns; it can carry this crate's [`Error`].
    type Error: From<Error>;

    /// Appends the encoding of `self` to `w`.
    ///
    /// # Errors
    /// When the value cannot be represented (for example a vector longer than
    /// `2^30 - 1` bytes).
    fn encode(&self, w: &mut Writer) -> Result<(), Self::Error>;

    /// The encoding of `self` as a new byte vector.
    ///
    /// # Errors
    /// As [`Encode::encode`].
    fn to_bytes(&self) -> Result<Vec<u8>, Self::Error> {
        let mut w = Writer::new();
        self.encode(&mut w)?;
        Ok(w.into_bytes())
    }
}

/// Decodes a `T` that must span the whole of `input`.
///
/// # Errors
/// Whatever `T::decode` returns, and [`Error::TrailingBytes`] when input is
/// left over.
pub fn decode_exact<T: Decode>(input: &[u8]) -> Result<T, T::Error> {
    let mut r = Reader::new(input);
    let value = T::decode(&mut r)?;
    r.finish()?;
    Ok(value)
}

/// Decodes a `tls_codec` structure that must span the whole of `input`.
///
/// # Errors
/// [`Error::Tls`] when `tls_codec` fails, [`Error::TrailingBytes`] when input
/// is left over.
pub fn decode_exact_tls<T: tls_codec::DeserializeBytes>(input: &[u8]) -> Result<T, Error> {
    let mut r = Reader::new(input);
    let value = r.tls::<T>("value")?;
    r.finish()?;
    Ok(value)
}

macro_rules! int_codec {
    ($($t:ident),*) => {$(
        impl Decode for $t {
            type Error = Error;
            fn decode(r: &mut Reader<'_>) -> Result<Self, Error> {
                r.$t(stringify!($t))
            }
        }
        impl Encode for $t {
            type Error = Error;
            fn encode(&self, w: &mut Writer) -> Result<(), Error> {
                w.$t(*self);
                Ok(())
            }
        }
    )*};
}
int_codec!(u8, u16, u32, u64);

/// `opaque value[N]`: a fixed-size array with no length prefix.
impl<const N: usize> Decode for [u8; N] {
    type Error = Error;
    fn decode(r: &mut Reader<'_>) -> Result<Self, Error> {
        r.array("array")
    }
}

impl<const N: usize> Encode for [u8; N] {
    type Error = Error;
    fn encode(&self, w: &mut Writer) -> Result<(), Error> {
        w.bytes(self);
        Ok(())
    }
}
