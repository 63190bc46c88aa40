//! NIP-19 bech32 entities: `npub`, `nsec`, `note` (bare), `nprofile`, `nevent`, `naddr`
//! (TLV), both ways. (`nrelay` is deprecated by NIP-19 and not supported.)

use bech32::primitives::decode::CheckedHrpstring;
use bech32::{Bech32, Hrp};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::event::{EventId, Kind};
use crate::keys::{PublicKey, SecretKey};

const TLV_SPECIAL: u8 = 0;
const TLV_RELAY: u8 = 1;
const TLV_AUTHOR: u8 = 2;
const TLV_KIND: u8 = 3;

fn b32err(field: &'static str, reason: impl Into<String>) -> Error {
    Error::Bech32 {
        field,
        reason: reason.into(),
    }
}

fn encode(field: &'static str, hrp: &str, data: &[u8]) -> Result<String> {
    let hrp = Hrp::parse(hrp).map_err(|e| b32err(field, e.to_string()))?;
    bech32::encode::<Bech32>(hrp, data).map_err(|e| b32err(field, e.to_string()))
}

fn decode(field: &'static str, hrp: &str, s: &str) -> Result<Vec<u8>> {
    let checked = CheckedHrpstring::new::<Bech32>(s).map_err(|e| b32err(field, e.to_string()))?;
    if !checked.hrp().as_str().eq_ignore_ascii_case(hrp) {
        return Err(b32err(
            field,
            format!("expected prefix {hrp}, found {}", checked.hrp()),
        ));
    }
    Ok(checked.byte_iter().collect())
}

fn exact32(field: &'static str, data: &[u8]) -> Result<[u8; 32]> {
    data.try_into().map_err(|_| Error::Length {
        field,
        expected: 32,
        found: data.len(),
        unit: "bytes",
    })
}

impl PublicKey {
    /// NIP-19 `npub1...`.
    pub fn to_bech32(&self) -> String {
        // 32 bytes always fit a bech32 string; an error here is impossible.
        encode("npub", "npub", self.as_bytes()).unwrap_or_default()
    }

    /// Parses a NIP-19 `npub1...`.
    ///
    /// # Errors
    /// [`Error::Bech32`] (bad checksum, wrong prefix), [`Error::Length`],
    /// [`Error::InvalidKey`].
    pub fn from_bech32(s: &str) -> Result<Self> {
        let data = decode("npub", "npub", s)?;
        PublicKey::from_bytes(&exact32("npub", &data)?)
    }
}

impl SecretKey {
    /// NIP-19 `nsec1...` (zeroized when dropped). Handle with care.
    pub fn to_bech32(&self) -> Zeroizing<String> {
        Zeroizing::new(encode("nsec", "nsec", self.as_bytes()).unwrap_or_default())
    }

    /// Parses a NIP-19 `nsec1...`.
    ///
    /// # Errors
    /// [`Error::Bech32`], [`Error::Length`], [`Error::InvalidKey`].
    pub fn from_bech32(s: &str) -> Result<Self> {
        let data = Zeroizing::new(decode("nsec", "nsec", s)?);
        SecretKey::from_bytes(&Zeroizing::new(exact32("nsec", &data)?))
    }
}

impl EventId {
    /// NIP-19 `note1...`.
    pub fn to_bech32(&self) -> String {
        // 32 bytes always fit a bech32 string; an error here is impossible.
        encode("note", "note", self.as_bytes()).unwrap_or_default()
    }

    /// Parses a NIP-19 `note1...`.
    ///
    /// # Errors
    /// [`Error::Bech32`] (bad checksum, wrong prefix), [`Error::Length`].
    pub fn from_bech32(s: &str) -> Result<Self> {
        Ok(EventId::from_bytes(exact32(
            "note",
            &decode("note", "note", s)?,
        )?))
    }
}

/// A decoded `naddr`: the coordinate of an addressable (or replaceable) event — its kind,
/// author and `d` identifier (empty for a replaceable event) — with relay hints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nip19Address {
    /// The `d` tag identifier (empty for a replaceable event).
    pub identifier: String,
    /// The author.
    pub author: PublicKey,
    /// The kind (NIP-19 carries a u32; kinds above 65535 are rejected).
    pub kind: Kind,
    /// Relay hints.
    pub relays: Vec<String>,
}

fn tlv_kind(field: &'static str, v: &[u8]) -> Result<Kind> {
    let b: [u8; 4] = v.try_into().map_err(|_| Error::Length {
        field,
        expected: 4,
        found: v.len(),
        unit: "bytes",
    })?;
    let k = u16::try_from(u32::from_be_bytes(b)).map_err(|_| b32err(field, "kind above 65535"))?;
    Ok(Kind::new(k))
}

impl Nip19Address {
    /// Parses `naddr1...`: the identifier, author and kind are required (the first of each
    /// counts); unknown TLV types are ignored, as NIP-19 requires.
    ///
    /// # Errors
    /// [`Error::Bech32`] (also for a missing field or an identifier that is not UTF-8),
    /// [`Error::Length`], [`Error::InvalidKey`].
    pub fn from_bech32(s: &str) -> Result<Self> {
        let data = decode("naddr", "naddr", s)?;
        let (mut identifier, mut author, mut kind) = (None, None, None);
        let mut relays = Vec::new();
        for item in (Tlv { data: &data }) {
            let (t, v) = item?;
            match t {
                TLV_SPECIAL if identifier.is_none() => {
                    identifier = Some(
                        core::str::from_utf8(v)
                            .map_err(|_| b32err("naddr", "identifier is not UTF-8"))?
                            .to_owned(),
                    )
                }
                TLV_RELAY => relays.push(relay_str(v)?),
                TLV_AUTHOR if author.is_none() => {
                    author = Some(PublicKey::from_bytes(&exact32("naddr author", v)?)?)
                }
                TLV_KIND if kind.is_none() => kind = Some(tlv_kind("naddr kind", v)?),
                _ => {}
            }
        }
        Ok(Nip19Address {
            identifier: identifier.ok_or_else(|| b32err("naddr", "missing identifier"))?,
            author: author.ok_or_else(|| b32err("naddr", "missing author"))?,
            kind: kind.ok_or_else(|| b32err("naddr", "missing kind"))?,
            relays,
        })
    }

    /// Encodes as `naddr1...`.
    ///
    /// # Errors
    /// [`Error::TooLarge`] for an identifier or relay longer than 255 bytes;
    /// [`Error::Bech32`] if the result would exceed bech32's length limit.
    pub fn to_bech32(&self) -> Result<String> {
        let mut d = Vec::new();
        push_tlv(&mut d, TLV_SPECIAL, self.identifier.as_bytes())?;
        for r in &self.relays {
            push_tlv(&mut d, TLV_RELAY, r.as_bytes())?;
        }
        push_tlv(&mut d, TLV_AUTHOR, self.author.as_bytes())?;
        push_tlv(
            &mut d,
            TLV_KIND,
            &u32::from(self.kind.as_u16()).to_be_bytes(),
        )?;
        encode("naddr", "naddr", &d)
    }
}

/// A decoded `nprofile`: a public key with relay hints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nip19Profile {
    /// The profile's public key.
    pub public_key: PublicKey,
    /// Relay hints.
    pub relays: Vec<String>,
}

/// A decoded `nevent`: an event id with optional relay hints, author and kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nip19Event {
    /// The event id.
    pub id: EventId,
    /// Relay hints.
    pub relays: Vec<String>,
    /// The author, if given.
    pub author: Option<PublicKey>,
    /// The kind, if given (NIP-19 carries a u32; kinds above 65535 are rejected).
    pub kind: Option<Kind>,
}

struct Tlv<'a> {
    data: &'a [u8],
}

impl<'a> Iterator for Tlv<'a> {
    type Item = Result<(u8, &'a [u8])>;
    fn next(&mut self) -> Option<Self::Item> {
        match self.data {
            [] => None,
            [t, l, rest @ ..] => {
                let len = usize::from(*l);
                match (rest.get(..len), rest.get(len..)) {
                    (Some(v), Some(tail)) => {
                        self.data = tail;
                        Some(Ok((*t, v)))
                    }
                    _ => {
                        self.data = &[];
                        Some(Err(b32err("tlv", "value runs past the end")))
                    }
                }
            }
            [_] => {
                self.data = &[];
                Some(Err(b32err("tlv", "truncated type/length")))
            }
        }
    }
}

fn relay_str(v: &[u8]) -> Result<String> {
    core::str::from_utf8(v)
        .map(str::to_owned)
        .map_err(|_| b32err("tlv", "relay is not UTF-8"))
}

fn push_tlv(out: &mut Vec<u8>, t: u8, v: &[u8]) -> Result<()> {
    let l = u8::try_from(v.len()).map_err(|_| Error::TooLarge {
        field: "NIP-19 TLV value",
        limit: 255,
        found: v.len(),
    })?;
    out.push(t);
    out.push(l);
    out.extend_from_slice(v);
    Ok(())
}

impl Nip19Profile {
    /// Parses `nprofile1...`. Unknown TLV types are ignored, as NIP-19 requires.
    ///
    /// # Errors
    /// [`Error::Bech32`], [`Error::Length`], [`Error::InvalidKey`].
    pub fn from_bech32(s: &str) -> Result<Self> {
        let data = decode("nprofile", "nprofile", s)?;
        let mut pk = None;
        let mut relays = Vec::new();
        for item in (Tlv { data: &data }) {
            let (t, v) = item?;
            match t {
                TLV_SPECIAL if pk.is_none() => {
                    pk = Some(PublicKey::from_bytes(&exact32("nprofile pubkey", v)?)?)
                }
                TLV_RELAY => relays.push(relay_str(v)?),
                _ => {}
            }
        }
        let public_key = pk.ok_or_else(|| b32err("nprofile", "missing public key"))?;
        Ok(Nip19Profile { public_key, relays })
    }

    /// Encodes as `nprofile1...`.
    ///
    /// # Errors
    /// [`Error::TooLarge`] for a relay longer than 255 bytes; [`Error::Bech32`] if the
    /// result would exceed bech32's length limit.
    pub fn to_bech32(&self) -> Result<String> {
        let mut d = Vec::new();
        push_tlv(&mut d, TLV_SPECIAL, self.public_key.as_bytes())?;
        for r in &self.relays {
            push_tlv(&mut d, TLV_RELAY, r.as_bytes())?;
        }
        encode("nprofile", "nprofile", &d)
    }
}

impl Nip19Event {
    /// Parses `nevent1...`. Unknown TLV types are ignored.
    ///
    /// # Errors
    /// [`Error::Bech32`], [`Error::Length`], [`Error::InvalidKey`].
    pub fn from_bech32(s: &str) -> Result<Self> {
        let data = decode("nevent", "nevent", s)?;
        let mut id = None;
        let mut relays = Vec::new();
        let mut author = None;
        let mut kind = None;
        for item in (Tlv { data: &data }) {
            let (t, v) = item?;
            match t {
                TLV_SPECIAL if id.is_none() => {
                    id = Some(EventId::from_bytes(exact32("nevent id", v)?))
                }
                TLV_RELAY => relays.push(relay_str(v)?),
                TLV_AUTHOR if author.is_none() => {
                    author = Some(PublicKey::from_bytes(&exact32("nevent author", v)?)?)
                }
                TLV_KIND if kind.is_none() => kind = Some(tlv_kind("nevent kind", v)?),
                _ => {}
            }
        }
        let id = id.ok_or_else(|| b32err("nevent", "missing event id"))?;
        Ok(Nip19Event {
            id,
            relays,
            author,
            kind,
        })
    }

    /// Encodes as `nevent1...`.
    ///
    /// # Errors
    /// As [`Nip19Profile::to_bech32`].
    pub fn to_bech32(&self) -> Result<String> {
        let mut d = Vec::new();
        push_tlv(&mut d, TLV_SPECIAL, self.id.as_bytes())?;
        for r in &self.relays {
            push_tlv(&mut d, TLV_RELAY, r.as_bytes())?;
        }
        if let Some(a) = &self.author {
            push_tlv(&mut d, TLV_AUTHOR, a.as_bytes())?;
        }
        if let Some(k) = self.kind {
            push_tlv(&mut d, TLV_KIND, &u32::from(k.as_u16()).to_be_bytes())?;
        }
        encode("nevent", "nevent", &d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // NIP-19 spec examples.
    #[test]
    fn npub_and_nsec_match_the_nip19_examples() {
        let pk =
            PublicKey::from_hex("3bf0c63fcb93463407af97a5e5ee64fa883d107ef9e558472c4eb9aaaefa459d")
                .unwrap();
        let npub = "npub180cvv07tjdrrgpa0j7j7tmnyl2yr6yr7l8j4s3evf6u64th6gkwsyjh6w6";
        assert_eq!(pk.to_bech32(), npub);
        assert_eq!(PublicKey::from_bech32(npub).unwrap(), pk);
        let sk =
            SecretKey::from_hex("67dea2ed018072d675f5415ecfaed7d2597555e202d85b3d65ea4e58d2d92ffa")
                .unwrap();
        let nsec = "nsec1vl029mgpspedva04g90vltkh6fvh240zqtv9k0t9af8935ke9laqsnlfe5";
        assert_eq!(sk.to_bech32().as_str(), nsec);
        assert_eq!(SecretKey::from_bech32(nsec).unwrap(), sk);
        assert!(matches!(
            PublicKey::from_bech32(nsec),
            Err(Error::Bech32 { .. })
        ));
    }

    #[test]
    fn nprofile_example_decodes() {
        let p = Nip19Profile::from_bech32("nprofile1qqsrhuxx8l9ex335q7he0f09aej04zpazpl0ne2cgukyawd24mayt8gpp4mhxue69uhhytnc9e3k7mgpz4mhxue69uhkg6nzv9ejuumpv34kytnrdaksjlyr9p").unwrap();
        assert_eq!(
            p.public_key.to_hex(),
            "3bf0c63fcb93463407af97a5e5ee64fa883d107ef9e558472c4eb9aaaefa459d"
        );
        assert_eq!(p.relays, vec!["wss://r.x.com", "wss://djbas.sadkb.com"]);
        assert_eq!(
            Nip19Profile::from_bech32(&p.to_bech32().unwrap()).unwrap(),
            p
        );
    }

    #[test]
    fn note_round_trips_and_refuses_other_prefixes_and_lengths() {
        let id = EventId::from_bytes([9; 32]);
        let s = id.to_bech32();
        assert!(s.starts_with("note1"));
        assert_eq!(EventId::from_bech32(&s).unwrap(), id);
        let npub =
            PublicKey::from_hex("3bf0c63fcb93463407af97a5e5ee64fa883d107ef9e558472c4eb9aaaefa459d")
                .unwrap()
                .to_bech32();
        assert!(matches!(
            EventId::from_bech32(&npub),
            Err(Error::Bech32 { field: "note", .. })
        ));
        let short = encode("note", "note", &[1; 31]).unwrap();
        assert!(matches!(
            EventId::from_bech32(&short),
            Err(Error::Length {
                field: "note",
                expected: 32,
                found: 31,
                ..
            })
        ));
    }

    #[test]
    fn naddr_round_trips_and_requires_its_fields() {
        let author =
            PublicKey::from_hex("3bf0c63fcb93463407af97a5e5ee64fa883d107ef9e558472c4eb9aaaefa459d")
                .unwrap();
        let a = Nip19Address {
            identifier: "my-list".into(),
            author,
            kind: Kind::new(30_000),
            relays: vec!["wss://relay.example".into()],
        };
        let s = a.to_bech32().unwrap();
        assert!(s.starts_with("naddr1"));
        assert_eq!(Nip19Address::from_bech32(&s).unwrap(), a);
        // A replaceable event: empty identifier.
        let r = Nip19Address {
            identifier: String::new(),
            kind: Kind::new(10_051),
            relays: vec![],
            ..a.clone()
        };
        assert_eq!(
            Nip19Address::from_bech32(&r.to_bech32().unwrap()).unwrap(),
            r
        );

        let mut no_kind = Vec::new();
        push_tlv(&mut no_kind, TLV_SPECIAL, b"x").unwrap();
        push_tlv(&mut no_kind, TLV_AUTHOR, author.as_bytes()).unwrap();
        let mut no_author = Vec::new();
        push_tlv(&mut no_author, TLV_SPECIAL, b"x").unwrap();
        push_tlv(&mut no_author, TLV_KIND, &1u32.to_be_bytes()).unwrap();
        let mut big_kind = no_kind.clone();
        push_tlv(&mut big_kind, TLV_KIND, &70_000u32.to_be_bytes()).unwrap();
        let mut bad_utf8 = Vec::new();
        push_tlv(&mut bad_utf8, TLV_SPECIAL, &[0xff]).unwrap();
        for (data, why) in [
            (no_kind, "missing kind"),
            (no_author, "missing author"),
            (big_kind, "kind above 65535"),
            (bad_utf8, "identifier is not UTF-8"),
        ] {
            let s = encode("naddr", "naddr", &data).unwrap();
            match Nip19Address::from_bech32(&s) {
                Err(Error::Bech32 { reason, .. }) => assert_eq!(reason, why),
                other => panic!("{why}: {other:?}"),
            }
        }
        let long = Nip19Address {
            identifier: "x".repeat(256),
            ..a
        };
        assert!(matches!(long.to_bech32(), Err(Error::TooLarge { .. })));
    }

    #[test]
    fn nevent_round_trips_and_rejects_truncated_tlv() {
        let e = Nip19Event {
            id: EventId::from_bytes([7; 32]),
            relays: vec!["wss://relay.example".into()],
            author: Some(
                PublicKey::from_hex(
                    "3bf0c63fcb93463407af97a5e5ee64fa883d107ef9e558472c4eb9aaaefa459d",
                )
                .unwrap(),
            ),
            kind: Some(Kind::new(445)),
        };
        let s = e.to_bech32().unwrap();
        assert_eq!(Nip19Event::from_bech32(&s).unwrap(), e);
        let bad = encode("nevent", "nevent", &[0, 32, 1, 2]).unwrap();
        assert!(Nip19Event::from_bech32(&bad).is_err());
    }
}
