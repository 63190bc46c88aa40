//! Ratchet trees sent out of band: nipee's own extension of the Welcome, off by default
//! ([`ClientConfig::ratchet_tree_out_of_band`](crate::ClientConfig::ratchet_tree_out_of_band)).
//!
//! A Welcome normally carries the whole ratchet tree in its GroupInfo (the `ratchet_tree`
//! extension, RFC 9420 §12.4.3.3), and each invitee needs a gift wrap of its own: adding
//! n members then publishes n copies of the tree, O(n²) bytes. With this extension the
//! committer leaves the tree out of the GroupInfo and publishes it once, encrypted, as
//! chunk events; each invitee's Welcome rumor (kind 444, inside its gift wrap) carries a
//! `ratchet_tree` tag of fixed size with the key, the tree's id and its number of chunks:
//!
//! ```text
//! ["ratchet_tree", <hex of the 32-byte key>, <hex of the 32-byte tree id>, <chunk count>]
//! ```
//!
//! - The tree (its TLS encoding) is cut into pieces of at most [`CHUNK_BYTES`]; piece `i`
//!   of `n` is sealed with ChaCha20-Poly1305 under a fresh random key used for this tree
//!   only, nonce = `i` (big-endian, 12 bytes), associated data [`AAD`] ‖ tree id ‖ `i` ‖
//!   `n` (u32 big-endian each), and published, base64, as the content of a regular event of
//!   kind [`KIND_RATCHET_TREE`] tagged `["x", <hex tree id>]` and `["i", <i>]`, signed by a
//!   throwaway key. Every event stays far below common relays' size limits (262 144 bytes
//!   for nostr-rs-relay), and the rumor's tag does not grow with the group.
//! - Only those the rumor reaches (the invitees) learn the key; a relay sees opaque chunks
//!   of a throwaway key, which reveal only the tree's size.
//! - The invitee fetches the events of kind 447 tagged with the tree id from the group's
//!   relays (the rumor's `relays`), keeps for each index a chunk that opens under the key
//!   with that index and count (anything else, e.g. events a stranger tagged with the same
//!   id, is ignored), reassembles them, and joins; then MLS checks the tree against the
//!   tree hash the signed GroupInfo commits to (§12.4.3.1), as for a tree in the Welcome.
//!   A relay that withholds a chunk can delay a join, not change it: each chunk's AEAD
//!   binds its content, position and the count, and the tree hash binds the tree to the
//!   group.
//!
//! Peers other than nipee (nostr-mls, MDK) cannot join from such a Welcome: turn the option
//! on only for groups whose members all run nipee.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use nipee_nostr::{Event, EventBuilder, Filter, Keys, Kind, Tag, Tags, Timestamp};
use rand_core::CryptoRng;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// Kind of a ratchet-tree chunk event (a regular event; nipee's own, not part of NIP-EE
/// or Marmot).
pub const KIND_RATCHET_TREE: Kind = Kind::new(447);

/// Name of the Welcome rumor's tag that points at an out-of-band tree.
pub const TAG_NAME: &str = "ratchet_tree";

/// Most tree bytes in one chunk (with the AEAD tag and base64, the content is 64 KiB).
pub const CHUNK_BYTES: usize = 48 * 1024 - 16;

/// Most chunks one tree may have: about 24 MiB of tree, some 80 000 members.
pub const MAX_CHUNKS: u32 = 512;

/// Most Welcomes a client keeps waiting for their tree at once; a new one evicts the
/// oldest. Anyone can gift-wrap a Welcome naming one of our published KeyPackages, so this
/// bounds what such a stranger makes us keep. A waiting Welcome is dropped after
/// [`ClientConfig::processed_retention_secs`](crate::ClientConfig::processed_retention_secs).
pub const MAX_WAITING_WELCOMES: usize = 64;

/// Associated data prefix of every chunk's encryption.
pub const AAD: &[u8] = b"nipee ratchet tree v1";

/// Where an out-of-band tree is and how to open it, as a Welcome rumor carries it.
#[derive(Clone)]
pub struct TreeRef {
    key: Zeroizing<[u8; 32]>,
    /// The tree's id (the chunk events' `x` tag).
    pub id: [u8; 32],
    /// How many chunks it has.
    pub chunks: u32,
}

impl core::fmt::Debug for TreeRef {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TreeRef")
            .field("id", &hex::encode(self.id))
            .field("chunks", &self.chunks)
            .finish_non_exhaustive()
    }
}

impl PartialEq for TreeRef {
    fn eq(&self, other: &Self) -> bool {
        bool::from(self.key.as_slice().ct_eq(other.key.as_slice()))
            && self.id == other.id
            && self.chunks == other.chunks
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

fn nonce(i: u32) -> Nonce {
    let mut n = [0u8; 12];
    n[8..].copy_from_slice(&i.to_be_bytes());
    Nonce::from(n)
}

fn aad(id: &[u8; 32], i: u32, n: u32) -> Vec<u8> {
    let mut a = Vec::with_capacity(AAD.len() + 40);
    a.extend_from_slice(AAD);
    a.extend_from_slice(id);
    a.extend_from_slice(&i.to_be_bytes());
    a.extend_from_slice(&n.to_be_bytes());
    a
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
    let n = u32::try_from(tree.len().div_ceil(CHUNK_BYTES).max(1))
        .ok()
        .filter(|n| *n <= MAX_CHUNKS)
        .ok_or(Error::Misuse {
            what: "the ratchet tree is too large to send out of band",
        })?;
    let mut key = Zeroizing::new([0u8; 32]);
    rng.fill_bytes(key.as_mut_slice());
    let mut id = [0u8; 32];
    rng.fill_bytes(&mut id);
    let cipher = cipher(&key)?;
    let signer = Keys::generate(rng);
    let mut events = Vec::with_capacity(n as usize);
    for (i, piece) in (0u32..).zip(
        tree.chunks(CHUNK_BYTES)
            .chain(tree.is_empty().then_some(&[][..])),
    ) {
        let sealed = cipher
            .encrypt(
                &nonce(i),
                Payload {
                    msg: piece,
                    aad: &aad(&id, i, n),
                },
            )
            .map_err(|_| Error::Internal {
                reason: "ratchet tree encryption failed",
            })?;
        events.push(
            EventBuilder::new(KIND_RATCHET_TREE, B64.encode(sealed))
                .tag(Tag::new(["x".to_owned(), hex::encode(id)]))
                .tag(Tag::new(["i".to_owned(), i.to_string()]))
                .sign_with_rng(&signer, created_at, rng),
        );
    }
    Ok(SealedTree {
        reference: TreeRef { key, id, chunks: n },
        events,
    })
}

impl TreeRef {
    /// A reference from its stored parts.
    pub(crate) fn from_parts(key: [u8; 32], id: [u8; 32], chunks: u32) -> Self {
        TreeRef {
            key: Zeroizing::new(key),
            id,
            chunks,
        }
    }

    /// The key (for storing the reference while Welcomes are still being sent).
    pub(crate) fn key(&self) -> &[u8; 32] {
        &self.key
    }

    /// The filter that finds the chunks.
    pub fn filter(&self) -> Filter {
        chunk_filter(&self.id)
    }

    /// The rumor tag.
    pub fn to_tag(&self) -> Tag {
        Tag::new([
            TAG_NAME.to_owned(),
            hex::encode(self.key.as_slice()),
            hex::encode(self.id),
            self.chunks.to_string(),
        ])
    }

    /// The reference in `tags`, if there is one.
    ///
    /// # Errors
    /// [`Error::BadTag`] for several such tags, a key or id that is not 64 hex characters,
    /// or a chunk count outside 1 ..= [`MAX_CHUNKS`].
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
        if fields.len() != 4 {
            return Err(bad(
                "a key, a tree id and a chunk count",
                format!("{} values", fields.len().saturating_sub(1)),
            ));
        }
        let hex32 = |s: &str| -> Result<[u8; 32]> {
            let mut out = [0u8; 32];
            if s.len() != 64 || hex::decode_to_slice(s, &mut out).is_err() {
                return Err(bad("32 bytes in hex", format!("{} characters", s.len())));
            }
            Ok(out)
        };
        let key = Zeroizing::new(hex32(&fields[1])?);
        let id = hex32(&fields[2])?;
        let chunks = fields[3]
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_CHUNKS).contains(n))
            .ok_or_else(|| bad("a chunk count of 1 to 512", fields[3].clone()))?;
        Ok(Some(TreeRef { key, id, chunks }))
    }

    /// The tree, when `events` hold every chunk; `None` while one is missing. For each
    /// position the first event that opens there counts; events that do not open (another
    /// tree's, a stranger's, a wrong position) are ignored.
    pub fn open(&self, events: &[Event]) -> Option<Zeroizing<Vec<u8>>> {
        let cipher = cipher(&self.key).ok()?;
        let id_hex = hex::encode(self.id);
        let mut pieces: Vec<Option<Vec<u8>>> = vec![None; self.chunks as usize];
        for e in events {
            if e.kind() != KIND_RATCHET_TREE || e.tags().first_value("x") != Some(id_hex.as_str()) {
                continue;
            }
            let Some(i) = e
                .tags()
                .first_value("i")
                .and_then(|v| v.parse::<u32>().ok())
                .filter(|i| *i < self.chunks)
            else {
                continue;
            };
            let slot = &mut pieces[i as usize];
            if slot.is_some() {
                continue;
            }
            let Ok(sealed) = B64.decode(e.content()) else {
                continue;
            };
            if let Ok(p) = cipher.decrypt(
                &nonce(i),
                Payload {
                    msg: &sealed,
                    aad: &aad(&self.id, i, self.chunks),
                },
            ) {
                *slot = Some(p);
            }
        }
        let mut tree = Zeroizing::new(Vec::new());
        for p in pieces {
            tree.extend_from_slice(&p?);
        }
        Some(tree)
    }
}

/// The filter for the chunks of the tree `id`: kind 447, `#x` = its hex.
pub fn chunk_filter(id: &[u8; 32]) -> Filter {
    let base = Filter::new().kinds([KIND_RATCHET_TREE]);
    // `x` is an ASCII letter: `tag` accepts it.
    base.clone().tag('x', [hex::encode(id)]).unwrap_or(base)
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

    const NOW: Timestamp = Timestamp::from_secs(1_800_000_000);

    #[test]
    fn a_sealed_tree_opens_from_its_chunks_in_any_order() {
        let mut rng = StdRng::seed_from_u64(1);
        let t = tree(3 * CHUNK_BYTES + 17);
        let sealed = seal(&t, NOW, &mut rng).unwrap();
        assert_eq!(sealed.events.len(), 4);
        for e in &sealed.events {
            e.verify().unwrap();
            assert_eq!(e.kind(), KIND_RATCHET_TREE);
            assert!(e.content().len() <= 65_536);
            assert!(sealed.reference.filter().matches(e));
        }
        let mut shuffled = sealed.events.clone();
        shuffled.reverse();
        let parsed = TreeRef::from_tags(&Tags::from_iter([sealed.reference.to_tag()]))
            .unwrap()
            .unwrap();
        assert_eq!(parsed, sealed.reference);
        assert_eq!(parsed.open(&shuffled).unwrap().as_slice(), t);
        // A chunk missing: not yet.
        assert!(parsed.open(&shuffled[1..]).is_none());
        // The reference is the same size whatever the tree's.
        let big = seal(&tree(40 * CHUNK_BYTES), NOW, &mut rng).unwrap();
        assert_eq!(
            big.reference.to_tag().as_slice().len(),
            sealed.reference.to_tag().as_slice().len()
        );
    }

    #[test]
    fn chunks_of_another_tree_or_a_stranger_or_the_wrong_position_do_not_count() {
        let mut rng = StdRng::seed_from_u64(2);
        let a = seal(&tree(2 * CHUNK_BYTES), NOW, &mut rng).unwrap();
        let b = seal(&tree(2 * CHUNK_BYTES), NOW, &mut rng).unwrap();
        // b's key and id with a's chunks: nothing opens.
        assert!(b.reference.open(&a.events).is_none());
        // A stranger who saw the tree id publishes junk under it, at both positions,
        // first: ignored, the genuine chunks still count.
        let stranger = Keys::generate(&mut rng);
        let id_hex = hex::encode(a.reference.id);
        let mut events: Vec<Event> = (0..2)
            .map(|i| {
                EventBuilder::new(KIND_RATCHET_TREE, B64.encode([7u8; 64]))
                    .tag(Tag::new(["x".to_owned(), id_hex.clone()]))
                    .tag(Tag::new(["i".to_owned(), i.to_string()]))
                    .sign_with_rng(&stranger, NOW, &mut rng)
            })
            .collect();
        // A genuine chunk relabelled to the other position does not open there either.
        let moved = EventBuilder::new(KIND_RATCHET_TREE, a.events[0].content())
            .tag(Tag::new(["x".to_owned(), id_hex.clone()]))
            .tag(Tag::new(["i".to_owned(), "1".to_owned()]))
            .sign_with_rng(&stranger, NOW, &mut rng);
        events.push(moved);
        assert!(a.reference.open(&events).is_none());
        events.extend(a.events.iter().cloned());
        assert_eq!(
            a.reference.open(&events).unwrap().as_slice(),
            tree(2 * CHUNK_BYTES)
        );
        // A reference claiming fewer chunks than were sealed opens none of them (the
        // count is bound to every chunk).
        let truncated = TreeRef::from_parts(*a.reference.key(), a.reference.id, 1);
        assert!(truncated.open(&a.events).is_none());
    }

    #[test]
    fn malformed_tags_are_refused_and_debug_hides_the_key() {
        let mut rng = StdRng::seed_from_u64(3);
        let s = seal(&tree(10), NOW, &mut rng).unwrap();
        let key_hex = hex::encode(s.reference.key.as_slice());
        let id_hex = hex::encode(s.reference.id);
        let name = TAG_NAME.to_owned();
        for fields in [
            vec![name.clone()],
            vec![name.clone(), key_hex.clone(), id_hex.clone()],
            vec![name.clone(), "zz".repeat(32), id_hex.clone(), "1".into()],
            vec![name.clone(), key_hex.clone(), "ab".into(), "1".into()],
            vec![name.clone(), key_hex.clone(), id_hex.clone(), "0".into()],
            vec![name.clone(), key_hex.clone(), id_hex.clone(), "513".into()],
            vec![name.clone(), key_hex.clone(), id_hex.clone(), "x".into()],
            vec![
                name.clone(),
                key_hex.clone(),
                id_hex.clone(),
                "1".into(),
                "2".into(),
            ],
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
