//! NIP-09 deletion requests (kind 5).

use crate::error::{Error, Result};
use crate::event::{Event, EventBuilder, EventId, Kind};
use crate::tag::{Tag, parse_decimal_u64, tag_err};

/// A deletion request: event ids (`e`), addressable coordinates (`a`), kinds (`k`), reason.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeletionRequest {
    /// Ids of events to delete.
    pub event_ids: Vec<EventId>,
    /// `<kind>:<pubkey>:<d>` coordinates of addressable events to delete.
    pub coordinates: Vec<String>,
    /// Kinds of the referenced events (`k` tags).
    pub kinds: Vec<Kind>,
    /// The optional reason (the event content).
    pub reason: String,
}

impl DeletionRequest {
    /// A builder for the kind-5 event. NIP-09 requires at least one `e` or `a` tag.
    ///
    /// # Errors
    /// [`Error::Misuse`] if there is nothing to delete.
    pub fn to_builder(&self) -> Result<EventBuilder> {
        if self.event_ids.is_empty() && self.coordinates.is_empty() {
            return Err(Error::Misuse {
                field: "deletion request",
                reason: "needs at least one event id or coordinate",
            });
        }
        let mut b = EventBuilder::new(Kind::DELETION, self.reason.clone());
        for id in &self.event_ids {
            b = b.tag(Tag::event(id, None, None));
        }
        for a in &self.coordinates {
            b = b.tag(Tag::new(["a", a.as_str()]));
        }
        for k in &self.kinds {
            b = b.tag(Tag::kind(*k));
        }
        Ok(b)
    }

    /// Parses a kind-5 event. Per NIP-09, clients must still check that each referenced
    /// event has the same author as the request before hiding it.
    ///
    /// # Errors
    /// [`Error::UnexpectedKind`], [`Error::Tag`] for malformed `e`/`k` tags,
    /// [`Error::InvalidEvent`] if nothing is referenced.
    pub fn from_event(event: &Event) -> Result<Self> {
        if event.kind() != Kind::DELETION {
            return Err(Error::UnexpectedKind {
                expected: "5 (deletion request)",
                found: event.kind().as_u16(),
            });
        }
        let tags = event.tags();
        let event_ids = tags.event_ids()?;
        let coordinates: Vec<String> = tags
            .with_name("a")
            .map(|t| {
                t.value()
                    .map(str::to_owned)
                    .ok_or_else(|| tag_err("a", "missing coordinate"))
            })
            .collect::<Result<_>>()?;
        let kinds = tags
            .with_name("k")
            .map(|t| {
                t.value()
                    .and_then(parse_decimal_u64)
                    .and_then(|n| u16::try_from(n).ok())
                    .map(Kind::new)
                    .ok_or_else(|| tag_err("k", "value is not a kind number"))
            })
            .collect::<Result<_>>()?;
        if event_ids.is_empty() && coordinates.is_empty() {
            return Err(Error::InvalidEvent {
                what: "deletion request",
                reason: "no `e` or `a` tag".into(),
            });
        }
        Ok(DeletionRequest {
            event_ids,
            coordinates,
            kinds,
            reason: event.content().to_owned(),
        })
    }

    /// Whether this request, signed by `request_author`, deletes `target` (same author and
    /// referenced by id).
    pub fn deletes(&self, request_author: &crate::PublicKey, target: &Event) -> bool {
        target.pubkey() == *request_author && self.event_ids.contains(&target.id())
    }
}
