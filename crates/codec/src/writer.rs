//! Writing the MLS presentation language.

use crate::{Encode, Error, varint};

/// An output buffer that writes the MLS presentation language.
#[derive(Debug, Clone, Default)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    /// An empty writer.
    pub const fn new() -> Self {
        Writer { buf: Vec::new() }
    }

    /// An empty writer with room for `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> Self {
        Writer {
            buf: Vec::with_capacity(capacity),
        }
    }

    /// The bytes written so far.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    /// How many bytes have been written.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether nothing has been written.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The finished encoding.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    /// Writes raw bytes with no length prefix (`opaque field[N]`).
    pub fn bytes(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Writes a `uint8`.
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    /// Writes a big-endian `uint16`.
    pub fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    /// Writes a big-endian `uint32`.
    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    /// Writes a big-endian `uint64`.
    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    /// Writes an MLS variable-length integer in its minimal form.
    ///
    /// # Errors
    /// [`Error::TooLongToEncode`] above `2^30 - 1`.
    pub fn varint(&mut self, field: &'static str, v: u64) -> Result<(), Error> {
        varint::write_varint(field, v, &mut self.buf)
    }

    /// Writes a variable-length vector of bytes (`opaque field<V>`).
    ///
    /// # Errors
    /// [`Error::TooLongToEncode`].
    pub fn vl_bytes(&mut self, field: &'static str, bytes: &[u8]) -> Result<(), Error> {
        let len = u64::try_from(bytes.len()).map_err(|_| Error::TooLongToEncode {
            field,
            len: bytes.len(),
        })?;
        self.varint(field, len)?;
        self.bytes(bytes);
        Ok(())
    }

    /// Writes a variable-length vector whose content `body` writes.
    ///
    /// # Errors
    /// [`Error::TooLongToEncode`] and whatever `body` returns.
    pub fn vl<E>(
        &mut self,
        field: &'static str,
        body: impl FnOnce(&mut Writer) -> Result<(), E>,
    ) -> Result<(), E>
    where
        E: From<Error>,
    {
        let mut inner = Writer::new();
        body(&mut inner)?;
        self.vl_bytes(field, &inner.buf)?;
        Ok(())
    }

    /// Writes `optional<T>`: a presence byte, then the value if present.
    ///
    /// # Errors
    /// Whatever `value` returns.
    pub fn optional<T, E>(
        &mut self,
        v: Option<&T>,
        value: impl FnOnce(&mut Writer, &T) -> Result<(), E>,
    ) -> Result<(), E> {
        match v {
            None => {
                self.u8(0);
                Ok(())
            }
            Some(v) => {
                self.u8(1);
                value(self, v)
            }
        }
    }

    /// Encodes a value with its [`Encode`] implementation.
    ///
    /// # Errors
    /// Whatever the implementation returns.
    pub fn encode<T: Encode + ?Sized>(&mut self, v: &T) -> Result<(), T::Error> {
        v.encode(self)
    }

    /// Encodes a value with its `tls_codec` implementation.
    ///
    /// # Errors
    /// [`Error::Tls`] with what `tls_codec` reported.
    pub fn tls<T: tls_codec::Serialize + ?Sized>(
        &mut self,
        field: &'static str,
        v: &T,
    ) -> Result<(), Error> {
        v.tls_serialize(&mut self.buf)
            .map(|_| ())
            .map_err(|e| Error::from_tls(field, e))
    }
}
