//! The MLS variable-length integer (RFC 9420 §2.1.2).
//!
//! The two most significant bits of the first byte give the length: `00` one
//! byte (6-bit value), `01` two bytes (14 bits), `10` four bytes (30 bits).
//! The prefix `11` is reserved and rejected, and every value must use the
//! shortest encoding that holds it.

use crate::Error;

/// The largest value (and so the largest vector length) a varint can carry.
pub const MAX_VARINT: u64 = (1 << 30) - 1;

/// How many bytes the minimal encoding of `value` takes, or `None` when the
/// value exceeds [`MAX_VARINT`].
pub const fn encoded_len(value: u64) -> Option<usize> {
    if value <= 0x3f {
        Some(1)
    } else if value <= 0x3fff {
        Some(2)
    } else if value <= MAX_VARINT {
        Some(4)
    } else {
        None
    }
}

/// Appends the minimal encoding of `value` to `out`.
///
/// # Errors
/// [`Error::TooLongToEncode`] when `value` exceeds [`MAX_VARINT`].
pub fn write_varint(field: &'static str, value: u64, out: &mut Vec<u8>) -> Result<(), Error> {
    match encoded_len(value) {
        Some(1) => out.push(value as u8),
        Some(2) => out.extend_from_slice(&((value as u16) | 0x4000).to_be_bytes()),
        Some(4) => out.extend_from_slice(&((value as u32) | 0x8000_0000).to_be_bytes()),
        _ => {
            return Err(Error::TooLongToEncode {
                field,
                len: usize::try_from(value).unwrap_or(usize::MAX),
            });
        }
    }
    Ok(())
}

/// Decodes a varint from the front of `input`, returning the value and the
/// rest of the input.
///
/// # Errors
/// [`Error::Truncated`], [`Error::ReservedVarintPrefix`] or
/// [`Error::NonMinimalVarint`].
pub fn read_varint<'a>(field: &'static str, input: &'a [u8]) -> Result<(u64, &'a [u8]), Error> {
    let Some(&first) = input.first() else {
        return Err(Error::Truncated {
            field,
            needed: 1,
            remaining: 0,
        });
    };
    let len = match first >> 6 {
        0 => 1,
        1 => 2,
        2 => 4,
        _ => return Err(Error::ReservedVarintPrefix { field }),
    };
    let Some((bytes, rest)) = input.split_at_checked(len) else {
        return Err(Error::Truncated {
            field,
            needed: len,
            remaining: input.len(),
        });
    };
    let mut value = u64::from(first & 0x3f);
    for b in &bytes[1..] {
        value = (value << 8) | u64::from(*b);
    }
    if encoded_len(value) != Some(len) {
        return Err(Error::NonMinimalVarint {
            field,
            value,
            encoded_len: len,
        });
    }
    Ok((value, rest))
}
