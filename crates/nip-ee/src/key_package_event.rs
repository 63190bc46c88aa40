//! KeyPackage events (kind 443) and the credential rule of NIP-EE.
//!
//! Content: lower-case hex of the TLS `KeyPackage` (not wrapped in an `MLSMessage`).
//! Tags written: `["mls_protocol_version","1.0"]`, `["ciphersuite","0x0001"]`,
//! `["extensions","0x000a","0xf2ee",…]`, `["client",name]`, `["relays",url,…]`, optionally
//! `["-"]`. Tags read: also `mls_ciphersuite` with `"1"` or `"0x0001"`, and
//! `mls_extensions` with ids or with nostr-mls's Rust debug names, comma-separated.

use nipee_keypackage::{
    CipherSuite, Credential, ExtensionType, KeyPackage, KeyPackageBundle, KeyPackageOptions,
    KeyPackageRef, ValidationPolicy,
};
use nipee_nostr::{Event, EventBuilder, EventId, Keys, Kind, PublicKey, Tag, Timestamp};
use rand_core::CryptoRng;

use crate::error::{Error, Result};
use crate::group_data::pubkey_from_lower_hex;

/// The NIP-EE credential identity of a Nostr public key: its 64 lower-case hex characters
/// as ASCII bytes (what nostr-mls writes).
pub fn credential_identity(pubkey: &PublicKey) -> Vec<u8> {
    pubkey.to_hex().into_bytes()
}

/// The Nostr public key a BasicCredential identity names: 64 lower-case hex characters,
/// or (accepted from other writers) the raw 32 bytes.
///
/// # Errors
/// [`Error::Malformed`] for any other length or content, [`Error::Nostr`] for bytes that
/// are not a valid x-only key.
pub fn identity_to_pubkey(identity: &[u8]) -> Result<PublicKey> {
    match identity.len() {
        64 => pubkey_from_lower_hex("credential identity", identity),
        32 => Ok(PublicKey::from_slice(identity)?),
        n => Err(Error::malformed(
            "credential identity",
            format!("{n} bytes; expected 64 hex characters or 32 raw bytes"),
        )),
    }
}

/// The Nostr public key of a credential (BasicCredential only).
///
/// # Errors
/// [`Error::Malformed`] for a non-basic credential or a bad identity.
pub fn credential_pubkey(credential: &Credential) -> Result<PublicKey> {
    let id = credential
        .identity()
        .ok_or_else(|| Error::malformed("credential", "not a BasicCredential"))?;
    identity_to_pubkey(id)
}

/// Options for a new NIP-EE KeyPackage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewKeyPackage {
    /// The caller's clock, seconds since the Unix epoch.
    pub now: u64,
    /// Whether to add the `last_resort` extension (a KeyPackage that may be used more than
    /// once; the joiner rotates its leaf right after joining).
    pub last_resort: bool,
}

/// Generates a NIP-EE KeyPackage with its private keys for `pubkey`: credential identity
/// = the 64 hex characters of `pubkey`, a fresh Ed25519 MLS signature key (never the
/// Nostr key), capabilities listing `last_resort` and 0xF2EE, GREASE.
///
/// # Errors
/// Those of [`KeyPackageBundle::generate`].
pub fn generate_key_package<R: CryptoRng + ?Sized>(
    pubkey: &PublicKey,
    options: &NewKeyPackage,
    rng: &mut R,
) -> Result<KeyPackageBundle> {
    let mut opts = KeyPackageOptions::nip_ee(options.now);
    if !options.last_resort {
        opts.key_package_extensions
            .retain(|e| e.extension_type != ExtensionType::LAST_RESORT);
    }
    Ok(KeyPackageBundle::generate(
        &credential_identity(pubkey),
        &opts,
        rng,
    )?)
}

/// What goes into the tags of a kind-443 event besides the KeyPackage itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyPackageEventOptions {
    /// Relays the KeyPackage is published to (the `relays` tag).
    pub relays: Vec<String>,
    /// Client name for the `client` tag; none when `None`.
    pub client: Option<String>,
    /// Add NIP-70 `["-"]` (relays then accept it only from its author).
    pub protected: bool,
}

fn ext_id(e: ExtensionType) -> String {
    format!("0x{:04x}", e.0)
}

/// Builds and signs the kind-443 event for `key_package` with the Nostr identity `keys`.
///
/// # Errors
/// [`Error::CredentialMismatch`] if the credential does not name `keys`,
/// [`Error::SignatureKeyIsNostrKey`], [`Error::Misuse`] without relays, encoding errors.
pub fn build_key_package_event(
    keys: &Keys,
    key_package: &KeyPackage,
    options: &KeyPackageEventOptions,
    created_at: Timestamp,
) -> Result<Event> {
    let author = keys.public_key();
    let named = credential_pubkey(&key_package.leaf_node.credential)?;
    if named != author {
        return Err(Error::CredentialMismatch {
            expected: author.to_hex(),
            found: named.to_hex(),
        });
    }
    if key_package.leaf_node.signature_key == author.to_bytes() {
        return Err(Error::SignatureKeyIsNostrKey);
    }
    if options.relays.is_empty() {
        return Err(Error::Misuse {
            what: "a KeyPackage event needs at least one relay",
        });
    }
    let content = hex::encode(nipee_codec::Encode::to_bytes(key_package)?);
    let mut ext = vec!["extensions".to_owned()];
    ext.extend(
        key_package
            .leaf_node
            .capabilities
            .extensions
            .iter()
            .filter(|e| !e.is_grease())
            .map(|e| ext_id(*e)),
    );
    let mut relays = vec!["relays".to_owned()];
    relays.extend(options.relays.iter().cloned());
    let mut b = EventBuilder::new(Kind::MLS_KEY_PACKAGE, content)
        .tag(Tag::new(["mls_protocol_version", "1.0"]))
        .tag(Tag::new([
            "ciphersuite".to_owned(),
            ext_id(ExtensionType(key_package.cipher_suite.0)),
        ]))
        .tag(Tag::new(ext));
    if let Some(c) = &options.client {
        b = b.tag(Tag::new(["client", c.as_str()]));
    }
    b = b.tag(Tag::new(relays));
    if options.protected {
        b = b.tag(Tag::protected());
    }
    Ok(b.sign(keys, created_at)?)
}

/// A parsed and validated kind-443 event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPackageEvent {
    /// The event id (the Welcome's `e` tag refers to it).
    pub event_id: EventId,
    /// The author, equal to the credential identity.
    pub author: PublicKey,
    /// The KeyPackage.
    pub key_package: KeyPackage,
    /// Its KeyPackageRef.
    pub key_package_ref: KeyPackageRef,
    /// The cipher suite from the tag.
    pub ciphersuite: CipherSuite,
    /// The extension types the tag lists.
    pub extensions: Vec<ExtensionType>,
    /// The relays from the `relays` tag.
    pub relays: Vec<String>,
    /// The `client` tag's name, if any.
    pub client: Option<String>,
    /// NIP-70 protected.
    pub protected: bool,
}

fn parse_u16_token(t: &str) -> Option<u16> {
    if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        u16::from_str_radix(h, 16).ok()
    } else {
        t.parse::<u16>().ok()
    }
}

/// One `extensions` / `mls_extensions` token: `0x000a`, `10`, or a Rust debug name as
/// nostr-mls wrote it (`LastResort`, `Unknown(62190)`, …).
fn parse_extension_token(t: &str) -> Option<ExtensionType> {
    let t = t.trim();
    if let Some(n) = parse_u16_token(t) {
        return Some(ExtensionType(n));
    }
    let v = match t {
        "ApplicationId" => 0x0001,
        "RatchetTree" => 0x0002,
        "RequiredCapabilities" => 0x0003,
        "ExternalPub" => 0x0004,
        "ExternalSenders" => 0x0005,
        "LastResort" => 0x000a,
        "NostrGroupData" => 0xf2ee,
        other => {
            // `Unknown(62190)`, `Grease(2570)`: how OpenMLS-based clients print a code point
            // without a name of its own.
            let (name, rest) = other.split_once('(')?;
            if !name.chars().all(|c| c.is_ascii_alphabetic()) {
                return None;
            }
            parse_u16_token(rest.strip_suffix(')')?)?
        }
    };
    Some(ExtensionType(v))
}

/// Parses and validates a kind-443 event: the event signature, the tags (tolerating the
/// variants real clients wrote), the KeyPackage (RFC 9420 §10.1 under `policy`), the
/// credential identity = the event author, the signature key ≠ the Nostr key, and 0xF2EE
/// among the capabilities.
///
/// # Errors
/// [`Error::UnexpectedKind`], [`Error::MissingTag`], [`Error::BadTag`],
/// [`Error::Malformed`] for bad hex, [`Error::KeyPackage`] for a KeyPackage that does not
/// decode or validate, [`Error::CredentialMismatch`], [`Error::SignatureKeyIsNostrKey`].
pub fn parse_key_package_event(
    event: &Event,
    policy: &ValidationPolicy,
) -> Result<KeyPackageEvent> {
    if event.kind() != Kind::MLS_KEY_PACKAGE {
        return Err(Error::UnexpectedKind {
            expected: Kind::MLS_KEY_PACKAGE.as_u16(),
            found: event.kind().as_u16(),
        });
    }
    event.verify()?;
    let tags = event.tags();
    let kind = Kind::MLS_KEY_PACKAGE.as_u16();

    let version = tags
        .first_value("mls_protocol_version")
        .ok_or(Error::MissingTag {
            kind,
            tag: "mls_protocol_version",
        })?;
    if version != "1.0" {
        return Err(Error::BadTag {
            tag: "mls_protocol_version",
            expected: "1.0",
            found: version.to_owned(),
        });
    }

    let suite_text = tags
        .first_value("ciphersuite")
        .or_else(|| tags.first_value("mls_ciphersuite"))
        .ok_or(Error::MissingTag {
            kind,
            tag: "ciphersuite",
        })?;
    let suite = parse_u16_token(suite_text).ok_or_else(|| Error::BadTag {
        tag: "ciphersuite",
        expected: "0x0001 or 1",
        found: suite_text.to_owned(),
    })?;

    let mut extensions = Vec::new();
    for tag in tags
        .iter()
        .filter(|t| matches!(t.name(), Some("extensions" | "mls_extensions")))
    {
        for field in tag.as_slice().iter().skip(1) {
            for token in field.split(',').filter(|s| !s.trim().is_empty()) {
                let e = parse_extension_token(token).ok_or_else(|| Error::BadTag {
                    tag: "extensions",
                    expected: "extension ids (0x000a) or names (LastResort)",
                    found: token.to_owned(),
                })?;
                if !extensions.contains(&e) {
                    extensions.push(e);
                }
            }
        }
    }

    let relays: Vec<String> = tags.relays().into_iter().map(str::to_owned).collect();
    let client = tags.client().map(str::to_owned);

    let bytes = hex::decode(event.content())
        .map_err(|e| Error::malformed("kind 443 content", e.to_string()))?;
    let key_package = KeyPackage::from_bytes(&bytes)?;
    if key_package.cipher_suite.0 != suite {
        return Err(Error::BadTag {
            tag: "ciphersuite",
            expected: "the KeyPackage's cipher suite",
            found: suite_text.to_owned(),
        });
    }
    key_package.validate(policy)?;
    let author = event.pubkey();
    let named = credential_pubkey(&key_package.leaf_node.credential)?;
    if named != author {
        return Err(Error::CredentialMismatch {
            expected: author.to_hex(),
            found: named.to_hex(),
        });
    }
    if key_package.leaf_node.signature_key == author.to_bytes() {
        return Err(Error::SignatureKeyIsNostrKey);
    }
    if !key_package
        .leaf_node
        .capabilities
        .supports_extension(ExtensionType::NOSTR_GROUP_DATA)
    {
        return Err(Error::KeyPackageRejected {
            reason: "its capabilities do not list nostr_group_data (0xf2ee)",
        });
    }
    let key_package_ref = KeyPackageRef::of_encoded(&bytes)?;
    Ok(KeyPackageEvent {
        event_id: event.id(),
        author,
        key_package,
        key_package_ref,
        ciphersuite: CipherSuite(suite),
        extensions,
        relays,
        client,
        protected: event.is_protected(),
    })
}

#[cfg(test)]
mod token_tests {
    use super::*;

    #[test]
    fn extension_tokens_in_every_form_clients_write_parse() {
        assert_eq!(parse_extension_token("0x000a"), Some(ExtensionType(0x000a)));
        assert_eq!(parse_extension_token("10"), Some(ExtensionType(10)));
        assert_eq!(
            parse_extension_token("LastResort"),
            Some(ExtensionType(0x000a))
        );
        assert_eq!(
            parse_extension_token("Unknown(62190)"),
            Some(ExtensionType(0xf2ee))
        );
        // A GREASE value as OpenMLS prints it (RFC 9420 §13.5): read like any other.
        assert_eq!(
            parse_extension_token("Grease(2570)"),
            Some(ExtensionType(0x0a0a))
        );
        assert_eq!(
            parse_extension_token("Grease(0x0a0a)"),
            Some(ExtensionType(0x0a0a))
        );
        assert_eq!(parse_extension_token("Nope"), None);
        assert_eq!(parse_extension_token("Grease(70000)"), None);
        assert_eq!(parse_extension_token("G-1(2)"), None);
    }
}
