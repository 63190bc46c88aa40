//! NIP-65 relay list metadata (kind 10002).

use crate::error::{Error, Result};
use crate::event::{Event, EventBuilder, Kind};
use crate::nips::validate_relay_url;
use crate::tag::Tag;

/// How a NIP-65 relay is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RelayUsage {
    /// Read and write (no marker).
    Both,
    /// `read` marker: where the user reads mentions.
    Read,
    /// `write` marker: where the user publishes.
    Write,
}

/// A user's relay list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RelayList {
    /// Relays in order, with their usage.
    pub relays: Vec<(String, RelayUsage)>,
}

impl RelayList {
    /// Relays the user reads from (read or both).
    pub fn read_relays(&self) -> impl Iterator<Item = &str> {
        self.relays
            .iter()
            .filter(|(_, u)| *u != RelayUsage::Write)
            .map(|(r, _)| r.as_str())
    }

    /// Relays the user writes to (write or both).
    pub fn write_relays(&self) -> impl Iterator<Item = &str> {
        self.relays
            .iter()
            .filter(|(_, u)| *u != RelayUsage::Read)
            .map(|(r, _)| r.as_str())
    }

    /// A builder for the kind-10002 event (empty content).
    ///
    /// # Errors
    /// [`Error::InvalidEvent`] for a malformed relay URL.
    pub fn to_builder(&self) -> Result<EventBuilder> {
        let mut b = EventBuilder::new(Kind::RELAY_LIST, "");
        for (url, usage) in &self.relays {
            validate_relay_url(url)?;
            b = b.tag(match usage {
                RelayUsage::Both => Tag::new(["r", url.as_str()]),
                RelayUsage::Read => Tag::new(["r", url.as_str(), "read"]),
                RelayUsage::Write => Tag::new(["r", url.as_str(), "write"]),
            });
        }
        Ok(b)
    }

    /// Parses a kind-10002 event's `r` tags.
    ///
    /// # Errors
    /// [`Error::UnexpectedKind`]; [`Error::InvalidEvent`] for a bad URL or marker.
    pub fn from_event(event: &Event) -> Result<Self> {
        if event.kind() != Kind::RELAY_LIST {
            return Err(Error::UnexpectedKind {
                expected: "10002 (relay list)",
                found: event.kind().as_u16(),
            });
        }
        let mut relays = Vec::new();
        for t in event.tags().with_name("r") {
            let url = t.value().ok_or_else(|| Error::InvalidEvent {
                what: "relay list",
                reason: "`r` tag without URL".into(),
            })?;
            validate_relay_url(url)?;
            let usage = match t.as_slice().get(2).map(String::as_str) {
                None | Some("") => RelayUsage::Both,
                Some("read") => RelayUsage::Read,
                Some("write") => RelayUsage::Write,
                Some(other) => {
                    return Err(Error::InvalidEvent {
                        what: "relay list",
                        reason: format!("unknown marker {other:?}"),
                    });
                }
            };
            relays.push((url.to_owned(), usage));
        }
        Ok(RelayList { relays })
    }
}
