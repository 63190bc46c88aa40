//! The identity seam: everything that signs or decrypts as the user goes through
//! [`Signer`], so that a key held elsewhere (a NIP-07 browser extension, a NIP-46 remote
//! signer, a hardware key) can stand in for [`Keys`].
//!
//! ```
//! use nipee_nostr::{EventBuilder, Keys, Signer, Timestamp};
//!
//! fn post<S: Signer + ?Sized>(me: &S) -> nipee_nostr::Result<nipee_nostr::Event> {
//!     me.sign_builder(EventBuilder::text_note("hi"), Timestamp::from_secs(1_700_000_000))
//! }
//! let keys = Keys::generate(&mut rand::rng());
//! assert_eq!(post(&keys)?.pubkey(), keys.public_key());
//! // Also through a trait object.
//! let dynamic: &dyn Signer = &keys;
//! assert_eq!(post(dynamic)?.pubkey(), keys.public_key());
//! # Ok::<(), nipee_nostr::Error>(())
//! ```
//!
//! # Synchronous today
//!
//! Every method returns at once. That suits keys in memory, and a NIP-46 or hardware
//! signer only if the caller may block. A NIP-07 extension (`window.nostr`) answers with
//! JavaScript promises and may prompt the user, so it cannot implement this trait
//! directly; an asynchronous variant would need:
//! - the same four operations returning futures, not `Send` on `wasm32` (a `JsValue`
//!   never is), which is why [`Signer`] itself has no `Send`/`Sync` bound;
//! - NIP-59 split at its signer calls: [`crate::nip59`] does one encryption and one
//!   signature to seal (the gift wrap's own layer uses a fresh local key), and two
//!   decryptions to unwrap, so an async `gift_wrap`/`unwrap_gift_wrap` is a short
//!   sequence of awaits around the same checks;
//! - strings, not bytes: NIP-07's `nip44.encrypt` takes and returns text, which is why
//!   this trait's plaintexts are `&str`. Extensions generally implement only the classic
//!   NIP-44 length prefix (at most 65 535 bytes); [`Keys`] also uses the extended prefix
//!   above that, which large NIP-EE Welcomes (rumors over 64 KiB) need;
//! - a refusal path: a user may decline a prompt; report it as [`Error::Signer`].

use rand_core::CryptoRng;

use crate::error::{Error, Result};
use crate::event::{Event, EventBuilder, Timestamp, UnsignedEvent};
use crate::keys::{Keys, PublicKey};
use crate::nip44::{self, ConversationKey, LengthPrefix};

/// A Nostr identity that can sign events and encrypt/decrypt NIP-44 v2 to a peer.
///
/// Implemented for [`Keys`], for references, `Box` and `Arc` of signers, and usable as
/// `dyn Signer`. Functions that act as the user take `&S where S: Signer + ?Sized`, so
/// `&Keys` works at call sites unchanged. See the [module docs](self) for what an
/// asynchronous (browser extension) signer would need.
pub trait Signer {
    /// The x-only public key this signer signs as.
    fn public_key(&self) -> PublicKey;

    /// Signs `unsigned`, whose `pubkey` must be [`Signer::public_key`].
    ///
    /// # Errors
    /// [`Error::Misuse`] if the event's pubkey is not this signer's; [`Error::Rng`] if
    /// no auxiliary randomness is available; [`Error::Signer`] if an external signer
    /// failed or refused.
    fn sign_event(&self, unsigned: UnsignedEvent) -> Result<Event>;

    /// Builds `builder` as this signer's event at `created_at` and signs it.
    ///
    /// # Errors
    /// As [`Signer::sign_event`].
    fn sign_builder(&self, builder: EventBuilder, created_at: Timestamp) -> Result<Event> {
        self.sign_event(builder.build(self.public_key(), created_at))
    }

    /// NIP-44 v2 encryption of `plaintext` to `peer` (conversation key of this signer's
    /// secret and `peer`), nonce drawn from `rng` where the signer uses one. Returns the
    /// base64 payload.
    ///
    /// # Errors
    /// [`Error::Misuse`] for an empty plaintext or one too long for the signer;
    /// [`Error::Signer`] if an external signer failed or refused.
    fn nip44_encrypt(
        &self,
        peer: &PublicKey,
        plaintext: &str,
        rng: &mut dyn CryptoRng,
    ) -> Result<String>;

    /// NIP-44 v2 decryption of `payload` from `peer`.
    ///
    /// # Errors
    /// The NIP-44 errors ([`Error::BadMac`], [`Error::Base64`], ...), [`Error::NotUtf8`]
    /// when the plaintext is not text, [`Error::Signer`] if an external signer failed.
    fn nip44_decrypt(&self, peer: &PublicKey, payload: &str) -> Result<String>;

    /// [`Signer::nip44_encrypt`] under an explicit length-prefix policy:
    /// [`LengthPrefix::Classic`] refuses plaintexts above 65 535 bytes (for peers whose
    /// NIP-44 reads only the 2-byte prefix), [`LengthPrefix::Extended`] is what
    /// [`Signer::nip44_encrypt`] does for [`Keys`].
    ///
    /// The provided implementation checks the classic limit and then calls
    /// [`Signer::nip44_encrypt`]: below 65 536 bytes both prefixes encode identically, so
    /// a signer that only knows the classic prefix is correct as it is.
    ///
    /// # Errors
    /// [`Error::PlaintextTooLong`] when the plaintext does not fit `prefix`; those of
    /// [`Signer::nip44_encrypt`].
    fn nip44_encrypt_with_prefix(
        &self,
        peer: &PublicKey,
        plaintext: &str,
        prefix: LengthPrefix,
        rng: &mut dyn CryptoRng,
    ) -> Result<String> {
        let limit = prefix.max_plaintext();
        if plaintext.len() as u64 > limit {
            return Err(Error::PlaintextTooLong {
                found: plaintext.len(),
                limit,
                prefix: prefix.name(),
            });
        }
        self.nip44_encrypt(peer, plaintext, rng)
    }
}

impl Signer for Keys {
    fn public_key(&self) -> PublicKey {
        Keys::public_key(self)
    }

    fn sign_event(&self, unsigned: UnsignedEvent) -> Result<Event> {
        unsigned.sign(self)
    }

    /// Uses the extended length prefix above 65 535 bytes (identical to the classic
    /// encoding below), so large rumors fit.
    fn nip44_encrypt(
        &self,
        peer: &PublicKey,
        plaintext: &str,
        rng: &mut dyn CryptoRng,
    ) -> Result<String> {
        self.nip44_encrypt_with_prefix(peer, plaintext, LengthPrefix::Extended, rng)
    }

    fn nip44_encrypt_with_prefix(
        &self,
        peer: &PublicKey,
        plaintext: &str,
        prefix: LengthPrefix,
        rng: &mut dyn CryptoRng,
    ) -> Result<String> {
        let ck = ConversationKey::derive(self.secret_key(), peer);
        let mut nonce = [0u8; 32];
        rng.fill_bytes(&mut nonce);
        nip44::encrypt_with_nonce(&ck, plaintext.as_bytes(), &nonce, prefix)
    }

    fn nip44_decrypt(&self, peer: &PublicKey, payload: &str) -> Result<String> {
        let ck = ConversationKey::derive(self.secret_key(), peer);
        nip44::decrypt_str(&ck, payload)
    }
}

macro_rules! forward_signer {
    ($($ptr:ty),*) => {$(
        impl<S: Signer + ?Sized> Signer for $ptr {
            fn public_key(&self) -> PublicKey {
                (**self).public_key()
            }
            fn sign_event(&self, unsigned: UnsignedEvent) -> Result<Event> {
                (**self).sign_event(unsigned)
            }
            fn sign_builder(&self, builder: EventBuilder, created_at: Timestamp) -> Result<Event> {
                (**self).sign_builder(builder, created_at)
            }
            fn nip44_encrypt(
                &self,
                peer: &PublicKey,
                plaintext: &str,
                rng: &mut dyn CryptoRng,
            ) -> Result<String> {
                (**self).nip44_encrypt(peer, plaintext, rng)
            }
            fn nip44_decrypt(&self, peer: &PublicKey, payload: &str) -> Result<String> {
                (**self).nip44_decrypt(peer, payload)
            }
            fn nip44_encrypt_with_prefix(
                &self,
                peer: &PublicKey,
                plaintext: &str,
                prefix: LengthPrefix,
                rng: &mut dyn CryptoRng,
            ) -> Result<String> {
                (**self).nip44_encrypt_with_prefix(peer, plaintext, prefix, rng)
            }
        }
    )*};
}

forward_signer!(&S, Box<S>, std::sync::Arc<S>);

/// Checks that `unsigned` is `signer`'s event; for implementations of
/// [`Signer::sign_event`] that do not check it themselves.
///
/// # Errors
/// [`Error::Misuse`] when the pubkeys differ.
pub fn check_author<S: Signer + ?Sized>(signer: &S, unsigned: &UnsignedEvent) -> Result<()> {
    if unsigned.pubkey != signer.public_key() {
        return Err(Error::Misuse {
            field: "unsigned",
            reason: "the event's pubkey is not the signer's",
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Kind;

    /// A signer that only forwards to keys it owns, as an external signer would: proves
    /// that nothing in the trait's users needs the secret key.
    struct Remote(Keys);

    impl Signer for Remote {
        fn public_key(&self) -> PublicKey {
            self.0.public_key()
        }
        fn sign_event(&self, unsigned: UnsignedEvent) -> Result<Event> {
            check_author(self, &unsigned)?;
            self.0.sign_event(unsigned)
        }
        fn nip44_encrypt(
            &self,
            peer: &PublicKey,
            plaintext: &str,
            rng: &mut dyn CryptoRng,
        ) -> Result<String> {
            Signer::nip44_encrypt(&self.0, peer, plaintext, rng)
        }
        fn nip44_decrypt(&self, peer: &PublicKey, _payload: &str) -> Result<String> {
            Err(Error::Signer {
                reason: format!("the user declined to decrypt from {peer}"),
            })
        }
    }

    #[test]
    fn keys_sign_builders_and_refuse_foreign_events() {
        let mut rng = rand::rng();
        let a = Keys::generate(&mut rng);
        let b = Keys::generate(&mut rng);
        let now = Timestamp::from_secs(1_700_000_000);
        let ev = a
            .sign_builder(EventBuilder::new(Kind::TEXT_NOTE, "x"), now)
            .unwrap();
        assert_eq!(ev.pubkey(), a.public_key());
        assert!(ev.verify().is_ok());
        let foreign = EventBuilder::text_note("y").build(b.public_key(), now);
        assert_eq!(
            a.sign_event(foreign.clone()).unwrap_err().kind(),
            crate::ErrorKind::Misuse
        );
        let remote = Remote(a.clone());
        assert_eq!(
            remote.sign_event(foreign).unwrap_err().kind(),
            crate::ErrorKind::Misuse
        );
    }

    #[test]
    fn nip44_through_the_trait_matches_the_byte_api_both_ways() {
        let mut rng = rand::rng();
        let a = Keys::generate(&mut rng);
        let b = Keys::generate(&mut rng);
        let payload = Signer::nip44_encrypt(&a, &b.public_key(), "hello", &mut rng).unwrap();
        assert_eq!(b.nip44_decrypt(&a.public_key(), &payload).unwrap(), "hello");
        let ck = ConversationKey::derive(b.secret_key(), &a.public_key());
        assert_eq!(nip44::decrypt(&ck, &payload).unwrap(), b"hello");
        // Above the classic limit the extended prefix is used.
        let long = "z".repeat(70_000);
        let payload = Signer::nip44_encrypt(&a, &b.public_key(), &long, &mut rng).unwrap();
        assert_eq!(b.nip44_decrypt(&a.public_key(), &payload).unwrap(), long);
        // Wrong peer: the MAC fails.
        assert_eq!(
            b.nip44_decrypt(&b.public_key(), &payload).unwrap_err(),
            Error::BadMac
        );
    }

    #[test]
    fn a_declining_signer_reports_a_signer_error() {
        let mut rng = rand::rng();
        let remote: Box<dyn Signer> = Box::new(Remote(Keys::generate(&mut rng)));
        let peer = Keys::generate(&mut rng).public_key();
        let e = remote.nip44_decrypt(&peer, "AAAA").unwrap_err();
        assert!(matches!(e, Error::Signer { .. }), "{e}");
        assert_eq!(e.kind().as_str(), "internal");
    }
}
