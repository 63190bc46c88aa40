//! The kind-445 group event of the Marmot profile (MIP-03).
//!
//! Key: `MLS-Exporter("marmot", "group-event", 32)` of the epoch, used directly as a
//! ChaCha20-Poly1305 key. Content: `base64(nonce[12] ‖ ChaCha20-Poly1305(key, nonce,
//! MLSMessage, aad = empty))` with a fresh random nonce. Tags: exactly one
//! `["h", hex(nostr_group_id)]` and `["encoding", "base64"]` (an `expiration` tag is the
//! one other tag MDK may add). Every event is signed by a fresh throwaway key.

use core::fmt;

use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use nipee_nostr::{Event, EventBuilder, Keys, Kind, Tag, Timestamp};
use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// The Marmot exporter label.
pub const EXPORTER_LABEL: &[u8] = b"marmot";
/// The Marmot exporter context for group events.
pub const EXPORTER_CONTEXT: &[u8] = b"group-event";
/// The exporter length (a ChaCha20-Poly1305 key).
pub const EXPORTER_LENGTH: usize = 32;
/// Longest accepted kind-445 content (base64 characters).
pub const MAX_CONTENT: usize = 24 << 20;
/// Nonce length.
const NONCE_LEN: usize = 12;
/// Shortest content that can be genuine: a nonce and a Poly1305 tag.
const MIN_DECODED: usize = NONCE_LEN + 16;

/// One epoch's group-event key of a Marmot group. Secret: zeroized on drop, not printed.
pub struct MarmotEventKey {
    key: Zeroizing<[u8; 32]>,
}

impl fmt::Debug for MarmotEventKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MarmotEventKey").finish_non_exhaustive()
    }
}

impl MarmotEventKey {
    /// The key of the epoch whose `MLS-Exporter("marmot", "group-event", 32)` is `secret`.
    pub fn from_exporter_secret(secret: &[u8; 32]) -> Self {
        MarmotEventKey {
            key: Zeroizing::new(*secret),
        }
    }

    /// The exporter secret (for persistence). Handle with care.
    pub fn expose_exporter_secret(&self) -> &[u8; 32] {
        &self.key
    }

    fn cipher(&self) -> Result<ChaCha20Poly1305> {
        ChaCha20Poly1305::new_from_slice(self.key.as_slice()).map_err(|_| Error::Internal {
            reason: "a ChaCha20-Poly1305 key of another length",
        })
    }

    /// Encrypts an MLSMessage into kind-445 content under a fresh nonce from `rng`.
    ///
    /// # Errors
    /// [`Error::Internal`] if the AEAD refuses (it does not for inputs below its limit).
    pub fn encrypt<R: CryptoRng + ?Sized>(
        &self,
        mls_message: &[u8],
        rng: &mut R,
    ) -> Result<String> {
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill_bytes(&mut nonce);
        let sealed = self
            .cipher()?
            .encrypt(&Nonce::from(nonce), mls_message)
            .map_err(|_| Error::Internal {
                reason: "ChaCha20-Poly1305 refused to encrypt",
            })?;
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(super::encode_base64(&out))
    }

    /// Decrypts kind-445 content.
    ///
    /// # Errors
    /// [`Error::Malformed`] for content that is not base64 or too short to hold a nonce and
    /// a tag; [`Error::NoEpochKey`] when this key does not open it.
    pub fn decrypt(&self, content: &str) -> Result<Vec<u8>> {
        let bytes = super::decode_base64("kind 445 content", content, MAX_CONTENT)?;
        if bytes.len() < MIN_DECODED {
            return Err(Error::malformed(
                "kind 445 content",
                format!(
                    "{} bytes; a nonce and a tag need {MIN_DECODED}",
                    bytes.len()
                ),
            ));
        }
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| Error::Internal {
            reason: "a nonce of another length",
        })?;
        self.cipher()?
            .decrypt(&Nonce::from(nonce), sealed)
            .map_err(|_| Error::NoEpochKey)
    }
}

/// Builds a Marmot kind-445 event: the encrypted MLSMessage, `h` and `encoding` tags,
/// signed by `signer` (a throwaway key the caller drew for this one event).
///
/// # Errors
/// Those of [`MarmotEventKey::encrypt`].
pub fn build_group_event<R: CryptoRng + ?Sized>(
    key: &MarmotEventKey,
    nostr_group_id: &[u8; 32],
    mls_message: &[u8],
    created_at: Timestamp,
    signer: &Keys,
    rng: &mut R,
) -> Result<Event> {
    let content = key.encrypt(mls_message, rng)?;
    Ok(EventBuilder::new(Kind::MLS_GROUP_MESSAGE, content)
        .tag(Tag::group(&hex::encode(nostr_group_id)))
        .tag(super::encoding_tag())
        .sign_with_rng(signer, created_at, rng))
}

/// Checks the tags of a Marmot kind-445 event: one `h` (checked by the router), one
/// `["encoding", "base64"]`, at most one `expiration`, nothing else.
///
/// # Errors
/// [`Error::MissingTag`] / [`Error::BadTag`] naming the tag.
pub fn check_group_event_tags(event: &Event) -> Result<()> {
    let kind = Kind::MLS_GROUP_MESSAGE.as_u16();
    super::require_base64(kind, event.tags())?;
    let mut encodings = 0;
    let mut expirations = 0;
    for t in event.tags().iter() {
        match t.name() {
            Some("h") => {}
            Some("encoding") => encodings += 1,
            Some("expiration") => expirations += 1,
            other => {
                return Err(Error::BadTag {
                    tag: "kind 445 tags",
                    expected: "only h, encoding and expiration",
                    found: other.unwrap_or_default().chars().take(40).collect(),
                });
            }
        }
    }
    if encodings > 1 || expirations > 1 {
        return Err(Error::BadTag {
            tag: "kind 445 tags",
            expected: "one encoding tag and at most one expiration tag",
            found: format!("{encodings} encoding, {expirations} expiration"),
        });
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use base64::Engine;

    use super::*;

    #[test]
    fn content_is_nonce_then_sealed_message_in_base64() {
        let mut rng = rand::rng();
        let key = MarmotEventKey::from_exporter_secret(&[9; 32]);
        let content = key.encrypt(b"mls bytes", &mut rng).unwrap();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(&content)
            .unwrap();
        assert_eq!(raw.len(), 12 + 9 + 16);
        // The same AEAD opened by hand: key, the leading nonce, empty AAD.
        let nonce: [u8; 12] = raw[..12].try_into().unwrap();
        let plain = ChaCha20Poly1305::new_from_slice(&[9; 32])
            .unwrap()
            .decrypt(&Nonce::from(nonce), &raw[12..])
            .unwrap();
        assert_eq!(plain, b"mls bytes");
        assert_eq!(key.decrypt(&content).unwrap(), b"mls bytes");
    }

    #[test]
    fn another_key_short_content_and_bad_base64_are_typed_errors() {
        let mut rng = rand::rng();
        let key = MarmotEventKey::from_exporter_secret(&[9; 32]);
        let other = MarmotEventKey::from_exporter_secret(&[8; 32]);
        let content = key.encrypt(b"x", &mut rng).unwrap();
        assert!(matches!(other.decrypt(&content), Err(Error::NoEpochKey)));
        assert!(matches!(key.decrypt("AAAA"), Err(Error::Malformed { .. })));
        assert!(matches!(key.decrypt("%%%"), Err(Error::Malformed { .. })));
        assert!(!format!("{key:?}").contains("09"));
    }

    #[test]
    fn events_carry_h_and_encoding_and_nothing_else() {
        let mut rng = rand::rng();
        let key = MarmotEventKey::from_exporter_secret(&[9; 32]);
        let signer = Keys::generate(&mut rng);
        let e = build_group_event(
            &key,
            &[1; 32],
            b"m",
            Timestamp::from_secs(1),
            &signer,
            &mut rng,
        )
        .unwrap();
        let names: Vec<_> = e.tags().iter().filter_map(|t| t.name()).collect();
        assert_eq!(names, ["h", "encoding"]);
        check_group_event_tags(&e).unwrap();
        let extra = EventBuilder::new(Kind::MLS_GROUP_MESSAGE, e.content())
            .tag(Tag::group(&hex::encode([1u8; 32])))
            .tag(super::super::encoding_tag())
            .tag(Tag::new(["p", "x"]))
            .sign_with_rng(&signer, Timestamp::from_secs(1), &mut rng);
        assert!(matches!(
            check_group_event_tags(&extra),
            Err(Error::BadTag { .. })
        ));
        let bare = EventBuilder::new(Kind::MLS_GROUP_MESSAGE, e.content())
            .tag(Tag::group(&hex::encode([1u8; 32])))
            .sign_with_rng(&signer, Timestamp::from_secs(1), &mut rng);
        assert!(matches!(
            check_group_event_tags(&bare),
            Err(Error::MissingTag {
                tag: "encoding",
                ..
            })
        ));
    }
}
