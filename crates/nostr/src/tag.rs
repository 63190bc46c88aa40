//! Event tags (NIP-01) with typed constructors and accessors for the tags nipee uses.

use crate::error::{Error, Result};
use crate::id::EventId;
use crate::keys::PublicKey;
use crate::kind::Kind;
use crate::timestamp::Timestamp;

/// One tag: a non-validated array of strings whose first element is its name.
///
/// Typed constructors ([`Tag::event`], [`Tag::public_key`], ...) build well-formed tags;
/// the accessors on [`Tags`] parse them strictly.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct Tag(Vec<String>);

impl Tag {
    /// A tag from raw strings (name first).
    pub fn new<I, S>(fields: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Tag(fields.into_iter().map(Into::into).collect())
    }

    /// The tag's name (its first element), if any.
    pub fn name(&self) -> Option<&str> {
        self.0.first().map(String::as_str)
    }

    /// The tag's first value (its second element), if any.
    pub fn value(&self) -> Option<&str> {
        self.0.get(1).map(String::as_str)
    }

    /// All elements, name first.
    pub fn as_slice(&self) -> &[String] {
        &self.0
    }

    /// Consumes the tag into its elements.
    pub fn into_vec(self) -> Vec<String> {
        self.0
    }

    /// `["e", <event id>]`, with an optional relay hint and NIP-10 marker.
    pub fn event(id: &EventId, relay: Option<&str>, marker: Option<&str>) -> Self {
        let mut v = vec!["e".to_owned(), id.to_hex()];
        if relay.is_some() || marker.is_some() {
            v.push(relay.unwrap_or_default().to_owned());
        }
        if let Some(m) = marker {
            v.push(m.to_owned());
        }
        Tag(v)
    }

    /// `["p", <pubkey>]`.
    pub fn public_key(pk: &PublicKey) -> Self {
        Tag(vec!["p".to_owned(), pk.to_hex()])
    }

    /// `["h", <group id>]` (NIP-29 / NIP-EE group id, hex).
    pub fn group(group_id_hex: &str) -> Self {
        Tag(vec!["h".to_owned(), group_id_hex.to_owned()])
    }

    /// `["d", <identifier>]` for addressable events.
    pub fn identifier(d: &str) -> Self {
        Tag(vec!["d".to_owned(), d.to_owned()])
    }

    /// `["k", <kind>]` (NIP-09 kind of the referenced events).
    pub fn kind(kind: Kind) -> Self {
        Tag(vec!["k".to_owned(), kind.as_u16().to_string()])
    }

    /// `["a", "<kind>:<pubkey>:<d>"]` coordinate of an addressable event.
    pub fn coordinate(kind: Kind, author: &PublicKey, d: &str) -> Self {
        Tag(vec![
            "a".to_owned(),
            format!("{}:{}:{}", kind.as_u16(), author.to_hex(), d),
        ])
    }

    /// `["relays", <url>...]` (NIP-EE).
    pub fn relays<I, S>(urls: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut v = vec!["relays".to_owned()];
        v.extend(urls.into_iter().map(Into::into));
        Tag(v)
    }

    /// `["relay", <url>]` (NIP-EE kind 10051).
    pub fn relay(url: &str) -> Self {
        Tag(vec!["relay".to_owned(), url.to_owned()])
    }

    /// `["client", <name>]` with optional NIP-89 handler address and relay hint.
    pub fn client(name: &str, handler: Option<&str>, relay: Option<&str>) -> Self {
        let mut v = vec!["client".to_owned(), name.to_owned()];
        if handler.is_some() || relay.is_some() {
            v.push(handler.unwrap_or_default().to_owned());
        }
        if let Some(r) = relay {
            v.push(r.to_owned());
        }
        Tag(v)
    }

    /// `["expiration", <unix seconds>]` (NIP-40).
    pub fn expiration(at: Timestamp) -> Self {
        Tag(vec!["expiration".to_owned(), at.as_u64().to_string()])
    }

    /// `["-"]`: the NIP-70 protected-event marker.
    pub fn protected() -> Self {
        Tag(vec!["-".to_owned()])
    }

    /// Whether this is exactly the NIP-70 marker `["-"]`.
    pub fn is_protected(&self) -> bool {
        matches!(self.0.as_slice(), [n] if n == "-")
    }
}

/// The ordered list of an event's tags, with typed accessors.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Tags(Vec<Tag>);

impl Tags {
    /// No tags.
    pub fn new() -> Self {
        Tags(Vec::new())
    }

    /// Appends a tag.
    pub fn push(&mut self, tag: Tag) {
        self.0.push(tag);
    }

    /// The tags as a slice.
    pub fn as_slice(&self) -> &[Tag] {
        &self.0
    }

    /// Number of tags.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no tags.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Iterates over the tags.
    pub fn iter(&self) -> core::slice::Iter<'_, Tag> {
        self.0.iter()
    }

    /// Consumes into the underlying vector.
    pub fn into_vec(self) -> Vec<Tag> {
        self.0
    }

    /// Tags whose name is `name`.
    pub fn with_name<'a, 'n>(
        &'a self,
        name: &'n str,
    ) -> impl Iterator<Item = &'a Tag> + use<'a, 'n> {
        self.0.iter().filter(move |t| t.name() == Some(name))
    }

    /// The first value of the first tag named `name`.
    pub fn first_value(&self, name: &str) -> Option<&str> {
        self.with_name(name).next().and_then(Tag::value)
    }

    /// Event ids referenced by `e` tags.
    ///
    /// # Errors
    /// [`Error::Tag`] if an `e` tag has no value or its value is not a lowercase hex id.
    pub fn event_ids(&self) -> Result<Vec<EventId>> {
        self.with_name("e")
            .map(|t| {
                let v = t.value().ok_or_else(|| tag_err("e", "missing event id"))?;
                EventId::from_hex(v)
                    .map_err(|_| tag_err("e", "value is not a 64-char lowercase hex id"))
            })
            .collect()
    }

    /// Public keys referenced by `p` tags.
    ///
    /// # Errors
    /// [`Error::Tag`] if a `p` tag's value is missing or not a valid public key.
    pub fn public_keys(&self) -> Result<Vec<PublicKey>> {
        self.with_name("p")
            .map(|t| {
                let v = t
                    .value()
                    .ok_or_else(|| tag_err("p", "missing public key"))?;
                PublicKey::from_hex(v).map_err(|_| tag_err("p", "value is not a valid public key"))
            })
            .collect()
    }

    /// The value of the `h` tag (group id), if present.
    pub fn group(&self) -> Option<&str> {
        self.first_value("h")
    }

    /// The value of the `d` tag (identifier), if present.
    pub fn identifier(&self) -> Option<&str> {
        self.first_value("d")
    }

    /// The URLs of the first `relays` tag (NIP-EE), empty if absent.
    pub fn relays(&self) -> Vec<&str> {
        self.with_name("relays")
            .next()
            .map(|t| t.as_slice().iter().skip(1).map(String::as_str).collect())
            .unwrap_or_default()
    }

    /// The `client` tag's name, if present.
    pub fn client(&self) -> Option<&str> {
        self.first_value("client")
    }

    /// The NIP-40 expiration time, if an `expiration` tag is present.
    ///
    /// # Errors
    /// [`Error::Tag`] if the value is not a decimal unix timestamp.
    pub fn expiration(&self) -> Result<Option<Timestamp>> {
        match self.with_name("expiration").next() {
            None => Ok(None),
            Some(t) => {
                let v = t
                    .value()
                    .ok_or_else(|| tag_err("expiration", "missing timestamp"))?;
                parse_decimal_u64(v)
                    .map(|n| Some(Timestamp::from_secs(n)))
                    .ok_or_else(|| tag_err("expiration", "value is not a decimal unix timestamp"))
            }
        }
    }

    /// Whether the NIP-70 protected marker `["-"]` is present.
    pub fn is_protected(&self) -> bool {
        self.0.iter().any(Tag::is_protected)
    }
}

impl From<Vec<Tag>> for Tags {
    fn from(v: Vec<Tag>) -> Self {
        Tags(v)
    }
}

impl FromIterator<Tag> for Tags {
    fn from_iter<I: IntoIterator<Item = Tag>>(iter: I) -> Self {
        Tags(iter.into_iter().collect())
    }
}

impl<'a> IntoIterator for &'a Tags {
    type Item = &'a Tag;
    type IntoIter = core::slice::Iter<'a, Tag>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

pub(crate) fn tag_err(name: &str, reason: &'static str) -> Error {
    Error::Tag {
        name: name.to_owned(),
        reason,
    }
}

/// Strict decimal: ASCII digits only, no sign, no leading `+`, fits in u64.
pub(crate) fn parse_decimal_u64(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}
