//! Strict, bounded reading.

use crate::{Decode, Error, varint};

/// A cursor over an input buffer that reads the MLS presentation language.
///
/// Every read names the field it is reading, so an error says where the input
/// went wrong. Lengths are checked against the remaining input before
/// anything is allocated, so a hostile length prefix costs nothing.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over `input`.
    pub const fn new(input: &'a [u8]) -> Self {
        Reader { rest: input }
    }

    /// How many bytes are left.
    pub const fn remaining(&self) -> usize {
        self.rest.len()
    }

    /// Whether the input is used up.
    pub const fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// The bytes not read yet.
    pub const fn rest(&self) -> &'a [u8] {
        self.rest
    }

    /// Succeeds only if the whole input has been consumed.
    ///
    /// # Errors
    /// [`Error::TrailingBytes`] when bytes are left.
    pub fn finish(self) -> Result<(), Error> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(Error::TrailingBytes {
                count: self.rest.len(),
            })
        }
    }

    /// Reads exactly `n` bytes.
    ///
    /// # Errors
    /// [`Error::Truncated`] when fewer than `n` bytes are left.
    pub fn bytes(&mut self, field: &'static str, n: usize) -> Result<&'a [u8], Error> {
        let Some((head, tail)) = self.rest.split_at_checked(n) else {
            return Err(Error::Truncated {
                field,
                needed: n,
                remaining: self.rest.len(),
            });
        };
        self.rest = tail;
        Ok(head)
    }

    /// Reads a fixed-size array with no length prefix (`opaque field[N]`).
    ///
    /// # Errors
    /// [`Error::Truncated`].
    pub fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], Error> {
        let bytes = self.bytes(field, N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    /// Reads a `uint8`.
    ///
    /// # Errors
    /// [`Error::Truncated`].
    pub fn u8(&mut self, field: &'static str) -> Result<u8, Error> {
        Ok(u8::from_be_bytes(self.array(field)?))
    }

    /// Reads a big-endian `uint16`.
    ///
    /// # Errors
    /// [`Error::Truncated`].
    pub fn u16(&mut self, field: &'static str) -> Result<u16, Error> {
        Ok(u16::from_be_bytes(self.array(field)?))
    }

    /// Reads a big-endian `uint32`.
    ///
    /// # Errors
    /// [`Error::Truncated`].
    pub fn u32(&mut self, field: &'static str) -> Result<u32, Error> {
        Ok(u32::from_be_bytes(self.array(field)?))
    }

    /// Reads a big-endian `uint64`.
    ///
    /// # Errors
    /// [`Error::Truncated`].
    pub fn u64(&mut self, field: &'static str) -> Result<u64, Error> {
        Ok(u64::from_be_bytes(self.array(field)?))
    }

    /// Reads an MLS variable-length integer (RFC 9420 §2.1.2).
    ///
    /// # Errors
    /// [`Error::Truncated`], [`Error::ReservedVarintPrefix`],
    /// [`Error::NonMinimalVarint`].
    pub fn varint(&mut self, field: &'static str) -> Result<u64, Error> {
        let (value, rest) = varint::read_varint(field, self.rest)?;
        self.rest = rest;
        Ok(value)
    }

    /// Reads the contents of a variable-length vector (`opaque field<V>`).
    ///
    /// The declared length is checked against the remaining input before the
    /// slice is taken; nothing is allocated.
    ///
    /// # Errors
    /// The varint errors, and [`Error::LengthExceedsInput`].
    pub fn vl_bytes(&mut self, field: &'static str) -> Result<&'a [u8], Error> {
        let declared = self.varint(field)?;
        let remaining = self.rest.len();
        match usize::try_from(declared) {
            Ok(len) if len <= remaining => self.bytes(field, len),
            _ => Err(Error::LengthExceedsInput {
                field,
                declared,
                remaining,
            }),
        }
    }

    /// Reads a variable-length vector that must hold exactly `N` bytes, such
    /// as a 32-byte public key encoded as `opaque<V>`.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] naming `field` when the vector is not `N`
    /// bytes long (a 33-byte key is never truncated), and the errors of
    /// [`Reader::vl_bytes`].
    pub fn vl_array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], Error> {
        let bytes = self.vl_bytes(field)?;
        let arr: [u8; N] = bytes.try_into().map_err(|_| Error::LengthMismatch {
            field,
            expected: N,
            found: bytes.len(),
        })?;
        Ok(arr)
    }

    /// Reads a variable-length vector and returns a reader over its content,
    /// for vectors of structures.
    ///
    /// # Errors
    /// The errors of [`Reader::vl_bytes`].
    pub fn vl_reader(&mut self, field: &'static str) -> Result<Reader<'a>, Error> {
        Ok(Reader::new(self.vl_bytes(field)?))
    }

    /// Reads a variable-length vector of elements, each decoded by `element`,
    /// refusing more than `max_items` elements.
    ///
    /// Each element must consume at least one byte, and together they must
    /// consume the vector exactly.
    ///
    /// # Errors
    /// [`Error::LimitExceeded`], [`Error::InvalidValue`] for an element that
    /// consumed nothing, and whatever `element` returns.
    pub fn vl_vec<T, E>(
        &mut self,
        field: &'static str,
        max_items: usize,
        mut element: impl FnMut(&mut Reader<'a>) -> Result<T, E>,
    ) -> Result<Vec<T>, E>
    where
        E: From<Error>,
    {
        let mut inner = self.vl_reader(field)?;
        let mut items = Vec::new();
        while !inner.is_empty() {
            if items.len() >= max_items {
                return Err(Error::LimitExceeded {
                    field,
                    limit: max_items,
                    found: items.len() + 1,
                }
                .into());
            }
            let before = inner.remaining();
            items.push(element(&mut inner)?);
            if inner.remaining() == before {
                return Err(Error::InvalidValue {
                    field,
                    value: 0,
                    reason: "vector element consumed no input",
                }
                .into());
            }
        }
        Ok(items)
    }

    /// Reads `optional<T>`: a presence byte (0 or 1), then the value when it
    /// is present.
    ///
    /// # Errors
    /// [`Error::InvalidValue`] for a presence byte other than 0 or 1, and
    /// whatever `value` returns.
    pub fn optional<T, E>(
        &mut self,
        field: &'static str,
        value: impl FnOnce(&mut Reader<'a>) -> Result<T, E>,
    ) -> Result<Option<T>, E>
    where
        E: From<Error>,
    {
        match self.u8(field)? {
            0 => Ok(None),
            1 => value(self).map(Some),
            other => Err(Error::InvalidValue {
                field,
                value: u64::from(other),
                reason: "optional presence byte must be 0 or 1",
            }
            .into()),
        }
    }

    /// Decodes a value with its [`Decode`] implementation.
    ///
    /// # Errors
    /// Whatever the implementation returns.
    pub fn decode<T: Decode>(&mut self) -> Result<T, T::Error> {
        T::decode(self)
    }

    /// Decodes a value with its `tls_codec` implementation (for structures
    /// that derive `TlsDeserializeBytes`), naming `field` in the error.
    ///
    /// # Errors
    /// [`Error::Tls`] with what `tls_codec` reported.
    pub fn tls<T: tls_codec::DeserializeBytes>(&mut self, field: &'static str) -> Result<T, Error> {
        let (value, rest) =
            T::tls_deserialize_bytes(self.rest).map_err(|e| Error::from_tls(field, e))?;
        self.rest = rest;
        Ok(value)
    }
}
