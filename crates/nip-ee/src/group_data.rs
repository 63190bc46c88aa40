//! The `nostr_group_data` GroupContext extension (type 0xF2EE), in the unversioned layout
//! that nostr-mls v0.43 writes:
//!
//! ```text
//! nostr_group_id[32] | name<V> | description<V>
//! | admin_pubkeys<V> = { <V> 64 lower-case hex chars }*
//! | relays<V> = { <V> url }*
//! | image_url<V> | image_key<V>
//! ```
//!
//! `<V>` is the MLS variable-length vector (QUIC varint length prefix). An absent optional
//! field is an empty vector. Later nostr-mls releases replaced the last two fields with
//! `image_hash<V> | image_key<V> | image_nonce<V>`; the decoder accepts both (it tells them
//! apart by the number of vectors that follow `relays`) and re-encodes each in its own layout.

use nipee_codec::{Reader, Writer};
use nipee_keypackage::ExtensionType;
use nipee_nostr::PublicKey;

use crate::error::{Error, Result};

/// The extension type of `nostr_group_data`.
pub const NOSTR_GROUP_DATA: ExtensionType = ExtensionType::NOSTR_GROUP_DATA;

/// Upper bounds on decoded fields (defence against hostile GroupContexts).
pub mod limits {
    /// Longest name or description, in bytes.
    pub const MAX_TEXT: usize = 4096;
    /// Most admins.
    pub const MAX_ADMINS: usize = 1024;
    /// Most relays.
    pub const MAX_RELAYS: usize = 64;
    /// Longest relay URL or image URL, in bytes.
    pub const MAX_URL: usize = 2048;
    /// Longest image key / hash / nonce, in bytes.
    pub const MAX_IMAGE_FIELD: usize = 256;
}

/// The group image fields, in whichever layout the writer used.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum GroupImage {
    /// nostr-mls v0.43: `image_url<V> | image_key<V>` (each empty when absent).
    #[default]
    None,
    /// nostr-mls v0.43 with an image: `image_url` and `image_key` (either may be empty).
    Url {
        /// `image_url` as UTF-8 text (empty when absent).
        url: String,
        /// `image_key` bytes (empty when absent).
        key: Vec<u8>,
    },
    /// Later nostr-mls: `image_hash<V> | image_key<V> | image_nonce<V>`.
    Encrypted {
        /// `image_hash` (empty when absent).
        hash: Vec<u8>,
        /// `image_key` (empty when absent).
        key: Vec<u8>,
        /// `image_nonce` (empty when absent).
        nonce: Vec<u8>,
    },
    /// The Marmot profile's versioned fields (see [`crate::marmot::group_data`]); the
    /// `nip-ee` encoder refuses them.
    Marmot(crate::marmot::group_data::MarmotImage),
}

/// The decoded `nostr_group_data` extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NostrGroupData {
    /// The public group id used in the kind-445 `h` tag (not the MLS group id).
    pub nostr_group_id: [u8; 32],
    /// Group name.
    pub name: String,
    /// Group description.
    pub description: String,
    /// Admin Nostr public keys, in encoded order (nostr-mls writes them sorted).
    pub admins: Vec<PublicKey>,
    /// Relay URLs, in encoded order (nostr-mls writes them sorted).
    pub relays: Vec<String>,
    /// Image fields.
    pub image: GroupImage,
}

fn text(r: &mut Reader<'_>, field: &'static str, max: usize) -> Result<String> {
    let b = r.vl_bytes(field)?;
    if b.len() > max {
        return Err(Error::malformed(
            field,
            format!("{} bytes, at most {max}", b.len()),
        ));
    }
    String::from_utf8(b.to_vec()).map_err(|_| Error::malformed(field, "not UTF-8"))
}

fn bounded(r: &mut Reader<'_>, field: &'static str, max: usize) -> Result<Vec<u8>> {
    let b = r.vl_bytes(field)?;
    if b.len() > max {
        return Err(Error::malformed(
            field,
            format!("{} bytes, at most {max}", b.len()),
        ));
    }
    Ok(b.to_vec())
}

/// Parses a 64-character lower-case hex public key (the admin and credential form).
pub(crate) fn pubkey_from_lower_hex(field: &'static str, s: &[u8]) -> Result<PublicKey> {
    if s.len() != 64 || !s.iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(Error::malformed(
            field,
            "expected 64 lower-case hex characters",
        ));
    }
    let text = core::str::from_utf8(s).map_err(|_| Error::malformed(field, "not ASCII"))?;
    Ok(PublicKey::from_hex(text)?)
}

impl NostrGroupData {
    /// A new value with no image.
    pub fn new(
        nostr_group_id: [u8; 32],
        name: impl Into<String>,
        description: impl Into<String>,
        admins: Vec<PublicKey>,
        relays: Vec<String>,
    ) -> Self {
        NostrGroupData {
            nostr_group_id,
            name: name.into(),
            description: description.into(),
            admins,
            relays,
            image: GroupImage::None,
        }
    }

    /// Whether `pubkey` is an admin.
    pub fn is_admin(&self, pubkey: &PublicKey) -> bool {
        self.admins.contains(pubkey)
    }

    /// Decodes the extension data, consuming all of it.
    ///
    /// # Errors
    /// [`Error::Codec`] for truncated or over-long input, [`Error::Malformed`] naming the
    /// field for a bad admin key, non-UTF-8 text or a field above [`limits`].
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(bytes);
        let nostr_group_id = r.array::<32>("nostr_group_id")?;
        let name = text(&mut r, "name", limits::MAX_TEXT)?;
        let description = text(&mut r, "description", limits::MAX_TEXT)?;
        let mut admins = Vec::new();
        let mut ar = r.vl_reader("admin_pubkeys")?;
        while !ar.is_empty() {
            if admins.len() >= limits::MAX_ADMINS {
                return Err(Error::malformed("admin_pubkeys", "too many admins"));
            }
            let a = ar.vl_bytes("admin_pubkey")?;
            admins.push(pubkey_from_lower_hex("admin_pubkey", a)?);
        }
        let mut relays = Vec::new();
        let mut rr = r.vl_reader("relays")?;
        while !rr.is_empty() {
            if relays.len() >= limits::MAX_RELAYS {
                return Err(Error::malformed("relays", "too many relays"));
            }
            relays.push(text(&mut rr, "relay", limits::MAX_URL)?);
        }
        // Tell the two image layouts apart by how many vectors remain.
        let first = bounded(&mut r, "image_url", limits::MAX_URL)?;
        let second = bounded(&mut r, "image_key", limits::MAX_IMAGE_FIELD)?;
        let image = if r.is_empty() {
            if first.is_empty() && second.is_empty() {
                GroupImage::None
            } else {
                let url = String::from_utf8(first)
                    .map_err(|_| Error::malformed("image_url", "not UTF-8"))?;
                GroupImage::Url { url, key: second }
            }
        } else {
            let nonce = bounded(&mut r, "image_nonce", limits::MAX_IMAGE_FIELD)?;
            if first.len() > limits::MAX_IMAGE_FIELD {
                return Err(Error::malformed("image_hash", "too long"));
            }
            GroupImage::Encrypted {
                hash: first,
                key: second,
                nonce,
            }
        };
        r.finish()?;
        Ok(NostrGroupData {
            nostr_group_id,
            name,
            description,
            admins,
            relays,
            image,
        })
    }

    /// Encodes the extension data in the layout the value was decoded from (v0.43 for
    /// values built with [`NostrGroupData::new`]).
    ///
    /// # Errors
    /// [`Error::Misuse`] if a field is longer than [`limits`] allows.
    pub fn encode(&self) -> Result<Vec<u8>> {
        if self.name.len() > limits::MAX_TEXT || self.description.len() > limits::MAX_TEXT {
            return Err(Error::Misuse {
                what: "group name or description too long",
            });
        }
        if self.admins.len() > limits::MAX_ADMINS || self.relays.len() > limits::MAX_RELAYS {
            return Err(Error::Misuse {
                what: "too many admins or relays",
            });
        }
        if self.relays.iter().any(|u| u.len() > limits::MAX_URL) {
            return Err(Error::Misuse {
                what: "relay URL too long",
            });
        }
        let mut w = Writer::new();
        w.bytes(&self.nostr_group_id);
        w.vl_bytes("name", self.name.as_bytes())?;
        w.vl_bytes("description", self.description.as_bytes())?;
        let mut aw = Writer::new();
        for a in &self.admins {
            aw.vl_bytes("admin_pubkey", a.to_hex().as_bytes())?;
        }
        w.vl_bytes("admin_pubkeys", aw.as_bytes())?;
        let mut rw = Writer::new();
        for u in &self.relays {
            rw.vl_bytes("relay", u.as_bytes())?;
        }
        w.vl_bytes("relays", rw.as_bytes())?;
        match &self.image {
            GroupImage::None => {
                w.vl_bytes("image_url", &[])?;
                w.vl_bytes("image_key", &[])?;
            }
            GroupImage::Url { url, key } => {
                w.vl_bytes("image_url", url.as_bytes())?;
                w.vl_bytes("image_key", key)?;
            }
            GroupImage::Encrypted { hash, key, nonce } => {
                w.vl_bytes("image_hash", hash)?;
                w.vl_bytes("image_key", key)?;
                w.vl_bytes("image_nonce", nonce)?;
            }
            GroupImage::Marmot(_) => {
                return Err(Error::Misuse {
                    what: "a nip-ee group's image uses the nip-ee fields, not GroupImage::Marmot",
                });
            }
        }
        Ok(w.into_bytes())
    }

    /// The extension carrying this value, for a GroupContext.
    ///
    /// # Errors
    /// As [`NostrGroupData::encode`].
    pub fn to_extension(&self) -> Result<nipee_keypackage::Extension> {
        Ok(nipee_keypackage::Extension::new(
            NOSTR_GROUP_DATA,
            self.encode()?,
        ))
    }
}
