//! NIP-42 authentication: the kind-22242 event, signed through the same
//! [`nipee_nostr::Signer`] as everything else the user signs.

use nipee_nostr::{Event, Kind, PublicKey, Signer, Tag, Tags, Timestamp, UnsignedEvent};

use crate::error::Result;
use crate::url::RelayUrl;

/// The NIP-42 client authentication kind.
pub const AUTH_KIND: Kind = Kind::new(22242);

/// A [`Signer`] the pool can hold and call from its relay tasks: any `Signer` that is
/// `Send + Sync + 'static` is one (blanket implementation), e.g. [`nipee_nostr::Keys`].
/// Not a second signing abstraction: it adds only the bounds a multi-threaded pool
/// needs. A browser-extension signer (not `Send`, asynchronous) cannot be one; see
/// [`nipee_nostr::signer`].
pub trait AuthSigner: Signer + Send + Sync + 'static {}

impl<T: Signer + Send + Sync + 'static + ?Sized> AuthSigner for T {}

/// The unsigned NIP-42 AUTH event: kind 22242, tags `["relay", url]` and
/// `["challenge", challenge]`, empty content.
pub fn auth_event_unsigned(
    pubkey: PublicKey,
    relay: &RelayUrl,
    challenge: &str,
    now: Timestamp,
) -> UnsignedEvent {
    let mut tags = Tags::new();
    tags.push(Tag::new(["relay", relay.as_str()]));
    tags.push(Tag::new(["challenge", challenge]));
    UnsignedEvent::new(pubkey, now, AUTH_KIND, tags, "")
}

/// Builds and signs the NIP-42 AUTH event with `signer` (`&Keys` works).
///
/// # Errors
/// [`crate::Error::Nostr`] with whatever the signer reports.
pub fn auth_event<S: Signer + ?Sized>(
    signer: &S,
    relay: &RelayUrl,
    challenge: &str,
    now: Timestamp,
) -> Result<Event> {
    Ok(signer.sign_event(auth_event_unsigned(
        signer.public_key(),
        relay,
        challenge,
        now,
    ))?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nipee_nostr::Keys;

    #[test]
    fn auth_event_has_nip42_shape_and_verifies() {
        let keys = Keys::generate(&mut rand::rng());
        let url = RelayUrl::parse("wss://relay.example.com").unwrap();
        let ev = auth_event(&keys, &url, "chal-1", Timestamp::from_secs(1_700_000_000)).unwrap();
        assert_eq!(ev.kind(), AUTH_KIND);
        assert_eq!(
            ev.tags().first_value("relay"),
            Some("wss://relay.example.com")
        );
        assert_eq!(ev.tags().first_value("challenge"), Some("chal-1"));
        assert_eq!(ev.content(), "");
        assert_eq!(ev.pubkey(), keys.public_key());
        let parsed = Event::from_json(&ev.to_json()).unwrap();
        assert_eq!(parsed, ev);
    }

    #[test]
    fn the_pool_holds_any_sendable_signer_as_an_auth_signer() {
        let keys = Keys::generate(&mut rand::rng());
        let held: std::sync::Arc<dyn AuthSigner> = std::sync::Arc::new(keys.clone());
        let url = RelayUrl::parse("ws://127.0.0.1:1").unwrap();
        let ev = auth_event(held.as_ref(), &url, "c", Timestamp::from_secs(1)).unwrap();
        assert_eq!(ev.pubkey(), keys.public_key());
        assert!(ev.verify().is_ok());
    }
}
