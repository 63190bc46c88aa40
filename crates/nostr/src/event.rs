//! NIP-01 events: ids over the canonical serialization, BIP-340 signatures, JSON.
//!
//! Invariant: an [`Event`] value has a matching id and a valid signature, unless it was
//! built through a constructor whose name ends in `_unchecked`. Every parser of untrusted
//! JSON ([`Event::from_json`], [`Event::from_value`], `serde::Deserialize`) verifies both.

use core::fmt;
use std::borrow::Cow;

use rand_core::CryptoRng;
use sha2::{Digest, Sha256};

pub use crate::id::EventId;
pub use crate::kind::Kind;
pub use crate::timestamp::Timestamp;

use crate::error::{Error, Result};
use crate::keys::{Keys, PublicKey, Signature};
use crate::tag::{Tag, Tags};
use crate::util::{self, Sink};

/// Size limits applied when parsing untrusted event JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ParseLimits {
    /// Maximum length of the JSON text in bytes.
    pub max_json_bytes: usize,
    /// Maximum number of tags.
    pub max_tags: usize,
    /// Maximum number of elements in one tag.
    pub max_tag_fields: usize,
}

impl ParseLimits {
    /// 16 MiB of JSON, 10 000 tags, 1 000 elements per tag. Large enough for NIP-EE
    /// Welcomes of big groups inside gift wraps; relays usually enforce far less.
    pub const DEFAULT: ParseLimits = ParseLimits {
        max_json_bytes: 16 << 20,
        max_tags: 10_000,
        max_tag_fields: 1_000,
    };

    /// Custom limits.
    pub const fn new(max_json_bytes: usize, max_tags: usize, max_tag_fields: usize) -> Self {
        ParseLimits {
            max_json_bytes,
            max_tags,
            max_tag_fields,
        }
    }

    fn check_json(&self, json: &str) -> Result<()> {
        if json.len() > self.max_json_bytes {
            return Err(Error::TooLarge {
                field: "event JSON",
                limit: self.max_json_bytes,
                found: json.len(),
            });
        }
        Ok(())
    }

    fn check_tags(&self, tags: &[Vec<String>]) -> Result<()> {
        if tags.len() > self.max_tags {
            return Err(Error::TooLarge {
                field: "tags",
                limit: self.max_tags,
                found: tags.len(),
            });
        }
        if let Some(t) = tags.iter().find(|t| t.len() > self.max_tag_fields) {
            return Err(Error::TooLarge {
                field: "tag elements",
                limit: self.max_tag_fields,
                found: t.len(),
            });
        }
        Ok(())
    }
}

impl Default for ParseLimits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Writes the NIP-01 canonical serialization `[0,pubkey,created_at,kind,tags,content]`.
fn write_canonical<S: Sink + ?Sized>(
    out: &mut S,
    pubkey: &PublicKey,
    created_at: Timestamp,
    kind: Kind,
    tags: &Tags,
    content: &str,
) {
    out.put(b"[0,\"");
    out.put(&pubkey.hex_array());
    out.put(b"\",");
    util::write_u64(out, created_at.as_u64());
    out.put(b",");
    util::write_u64(out, u64::from(kind.as_u16()));
    out.put(b",");
    write_tags(out, tags);
    out.put(b",");
    util::write_json_str(out, content);
    out.put(b"]");
}

fn write_tags<S: Sink + ?Sized>(out: &mut S, tags: &Tags) {
    out.put(b"[");
    for (i, t) in tags.iter().enumerate() {
        if i > 0 {
            out.put(b",");
        }
        util::write_json_str_array(out, t.as_slice());
    }
    out.put(b"]");
}

/// The NIP-01 canonical serialization as a string (what the id hashes).
pub fn canonical_serialization(
    pubkey: &PublicKey,
    created_at: Timestamp,
    kind: Kind,
    tags: &Tags,
    content: &str,
) -> String {
    let mut buf = Vec::with_capacity(content.len() + 128);
    write_canonical(&mut buf, pubkey, created_at, kind, tags, content);
    util::json_string(buf)
}

fn compute_id(
    pubkey: &PublicKey,
    created_at: Timestamp,
    kind: Kind,
    tags: &Tags,
    content: &str,
) -> EventId {
    let mut h = Sha256::new();
    write_canonical(&mut h, pubkey, created_at, kind, tags, content);
    EventId::from_bytes(h.finalize().into())
}

/// An event without a signature: what gets signed, and a NIP-59 rumor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsignedEvent {
    /// Author.
    pub pubkey: PublicKey,
    /// Creation time.
    pub created_at: Timestamp,
    /// Kind.
    pub kind: Kind,
    /// Tags.
    pub tags: Tags,
    /// Content.
    pub content: String,
}

impl UnsignedEvent {
    /// Assembles an unsigned event.
    pub fn new(
        pubkey: PublicKey,
        created_at: Timestamp,
        kind: Kind,
        tags: Tags,
        content: impl Into<String>,
    ) -> Self {
        UnsignedEvent {
            pubkey,
            created_at,
            kind,
            tags,
            content: content.into(),
        }
    }

    /// The NIP-01 id (SHA-256 of the canonical serialization).
    pub fn id(&self) -> EventId {
        compute_id(
            &self.pubkey,
            self.created_at,
            self.kind,
            &self.tags,
            &self.content,
        )
    }

    /// The canonical serialization that [`UnsignedEvent::id`] hashes.
    pub fn canonical_serialization(&self) -> String {
        canonical_serialization(
            &self.pubkey,
            self.created_at,
            self.kind,
            &self.tags,
            &self.content,
        )
    }

    fn check_signer(&self, keys: &Keys) -> Result<()> {
        if keys.public_key() != self.pubkey {
            return Err(Error::Misuse {
                field: "keys",
                reason: "the signing key is not the event's pubkey",
            });
        }
        Ok(())
    }

    /// Signs with `keys`, taking BIP-340 auxiliary randomness from the OS RNG.
    ///
    /// # Errors
    /// [`Error::Misuse`] if `keys` is not the event's author; [`Error::Rng`].
    pub fn sign(self, keys: &Keys) -> Result<Event> {
        self.check_signer(keys)?;
        let id = self.id();
        let sig = keys.sign_bip340(id.as_bytes())?;
        Ok(self.into_event(id, sig))
    }

    /// Signs with `keys`, auxiliary randomness from `rng`.
    ///
    /// # Errors
    /// [`Error::Misuse`] if `keys` is not the event's author.
    pub fn sign_with_rng<R: CryptoRng + ?Sized>(self, keys: &Keys, rng: &mut R) -> Result<Event> {
        self.check_signer(keys)?;
        let id = self.id();
        let sig = keys.sign_bip340_with_rng(id.as_bytes(), rng);
        Ok(self.into_event(id, sig))
    }

    /// Signs with fixed auxiliary randomness (for known-answer tests only).
    ///
    /// # Errors
    /// [`Error::Misuse`] if `keys` is not the event's author.
    pub fn sign_with_aux_rand(self, keys: &Keys, aux_rand: &[u8; 32]) -> Result<Event> {
        self.check_signer(keys)?;
        let id = self.id();
        let sig = keys.sign_bip340_with_aux_rand(id.as_bytes(), aux_rand);
        Ok(self.into_event(id, sig))
    }

    fn into_event(self, id: EventId, sig: Signature) -> Event {
        Event {
            id,
            pubkey: self.pubkey,
            created_at: self.created_at,
            kind: self.kind,
            tags: self.tags,
            content: self.content,
            sig,
            verified: true,
        }
    }

    /// JSON with the computed `id` and no `sig` (the NIP-59 rumor form).
    pub fn to_json(&self) -> String {
        let id = self.id();
        let mut buf = Vec::with_capacity(self.content.len() + 256);
        buf.put(b"{\"id\":\"");
        buf.put(&util::hex_array::<32, 64>(id.as_bytes()));
        write_body(
            &mut buf,
            &self.pubkey,
            self.created_at,
            self.kind,
            &self.tags,
            &self.content,
        );
        buf.put(b"}");
        util::json_string(buf)
    }

    /// Parses an unsigned event (a rumor). If an `id` is present it must match; a `sig`
    /// field is rejected (a rumor MUST be unsigned).
    ///
    /// # Errors
    /// [`Error::Json`], [`Error::TooLarge`], key/hex errors, [`Error::IdMismatch`],
    /// [`Error::GiftWrap`] if a signature is present.
    pub fn from_json(json: &str) -> Result<Self> {
        Self::from_json_with_limits(json, &ParseLimits::DEFAULT)
    }

    /// [`UnsignedEvent::from_json`] with explicit limits.
    ///
    /// # Errors
    /// As [`UnsignedEvent::from_json`].
    pub fn from_json_with_limits(json: &str, limits: &ParseLimits) -> Result<Self> {
        limits.check_json(json)?;
        let raw: RawUnsigned<'_> = serde_json::from_str(json).map_err(|e| Error::Json {
            what: "unsigned event",
            reason: e.to_string(),
        })?;
        if raw.sig.is_some() {
            return Err(Error::GiftWrap {
                layer: "rumor",
                reason: "a rumor must not carry a signature",
            });
        }
        limits.check_tags(&raw.tags)?;
        let pubkey = PublicKey::from_hex_field("pubkey", &raw.pubkey)?;
        let unsigned = UnsignedEvent {
            pubkey,
            created_at: Timestamp::from_secs(raw.created_at),
            kind: Kind::new(raw.kind),
            tags: raw.tags.into_iter().map(Tag::new).collect(),
            content: raw.content,
        };
        if let Some(claimed) = raw.id {
            let claimed = EventId::from_hex(&claimed)?;
            let computed = unsigned.id();
            if claimed != computed {
                return Err(Error::IdMismatch {
                    computed: computed.to_hex(),
                    found: claimed.to_hex(),
                });
            }
        }
        Ok(unsigned)
    }
}

fn write_body<S: Sink + ?Sized>(
    out: &mut S,
    pubkey: &PublicKey,
    created_at: Timestamp,
    kind: Kind,
    tags: &Tags,
    content: &str,
) {
    out.put(b"\",\"pubkey\":\"");
    out.put(&pubkey.hex_array());
    out.put(b"\",\"created_at\":");
    util::write_u64(out, created_at.as_u64());
    out.put(b",\"kind\":");
    util::write_u64(out, u64::from(kind.as_u16()));
    out.put(b",\"tags\":");
    write_tags(out, tags);
    out.put(b",\"content\":");
    util::write_json_str(out, content);
}

#[derive(serde::Deserialize)]
struct RawUnsigned<'a> {
    #[serde(borrow, default)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pubkey: Cow<'a, str>,
    created_at: u64,
    kind: u16,
    tags: Vec<Vec<String>>,
    content: String,
    #[serde(default)]
    sig: Option<serde::de::IgnoredAny>,
}

#[derive(serde::Deserialize)]
struct RawEvent<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(borrow)]
    pubkey: Cow<'a, str>,
    created_at: u64,
    kind: u16,
    tags: Vec<Vec<String>>,
    content: String,
    #[serde(borrow)]
    sig: Cow<'a, str>,
}

/// A signed NIP-01 event whose id and signature have been checked (see the module docs).
#[derive(Clone)]
pub struct Event {
    id: EventId,
    pubkey: PublicKey,
    created_at: Timestamp,
    kind: Kind,
    tags: Tags,
    content: String,
    sig: Signature,
    /// Whether this value's id and signature were verified (or produced) by this crate.
    /// False only after an `_unchecked` constructor. Not part of equality or hashing.
    verified: bool,
}

impl PartialEq for Event {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
            && self.pubkey == other.pubkey
            && self.created_at == other.created_at
            && self.kind == other.kind
            && self.tags == other.tags
            && self.content == other.content
            && self.sig == other.sig
    }
}

impl Eq for Event {}

impl core::hash::Hash for Event {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.id.hash(state);
        self.pubkey.hash(state);
        self.created_at.hash(state);
        self.kind.hash(state);
        self.tags.hash(state);
        self.content.hash(state);
        self.sig.hash(state);
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("id", &self.id)
            .field("pubkey", &self.pubkey)
            .field("created_at", &self.created_at)
            .field("kind", &self.kind)
            .field("tags", &self.tags)
            .field("content", &self.content)
            .field("sig", &self.sig)
            .finish()
    }
}

impl Event {
    /// The id.
    pub fn id(&self) -> EventId {
        self.id
    }
    /// The author.
    pub fn pubkey(&self) -> PublicKey {
        self.pubkey
    }
    /// Creation time.
    pub fn created_at(&self) -> Timestamp {
        self.created_at
    }
    /// The kind.
    pub fn kind(&self) -> Kind {
        self.kind
    }
    /// The tags.
    pub fn tags(&self) -> &Tags {
        &self.tags
    }
    /// The content.
    pub fn content(&self) -> &str {
        &self.content
    }
    /// The BIP-340 signature.
    pub fn sig(&self) -> Signature {
        self.sig
    }

    /// Drops the signature, giving the unsigned event.
    pub fn into_unsigned(self) -> UnsignedEvent {
        UnsignedEvent {
            pubkey: self.pubkey,
            created_at: self.created_at,
            kind: self.kind,
            tags: self.tags,
            content: self.content,
        }
    }

    /// Parses untrusted JSON and verifies the id and signature.
    ///
    /// # Errors
    /// [`Error::Json`], [`Error::TooLarge`], [`Error::Hex`]/[`Error::Length`] (ids, keys
    /// and signatures must be lowercase hex), [`Error::InvalidKey`], [`Error::IdMismatch`],
    /// [`Error::BadSignature`].
    pub fn from_json(json: &str) -> Result<Self> {
        Self::from_json_with_limits(json, &ParseLimits::DEFAULT)
    }

    /// [`Event::from_json`] with explicit size limits.
    ///
    /// # Errors
    /// As [`Event::from_json`].
    pub fn from_json_with_limits(json: &str, limits: &ParseLimits) -> Result<Self> {
        Self::parse_unverified(json, limits)?.into_verified()
    }

    /// Parses JSON WITHOUT verifying the id or signature. Only for events from a source
    /// that already verified them (e.g. your own database). Hex, key and shape checks
    /// still apply.
    ///
    /// # Errors
    /// As [`Event::from_json`] minus the id and signature checks.
    pub fn from_json_unchecked(json: &str) -> Result<Self> {
        Self::parse_unverified(json, &ParseLimits::DEFAULT)
    }

    /// Converts an already-parsed JSON value and verifies the id and signature.
    ///
    /// # Errors
    /// As [`Event::from_json`].
    pub fn from_value(value: &serde_json::Value) -> Result<Self> {
        let raw = RawEvent::deserialize_value(value)?;
        Self::from_raw(raw, &ParseLimits::DEFAULT)?.into_verified()
    }

    fn parse_unverified(json: &str, limits: &ParseLimits) -> Result<Self> {
        limits.check_json(json)?;
        let raw: RawEvent<'_> = serde_json::from_str(json).map_err(|e| Error::Json {
            what: "event",
            reason: e.to_string(),
        })?;
        Self::from_raw(raw, limits)
    }

    fn from_raw(raw: RawEvent<'_>, limits: &ParseLimits) -> Result<Self> {
        limits.check_tags(&raw.tags)?;
        Ok(Event {
            id: EventId::from_hex(&raw.id)?,
            pubkey: PublicKey::from_hex_field("pubkey", &raw.pubkey)?,
            created_at: Timestamp::from_secs(raw.created_at),
            kind: Kind::new(raw.kind),
            tags: raw.tags.into_iter().map(Tag::new).collect(),
            content: raw.content,
            sig: Signature::from_hex(&raw.sig)?,
            verified: false,
        })
    }

    /// Verifies the id and signature and returns the event marked as verified.
    ///
    /// # Errors
    /// [`Error::IdMismatch`] or [`Error::BadSignature`].
    pub fn into_verified(mut self) -> Result<Self> {
        self.verify()?;
        self.verified = true;
        Ok(self)
    }

    /// True when this value was signed by this crate or its id and signature were checked
    /// when it was parsed; false only after [`Event::from_json_unchecked`]. Code that needs
    /// a proof (e.g. NIP-59 unwrapping) re-verifies events for which this is false.
    pub fn is_verified(&self) -> bool {
        self.verified
    }

    /// Recomputes the id and checks it, then checks the signature.
    ///
    /// # Errors
    /// [`Error::IdMismatch`] or [`Error::BadSignature`].
    pub fn verify(&self) -> Result<()> {
        self.verify_id()?;
        self.verify_signature()
    }

    /// Checks only that the id matches the canonical serialization.
    ///
    /// # Errors
    /// [`Error::IdMismatch`].
    pub fn verify_id(&self) -> Result<()> {
        let computed = compute_id(
            &self.pubkey,
            self.created_at,
            self.kind,
            &self.tags,
            &self.content,
        );
        if computed != self.id {
            return Err(Error::IdMismatch {
                computed: computed.to_hex(),
                found: self.id.to_hex(),
            });
        }
        Ok(())
    }

    /// Checks only the BIP-340 signature over the (claimed) id.
    ///
    /// # Errors
    /// [`Error::BadSignature`].
    pub fn verify_signature(&self) -> Result<()> {
        self.pubkey
            .verify_bip340(self.id.as_bytes(), &self.sig)
            .map_err(|_| Error::BadSignature { what: "event" })
    }

    /// Compact JSON in NIP-01 field order.
    pub fn to_json(&self) -> String {
        let mut buf = Vec::with_capacity(self.content.len() + 320);
        buf.put(b"{\"id\":\"");
        buf.put(&util::hex_array::<32, 64>(self.id.as_bytes()));
        write_body(
            &mut buf,
            &self.pubkey,
            self.created_at,
            self.kind,
            &self.tags,
            &self.content,
        );
        buf.put(b",\"sig\":\"");
        buf.put(&util::hex_array::<64, 128>(&self.sig.0));
        buf.put(b"\"}");
        util::json_string(buf)
    }

    /// Whether a NIP-40 `expiration` tag lies at or before `now`. A malformed expiration
    /// tag counts as expired (fail closed).
    pub fn is_expired(&self, now: Timestamp) -> bool {
        match self.tags.expiration() {
            Ok(Some(at)) => at <= now,
            Ok(None) => false,
            Err(_) => true,
        }
    }

    /// Whether the event carries the NIP-70 protected marker `["-"]`.
    pub fn is_protected(&self) -> bool {
        self.tags.is_protected()
    }
}

impl RawEvent<'static> {
    fn deserialize_value(value: &serde_json::Value) -> Result<RawEvent<'static>> {
        #[derive(serde::Deserialize)]
        struct Owned {
            id: String,
            pubkey: String,
            created_at: u64,
            kind: u16,
            tags: Vec<Vec<String>>,
            content: String,
            sig: String,
        }
        let o = Owned::deserialize(value).map_err(|e| Error::Json {
            what: "event",
            reason: e.to_string(),
        })?;
        Ok(RawEvent {
            id: Cow::Owned(o.id),
            pubkey: Cow::Owned(o.pubkey),
            created_at: o.created_at,
            kind: o.kind,
            tags: o.tags,
            content: o.content,
            sig: Cow::Owned(o.sig),
        })
    }
}

use serde::Deserialize as _;

impl serde::Serialize for Event {
    fn serialize<S: serde::Serializer>(&self, s: S) -> core::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Event", 7)?;
        st.serialize_field("id", &self.id)?;
        st.serialize_field("pubkey", &self.pubkey)?;
        st.serialize_field("created_at", &self.created_at)?;
        st.serialize_field("kind", &self.kind)?;
        st.serialize_field("tags", &self.tags)?;
        st.serialize_field("content", &self.content)?;
        st.serialize_field("sig", &self.sig)?;
        st.end()
    }
}

/// Deserializing an `Event` through serde verifies its id and signature, like
/// [`Event::from_json`] (size limits other than the tag limits do not apply here).
impl<'de> serde::Deserialize<'de> for Event {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> core::result::Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        struct Owned {
            id: String,
            pubkey: String,
            created_at: u64,
            kind: u16,
            tags: Vec<Vec<String>>,
            content: String,
            sig: String,
        }
        let o = Owned::deserialize(d)?;
        let raw = RawEvent {
            id: Cow::Owned(o.id),
            pubkey: Cow::Owned(o.pubkey),
            created_at: o.created_at,
            kind: o.kind,
            tags: o.tags,
            content: o.content,
            sig: Cow::Owned(o.sig),
        };
        Event::from_raw(raw, &ParseLimits::DEFAULT)
            .and_then(Event::into_verified)
            .map_err(serde::de::Error::custom)
    }
}

/// Builds events: kind, content and tags now; author and time when building or signing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventBuilder {
    kind: Kind,
    content: String,
    tags: Tags,
}

impl EventBuilder {
    /// A builder for an event of `kind` with `content` and no tags.
    pub fn new(kind: Kind, content: impl Into<String>) -> Self {
        EventBuilder {
            kind,
            content: content.into(),
            tags: Tags::new(),
        }
    }

    /// A kind-1 text note.
    pub fn text_note(content: impl Into<String>) -> Self {
        Self::new(Kind::TEXT_NOTE, content)
    }

    /// Appends one tag.
    pub fn tag(mut self, tag: Tag) -> Self {
        self.tags.push(tag);
        self
    }

    /// Appends tags.
    pub fn tags<I: IntoIterator<Item = Tag>>(mut self, tags: I) -> Self {
        for t in tags {
            self.tags.push(t);
        }
        self
    }

    /// The unsigned event for `pubkey` at `created_at`.
    pub fn build(self, pubkey: PublicKey, created_at: Timestamp) -> UnsignedEvent {
        UnsignedEvent {
            pubkey,
            created_at,
            kind: self.kind,
            tags: self.tags,
            content: self.content,
        }
    }

    /// Builds and signs with `keys` at `created_at` (aux randomness from the OS RNG).
    ///
    /// # Errors
    /// [`Error::Rng`].
    pub fn sign(self, keys: &Keys, created_at: Timestamp) -> Result<Event> {
        self.build(keys.public_key(), created_at).sign(keys)
    }

    /// Builds and signs with `keys` at `created_at`, aux randomness from `rng`.
    pub fn sign_with_rng<R: CryptoRng + ?Sized>(
        self,
        keys: &Keys,
        created_at: Timestamp,
        rng: &mut R,
    ) -> Event {
        let unsigned = self.build(keys.public_key(), created_at);
        let id = unsigned.id();
        let sig = keys.sign_bip340_with_rng(id.as_bytes(), rng);
        unsigned.into_event(id, sig)
    }
}
