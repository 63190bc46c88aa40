//! NIP-01 filters: serialized for `REQ` and matched locally.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::{Error, Result};
use crate::event::{Event, EventId, Kind, Timestamp};
use crate::keys::PublicKey;
use crate::util::{self, Sink};

/// A NIP-01 filter. Every present condition must hold; within a list any value may match.
///
/// `limit` only shapes a relay's initial answer and is ignored by [`Filter::matches`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    ids: Option<BTreeSet<EventId>>,
    authors: Option<BTreeSet<PublicKey>>,
    kinds: Option<BTreeSet<Kind>>,
    tags: BTreeMap<char, BTreeSet<String>>,
    since: Option<Timestamp>,
    until: Option<Timestamp>,
    limit: Option<u64>,
}

impl Filter {
    /// An empty filter (matches everything).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds event ids.
    pub fn ids<I: IntoIterator<Item = EventId>>(mut self, ids: I) -> Self {
        self.ids.get_or_insert_with(BTreeSet::new).extend(ids);
        self
    }

    /// Adds one event id.
    pub fn id(self, id: EventId) -> Self {
        self.ids([id])
    }

    /// Adds authors.
    pub fn authors<I: IntoIterator<Item = PublicKey>>(mut self, authors: I) -> Self {
        self.authors
            .get_or_insert_with(BTreeSet::new)
            .extend(authors);
        self
    }

    /// Adds one author.
    pub fn author(self, author: PublicKey) -> Self {
        self.authors([author])
    }

    /// Adds kinds.
    pub fn kinds<I: IntoIterator<Item = Kind>>(mut self, kinds: I) -> Self {
        self.kinds.get_or_insert_with(BTreeSet::new).extend(kinds);
        self
    }

    /// Adds one kind.
    pub fn kind(self, kind: Kind) -> Self {
        self.kinds([kind])
    }

    /// Adds values for the single-letter tag `#<letter>` (e.g. `'h'`, `'p'`, `'e'`).
    ///
    /// # Errors
    /// [`Error::Misuse`] unless `letter` is an ASCII letter.
    pub fn tag<I, S>(mut self, letter: char, values: I) -> Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        if !letter.is_ascii_alphabetic() {
            return Err(Error::Misuse {
                field: "letter",
                reason: "filter tag names are single ASCII letters",
            });
        }
        self.tags
            .entry(letter)
            .or_default()
            .extend(values.into_iter().map(Into::into));
        Ok(self)
    }

    /// `#p` values from public keys.
    pub fn pubkey_tags<I: IntoIterator<Item = PublicKey>>(mut self, pks: I) -> Self {
        self.tags
            .entry('p')
            .or_default()
            .extend(pks.into_iter().map(|p| p.to_hex()));
        self
    }

    /// `#e` values from event ids.
    pub fn event_tags<I: IntoIterator<Item = EventId>>(mut self, ids: I) -> Self {
        self.tags
            .entry('e')
            .or_default()
            .extend(ids.into_iter().map(|i| i.to_hex()));
        self
    }

    /// `#h` value (NIP-EE group id).
    pub fn group(mut self, group_id_hex: impl Into<String>) -> Self {
        self.tags
            .entry('h')
            .or_default()
            .insert(group_id_hex.into());
        self
    }

    /// Only events with `created_at >= since`.
    pub fn since(mut self, since: Timestamp) -> Self {
        self.since = Some(since);
        self
    }

    /// Only events with `created_at <= until`.
    pub fn until(mut self, until: Timestamp) -> Self {
        self.until = Some(until);
        self
    }

    /// At most `limit` events in the initial answer.
    pub fn limit(mut self, limit: u64) -> Self {
        self.limit = Some(limit);
        self
    }

    /// The `since` bound.
    pub fn since_value(&self) -> Option<Timestamp> {
        self.since
    }

    /// The `until` bound.
    pub fn until_value(&self) -> Option<Timestamp> {
        self.until
    }

    /// The `limit`.
    pub fn limit_value(&self) -> Option<u64> {
        self.limit
    }

    /// Whether `event` satisfies every condition (ignoring `limit`).
    pub fn matches(&self, event: &Event) -> bool {
        if self
            .ids
            .as_ref()
            .is_some_and(|ids| !ids.contains(&event.id()))
        {
            return false;
        }
        if self
            .authors
            .as_ref()
            .is_some_and(|a| !a.contains(&event.pubkey()))
        {
            return false;
        }
        if self
            .kinds
            .as_ref()
            .is_some_and(|k| !k.contains(&event.kind()))
        {
            return false;
        }
        if self.since.is_some_and(|since| event.created_at() < since) {
            return false;
        }
        if self.until.is_some_and(|until| event.created_at() > until) {
            return false;
        }
        self.tags.iter().all(|(letter, values)| {
            let mut buf = [0u8; 4];
            let name: &str = letter.encode_utf8(&mut buf);
            event
                .tags()
                .iter()
                .any(|t| t.name() == Some(name) && t.value().is_some_and(|v| values.contains(v)))
        })
    }

    /// The filter as a compact JSON object, as sent in `["REQ", <sub id>, <filter>...]`.
    pub fn to_json(&self) -> String {
        let mut buf: Vec<u8> = Vec::with_capacity(128);
        buf.put(b"{");
        let mut first = true;
        let mut key = |buf: &mut Vec<u8>, k: &str| {
            if !first {
                buf.put(b",");
            }
            first = false;
            util::write_json_str(buf, k);
            buf.put(b":");
        };
        if let Some(ids) = &self.ids {
            key(&mut buf, "ids");
            let v: Vec<String> = ids.iter().map(EventId::to_hex).collect();
            util::write_json_str_array(&mut buf, &v);
        }
        if let Some(authors) = &self.authors {
            key(&mut buf, "authors");
            let v: Vec<String> = authors.iter().map(PublicKey::to_hex).collect();
            util::write_json_str_array(&mut buf, &v);
        }
        if let Some(kinds) = &self.kinds {
            key(&mut buf, "kinds");
            buf.put(b"[");
            for (i, k) in kinds.iter().enumerate() {
                if i > 0 {
                    buf.put(b",");
                }
                util::write_u64(&mut buf, u64::from(k.as_u16()));
            }
            buf.put(b"]");
        }
        for (letter, values) in &self.tags {
            key(&mut buf, &format!("#{letter}"));
            let v: Vec<&String> = values.iter().collect();
            util::write_json_str_array(&mut buf, &v);
        }
        if let Some(s) = self.since {
            key(&mut buf, "since");
            util::write_u64(&mut buf, s.as_u64());
        }
        if let Some(u) = self.until {
            key(&mut buf, "until");
            util::write_u64(&mut buf, u.as_u64());
        }
        if let Some(l) = self.limit {
            key(&mut buf, "limit");
            util::write_u64(&mut buf, l);
        }
        buf.put(b"}");
        util::json_string(buf)
    }

    /// Parses a filter object (e.g. from a `REQ` received by a test relay). Unknown keys
    /// other than `#<letter>` are ignored, as relays do with `search` and extensions.
    ///
    /// # Errors
    /// [`Error::Json`] for a non-object or wrongly typed field; hex/key errors for bad
    /// ids and authors.
    pub fn from_json(json: &str) -> Result<Self> {
        let v: serde_json::Value = serde_json::from_str(json).map_err(|e| Error::Json {
            what: "filter",
            reason: e.to_string(),
        })?;
        Self::from_value(&v)
    }

    /// Like [`Filter::from_json`] from a parsed value.
    ///
    /// # Errors
    /// As [`Filter::from_json`].
    pub fn from_value(v: &serde_json::Value) -> Result<Self> {
        let obj = v
            .as_object()
            .ok_or_else(|| bad("filter must be a JSON object"))?;
        let mut f = Filter::new();
        for (k, val) in obj {
            match k.as_str() {
                "ids" => {
                    let ids = str_list(val, "ids")?
                        .into_iter()
                        .map(EventId::from_hex)
                        .collect::<Result<Vec<_>>>()?;
                    f.ids.get_or_insert_with(BTreeSet::new).extend(ids);
                }
                "authors" => {
                    let a = str_list(val, "authors")?
                        .into_iter()
                        .map(|s| PublicKey::from_hex_field("authors", s))
                        .collect::<Result<Vec<_>>>()?;
                    f.authors.get_or_insert_with(BTreeSet::new).extend(a);
                }
                "kinds" => {
                    let arr = val
                        .as_array()
                        .ok_or_else(|| bad("kinds must be an array"))?;
                    let ks = arr
                        .iter()
                        .map(|x| {
                            x.as_u64()
                                .and_then(|n| u16::try_from(n).ok())
                                .map(Kind::new)
                                .ok_or_else(|| bad("kinds must be integers 0..=65535"))
                        })
                        .collect::<Result<Vec<_>>>()?;
                    f.kinds.get_or_insert_with(BTreeSet::new).extend(ks);
                }
                "since" => f.since = Some(Timestamp::from_secs(uint(val, "since")?)),
                "until" => f.until = Some(Timestamp::from_secs(uint(val, "until")?)),
                "limit" => f.limit = Some(uint(val, "limit")?),
                other => {
                    let mut chars = other.chars();
                    match (chars.next(), chars.next(), chars.next()) {
                        (Some('#'), Some(letter), None) if letter.is_ascii_alphabetic() => {
                            let vals = str_list(val, "#tag")?;
                            f.tags
                                .entry(letter)
                                .or_default()
                                .extend(vals.into_iter().map(str::to_owned));
                        }
                        _ => {}
                    }
                }
            }
        }
        Ok(f)
    }
}

fn bad(reason: &str) -> Error {
    Error::Json {
        what: "filter",
        reason: reason.to_owned(),
    }
}

fn str_list<'a>(v: &'a serde_json::Value, field: &str) -> Result<Vec<&'a str>> {
    let arr = v
        .as_array()
        .ok_or_else(|| bad(&format!("{field} must be an array of strings")))?;
    arr.iter()
        .map(|x| {
            x.as_str()
                .ok_or_else(|| bad(&format!("{field} must be an array of strings")))
        })
        .collect()
}

fn uint(v: &serde_json::Value, field: &str) -> Result<u64> {
    v.as_u64()
        .ok_or_else(|| bad(&format!("{field} must be a non-negative integer")))
}

impl serde::Serialize for Filter {
    fn serialize<S: serde::Serializer>(&self, s: S) -> core::result::Result<S::Ok, S::Error> {
        let v: serde_json::Value =
            serde_json::from_str(&self.to_json()).map_err(serde::ser::Error::custom)?;
        v.serialize(s)
    }
}

impl<'de> serde::Deserialize<'de> for Filter {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> core::result::Result<Self, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        Filter::from_value(&v).map_err(serde::de::Error::custom)
    }
}
