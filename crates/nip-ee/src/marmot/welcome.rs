//! Welcome rumors of the Marmot profile (MIP-02): kind 444, unsigned, pubkey = the
//! committer, content = standard padded base64 of the TLS `MLSMessage(Welcome)` (whose
//! GroupInfo carries the ratchet tree), tags `["relays",url,…]`, `["e",KeyPackage event
//! id]`, `["client",name]` (optional) and `["encoding","base64"]`; sealed by the committer
//! and gift-wrapped to the invitee (NIP-59), like the `nip-ee` profile's. A nipee committer
//! with the out-of-band tree option adds nipee's `ratchet_tree` tag
//! ([`crate::tree_transfer`]), which MDK does not read.

use nipee_mls::{MlsMessageIn, WireFormat};
use nipee_nostr::{Kind, PublicKey, Tag, Tags, Timestamp, UnsignedEvent};

use crate::error::{Error, Result};
use crate::tree_transfer::TreeRef;
use crate::welcome_event::WelcomeRumor;

/// Longest accepted kind-444 content (base64 characters): 8 MiB of MLSMessage and more.
pub const MAX_CONTENT: usize = 12 << 20;

/// The unsigned kind-444 rumor of `welcome` from `sender` at `created_at`, with a `client`
/// tag when `client` names one.
pub fn to_rumor(
    welcome: &WelcomeRumor,
    client: Option<&str>,
    sender: PublicKey,
    created_at: Timestamp,
) -> UnsignedEvent {
    let mut tags = Tags::new();
    tags.push(Tag::relays(welcome.relays.iter().map(String::as_str)));
    tags.push(Tag::event(&welcome.key_package_event_id, None, None));
    if let Some(c) = client.filter(|c| !c.is_empty()) {
        tags.push(Tag::new(["client", c]));
    }
    tags.push(super::encoding_tag());
    if let Some(t) = &welcome.ratchet_tree {
        tags.push(t.to_tag());
    }
    UnsignedEvent::new(
        sender,
        created_at,
        Kind::MLS_WELCOME,
        tags,
        super::encode_base64(&welcome.mls_message),
    )
}

/// Parses a Marmot kind-444 rumor: `["encoding","base64"]`, one `e` tag, a `relays` tag of
/// `ws://`/`wss://` URLs, a non-empty `client` if any, base64 content that is an
/// `MLSMessage(Welcome)`.
///
/// # Errors
/// [`Error::UnexpectedKind`], [`Error::MissingTag`], [`Error::BadTag`],
/// [`Error::Malformed`], [`Error::Mls`] when the content is not an MLSMessage(Welcome).
pub fn from_rumor(rumor: &UnsignedEvent) -> Result<WelcomeRumor> {
    let kind = Kind::MLS_WELCOME.as_u16();
    if rumor.kind != Kind::MLS_WELCOME {
        return Err(Error::UnexpectedKind {
            expected: kind,
            found: rumor.kind.as_u16(),
        });
    }
    super::require_base64(kind, &rumor.tags)?;
    let ids = rumor.tags.event_ids()?;
    let key_package_event_id = match ids.as_slice() {
        [one] => *one,
        [] => return Err(Error::MissingTag { kind, tag: "e" }),
        _ => {
            return Err(Error::BadTag {
                tag: "e",
                expected: "exactly one KeyPackage event id",
                found: format!("{} e tags", ids.len()),
            });
        }
    };
    let relays: Vec<String> = rumor.tags.relays().into_iter().map(str::to_owned).collect();
    if relays.is_empty() || !relays.iter().all(|u| super::is_relay_url(u)) {
        return Err(Error::BadTag {
            tag: "relays",
            expected: "one or more ws:// or wss:// URLs",
            found: relays.join(" ").chars().take(120).collect(),
        });
    }
    if rumor
        .tags
        .iter()
        .any(|t| t.name() == Some("client") && t.value().is_none_or(str::is_empty))
    {
        return Err(Error::BadTag {
            tag: "client",
            expected: "a non-empty client name",
            found: String::new(),
        });
    }
    let mls_message = super::decode_base64("kind 444 content", &rumor.content, MAX_CONTENT)?;
    if MlsMessageIn::parse(&mls_message)?.wire_format() != WireFormat::Welcome {
        return Err(Error::malformed(
            "kind 444 content",
            "the MLSMessage is not a Welcome",
        ));
    }
    Ok(WelcomeRumor {
        mls_message,
        key_package_event_id,
        relays,
        ratchet_tree: TreeRef::from_tags(&rumor.tags)?,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use nipee_nostr::{EventId, Keys};

    use super::*;

    #[test]
    fn a_rumor_carries_relays_e_client_and_encoding_in_that_order() {
        let keys = Keys::generate(&mut rand::rng());
        let w = WelcomeRumor {
            mls_message: vec![0, 1, 0, 3],
            key_package_event_id: EventId::from_bytes([5; 32]),
            relays: vec!["wss://relay.example".into()],
            ratchet_tree: None,
        };
        let r = to_rumor(
            &w,
            Some("nipee"),
            keys.public_key(),
            Timestamp::from_secs(9),
        );
        let names: Vec<_> = r.tags.iter().filter_map(|t| t.name()).collect();
        assert_eq!(names, ["relays", "e", "client", "encoding"]);
        assert_eq!(r.content, "AAEAAw==");
        // Not a real Welcome: the content check names it.
        assert!(from_rumor(&r).is_err());
    }

    #[test]
    fn a_rumor_without_encoding_is_not_marmot() {
        let keys = Keys::generate(&mut rand::rng());
        let mut r = UnsignedEvent::new(
            keys.public_key(),
            Timestamp::from_secs(9),
            Kind::MLS_WELCOME,
            Tags::new(),
            "AA==",
        );
        assert!(matches!(
            from_rumor(&r),
            Err(Error::MissingTag {
                tag: "encoding",
                ..
            })
        ));
        r.tags.push(super::super::encoding_tag());
        assert!(matches!(
            from_rumor(&r),
            Err(Error::MissingTag { tag: "e", .. })
        ));
    }
}
