//! The one error type of this crate.

use core::fmt;

/// Everything that can go wrong while encoding or decoding.
///
/// Variants are grouped by cause: most are *malformed input* (the bytes do not
/// follow the presentation language), a few are *misuse* (the caller asked to
/// encode something the wire format cannot carry), and [`Error::Internal`]
/// marks a bug. [`Error::kind`] gives a stable, coarse classification.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input ended before `field` was complete.
    #[error("truncated input in `{field}`: needed {needed} more byte(s), {remaining} left")]
    Truncated {
        /// The field being read.
        field: &'static str,
        /// How many bytes the field still needed.
        needed: usize,
        /// How many bytes were left.
        remaining: usize,
    },
    /// Bytes were left after the value was decoded.
    #[error("{count} trailing byte(s) after the value")]
    TrailingBytes {
        /// How many bytes were left over.
        count: usize,
    },
    /// A variable-length integer used the reserved `0b11` prefix (RFC 9420 §2.1.2).
    #[error("variable-length integer in `{field}` uses the reserved 0b11 prefix")]
    ReservedVarintPrefix {
        /// The field being read.
        field: &'static str,
    },
    /// A variable-length integer was not minimally encoded (RFC 9420 §2.1.2).
    #[error(
        "variable-length integer {value} in `{field}` is not minimally encoded ({encoded_len} bytes)"
    )]
    NonMinimalVarint {
        /// The field being read.
        field: &'static str,
        /// The decoded value.
        value: u64,
        /// How many bytes the encoding used.
        encoded_len: usize,
    },
    /// A vector declared a length larger than the input that is left.
    #[error("`{field}` declares {declared} byte(s) but only {remaining} remain")]
    LengthExceedsInput {
        /// The field being read.
        field: &'static str,
        /// The declared length.
        declared: u64,
        /// How many bytes were left.
        remaining: usize,
    },
    /// A fixed-size value arrived with the wrong length.
    #[error("`{field}` must be {expected} byte(s), found {found}")]
    LengthMismatch {
        /// The field being read.
        field: &'static str,
        /// The length the field must have.
        expected: usize,
        /// The length found.
        found: usize,
    },
    /// A vector held more elements (or bytes) than the caller allows.
    #[error("`{field}` exceeds its limit of {limit} (found at least {found})")]
    LimitExceeded {
        /// The field being read.
        field: &'static str,
        /// The limit.
        limit: usize,
        /// What was found (a lower bound when decoding stopped early).
        found: usize,
    },
    /// A value outside its allowed range (for example an `optional` presence
    /// byte other than 0 or 1, or an unknown enum value).
    #[error("invalid value {value} in `{field}`: {reason}")]
    InvalidValue {
        /// The field being read.
        field: &'static str,
        /// The offending value.
        value: u64,
        /// Why it is invalid.
        reason: &'static str,
    },
    /// A structure decoded by `tls_codec` failed.
    #[error("`{field}`: {message}")]
    Tls {
        /// The field being read.
        field: &'static str,
        /// What `tls_codec` reported.
        message: String,
    },
    /// The caller asked to encode a vector longer than `2^30 - 1` bytes, the
    /// largest length the MLS varint can express.
    #[error("`{field}` is {len} bytes, more than an MLS vector can carry")]
    TooLongToEncode {
        /// The field being written.
        field: &'static str,
        /// Its length.
        len: usize,
    },
    /// A bug in this crate or in a caller's `Encode` implementation.
    #[error("internal error: {0}")]
    Internal(&'static str),
}

/// A stable, coarse classification of [`Error`] for callers that map errors
/// to codes (the WASM facade hands these to JavaScript).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The input does not follow the encoding rules.
    Malformed,
    /// The caller asked for something the format cannot express.
    Misuse,
    /// A bug.
    Internal,
}

impl ErrorKind {
    /// The stable string code of this kind.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Malformed => "malformed",
            ErrorKind::Misuse => "misuse",
            ErrorKind::Internal => "internal",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Error {
    /// The stable classification of this error.
    pub const fn kind(&self) -> ErrorKind {
        match self {
            Error::TooLongToEncode { .. } => ErrorKind::Misuse,
            Error::Internal(_) => ErrorKind::Internal,
            _ => ErrorKind::Malformed,
        }
    }

    /// Converts a `tls_codec` error met while reading `field`.
    pub fn from_tls(field: &'static str, err: tls_codec::Error) -> Self {
        match err {
            tls_codec::Error::TrailingData => Error::Tls {
                field,
                message: "trailing data".into(),
            },
            tls_codec::Error::EndOfStream => Error::Tls {
                field,
                message: "end of input".into(),
            },
            tls_codec::Error::LibraryError => Error::Internal("tls_codec library error"),
            other => Error::Tls {
                field,
                message: other.to_string(),
            },
        }
    }
}
