//! Inner (application) events: unsigned Nostr events carried as MLS application data.
//!
//! Rules (NIP-EE): the inner event is unsigned (a `sig` is rejected), carries no `h` tag
//! (that would leak the group to anyone the event is forwarded to), and its pubkey equals
//! the MLS sender's credential identity.

use nipee_nostr::{EventBuilder, Kind, PublicKey, Tag, Timestamp, UnsignedEvent};

use crate::error::{Error, Result};

/// Longest accepted application data.
pub const MAX_APPLICATION_DATA: usize = 1 << 20;

/// Serializes an inner event as application data: the rumor JSON with `id` first (the byte
/// order nostr-mls writes).
///
/// # Errors
/// [`Error::InnerEvent`] if it carries an `h` tag.
pub fn encode_inner_event(event: &UnsignedEvent) -> Result<Vec<u8>> {
    check_no_h(event)?;
    Ok(event.to_json().into_bytes())
}

fn check_no_h(event: &UnsignedEvent) -> Result<()> {
    if event.tags.iter().any(|t| t.name() == Some("h")) {
        return Err(Error::InnerEvent {
            reason: "an inner event must not carry an h tag",
        });
    }
    Ok(())
}

/// Parses application data as an inner event sent by the MLS member whose credential names
/// `sender`.
///
/// # Errors
/// [`Error::Malformed`] for non-UTF-8 or oversize data, [`Error::InnerEvent`] for a
/// signed event or an `h` tag, [`Error::Nostr`] for bad JSON or a wrong `id`,
/// [`Error::InnerEventAuthor`] when the pubkey is not `sender`.
pub fn decode_inner_event(application_data: &[u8], sender: &PublicKey) -> Result<UnsignedEvent> {
    if application_data.len() > MAX_APPLICATION_DATA {
        return Err(Error::malformed("application data", "too long"));
    }
    let json = core::str::from_utf8(application_data)
        .map_err(|_| Error::malformed("application data", "not UTF-8"))?;
    let event = UnsignedEvent::from_json(json).map_err(|e| match e {
        nipee_nostr::Error::GiftWrap { .. } => Error::InnerEvent {
            reason: "an inner event must not be signed",
        },
        other => Error::Nostr(other),
    })?;
    check_no_h(&event)?;
    if &event.pubkey != sender {
        return Err(Error::InnerEventAuthor {
            expected: sender.to_hex(),
            found: event.pubkey.to_hex(),
        });
    }
    Ok(event)
}

/// A kind-9 chat message from `author`.
pub fn chat_message(author: PublicKey, text: &str, created_at: Timestamp) -> UnsignedEvent {
    EventBuilder::new(Kind::new(9), text).build(author, created_at)
}

/// A kind-7 reaction from `author` to the inner event `target` (hex id).
pub fn reaction(
    author: PublicKey,
    target: &nipee_nostr::EventId,
    content: &str,
    created_at: Timestamp,
) -> UnsignedEvent {
    EventBuilder::new(Kind::new(7), content)
        .tag(Tag::event(target, None, None))
        .build(author, created_at)
}
