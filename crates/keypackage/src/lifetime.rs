//! Lifetime (RFC 9420 §7.2).

use nipee_codec::{Decode, Encode, Reader, Writer};

use crate::Error;

/// The times, in seconds since the Unix epoch, between which a KeyPackage's
/// LeafNode is valid (both ends inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Lifetime {
    /// `not_before`.
    pub not_before: u64,
    /// `not_after`.
    pub not_after: u64,
}

impl Lifetime {
    /// `not_after - not_before`, or `None` when the range is inverted.
    pub fn duration(&self) -> Option<u64> {
        self.not_after.checked_sub(self.not_before)
    }

    /// Checks that `now` is within the range.
    ///
    /// # Errors
    /// [`Error::LifetimeNotYetValid`], [`Error::LifetimeExpired`].
    pub fn check(&self, now: u64) -> Result<(), Error> {
        if now < self.not_before {
            Err(Error::LifetimeNotYetValid {
                not_before: self.not_before,
                now,
            })
        } else if now > self.not_after {
            Err(Error::LifetimeExpired {
                not_after: self.not_after,
                now,
            })
        } else {
            Ok(())
        }
    }
}

impl Decode for Lifetime {
    type Error = Error;

    fn decode(r: &mut Reader<'_>) -> Result<Self, Error> {
        Ok(Lifetime {
            not_before: r.u64("lifetime.not_before")?,
            not_after: r.u64("lifetime.not_after")?,
        })
    }
}

impl Encode for Lifetime {
    type Error = Error;

    fn encode(&self, w: &mut Writer) -> Result<(), Error> {
        w.u64(self.not_before);
        w.u64(self.not_after);
        Ok(())
    }
}
