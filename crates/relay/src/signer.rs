//! NIP-42 authentication: who signs the kind-22242 event.

use nipee_nostr::{Event, Keys, Kind, PublicKey, Tag, Tags, Timestamp, UnsignedEvent};

use crate::error::Result;
use crate::url::RelayUrl;

/// The NIP-42 client authentication kind.
pub const AUTH_KIND: Kind = Kind::new(22242);

/// Signs NIP-42 AUTH events when a relay sends a challenge. Implemented for
/// [`nipee_nostr::Keys`]; implement it for a remote signer or a hardware key.
pub trait AuthSigner: Send + Sync + 'static {
    /// The public key that will sign.
    fn public_key(&self) -> PublicKey;
    /// Signs `unsigned` (whose `pubkey` is [`AuthSigner::public_key`]).
    ///
    /// # Errors
    /// Whatever the signer reports.
    fn sign(&self, unsigned: UnsignedEvent) -> Result<Event>;
}

impl AuthSigner for Keys {
    fn public_key(&self) -> PublicKey {
        Keys::public_key(self)
    }

    fn sign(&self, unsigned: UnsignedEvent) -> Result<Event> {
        Ok(unsigned.sign(self)?)
    }
}

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

/// Builds and signs the NIP-42 AUTH event.
///
/// # Errors
/// Whatever the signer reports.
pub fn auth_event(
    signer: &dyn AuthSigner,
    relay: &RelayUrl,
    challenge: &str,
    now: Timestamp,
) -> Result<Event> {
    signer.sign(auth_event_unsigned(
        signer.public_key(),
        relay,
        challenge,
        now,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
