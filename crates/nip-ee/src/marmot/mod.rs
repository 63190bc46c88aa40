//! The Marmot formats (MIPs 00–03) as MDK (`mdk-core` 0.8.0, the engine of White Noise)
//! writes and checks them: the profile [`crate::Profile::Marmot`].
//!
//! | what | here |
//! |---|---|
//! | KeyPackage event, kind 443 (and addressable 30443 on receive) | [`key_package_event`] |
//! | versioned `nostr_group_data` (0xF2EE) | [`group_data`] |
//! | kind-445 envelope: ChaCha20-Poly1305 under `MLS-Exporter("marmot", "group-event", 32)` | [`envelope`] |
//! | Welcome rumor, kind 444, gift-wrapped | [`welcome`] |
//!
//! Every content is standard padded base64 and every event that carries one says so with
//! `["encoding", "base64"]`: that tag is how incoming KeyPackages and Welcomes are told
//! from the `nip-ee` profile's (hex, no such tag). Credential identities are the raw 32
//! bytes of the x-only Nostr key. KeyPackages list the SelfRemove proposal (0x000a) and say
//! so with `["mls_proposals","0x000a"]`, as MDK's do; members of a group that requires it
//! leave with it (`Client::leave`). KeyPackages are published as kind 443 only, not as the
//! addressable kind 30443.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use nipee_nostr::{Tag, Tags};

use crate::error::{Error, Result};

pub mod envelope;
pub mod group_data;
pub mod key_package_event;
pub mod welcome;

/// The name of the tag that states a content's encoding.
pub const ENCODING_TAG: &str = "encoding";
/// The only encoding Marmot uses.
pub const BASE64: &str = "base64";

/// `["encoding", "base64"]`.
pub fn encoding_tag() -> Tag {
    Tag::new([ENCODING_TAG, BASE64])
}

/// Whether `tags` hold `["encoding", "base64"]` (the value compared without case, as MDK
/// reads it): the mark of the Marmot formats.
pub fn says_base64(tags: &Tags) -> bool {
    tags.iter().any(|t| {
        t.name() == Some(ENCODING_TAG) && t.value().is_some_and(|v| v.eq_ignore_ascii_case(BASE64))
    })
}

/// Requires `["encoding", "base64"]` among the tags of an event of `kind`.
///
/// # Errors
/// [`Error::MissingTag`] without an `encoding` tag, [`Error::BadTag`] for another value.
pub(crate) fn require_base64(kind: u16, tags: &Tags) -> Result<()> {
    let Some(value) = tags.first_value(ENCODING_TAG) else {
        return Err(Error::MissingTag {
            kind,
            tag: ENCODING_TAG,
        });
    };
    if says_base64(tags) {
        Ok(())
    } else {
        Err(Error::BadTag {
            tag: ENCODING_TAG,
            expected: "base64",
            found: value.chars().take(40).collect(),
        })
    }
}

/// Standard padded base64.
pub(crate) fn encode_base64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Decodes standard padded base64 (canonical padding required) of at most `max_chars`
/// characters; `field` names the content in errors.
///
/// # Errors
/// [`Error::Malformed`] naming `field`.
pub(crate) fn decode_base64(field: &'static str, text: &str, max_chars: usize) -> Result<Vec<u8>> {
    if text.len() > max_chars {
        return Err(Error::malformed(
            field,
            format!("{} characters, at most {max_chars}", text.len()),
        ));
    }
    STANDARD
        .decode(text)
        .map_err(|e| Error::malformed(field, format!("not standard padded base64: {e}")))
}

/// Whether `url` is a relay URL MDK accepts: `ws://` or `wss://` followed by a host, no
/// second scheme separator, no whitespace.
pub(crate) fn is_relay_url(url: &str) -> bool {
    let rest = url
        .strip_prefix("wss://")
        .or_else(|| url.strip_prefix("ws://"));
    match rest {
        Some(rest) => {
            !rest.is_empty()
                && !rest.starts_with('/')
                && !rest.contains("://")
                && !url.chars().any(|c| c.is_whitespace() || c.is_control())
        }
        None => false,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips_and_refuses_what_is_not_canonical() {
        assert_eq!(encode_base64(b"ab"), "YWI=");
        assert_eq!(decode_base64("x", "YWI=", 10).unwrap(), b"ab");
        assert!(decode_base64("x", "YWI", 10).is_err());
        assert!(decode_base64("x", "YW=I", 10).is_err());
        assert!(decode_base64("x", "YWI=", 3).is_err());
    }

    #[test]
    fn relay_urls_need_a_websocket_scheme_and_a_host() {
        assert!(is_relay_url("wss://relay.example"));
        assert!(is_relay_url("ws://127.0.0.1:7777"));
        assert!(!is_relay_url("https://relay.example"));
        assert!(!is_relay_url("wss://"));
        assert!(!is_relay_url("wss://a.example wss://b"));
        assert!(!is_relay_url("wss://a://b"));
    }

    #[test]
    fn the_encoding_tag_marks_marmot_events() {
        let mut tags = Tags::new();
        assert!(!says_base64(&tags));
        assert!(matches!(
            require_base64(443, &tags),
            Err(Error::MissingTag {
                tag: "encoding",
                ..
            })
        ));
        tags.push(Tag::new(["encoding", "hex"]));
        assert!(matches!(
            require_base64(443, &tags),
            Err(Error::BadTag {
                tag: "encoding",
                ..
            })
        ));
        tags.push(encoding_tag());
        assert!(says_base64(&tags));
        assert!(require_base64(443, &tags).is_ok());
    }
}
