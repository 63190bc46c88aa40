//! NIP-EE KeyPackage relay list (kind 10051, `relay` tags).

use crate::error::{Error, Result};
use crate::event::{Event, EventBuilder, Kind};
use crate::nips::validate_relay_url;
use crate::tag::Tag;

/// The relays a user publishes KeyPackage events (kind 443) to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyPackageRelays {
    /// Relay URLs in order.
    pub relays: Vec<String>,
}

impl KeyPackageRelays {
    /// A builder for the kind-10051 event. NIP-EE requires at least one relay.
    ///
    /// # Errors
    /// [`Error::Misuse`] for an empty list; [`Error::InvalidEvent`] for a bad URL.
    pub fn to_builder(&self) -> Result<EventBuilder> {
        if self.relays.is_empty() {
            return Err(Error::Misuse {
                field: "relays",
                reason: "a KeyPackage relay list needs at least one relay",
            });
        }
        let mut b = EventBuilder::new(Kind::MLS_KEY_PACKAGE_RELAYS, "");
        for r in &self.relays {
            validate_relay_url(r)?;
            b = b.tag(Tag::relay(r));
        }
        Ok(b)
    }

    /// Parses a kind-10051 event.
    ///
    /// # Errors
    /// [`Error::UnexpectedKind`]; [`Error::InvalidEvent`] for a bad or missing URL or no
    /// `relay` tag at all.
    pub fn from_event(event: &Event) -> Result<Self> {
        if event.kind() != Kind::MLS_KEY_PACKAGE_RELAYS {
            return Err(Error::UnexpectedKind {
                expected: "10051 (KeyPackage relay list)",
                found: event.kind().as_u16(),
            });
        }
        let relays = event
            .tags()
            .with_name("relay")
            .map(|t| {
                let url = t.value().ok_or_else(|| Error::InvalidEvent {
                    what: "KeyPackage relay list",
                    reason: "`relay` tag without URL".into(),
                })?;
                validate_relay_url(url)?;
                Ok(url.to_owned())
            })
            .collect::<Result<Vec<_>>>()?;
        if relays.is_empty() {
            return Err(Error::InvalidEvent {
                what: "KeyPackage relay list",
                reason: "no `relay` tag".into(),
            });
        }
        Ok(KeyPackageRelays { relays })
    }
}
