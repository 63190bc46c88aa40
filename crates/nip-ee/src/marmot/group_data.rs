//! The versioned `nostr_group_data` extension (0xF2EE) of the Marmot profile (MIP-01), as
//! MDK's `TlsNostrGroupDataExtension` encodes it:
//!
//! ```text
//! uint16 version (1 or 2) | nostr_group_id[32] | name<V> | description<V>
//! | admin_pubkeys<V>        (raw 32-byte x-only keys, concatenated)
//! | relays<V> = { <V> url }*
//! | image_hash<V>       (0 or 32 bytes)
//! | image_key<V>        (0 or 32 bytes; v2: a seed, v1: the key itself)
//! | image_nonce<V>      (0 or 12 bytes)
//! | image_upload_key<V> (0 or 32 bytes)
//! ```
//!
//! Every field is present in both versions and nothing may follow. The decoded value is the
//! profile-neutral [`NostrGroupData`]; the image fields and the version travel in
//! [`GroupImage::Marmot`], so a value re-encodes to the bytes it came from.

use core::fmt;

use nipee_codec::{Reader, Writer};
use nipee_nostr::PublicKey;
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

use crate::error::{Error, Result};
use crate::group_data::{GroupImage, NostrGroupData, limits};

/// The version this build writes for new groups.
pub const CURRENT_VERSION: u16 = 2;

/// The Marmot image fields and the extension version they are read under. The image key
/// and upload key are secrets of the group: zeroized on drop, compared in constant time,
/// never printed.
#[derive(Clone)]
pub struct MarmotImage {
    /// The extension's version (1 or 2): it decides what `key` means.
    pub version: u16,
    /// SHA-256 of the encrypted image (its Blossom address).
    pub hash: Option<[u8; 32]>,
    /// Version 2: the seed the image key is derived from; version 1: the key itself.
    pub key: Option<[u8; 32]>,
    /// The image's AEAD nonce.
    pub nonce: Option<[u8; 12]>,
    /// Version 2: the seed of the Blossom upload key.
    pub upload_key: Option<[u8; 32]>,
}

impl MarmotImage {
    /// No image, at the current version.
    pub fn none() -> Self {
        MarmotImage {
            version: CURRENT_VERSION,
            hash: None,
            key: None,
            nonce: None,
            upload_key: None,
        }
    }

    fn is_none(&self) -> bool {
        self.hash.is_none()
            && self.key.is_none()
            && self.nonce.is_none()
            && self.upload_key.is_none()
    }
}

impl Drop for MarmotImage {
    fn drop(&mut self) {
        if let Some(k) = self.key.as_mut() {
            k.zeroize();
        }
        if let Some(k) = self.upload_key.as_mut() {
            k.zeroize();
        }
    }
}

impl fmt::Debug for MarmotImage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MarmotImage")
            .field("version", &self.version)
            .field("hash", &self.hash.map(hex::encode))
            .field("key", &self.key.map(|_| "..."))
            .field("nonce", &self.nonce.map(hex::encode))
            .field("upload_key", &self.upload_key.map(|_| "..."))
            .finish()
    }
}

fn ct_eq_opt(a: &Option<[u8; 32]>, b: &Option<[u8; 32]>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => bool::from(a.ct_eq(b)),
        (None, None) => true,
        _ => false,
    }
}

impl PartialEq for MarmotImage {
    fn eq(&self, other: &Self) -> bool {
        self.version == other.version
            && self.hash == other.hash
            && self.nonce == other.nonce
            && ct_eq_opt(&self.key, &other.key)
            && ct_eq_opt(&self.upload_key, &other.upload_key)
    }
}

impl Eq for MarmotImage {}

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

fn optional<const N: usize>(r: &mut Reader<'_>, field: &'static str) -> Result<Option<[u8; N]>> {
    let b = r.vl_bytes(field)?;
    match b.len() {
        0 => Ok(None),
        n if n == N => {
            let mut out = [0u8; N];
            out.copy_from_slice(b);
            Ok(Some(out))
        }
        n => Err(Error::malformed(
            field,
            format!("{n} bytes; expected 0 or {N}"),
        )),
    }
}

/// Decodes the extension data, consuming all of it.
///
/// # Errors
/// [`Error::Malformed`] naming the field: a version other than 1 or 2, an admin key that is
/// not a valid x-only key (or a list whose length is not a multiple of 32), a relay that is
/// not a `ws://`/`wss://` URL, an image field of another length, text that is not UTF-8, a
/// field above [`limits`]; [`Error::Codec`] for truncated input or trailing bytes.
pub fn decode(bytes: &[u8]) -> Result<NostrGroupData> {
    let mut r = Reader::new(bytes);
    let version = r.u16("version")?;
    if !(1..=CURRENT_VERSION).contains(&version) {
        return Err(Error::malformed(
            "version",
            format!("{version}; this build reads versions 1 and 2"),
        ));
    }
    let nostr_group_id = r.array::<32>("nostr_group_id")?;
    let name = text(&mut r, "name", limits::MAX_TEXT)?;
    let description = text(&mut r, "description", limits::MAX_TEXT)?;
    let raw_admins = r.vl_bytes("admin_pubkeys")?;
    if raw_admins.len() % 32 != 0 {
        return Err(Error::malformed(
            "admin_pubkeys",
            format!("{} bytes, not a multiple of 32", raw_admins.len()),
        ));
    }
    if raw_admins.len() / 32 > limits::MAX_ADMINS {
        return Err(Error::malformed("admin_pubkeys", "too many admins"));
    }
    let admins = raw_admins
        .chunks_exact(32)
        .map(|k| {
            PublicKey::from_slice(k).map_err(|_| {
                Error::malformed("admin_pubkeys", "an entry is not a valid x-only key")
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let mut relays = Vec::new();
    let mut rr = r.vl_reader("relays")?;
    while !rr.is_empty() {
        if relays.len() >= limits::MAX_RELAYS {
            return Err(Error::malformed("relays", "too many relays"));
        }
        let url = text(&mut rr, "relay", limits::MAX_URL)?;
        if !super::is_relay_url(&url) {
            return Err(Error::malformed("relay", "not a ws:// or wss:// URL"));
        }
        relays.push(url);
    }
    let image = MarmotImage {
        version,
        hash: optional::<32>(&mut r, "image_hash")?,
        key: optional::<32>(&mut r, "image_key")?,
        nonce: optional::<12>(&mut r, "image_nonce")?,
        upload_key: optional::<32>(&mut r, "image_upload_key")?,
    };
    r.finish()?;
    let image = if version == CURRENT_VERSION && image.is_none() {
        GroupImage::None
    } else {
        GroupImage::Marmot(image)
    };
    Ok(NostrGroupData {
        nostr_group_id,
        name,
        description,
        admins,
        relays,
        image,
    })
}

/// Encodes `data` in the Marmot layout: version 2 unless its image says otherwise.
///
/// # Errors
/// [`Error::Misuse`] for a field above [`limits`], a relay that is not a `ws://`/`wss://`
/// URL, an image in another profile's layout, or a version this build does not write.
pub fn encode(data: &NostrGroupData) -> Result<Vec<u8>> {
    if data.name.len() > limits::MAX_TEXT || data.description.len() > limits::MAX_TEXT {
        return Err(Error::Misuse {
            what: "group name or description too long",
        });
    }
    if data.admins.len() > limits::MAX_ADMINS || data.relays.len() > limits::MAX_RELAYS {
        return Err(Error::Misuse {
            what: "too many admins or relays",
        });
    }
    if data
        .relays
        .iter()
        .any(|u| u.len() > limits::MAX_URL || !super::is_relay_url(u))
    {
        return Err(Error::Misuse {
            what: "a Marmot group's relays must be ws:// or wss:// URLs",
        });
    }
    let none = MarmotImage::none();
    let image = match &data.image {
        GroupImage::None => &none,
        GroupImage::Marmot(i) => i,
        _ => {
            return Err(Error::Misuse {
                what: "a Marmot group's image uses the Marmot fields (GroupImage::Marmot)",
            });
        }
    };
    if !(1..=CURRENT_VERSION).contains(&image.version) {
        return Err(Error::Misuse {
            what: "the Marmot group data versions are 1 and 2",
        });
    }
    let mut w = Writer::new();
    w.u16(image.version);
    w.bytes(&data.nostr_group_id);
    w.vl_bytes("name", data.name.as_bytes())?;
    w.vl_bytes("description", data.description.as_bytes())?;
    let mut admins = Vec::with_capacity(32 * data.admins.len());
    for a in &data.admins {
        admins.extend_from_slice(a.as_bytes());
    }
    w.vl_bytes("admin_pubkeys", &admins)?;
    let mut rw = Writer::new();
    for u in &data.relays {
        rw.vl_bytes("relay", u.as_bytes())?;
    }
    w.vl_bytes("relays", rw.as_bytes())?;
    w.vl_bytes(
        "image_hash",
        image.hash.as_ref().map_or(&[][..], |v| &v[..]),
    )?;
    w.vl_bytes("image_key", image.key.as_ref().map_or(&[][..], |v| &v[..]))?;
    w.vl_bytes(
        "image_nonce",
        image.nonce.as_ref().map_or(&[][..], |v| &v[..]),
    )?;
    w.vl_bytes(
        "image_upload_key",
        image.upload_key.as_ref().map_or(&[][..], |v| &v[..]),
    )?;
    Ok(w.into_bytes())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use nipee_nostr::Keys;

    use super::*;

    fn sample() -> NostrGroupData {
        let mut rng = rand::rng();
        let mut admins = vec![
            Keys::generate(&mut rng).public_key(),
            Keys::generate(&mut rng).public_key(),
        ];
        admins.sort();
        NostrGroupData::new(
            [7u8; 32],
            "friends",
            "since school",
            admins,
            vec!["wss://a.example".into(), "ws://127.0.0.1:7777".into()],
        )
    }

    #[test]
    fn a_group_without_image_is_version_2_and_round_trips() {
        let data = sample();
        let bytes = encode(&data).unwrap();
        assert_eq!(&bytes[..2], &[0, 2]);
        assert_eq!(&bytes[2..34], &[7u8; 32]);
        // After relays: four empty image vectors.
        assert_eq!(&bytes[bytes.len() - 4..], &[0, 0, 0, 0]);
        assert_eq!(decode(&bytes).unwrap(), data);
    }

    #[test]
    fn admins_are_raw_keys_concatenated() {
        let data = sample();
        let bytes = encode(&data).unwrap();
        let mut r = Reader::new(&bytes[34..]);
        r.vl_bytes("name").unwrap();
        r.vl_bytes("description").unwrap();
        let admins = r.vl_bytes("admins").unwrap();
        assert_eq!(admins.len(), 64);
        assert_eq!(&admins[..32], data.admins[0].as_bytes());
    }

    #[test]
    fn a_version_1_image_keeps_its_version_and_bytes() {
        let mut data = sample();
        data.image = GroupImage::Marmot(MarmotImage {
            version: 1,
            hash: Some([1; 32]),
            key: Some([2; 32]),
            nonce: Some([3; 12]),
            upload_key: None,
        });
        let bytes = encode(&data).unwrap();
        assert_eq!(&bytes[..2], &[0, 1]);
        let back = decode(&bytes).unwrap();
        assert_eq!(back, data);
        assert_eq!(encode(&back).unwrap(), bytes);
        assert!(!format!("{back:?}").contains(&hex::encode([2u8; 32])));
    }

    #[test]
    fn unknown_versions_trailing_bytes_and_bad_fields_are_named() {
        let bytes = encode(&sample()).unwrap();
        let mut v3 = bytes.clone();
        v3[1] = 3;
        assert!(matches!(
            decode(&v3),
            Err(Error::Malformed {
                field: "version",
                ..
            })
        ));
        let mut v0 = bytes.clone();
        v0[1] = 0;
        assert!(matches!(
            decode(&v0),
            Err(Error::Malformed {
                field: "version",
                ..
            })
        ));
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(decode(&trailing).is_err());
        assert!(decode(&bytes[..bytes.len() - 1]).is_err());
        // A 31-byte image hash.
        let mut short = bytes[..bytes.len() - 4].to_vec();
        short.push(31);
        short.extend_from_slice(&[0; 31]);
        short.extend_from_slice(&[0, 0, 0]);
        assert!(matches!(
            decode(&short),
            Err(Error::Malformed {
                field: "image_hash",
                ..
            })
        ));
    }

    #[test]
    fn an_admin_that_is_not_a_curve_point_is_refused() {
        let mut data = sample();
        data.admins.truncate(1);
        let mut bytes = encode(&data).unwrap();
        // The admin key sits after version, id, name and description.
        let at = 2 + 32 + 1 + data.name.len() + 1 + data.description.len() + 1;
        bytes[at..at + 32].copy_from_slice(&[0xff; 32]);
        assert!(matches!(
            decode(&bytes),
            Err(Error::Malformed {
                field: "admin_pubkeys",
                ..
            })
        ));
    }

    #[test]
    fn relays_must_be_websocket_urls_both_ways() {
        let mut data = sample();
        data.relays = vec!["https://relay.example".into()];
        assert!(matches!(encode(&data), Err(Error::Misuse { .. })));
    }

    #[test]
    fn an_image_of_the_nip_ee_layout_is_misuse() {
        let mut data = sample();
        data.image = GroupImage::Url {
            url: "https://x".into(),
            key: vec![],
        };
        assert!(matches!(encode(&data), Err(Error::Misuse { .. })));
    }
}
