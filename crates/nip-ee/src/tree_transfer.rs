//! Ratchet trees sent out of band: nipee's own extension of the Welcome, off by default
//! ([`ClientConfig::ratchet_tree_out_of_band`](crate::ClientConfig::ratchet_tree_out_of_band)).
//!
//! A Welcome normally carries the whole ratchet tree in its GroupInfo (the `ratchet_tree`
//! extension, RFC 9420 §12.4.3.3), and each invitee needs a gift wrap of its own: adding
//! n members then publishes n copies of the tree, O(n²) bytes. With this extension the
//! committer leaves the tree out of the GroupInfo and publishes it once, encrypted, as
//! chunk events; each invitee's Welcome rumor (kind 444, inside its gift wrap) carries a
//! `ratchet_tree` tag with the key and the chunk event ids:
//!
//! ```text
//! ["ratchet_tree", <hex of the 32-byte key>, <chunk event id>, <chunk event id>, …]
//! ```
//!
//! - The tree (its TLS encoding) is sealed once with ChaCha20-Poly1305 under a fresh
//!   random key, used for nothing else (so the all-zero nonce is safe), with the
//!   associated data [`AAD`]. Only those the rumor reaches (the invitees) learn the key;
//!   a relay sees opaque chunks signed by a throwaway key, which reveal only the tree's
//!   size.
//! - The ciphertext is cut into chunks of at most [`CHUNK_BYTES`], each the base64
//!   content of a regular event of kind [`KIND_RATCHET_TREE`], so that every event stays
//!   far below common relays' size limits (262 144 bytes for nostr-rs-relay).
//! - The invitee fetches the chunks by id from the group's relays (the rumor's `relays`),
//!   reassembles them in the tag's order and opens them; then MLS checks the tree against
//!   the tree hash the signed GroupInfo commits to (§12.4.3.1), as for a tree in the
//!   Welcome. A relay that withholds or alters a chunk can delay a join, not change it:
//!   the ids bind each chunk's content, the AEAD binds the whole, and the tree hash binds
//!   the tree to the group.
//!
//! Peers other than nipee (nostr-mls, MDK) cannot join from such a Welcome: turn the option
//! on only for groups whose members all run nipee.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use nipee_nostr::{Event, EventBuilder, EventId, Keys, Kind, Tag, Tags, Timestamp};
use rand_core::CryptoRng;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// Kind of a ratchet-tree chunk event (a regular event; nipee's own, not part of NIP-EE
/// or Marmot).
pub const KIND_RATCHET_TREE: Kind = Kind::new(447);

/// Name of the Welcome rumor's tag that points at an out-of-band tree.
pub const TAG_NAME: &str = "ratchet_tree";

/// Most ciphertext bytes in one chunk (its base64 content is 64 KiB).
pub const CHUNK_BYTES: usize = 48 * 1024;

/// Most chunks one tree may have: 24 MiB of tree, about 80 000 members.
pub const MAX_CHUNKS: usize = 512;

/// Most Welcomes a client keeps waiting for their tree at once; a new one evicts the
/// oldest. Anyone can gift-wrap a Welcome naming one of our published KeyPackages, so this
/// bounds what such a stranger makes us keep. A waiting Welcome is dropped after
/// [`ClientConfig::processed_retention_secs`](crate::ClientConfig::processed_retention_secs).
pub const MAX_WAITING_WELCOMES: usize = 64;

/// Associated data of the tree's encryption.
pub const AAD: &[u8] = b"nipee ratchet tree v1";

/// Where an out-of-band tree is and how to open it, as a Welcome rumor carries it.
#[derive(Clone)]
pub struct TreeRef {
    key: Zeroizing<[u8; 32]>,
    /// The chunk events, in order.
    pub chunks: Vec<EventId>,
}

impl core::fmt::Debug for TreeRef {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TreeRef")
            .field("chunks", &self.chunks)
            .finish_non_exhaustive()
    }
}

impl PartialEq for TreeRef {
    fn eq(&self, other: &Self) -> bool {
        bool::from(self.key.as_slice().ct_eq(other.key.as_slice())) && self.chunks == other.chunks
    }
}

impl Eq for TreeRef {}

/// A tree sealed for publication: the reference for the rumors and the chunk events.
#[derive(Debug)]
pub struct SealedTree {
    /// What each invitee's rumor carries.
    pub reference: TreeRef,
    /// The chunk events to publish (to the group's relays).
    pub events: Vec<Event>,
}

/// Encrypts `tree` (an encoded ratchet tree) under a fresh key and cuts it into chunk
/// events signed by a fresh throwaway key, dated `created_at`.
///
/// # Errors
/// [`Error::Misuse`] for a tree of more than [`MAX_CHUNKS`] chunks; [`Error::Internal`]
/// if encryption fails.
pub fn seal<R: CryptoRng + ?Sized>(
    tree: &[u8],
    created_at: Timestamp,
    rng: &mut R,
) -> Result<SealedTree> {
    let mut key = Zeroizing::new([0u8; 32]);
    rng.fill_bytes(key.as_mut_slice());
    let ciphertext = cipher(&key)?
        .encrypt(
            &Nonce::from([0u8; 12]),
            Payload {
                msg: tree,
                aad: AAD,
            },
        )
        .map_err(|_| Error::Internal {
            reason: "ratchet tree encryption failed",
        })?;
    if ciphertext.len().div_ceil(CHUNK_BYTES) > MAX_CHUNKS {
        return Err(Error::Misuse {
            what: "the ratchet tree is too large to send out of band",
        });
    }
    let signer = Keys::generate(rng);
    let events: Vec<Event> = ciphertext
        .chunks(CHUNK_BYTES)
        .map(|c| {
            EventBuilder::new(KIND_RATCHET_TREE, B64.encode(c))
                .sign_with_rng(&signer, created_at, rng)
        })
        .collect();
    Ok(SealedTree {
        reference: TreeRef {
            key,
            chunks: events.iter().map(Event::id).collect(),
        },
        events,
    })
}

impl TreeRef {
    /// A reference from its stored parts.
    pub(crate) fn from_parts(key: [u8; 32], chunks: Vec<EventId>) -> Self {
        TreeRef {
            key: Zeroizing::new(key),
            chunks,
        }
    }

    /// The key (for storing the reference while Welcomes are still being sent).
    pub(crate) fn key(&self) -> &[u8; 32] {
        &self.key
    }

    /// The rumor tag.
    pub fn to_tag(&self) -> Tag {
        let mut fields = Vec::with_capacity(self.chunks.len() + 2);
        fields.push(TAG_NAME.to_owned());
        fields.push(hex::encode(self.key.as_slice()));
        fields.extend(self.chunks.iter().map(EventId::to_hex));
        Tag::new(fields)
    }

    /// The reference in `tags`, if there is one.
    ///
    /// # Errors
    /// [`Error::BadTag`] for several such tags, a key that is not 64 hex characters, no
    /// chunk, more than [`MAX_CHUNKS`] chunks, a repeated chunk or a malformed id.
    pub fn from_tags(tags: &Tags) -> Result<Option<Self>> {
        let mut found = tags.iter().filter(|t| t.name() == Some(TAG_NAME));
        let Some(tag) = found.next() else {
            return Ok(None);
        };
        let bad = |expected: &'static str, found: String| Error::BadTag {
            tag: TAG_NAME,
            expected,
            found,
        };
        if found.next().is_some() {
            return Err(bad("one ratchet_tree tag", "several".to_owned()));
        }
        let fields = tag.as_slice();
        let key_hex = fields.get(1).map(String::as_str).unwrap_or_default();
        let mut key = Zeroizing::new([0u8; 32]);
        if key_hex.len() != 64 || hex::decode_to_slice(key_hex, key.as_mut_slice()).is_err() {
            return Err(bad(
                "a 32-byte key in hex",
                format!("{} characters", key_hex.len()),
            ));
        }
        let ids = fields.get(2..).unwrap_or_default();
        if ids.is_empty() || ids.len() > MAX_CHUNKS {
            return Err(bad(
                "1 to 512 chunk event ids",
                format!("{} ids", ids.len()),
            ));
        }
        let chunks = ids
            .iter()
            .map(|h| EventId::from_hex(h).map_err(|_| bad("chunk event ids in hex", h.clone())))
            .collect::<Result<Vec<_>>>()?;
        let mut sorted = chunks.clone();
        sorted.sort();
        sorted.dedup();
        if sorted.len() != chunks.len() {
            return Err(bad("distinct chunk event ids", "a repeated id".to_owned()));
        }
        Ok(Some(TreeRef { key, chunks }))
    }

    /// The tree, when `events` hold every chunk (matched by id; others are ignored);
    /// `None` while one is missing.
    ///
    /// # Errors
    /// [`Error::Malformed`] when a chunk is not base64 or the whole does not open with the
    /// key (a chunk of another tree, or a wrong key).
    pub fn open(&self, events: &[Event]) -> Result<Option<Zeroizing<Vec<u8>>>> {
        let mut ciphertext = Vec::new();
        for id in &self.chunks {
            let Some(e) = events
                .iter()
                .find(|e| e.id() == *id && e.kind() == KIND_RATCHET_TREE)
            else {
                return Ok(None);
            };
            let bytes = B64
                .decode(e.content())
                .map_err(|_| Error::malformed("ratchet tree chunk", "not base64"))?;
            if bytes.len() > CHUNK_BYTES {
                return Err(Error::malformed("ratchet tree chunk", "too long"));
            }
            ciphertext.extend_from_slice(&bytes);
        }
        let tree = cipher(&self.key)?
            .decrypt(
                &Nonce::from([0u8; 12]),
                Payload {
                    msg: &ciphertext,
                    aad: AAD,
                },
            )
            .map_err(|_| {
                Error::malformed("ratchet tree", "does not open with the Welcome's key")
            })?;
        Ok(Some(Zeroizing::new(tree)))
    }
}

fn cipher(key: &[u8; 32]) -> Result<ChaCha20Poly1305> {
    ChaCha20Poly1305::new_from_slice(key).map_err(|_| Error::Internal {
        reason: "ChaCha20-Poly1305 key of the wrong length",
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    fn tree(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 % 251) as u8).collect()
    }

    #[test]
    fn a_sealed_tree_opens_from_its_chunks_in_any_order() {
        let mut rng = StdRng::seed_from_u64(1);
        let t = tree(3 * CHUNK_BYTES + 17);
        let sealed = seal(&t, Timestamp::from_secs(1_800_000_000), &mut rng).unwrap();
        assert_eq!(sealed.events.len(), 4);
        for e in &sealed.events {
            e.verify().unwrap();
            assert_eq!(e.kind(), KIND_RATCHET_TREE);
            assert!(e.content().len() <= 65_536);
        }
        let mut shuffled = sealed.events.clone();
        shuffled.reverse();
        let parsed = TreeRef::from_tags(&Tags::from_iter([sealed.reference.to_tag()]))
            .unwrap()
            .unwrap();
        assert_eq!(parsed, sealed.reference);
        assert_eq!(parsed.open(&shuffled).unwrap().unwrap().as_slice(), t);
        // A chunk missing: not yet.
        assert!(parsed.open(&shuffled[1..]).unwrap().is_none());
    }

    #[test]
    fn a_wrong_key_or_a_chunk_of_another_tree_is_refused() {
        let mut rng = StdRng::seed_from_u64(2);
        let now = Timestamp::from_secs(1_800_000_000);
        let a = seal(&tree(100), now, &mut rng).unwrap();
        let b = seal(&tree(100), now, &mut rng).unwrap();
        // b's key with a's chunks.
        let crossed = TreeRef {
            key: b.reference.key.clone(),
            chunks: a.reference.chunks.clone(),
        };
        assert!(matches!(
            crossed.open(&a.events),
            Err(Error::Malformed { .. })
        ));
        // The right ids but another tree's content cannot be presented: the id binds it.
        assert!(a.reference.open(&b.events).unwrap().is_none());
    }

    #[test]
    fn malformed_tags_are_refused_and_debug_hides_the_key() {
        let mut rng = StdRng::seed_from_u64(3);
        let s = seal(&tree(10), Timestamp::from_secs(1), &mut rng).unwrap();
        let key_hex = hex::encode(s.reference.key.as_slice());
        let id = s.reference.chunks[0].to_hex();
        for fields in [
            vec![TAG_NAME.to_owned()],
            vec![TAG_NAME.to_owned(), key_hex.clone()],
            vec![TAG_NAME.to_owned(), "zz".repeat(32), id.clone()],
            vec![TAG_NAME.to_owned(), key_hex.clone(), "nothex".to_owned()],
            vec![TAG_NAME.to_owned(), key_hex.clone(), id.clone(), id.clone()],
        ] {
            let tags = Tags::from_iter([Tag::new(fields.clone())]);
            assert!(
                matches!(TreeRef::from_tags(&tags), Err(Error::BadTag { .. })),
                "{fields:?}"
            );
        }
        let two = Tags::from_iter([s.reference.to_tag(), s.reference.to_tag()]);
        assert!(TreeRef::from_tags(&two).is_err());
        assert!(TreeRef::from_tags(&Tags::new()).unwrap().is_none());
        assert!(!format!("{:?}", s.reference).contains(&key_hex));
    }
}
