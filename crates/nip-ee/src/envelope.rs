//! The kind-445 group event envelope.
//!
//! Content = NIP-44 v2 (extended length prefix allowed unless the caller asks for the
//! classic one) of the raw TLS `MLSMessage`
//! bytes, under the conversation key between `sk` = `MLS-Exporter("nostr", "nostr", 32)`
//! of the epoch and `pk` = x-only(`sk`·G). Exactly one `["h", hex(nostr_group_id)]` tag.
//! Every event is signed by a fresh throwaway key, so relays learn nothing about the
//! sender.

use core::fmt;
use std::sync::OnceLock;

use nipee_nostr::nip44::{self, ConversationKey, LengthPrefix};
use nipee_nostr::{Event, EventBuilder, Keys, Kind, PublicKey, SecretKey, Tag, Timestamp};
use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// The NIP-EE exporter label.
pub const EXPORTER_LABEL: &[u8] = b"nostr";
/// The NIP-EE exporter context.
pub const EXPORTER_CONTEXT: &[u8] = b"nostr";
/// The NIP-EE exporter length.
pub const EXPORTER_LENGTH: usize = 32;
/// Longest accepted kind-445 content (base64 characters).
pub const MAX_CONTENT: usize = 24 << 20;

/// The key material of one epoch's group events, from the exporter secret. The public key
/// and the NIP-44 conversation key (a point multiplication and an ECDH) are derived on first
/// use and then kept, so that loading a group with several retained epochs costs nothing
/// for the epochs no event arrives for. Holds secrets: zeroized on drop, no secret in `Debug`.
pub struct GroupEventKey {
    secret_key: SecretKey,
    exporter_secret: Zeroizing<[u8; 32]>,
    derived: OnceLock<Derived>,
}

/// What [`GroupEventKey`] derives on first use.
struct Derived {
    public_key: PublicKey,
    conversation_key: ConversationKey,
}

impl fmt::Debug for GroupEventKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupEventKey")
            .field("public_key", &self.public_key())
            .finish_non_exhaustive()
    }
}

impl GroupEventKey {
    /// The key of the epoch whose `MLS-Exporter("nostr", "nostr", 32)` is `exporter_secret`.
    ///
    /// # Errors
    /// [`Error::Nostr`] if the secret is not a valid secp256k1 scalar (zero or ≥ n, which a
    /// correct exporter gives with negligible probability).
    pub fn from_exporter_secret(exporter_secret: &[u8; 32]) -> Result<Self> {
        Ok(GroupEventKey {
            secret_key: SecretKey::from_bytes(exporter_secret)?,
            exporter_secret: Zeroizing::new(*exporter_secret),
            derived: OnceLock::new(),
        })
    }

    fn derived(&self) -> &Derived {
        self.derived.get_or_init(|| {
            let public_key = self.secret_key.public_key();
            Derived {
                conversation_key: ConversationKey::derive(&self.secret_key, &public_key),
                public_key,
            }
        })
    }

    /// x-only(`sk`·G).
    pub fn public_key(&self) -> PublicKey {
        self.derived().public_key
    }

    /// The NIP-44 v2 conversation key.
    pub fn conversation_key(&self) -> &ConversationKey {
        &self.derived().conversation_key
    }

    /// The exporter secret (for persistence). Handle with care.
    pub fn expose_exporter_secret(&self) -> &[u8; 32] {
        &self.exporter_secret
    }

    /// Encrypts an MLSMessage into kind-445 content with a fresh nonce.
    ///
    /// # Errors
    /// [`Error::Nostr`] for an empty or over-long message.
    pub fn encrypt<R: CryptoRng + ?Sized>(
        &self,
        mls_message: &[u8],
        rng: &mut R,
    ) -> Result<String> {
        self.encrypt_with_prefix(mls_message, LengthPrefix::Extended, rng)
    }

    /// [`GroupEventKey::encrypt`] under an explicit NIP-44 length-prefix policy.
    ///
    /// # Errors
    /// [`Error::ClassicNip44TooLarge`] for a message above 65 535 bytes under
    /// [`LengthPrefix::Classic`]; [`Error::Nostr`] for an empty or over-long message.
    pub fn encrypt_with_prefix<R: CryptoRng + ?Sized>(
        &self,
        mls_message: &[u8],
        prefix: LengthPrefix,
        rng: &mut R,
    ) -> Result<String> {
        let mut nonce = [0u8; 32];
        rng.fill_bytes(&mut nonce);
        nip44::encrypt_with_nonce(self.conversation_key(), mls_message, &nonce, prefix)
            .map_err(|e| Error::from_nip44("kind-445 MLS message", e))
    }

    /// Decrypts kind-445 content.
    ///
    /// # Errors
    /// [`Error::Nostr`] (`BadMac` when this epoch's key does not open it).
    pub fn decrypt(&self, content: &str) -> Result<Vec<u8>> {
        if content.len() > MAX_CONTENT {
            return Err(Error::malformed("kind 445 content", "too long"));
        }
        Ok(nip44::decrypt(self.conversation_key(), content)?)
    }
}

/// Builds a kind-445 event: the encrypted MLSMessage, one `h` tag, signed by a fresh
/// throwaway key drawn from `rng`.
///
/// # Errors
/// Those of [`GroupEventKey::encrypt`].
pub fn build_group_event<R: CryptoRng + ?Sized>(
    key: &GroupEventKey,
    nostr_group_id: &[u8; 32],
    mls_message: &[u8],
    created_at: Timestamp,
    rng: &mut R,
) -> Result<Event> {
    let ephemeral = Keys::generate(rng);
    build_group_event_signed(
        key,
        nostr_group_id,
        mls_message,
        created_at,
        &ephemeral,
        LengthPrefix::Extended,
        rng,
    )
}

/// [`build_group_event`] signed by `signer`, a throwaway key the caller drew (to bind a
/// commit to the event that carries it, the key must be known before the commit is made),
/// under the NIP-44 length-prefix policy `prefix`.
///
/// # Errors
/// Those of [`GroupEventKey::encrypt_with_prefix`].
pub fn build_group_event_signed<R: CryptoRng + ?Sized>(
    key: &GroupEventKey,
    nostr_group_id: &[u8; 32],
    mls_message: &[u8],
    created_at: Timestamp,
    signer: &Keys,
    prefix: LengthPrefix,
    rng: &mut R,
) -> Result<Event> {
    let content = key.encrypt_with_prefix(mls_message, prefix, rng)?;
    Ok(EventBuilder::new(Kind::MLS_GROUP_MESSAGE, content)
        .tag(Tag::group(&hex::encode(nostr_group_id)))
        .sign_with_rng(signer, created_at, rng))
}

/// The `nostr_group_id` of a kind-445 event: its kind, signature and exactly one `h` tag
/// of 64 lower-case hex characters are checked.
///
/// # Errors
/// [`Error::UnexpectedKind`], [`Error::Nostr`] for a bad id or signature,
/// [`Error::MissingTag`] / [`Error::BadTag`] for the `h` tag.
pub fn group_event_group_id(event: &Event) -> Result<[u8; 32]> {
    if event.kind() != Kind::MLS_GROUP_MESSAGE {
        return Err(Error::UnexpectedKind {
            expected: Kind::MLS_GROUP_MESSAGE.as_u16(),
            found: event.kind().as_u16(),
        });
    }
    event.verify()?;
    let mut h = event.tags().iter().filter(|t| t.name() == Some("h"));
    let first = h.next().ok_or(Error::MissingTag {
        kind: Kind::MLS_GROUP_MESSAGE.as_u16(),
        tag: "h",
    })?;
    if h.next().is_some() {
        return Err(Error::BadTag {
            tag: "h",
            expected: "exactly one h tag",
            found: "several".to_owned(),
        });
    }
    let value = first.value().unwrap_or_default();
    let bad = || Error::BadTag {
        tag: "h",
        expected: "64 lower-case hex characters",
        found: value.chars().take(80).collect(),
    };
    if value.len() != 64
        || !value
            .bytes()
            .all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
    {
        return Err(bad());
    }
    let mut id = [0u8; 32];
    hex::decode_to_slice(value, &mut id).map_err(|_| bad())?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn the_key_is_derived_on_first_use_only_and_as_before() {
        let secret = [7u8; 32];
        let key = GroupEventKey::from_exporter_secret(&secret).expect("a valid scalar");
        assert!(
            key.derived.get().is_none(),
            "nothing derived on construction"
        );
        let content = key
            .encrypt(b"mls bytes", &mut rand::rngs::StdRng::seed_from_u64(1))
            .expect("encrypts");
        assert!(key.derived.get().is_some(), "derived by the first use");
        // The same key as the eager derivation.
        let sk = SecretKey::from_bytes(&secret).expect("a valid scalar");
        assert_eq!(key.public_key(), sk.public_key());
        let eager = ConversationKey::derive(&sk, &sk.public_key());
        assert_eq!(
            nip44::decrypt(&eager, &content).expect("opens"),
            b"mls bytes".to_vec()
        );
        // A fresh key opens it too (deriving on decrypt).
        let again = GroupEventKey::from_exporter_secret(&secret).expect("a valid scalar");
        assert_eq!(
            again.decrypt(&content).expect("opens"),
            b"mls bytes".to_vec()
        );
        assert!(GroupEventKey::from_exporter_secret(&[0u8; 32]).is_err());
    }
}
