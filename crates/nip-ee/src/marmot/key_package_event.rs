//! KeyPackage events of the Marmot profile (MIP-00), as MDK writes and checks them.
//!
//! Written: kind 443, content = standard padded base64 of the TLS `KeyPackage` (not wrapped
//! in an `MLSMessage`), tags `["mls_protocol_version","1.0"]`,
//! `["mls_ciphersuite","0x0001"]`, `["mls_extensions","0x000a","0xf2ee"]`,
//! `["mls_proposals","0x000a"]` (the capabilities list SelfRemove, as MDK's do),
//! `["relays",url,…]`, `["i",hex(KeyPackageRef)]`, optionally `["-"]`, `["client",name]`,
//! `["encoding","base64"]`. Only kind 443 is written (MDK reads it until the addressable
//! kind 30443 replaces it).
//!
//! Read: kind 443 and kind 30443 (which must carry a 64-hex `d` tag, an `i` tag and
//! `["mls_proposals","0x000a"]`). The credential identity is the raw 32-byte x-only key and
//! must equal the event author.

use nipee_keypackage::{
    CipherSuite, ExtensionType, KeyPackage, KeyPackageBundle, KeyPackageOptions, KeyPackageRef,
    ProposalType, ValidationPolicy,
};
use nipee_nostr::{Event, EventBuilder, Keys, Kind, PublicKey, Tag, Tags, Timestamp};
use rand_core::CryptoRng;

use crate::error::{Error, Result};
use crate::key_package_event::{KeyPackageEvent, KeyPackageEventOptions, NewKeyPackage};

/// The addressable KeyPackage kind of MIP-00 (read, not written).
pub const ADDRESSABLE_KEY_PACKAGE: Kind = Kind::new(30443);
/// Longest accepted content (base64 characters).
pub const MAX_CONTENT: usize = 1 << 20;
/// The extensions MDK requires the `mls_extensions` tag to list.
const REQUIRED_TAG_EXTENSIONS: [&str; 2] = ["0x000a", "0xf2ee"];

/// The Marmot credential identity of a Nostr key: its raw 32 bytes.
pub fn credential_identity(pubkey: &PublicKey) -> Vec<u8> {
    pubkey.to_bytes().to_vec()
}

/// The Nostr key a Marmot credential identity names.
///
/// # Errors
/// [`Error::Malformed`] for any length but 32, [`Error::Nostr`] for bytes that are not a
/// valid x-only key.
pub fn identity_to_pubkey(identity: &[u8]) -> Result<PublicKey> {
    if identity.len() != 32 {
        return Err(Error::malformed(
            "credential identity",
            format!(
                "{} bytes; Marmot identities are the raw 32-byte key",
                identity.len()
            ),
        ));
    }
    Ok(PublicKey::from_slice(identity)?)
}

/// Generates a Marmot KeyPackage with its private keys for `pubkey`: identity = the raw 32
/// bytes of `pubkey`, a fresh Ed25519 signature key, capabilities listing `last_resort`
/// and 0xF2EE among extensions and SelfRemove (0x000a) among proposals (MDK's
/// `SUPPORTED_PROPOSALS`), and GREASE, lifetime from an hour before `now`.
///
/// # Errors
/// Those of [`KeyPackageBundle::generate`].
pub fn generate_key_package<R: CryptoRng + ?Sized>(
    pubkey: &PublicKey,
    options: &NewKeyPackage,
    rng: &mut R,
) -> Result<KeyPackageBundle> {
    let mut opts = KeyPackageOptions::nip_ee(options.now);
    opts.capabilities.proposals.push(ProposalType::SELF_REMOVE);
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

fn hex_id(v: u16) -> String {
    format!("0x{v:04x}")
}

/// Builds and signs the kind-443 event for `key_package` with the Nostr identity `keys`.
///
/// # Errors
/// [`Error::CredentialMismatch`] if the credential is not the raw key of `keys`,
/// [`Error::SignatureKeyIsNostrKey`], [`Error::Misuse`] without relays, with a relay that is
/// not a `ws://`/`wss://` URL, or for capabilities that do not list `last_resort` and
/// 0xF2EE. The `mls_proposals` tag is written when the capabilities list SelfRemove.
pub fn build_key_package_event(
    keys: &Keys,
    key_package: &KeyPackage,
    options: &KeyPackageEventOptions,
    created_at: Timestamp,
) -> Result<Event> {
    let author = keys.public_key();
    let identity = key_package
        .leaf_node
        .credential
        .identity()
        .ok_or_else(|| Error::malformed("credential", "not a BasicCredential"))?;
    if identity != author.as_bytes() {
        return Err(Error::CredentialMismatch {
            expected: author.to_hex(),
            found: hex::encode(identity),
        });
    }
    if key_package.leaf_node.signature_key == author.to_bytes() {
        return Err(Error::SignatureKeyIsNostrKey);
    }
    if options.relays.is_empty() || !options.relays.iter().all(|u| super::is_relay_url(u)) {
        return Err(Error::Misuse {
            what: "a Marmot KeyPackage event needs at least one ws:// or wss:// relay",
        });
    }
    let caps = &key_package.leaf_node.capabilities;
    if !caps.supports_extension(ExtensionType::LAST_RESORT)
        || !caps.supports_extension(ExtensionType::NOSTR_GROUP_DATA)
    {
        return Err(Error::Misuse {
            what: "a Marmot KeyPackage lists last_resort and nostr_group_data in its capabilities",
        });
    }
    let bytes = nipee_codec::Encode::to_bytes(key_package)?;
    let key_package_ref = KeyPackageRef::of_encoded(&bytes)?;
    let mut extensions = vec!["mls_extensions".to_owned()];
    extensions.extend(
        caps.extensions
            .iter()
            .filter(|e| !e.is_grease() && !e.is_default())
            .map(|e| hex_id(e.0)),
    );
    let mut relays = vec!["relays".to_owned()];
    relays.extend(options.relays.iter().cloned());
    let mut b = EventBuilder::new(Kind::MLS_KEY_PACKAGE, super::encode_base64(&bytes))
        .tag(Tag::new(["mls_protocol_version", "1.0"]))
        .tag(Tag::new([
            "mls_ciphersuite".to_owned(),
            hex_id(key_package.cipher_suite.0),
        ]))
        .tag(Tag::new(extensions));
    if caps.supports_proposal(ProposalType::SELF_REMOVE) {
        b = b.tag(Tag::new([
            "mls_proposals".to_owned(),
            hex_id(ProposalType::SELF_REMOVE.0),
        ]));
    }
    b = b.tag(Tag::new(relays)).tag(Tag::new([
        "i".to_owned(),
        hex::encode(key_package_ref.as_bytes()),
    ]));
    if options.protected {
        b = b.tag(Tag::protected());
    }
    if let Some(c) = options.client.as_deref().filter(|c| !c.is_empty()) {
        b = b.tag(Tag::new(["client", c]));
    }
    Ok(b.tag(super::encoding_tag()).sign(keys, created_at)?)
}

fn one_value<'a>(tags: &'a Tags, kind: u16, name: &'static str) -> Result<&'a str> {
    tags.first_value(name)
        .ok_or(Error::MissingTag { kind, tag: name })
}

fn is_hex_code(v: &str) -> bool {
    v.len() == 6 && v.starts_with("0x") && v.bytes().skip(2).all(|c| c.is_ascii_hexdigit())
}

/// Checks the tags MDK checks, in its order, before the content is read.
fn check_tags(event: &Event) -> Result<()> {
    let kind = event.kind().as_u16();
    let tags = event.tags();
    let addressable = event.kind() == ADDRESSABLE_KEY_PACKAGE;
    if addressable {
        let d = one_value(tags, kind, "d")?;
        if d.len() != 64 || hex::decode(d).is_err() {
            return Err(Error::BadTag {
                tag: "d",
                expected: "64 hex characters",
                found: d.chars().take(80).collect(),
            });
        }
    }
    let version = one_value(tags, kind, "mls_protocol_version")?;
    if version != "1.0" {
        return Err(Error::BadTag {
            tag: "mls_protocol_version",
            expected: "1.0",
            found: version.to_owned(),
        });
    }
    let suite = one_value(tags, kind, "mls_ciphersuite")?;
    if !suite.eq_ignore_ascii_case("0x0001") {
        return Err(Error::BadTag {
            tag: "mls_ciphersuite",
            expected: "0x0001",
            found: suite.chars().take(40).collect(),
        });
    }
    let ext = tags
        .iter()
        .find(|t| t.name() == Some("mls_extensions"))
        .ok_or(Error::MissingTag {
            kind,
            tag: "mls_extensions",
        })?;
    let values = ext.as_slice().get(1..).unwrap_or_default();
    if values.is_empty() || !values.iter().all(|v| is_hex_code(v)) {
        return Err(Error::BadTag {
            tag: "mls_extensions",
            expected: "one or more 0xXXXX values",
            found: values.join(",").chars().take(80).collect(),
        });
    }
    for required in REQUIRED_TAG_EXTENSIONS {
        if !values.iter().any(|v| v.eq_ignore_ascii_case(required)) {
            return Err(Error::BadTag {
                tag: "mls_extensions",
                expected: "0x000a and 0xf2ee among the values",
                found: values.join(",").chars().take(80).collect(),
            });
        }
    }
    match tags.iter().find(|t| t.name() == Some("mls_proposals")) {
        None if addressable => {
            return Err(Error::MissingTag {
                kind,
                tag: "mls_proposals",
            });
        }
        None => {}
        Some(p) if p.as_slice().len() == 2 && p.value() == Some("0x000a") => {}
        Some(p) => {
            return Err(Error::BadTag {
                tag: "mls_proposals",
                expected: "exactly 0x000a",
                found: p.as_slice().get(1..).unwrap_or_default().join(","),
            });
        }
    }
    let relays = tags.relays();
    if relays.is_empty() || !relays.iter().all(|u| super::is_relay_url(u)) {
        return Err(Error::BadTag {
            tag: "relays",
            expected: "one or more ws:// or wss:// URLs",
            found: relays.join(" ").chars().take(120).collect(),
        });
    }
    if addressable && !tags.iter().any(|t| t.name() == Some("i")) {
        return Err(Error::MissingTag { kind, tag: "i" });
    }
    super::require_base64(kind, tags)
}

/// Parses and validates a Marmot KeyPackage event (kind 443 or 30443): the signature, the
/// tags as MDK checks them, the KeyPackage (RFC 9420 §10.1 under `policy`, lifetime
/// included), the `i` tag = its KeyPackageRef, the raw identity = the author, the
/// signature key ≠ the Nostr key, and 0xF2EE among the capabilities.
///
/// # Errors
/// [`Error::UnexpectedKind`], [`Error::MissingTag`], [`Error::BadTag`],
/// [`Error::Malformed`] for bad base64 or identity, [`Error::KeyPackage`],
/// [`Error::CredentialMismatch`], [`Error::SignatureKeyIsNostrKey`],
/// [`Error::KeyPackageRejected`].
pub fn parse_key_package_event(
    event: &Event,
    policy: &ValidationPolicy,
) -> Result<KeyPackageEvent> {
    if event.kind() != Kind::MLS_KEY_PACKAGE && event.kind() != ADDRESSABLE_KEY_PACKAGE {
        return Err(Error::UnexpectedKind {
            expected: Kind::MLS_KEY_PACKAGE.as_u16(),
            found: event.kind().as_u16(),
        });
    }
    event.verify()?;
    check_tags(event)?;
    let bytes = super::decode_base64("kind 443 content", event.content(), MAX_CONTENT)?;
    let key_package = KeyPackage::from_bytes(&bytes)?;
    key_package.validate(policy)?;
    let key_package_ref = KeyPackageRef::of_encoded(&bytes)?;
    if let Some(i) = event.tags().iter().find(|t| t.name() == Some("i")) {
        let expected = hex::encode(key_package_ref.as_bytes());
        let ok =
            i.as_slice().len() == 2 && i.value().is_some_and(|v| v.eq_ignore_ascii_case(&expected));
        if !ok {
            return Err(Error::BadTag {
                tag: "i",
                expected: "the KeyPackageRef of the content, in hex",
                found: i.as_slice().get(1..).unwrap_or_default().join(","),
            });
        }
    }
    let author = event.pubkey();
    let identity = key_package
        .leaf_node
        .credential
        .identity()
        .ok_or_else(|| Error::malformed("credential", "not a BasicCredential"))?;
    let named = identity_to_pubkey(identity)?;
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
    let tags = event.tags();
    let extensions = tags
        .first_value("mls_extensions")
        .map(|_| {
            tags.iter()
                .filter(|t| t.name() == Some("mls_extensions"))
                .flat_map(|t| t.as_slice().iter().skip(1))
                .filter_map(|v| u16::from_str_radix(v.get(2..)?, 16).ok())
                .map(ExtensionType)
                .collect()
        })
        .unwrap_or_default();
    Ok(KeyPackageEvent {
        event_id: event.id(),
        author,
        ciphersuite: CipherSuite(key_package.cipher_suite.0),
        key_package,
        key_package_ref,
        extensions,
        relays: tags.relays().into_iter().map(str::to_owned).collect(),
        client: tags.client().map(str::to_owned),
        protected: event.is_protected(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000;

    fn options() -> KeyPackageEventOptions {
        KeyPackageEventOptions {
            relays: vec!["wss://relay.example".into()],
            client: Some("nipee".into()),
            protected: false,
        }
    }

    fn event(keys: &Keys) -> (KeyPackageBundle, Event) {
        let mut rng = rand::rng();
        let bundle = generate_key_package(
            &keys.public_key(),
            &NewKeyPackage {
                now: NOW,
                last_resort: true,
            },
            &mut rng,
        )
        .unwrap();
        let e = build_key_package_event(
            keys,
            bundle.key_package(),
            &options(),
            Timestamp::from_secs(NOW),
        )
        .unwrap();
        (bundle, e)
    }

    fn retag(keys: &Keys, e: &Event, f: impl Fn(&mut Vec<Tag>)) -> Event {
        let mut tags: Vec<Tag> = e.tags().iter().cloned().collect();
        f(&mut tags);
        EventBuilder::new(e.kind(), e.content())
            .tags(tags)
            .sign(keys, e.created_at())
            .unwrap()
    }

    #[test]
    fn a_marmot_key_package_event_reads_back_with_its_ref_and_raw_identity() {
        let keys = Keys::generate(&mut rand::rng());
        let (bundle, e) = event(&keys);
        let names: Vec<_> = e.tags().iter().filter_map(|t| t.name()).collect();
        assert_eq!(
            names,
            [
                "mls_protocol_version",
                "mls_ciphersuite",
                "mls_extensions",
                "mls_proposals",
                "relays",
                "i",
                "client",
                "encoding"
            ]
        );
        assert_eq!(
            e.tags().first_value("mls_proposals"),
            Some("0x000a"),
            "SelfRemove advertised as MDK does"
        );
        assert!(
            bundle
                .key_package()
                .leaf_node
                .capabilities
                .proposals
                .contains(&ProposalType::SELF_REMOVE)
        );
        assert_eq!(
            e.tags()
                .iter()
                .find(|t| t.name() == Some("mls_extensions"))
                .unwrap()
                .as_slice(),
            ["mls_extensions", "0x000a", "0xf2ee"]
        );
        assert_eq!(
            bundle
                .key_package()
                .leaf_node
                .credential
                .identity()
                .unwrap(),
            keys.public_key().as_bytes()
        );
        let parsed = parse_key_package_event(&e, &ValidationPolicy::at(NOW + 60)).unwrap();
        assert_eq!(&parsed.key_package, bundle.key_package());
        assert_eq!(parsed.author, keys.public_key());
    }

    #[test]
    fn tags_mdk_requires_are_required_here_too() {
        let keys = Keys::generate(&mut rand::rng());
        let (_, e) = event(&keys);
        let policy = ValidationPolicy::at(NOW + 60);
        let without =
            |name: &'static str| retag(&keys, &e, |t| t.retain(|t| t.name() != Some(name)));
        for name in [
            "encoding",
            "mls_protocol_version",
            "mls_ciphersuite",
            "mls_extensions",
        ] {
            assert!(
                matches!(parse_key_package_event(&without(name), &policy), Err(Error::MissingTag { tag, .. }) if tag == name),
                "{name}"
            );
        }
        assert!(matches!(
            parse_key_package_event(&without("relays"), &policy),
            Err(Error::BadTag { tag: "relays", .. })
        ));
        let wrong_ref = retag(&keys, &e, |t| {
            t.retain(|t| t.name() != Some("i"));
            t.push(Tag::new(["i", &"00".repeat(32)]));
        });
        assert!(matches!(
            parse_key_package_event(&wrong_ref, &policy),
            Err(Error::BadTag { tag: "i", .. })
        ));
        let addressable = EventBuilder::new(ADDRESSABLE_KEY_PACKAGE, e.content())
            .tags(e.tags().iter().cloned())
            .sign(&keys, e.created_at())
            .unwrap();
        assert!(matches!(
            parse_key_package_event(&addressable, &policy),
            Err(Error::MissingTag { tag: "d", .. })
        ));
    }

    #[test]
    fn an_addressable_event_with_d_and_mls_proposals_is_accepted() {
        let keys = Keys::generate(&mut rand::rng());
        let (_, e) = event(&keys);
        let mut tags = vec![Tag::identifier(&"ab".repeat(32))];
        tags.extend(e.tags().iter().cloned());
        tags.push(Tag::new(["mls_proposals", "0x000a"]));
        let a = EventBuilder::new(ADDRESSABLE_KEY_PACKAGE, e.content())
            .tags(tags)
            .sign(&keys, e.created_at())
            .unwrap();
        parse_key_package_event(&a, &ValidationPolicy::at(NOW + 60)).unwrap();
    }

    #[test]
    fn a_hex_identity_or_another_author_is_refused() {
        let mut rng = rand::rng();
        let keys = Keys::generate(&mut rng);
        let hex_kp = crate::key_package_event::generate_key_package(
            &keys.public_key(),
            &NewKeyPackage {
                now: NOW,
                last_resort: true,
            },
            &mut rng,
        )
        .unwrap();
        assert!(matches!(
            build_key_package_event(
                &keys,
                hex_kp.key_package(),
                &options(),
                Timestamp::from_secs(NOW)
            ),
            Err(Error::CredentialMismatch { .. })
        ));
        let (_, e) = event(&keys);
        let mallory = Keys::generate(&mut rng);
        let stolen = EventBuilder::new(e.kind(), e.content())
            .tags(e.tags().iter().cloned())
            .sign(&mallory, e.created_at())
            .unwrap();
        assert!(matches!(
            parse_key_package_event(&stolen, &ValidationPolicy::at(NOW + 60)),
            Err(Error::CredentialMismatch { .. })
        ));
    }
}
