//! Reverse checks of the nostr-mls v0.43 interop file that need no group state machine:
//! KeyPackage events, 0xF2EE, the kind-445 envelope, inner and Welcome rumors, and the
//! Welcome's GroupSecrets / GroupInfo / key schedule with MLS primitives.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine;
use nipee::envelope::{EXPORTER_CONTEXT, EXPORTER_LABEL};
use nipee::{
    Error, GroupEventKey, GroupImage, NostrGroupData, WelcomeRumor, decode_inner_event,
    group_event_group_id, identity_to_pubkey, open_welcome, parse_key_package_event,
};
use nipee_keypackage::{
    Capabilities, CipherSuite, Credential, CredentialType, Extension, ExtensionType, HpkeSecretKey,
    KeyPackage, LeafNodeSource, Lifetime, ProposalType, ProtocolVersion, SignatureSecretKey,
    UnsignedLeafNode, ValidationPolicy,
};
use nipee_mls::hazmat::framing::{MlsMessage, MlsMessageBody};
use nipee_mls::hazmat::schedule::{EpochSecrets, welcome_secret};
use nipee_mls::{HpkePrivateKey, RustCryptoSuite1};
use nipee_nostr::nip44::{self, LengthPrefix};
use nipee_nostr::{
    Event, EventId, Keys, Kind, PublicKey, SecretKey, Tags, Timestamp, UnsignedEvent,
};
use serde_json::Value;

const FILE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../vectors/nip-ee/nostr-mls-basic.json"
);

fn load() -> Value {
    serde_json::from_str(&std::fs::read_to_string(FILE).unwrap()).unwrap()
}

fn h(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

fn h32(v: &Value) -> [u8; 32] {
    h(v).try_into().unwrap()
}

fn now(d: &Value) -> u64 {
    d["generator"]["generated_at"].as_u64().unwrap()
}

fn event(v: &Value) -> Event {
    Event::from_value(v).unwrap()
}

fn epoch(d: &Value, n: u64) -> &Value {
    d["group"]["epochs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["epoch"].as_u64() == Some(n))
        .unwrap()
}

fn u16s(v: &Value) -> Vec<u16> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| u16::try_from(x.as_u64().unwrap()).unwrap())
        .collect()
}

#[test]
fn every_key_package_event_parses_validates_and_matches_its_keys() {
    let d = load();
    let policy = ValidationPolicy::at(now(&d));
    let kps = d["key_packages"].as_object().unwrap();
    assert_eq!(kps.len(), 3);
    for (name, kp) in kps {
        let ev = event(&kp["event"]);
        let parsed = parse_key_package_event(&ev, &policy).unwrap();
        assert_eq!(
            parsed.author.to_hex(),
            d["identities"][name]["pubkey"].as_str().unwrap()
        );
        assert_eq!(
            parsed.key_package_ref.0,
            h32(&kp["key_package_ref"]),
            "{name}"
        );
        assert_eq!(parsed.ciphersuite, CipherSuite(1));
        // nostr-mls writes ["mls_extensions","RequiredCapabilities,LastResort,RatchetTree,Unknown(62190)"].
        let ext: Vec<u16> = parsed.extensions.iter().map(|e| e.0).collect();
        assert_eq!(ext, vec![3, 10, 2, 0xf2ee]);
        assert_eq!(parsed.relays, ["ws://127.0.0.1:7777"]);
        let leaf = &parsed.key_package.leaf_node;
        assert_eq!(
            leaf.credential.identity().unwrap(),
            kp["credential_identity"].as_str().unwrap().as_bytes()
        );
        assert_eq!(parsed.key_package.init_key, h32(&kp["init_public_key"]));
        assert_eq!(leaf.encryption_key, h32(&kp["encryption_public_key"]));
        assert_eq!(leaf.signature_key, h32(&kp["signature_public_key"]));
        assert_eq!(
            HpkeSecretKey::from_bytes(h32(&kp["init_private_key"])).public_key(),
            parsed.key_package.init_key
        );
        assert_eq!(
            HpkeSecretKey::from_bytes(h32(&kp["encryption_private_key"])).public_key(),
            leaf.encryption_key
        );
        assert_eq!(
            SignatureSecretKey::from_bytes(h32(&kp["signature_private_key"])).public_key(),
            leaf.signature_key
        );
        assert!(parsed.key_package.is_last_resort());
        // The lifetimes have expired by the wall clock; far in the future they fail.
        assert!(
            parse_key_package_event(&ev, &ValidationPolicy::at(now(&d) + 365 * 86_400)).is_err()
        );
    }
}

#[test]
fn key_packages_rebuild_byte_for_byte_from_their_recorded_inputs() {
    let d = load();
    for (name, kp) in d["key_packages"].as_object().unwrap() {
        let caps = &kp["capabilities"];
        let capabilities = Capabilities {
            versions: u16s(&caps["versions"])
                .into_iter()
                .map(ProtocolVersion)
                .collect(),
            cipher_suites: u16s(&caps["ciphersuites"])
                .into_iter()
                .map(CipherSuite)
                .collect(),
            extensions: u16s(&caps["extensions"])
                .into_iter()
                .map(ExtensionType)
                .collect(),
            proposals: u16s(&caps["proposals"])
                .into_iter()
                .map(ProposalType)
                .collect(),
            credentials: u16s(&caps["credentials"])
                .into_iter()
                .map(CredentialType)
                .collect(),
        };
        let signer = SignatureSecretKey::from_bytes(h32(&kp["signature_private_key"]));
        let leaf = UnsignedLeafNode {
            encryption_key: h32(&kp["encryption_public_key"]),
            signature_key: h32(&kp["signature_public_key"]),
            credential: Credential::basic(kp["credential_identity"].as_str().unwrap().as_bytes())
                .unwrap(),
            capabilities,
            leaf_node_source: LeafNodeSource::KeyPackage {
                lifetime: Lifetime {
                    not_before: kp["lifetime"]["not_before"].as_u64().unwrap(),
                    not_after: kp["lifetime"]["not_after"].as_u64().unwrap(),
                },
            },
            extensions: vec![],
        }
        .sign(&signer, &[], 0)
        .unwrap();
        let rebuilt = KeyPackage::sign(
            h32(&kp["init_public_key"]),
            leaf,
            vec![Extension::last_resort()],
            &signer,
        )
        .unwrap();
        let bytes = nipee_codec::Encode::to_bytes(&rebuilt).unwrap();
        assert_eq!(
            hex::encode(bytes),
            kp["event"]["content"].as_str().unwrap(),
            "{name}"
        );
    }
}

#[test]
fn key_package_events_with_a_foreign_credential_or_bad_tags_are_rejected() {
    let d = load();
    let policy = ValidationPolicy::at(now(&d));
    let kp = &d["key_packages"]["bob"]["event"];
    let original = event(kp);
    // carol republishes bob's KeyPackage under her own key: the credential names bob.
    let carol = Keys::new(
        SecretKey::from_hex(d["identities"]["carol"]["secret_key"].as_str().unwrap()).unwrap(),
    );
    let stolen = nipee_nostr::EventBuilder::new(Kind::MLS_KEY_PACKAGE, original.content())
        .tags(original.tags().clone().into_vec())
        .sign(&carol, original.created_at())
        .unwrap();
    let err = parse_key_package_event(&stolen, &policy).unwrap_err();
    assert!(matches!(err, Error::CredentialMismatch { .. }), "{err}");
    assert_eq!(err.kind().as_str(), "invalid");

    let bob = Keys::new(
        SecretKey::from_hex(d["identities"]["bob"]["secret_key"].as_str().unwrap()).unwrap(),
    );
    let resign = |tags: Vec<Vec<&str>>, content: &str| {
        nipee_nostr::EventBuilder::new(Kind::MLS_KEY_PACKAGE, content)
            .tags(tags.into_iter().map(nipee_nostr::Tag::new))
            .sign(&bob, original.created_at())
            .unwrap()
    };
    let content = original.content();
    // The canonical tags of the issue parse too.
    let ok = resign(
        vec![
            vec!["mls_protocol_version", "1.0"],
            vec!["ciphersuite", "0x0001"],
            vec!["extensions", "0x000a", "0xf2ee"],
            vec!["client", "nipee"],
            vec!["relays", "wss://r.example"],
        ],
        content,
    );
    let p = parse_key_package_event(&ok, &policy).unwrap();
    assert_eq!(p.client.as_deref(), Some("nipee"));
    assert_eq!(p.extensions, vec![ExtensionType(10), ExtensionType(0xf2ee)]);
    for (tags, what) in [
        (vec![vec!["mls_ciphersuite", "1"]], "no protocol version"),
        (
            vec![
                vec!["mls_protocol_version", "2.0"],
                vec!["mls_ciphersuite", "1"],
            ],
            "version 2.0",
        ),
        (vec![vec!["mls_protocol_version", "1.0"]], "no cipher suite"),
        (
            vec![
                vec!["mls_protocol_version", "1.0"],
                vec!["ciphersuite", "0x0002"],
            ],
            "suite 2",
        ),
        (
            vec![
                vec!["mls_protocol_version", "1.0"],
                vec!["ciphersuite", "1"],
                vec!["mls_extensions", "Bogus"],
            ],
            "unknown extension name",
        ),
    ] {
        let e = parse_key_package_event(&resign(tags, content), &policy);
        assert!(e.is_err(), "{what}");
    }
    let tags = vec![
        vec!["mls_protocol_version", "1.0"],
        vec!["ciphersuite", "1"],
    ];
    for bad in ["zz", &content[..content.len() - 2], &format!("{content}00")] {
        let e = parse_key_package_event(&resign(tags.clone(), bad), &policy).unwrap_err();
        assert_eq!(e.kind().as_str(), "malformed", "{e}");
    }
    // A tampered KeyPackage (one byte of the signature flipped) fails validation.
    let mut raw = hex::decode(content).unwrap();
    let last = raw.len() - 1;
    raw[last] ^= 1;
    let e = parse_key_package_event(&resign(tags, &hex::encode(raw)), &policy).unwrap_err();
    assert_eq!(e.kind().as_str(), "invalid", "{e}");
}

#[test]
fn credential_identity_accepts_hex_and_raw_and_nothing_else() {
    let pk = "c6047f9441ed7d6d3045406e95c07cd85c778e4b8cef3ca7abac09b95c709ee5";
    let want = PublicKey::from_hex(pk).unwrap();
    assert_eq!(identity_to_pubkey(pk.as_bytes()).unwrap(), want);
    assert_eq!(identity_to_pubkey(&hex::decode(pk).unwrap()).unwrap(), want);
    assert!(identity_to_pubkey(pk.to_uppercase().as_bytes()).is_err());
    assert!(identity_to_pubkey(&[0u8; 33]).is_err());
    assert!(identity_to_pubkey(b"").is_err());
}

#[test]
fn nostr_group_data_decodes_and_reencodes_byte_for_byte() {
    let d = load();
    let ext = &d["group"]["nostr_group_data_extension"];
    assert_eq!(ext["extension_type"].as_u64(), Some(0xf2ee));
    let bytes = h(&ext["extension_data"]);
    let dec = &ext["decoded"];
    let data = NostrGroupData::decode(&bytes).unwrap();
    assert_eq!(data.nostr_group_id, h32(&dec["nostr_group_id"]));
    assert_eq!(data.name, dec["name"].as_str().unwrap());
    assert_eq!(data.description, dec["description"].as_str().unwrap());
    let admins: Vec<String> = data.admins.iter().map(PublicKey::to_hex).collect();
    let want: Vec<String> = dec["admins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(admins, want);
    let relays: Vec<&str> = dec["relays"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(data.relays, relays);
    assert!(dec["image_url"].is_null() && dec["image_key"].is_null());
    assert_eq!(data.image, GroupImage::None);
    // Encode the decoded fields from scratch.
    let built = NostrGroupData::new(
        h32(&dec["nostr_group_id"]),
        dec["name"].as_str().unwrap(),
        dec["description"].as_str().unwrap(),
        want.iter()
            .map(|a| PublicKey::from_hex(a).unwrap())
            .collect(),
        relays.iter().map(|s| s.to_string()).collect(),
    );
    assert_eq!(built.encode().unwrap(), bytes);
    for e in d["group"]["epochs"].as_array().unwrap() {
        assert_eq!(h(&e["nostr_group_data_extension"]), bytes);
    }
}

#[test]
fn nostr_group_data_rejects_bad_input_and_reads_the_later_image_layout() {
    let d = load();
    let bytes = h(&d["group"]["nostr_group_data_extension"]["extension_data"]);
    for n in 0..bytes.len() {
        assert!(
            NostrGroupData::decode(&bytes[..n]).is_err(),
            "truncated at {n}"
        );
    }
    let mut longer = bytes.clone();
    longer.extend_from_slice(&[0, 0]);
    assert!(
        NostrGroupData::decode(&longer).is_err(),
        "two trailing vectors"
    );
    // image_hash | image_key | image_nonce (one more vector after the v0.43 fields).
    let mut later = bytes[..bytes.len() - 2].to_vec();
    later.extend_from_slice(&[2, 0xaa, 0xbb, 1, 0xcc, 1, 0xdd]);
    let v = NostrGroupData::decode(&later).unwrap();
    assert_eq!(
        v.image,
        GroupImage::Encrypted {
            hash: vec![0xaa, 0xbb],
            key: vec![0xcc],
            nonce: vec![0xdd]
        }
    );
    assert_eq!(v.encode().unwrap(), later);
    // An admin key that is not lower-case hex.
    let upper = String::from_utf8(bytes.clone()).unwrap_or_default();
    let _ = upper;
    let pos = bytes.windows(4).position(|w| w == b"79be").unwrap();
    let mut bad = bytes.clone();
    bad[pos] = b'7';
    bad[pos + 1] = b'9';
    bad[pos + 2] = b'B';
    let e = NostrGroupData::decode(&bad).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Malformed {
                field: "admin_pubkey",
                ..
            }
        ),
        "{e}"
    );
}

fn group_steps(d: &Value) -> impl Iterator<Item = &Value> {
    d["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| matches!(s["action"].as_str(), Some("application_message" | "commit")))
}

#[test]
fn every_kind_445_envelope_opens_with_its_epoch_key_only_and_reencrypts_exactly() {
    let d = load();
    let gid = h32(&d["group"]["nostr_group_id"]);
    let epochs = d["group"]["epochs"].as_array().unwrap();
    let identities: Vec<String> = d["identities"]
        .as_object()
        .unwrap()
        .values()
        .map(|i| i["pubkey"].as_str().unwrap().to_owned())
        .collect();
    let mut signers = std::collections::HashSet::new();
    let mut count = 0;
    for s in group_steps(&d) {
        count += 1;
        let ev = event(&s["event"]);
        assert_eq!(ev.tags().len(), 1);
        assert_eq!(group_event_group_id(&ev).unwrap(), gid);
        assert!(signers.insert(ev.pubkey()), "throwaway keys are fresh");
        assert!(!identities.contains(&ev.pubkey().to_hex()));
        let n = s["epoch"].as_u64().unwrap();
        let e = epoch(&d, n);
        let key = GroupEventKey::from_exporter_secret(&h32(&s["exporter_secret"])).unwrap();
        assert_eq!(h32(&e["exporter_secret"]), h32(&s["exporter_secret"]));
        assert_eq!(
            key.public_key().to_hex(),
            e["exporter_pubkey"].as_str().unwrap()
        );
        assert_eq!(
            key.conversation_key().as_bytes(),
            &h32(&e["nip44_conversation_key"])
        );
        let pt = key.decrypt(ev.content()).unwrap();
        assert_eq!(pt, h(&s["mls_message"]), "step {}", s["index"]);
        assert_eq!(&pt[..4], &[0, 1, 0, 2], "PrivateMessage");
        assert!(matches!(
            MlsMessage::from_bytes(&pt).unwrap().body,
            MlsMessageBody::PrivateMessage(_)
        ));
        for other in epochs.iter().filter(|o| o["epoch"].as_u64() != Some(n)) {
            let k = GroupEventKey::from_exporter_secret(&h32(&other["exporter_secret"])).unwrap();
            assert!(k.decrypt(ev.content()).is_err());
        }
        let raw = base64::engine::general_purpose::STANDARD
            .decode(ev.content())
            .unwrap();
        let nonce: [u8; 32] = raw[1..33].try_into().unwrap();
        let again =
            nip44::encrypt_with_nonce(key.conversation_key(), &pt, &nonce, LengthPrefix::Extended)
                .unwrap();
        assert_eq!(again, ev.content());
    }
    assert_eq!(count, 13);
}

#[test]
fn kind_445_envelopes_with_bad_tags_are_rejected() {
    let d = load();
    let s = group_steps(&d).next().unwrap();
    let ev = event(&s["event"]);
    let k = Keys::generate(&mut rand::rng());
    let gid = ev.tags().group().unwrap().to_owned();
    let mk = |tags: Vec<Vec<String>>, kind: u16| {
        nipee_nostr::EventBuilder::new(Kind::new(kind), ev.content())
            .tags(tags.into_iter().map(nipee_nostr::Tag::new))
            .sign(&k, ev.created_at())
            .unwrap()
    };
    assert!(group_event_group_id(&mk(vec![vec!["h".into(), gid.clone()]], 445)).is_ok());
    for (tags, kind) in [
        (vec![], 445),
        (
            vec![
                vec!["h".to_owned(), gid.clone()],
                vec!["h".to_owned(), gid.clone()],
            ],
            445,
        ),
        (vec![vec!["h".to_owned(), gid.to_uppercase()]], 445),
        (vec![vec!["h".to_owned(), gid[..62].to_owned()]], 445),
        (vec![vec!["h".to_owned()]], 445),
        (vec![vec!["h".to_owned(), gid.clone()]], 444),
    ] {
        assert!(group_event_group_id(&mk(tags, kind)).is_err());
    }
    // Garbage content: a typed error, not a panic.
    let key = GroupEventKey::from_exporter_secret(&h32(&s["exporter_secret"])).unwrap();
    for junk in ["", "AAAA", "not base64!", &"A".repeat(200)] {
        assert!(key.decrypt(junk).is_err());
    }
}

#[test]
fn inner_rumors_rebuild_exactly_and_enforce_the_author_rule() {
    let d = load();
    let mut n = 0;
    for s in d["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["action"] == "application_message")
    {
        n += 1;
        let ie = &s["inner_event"];
        let tags: Tags = ie["tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                nipee_nostr::Tag::new(
                    t.as_array()
                        .unwrap()
                        .iter()
                        .map(|x| x.as_str().unwrap().to_owned()),
                )
            })
            .collect();
        let author = PublicKey::from_hex(ie["pubkey"].as_str().unwrap()).unwrap();
        let rumor = UnsignedEvent::new(
            author,
            Timestamp::from_secs(ie["created_at"].as_u64().unwrap()),
            Kind::new(u16::try_from(ie["kind"].as_u64().unwrap()).unwrap()),
            tags,
            ie["content"].as_str().unwrap(),
        );
        assert_eq!(rumor.id().to_hex(), ie["id"].as_str().unwrap());
        let data = s["application_data"].as_str().unwrap();
        assert_eq!(nipee::encode_inner_event(&rumor).unwrap(), data.as_bytes());
        assert_eq!(decode_inner_event(data.as_bytes(), &author).unwrap(), rumor);
        let someone_else = Keys::generate(&mut rand::rng()).public_key();
        let e = decode_inner_event(data.as_bytes(), &someone_else).unwrap_err();
        assert!(matches!(e, Error::InnerEventAuthor { .. }));
    }
    assert_eq!(n, 10);
}

#[test]
fn signed_inner_events_and_inner_events_with_h_tags_are_rejected() {
    let keys = Keys::generate(&mut rand::rng());
    let pk = keys.public_key();
    let signed = nipee_nostr::EventBuilder::new(Kind::new(9), "hi")
        .sign(&keys, Timestamp::from_secs(1))
        .unwrap();
    let e = decode_inner_event(signed.to_json().as_bytes(), &pk).unwrap_err();
    assert!(matches!(e, Error::InnerEvent { .. }), "{e}");
    let with_h = nipee_nostr::EventBuilder::new(Kind::new(9), "hi")
        .tag(nipee_nostr::Tag::group(&"ab".repeat(32)))
        .build(pk, Timestamp::from_secs(1));
    assert!(nipee::encode_inner_event(&with_h).is_err());
    let e = decode_inner_event(with_h.to_json().as_bytes(), &pk).unwrap_err();
    assert!(matches!(e, Error::InnerEvent { .. }), "{e}");
    for junk in [&b"\xff\xfe"[..], b"{}", b"[]", b"null"] {
        assert!(decode_inner_event(junk, &pk).is_err());
    }
}

fn keys_of(d: &Value, name: &str) -> Keys {
    Keys::new(SecretKey::from_hex(d["identities"][name]["secret_key"].as_str().unwrap()).unwrap())
}

#[test]
fn welcomes_unwrap_for_their_recipient_only_and_rebuild_their_rumor() {
    let d = load();
    let names = ["alice", "bob", "carol", "dave"];
    let mut n = 0;
    for s in d["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["action"] == "welcome")
    {
        n += 1;
        let recipient = s["recipient"].as_str().unwrap();
        let wrap = event(&s["event"]);
        assert_eq!(wrap.kind(), Kind::GIFT_WRAP);
        let opened = open_welcome(&keys_of(&d, recipient), &wrap).unwrap();
        assert_eq!(opened.sender, keys_of(&d, "alice").public_key());
        assert_eq!(opened.rumor_id.to_hex(), s["rumor"]["id"].as_str().unwrap());
        assert_eq!(
            opened.rumor.key_package_event_id,
            EventId::from_hex(s["key_package_event_id"].as_str().unwrap()).unwrap()
        );
        assert_eq!(opened.rumor.relays, ["ws://127.0.0.1:7777"]);
        let rebuilt = opened.rumor.to_rumor(
            opened.sender,
            Timestamp::from_secs(s["rumor"]["created_at"].as_u64().unwrap()),
        );
        assert_eq!(rebuilt.id(), opened.rumor_id);
        assert_eq!(&opened.rumor.mls_message[..4], &[0, 1, 0, 3]);
        for other in names.iter().filter(|o| **o != recipient) {
            let e = open_welcome(&keys_of(&d, other), &wrap).unwrap_err();
            assert!(matches!(e, Error::NotForUs { .. }), "{other}: {e}");
        }
        // A rumor of the wrong kind or without an e tag is rejected.
        let mut r = rebuilt.clone();
        r.kind = Kind::new(9);
        assert!(WelcomeRumor::from_rumor(&r).is_err());
        let mut r = rebuilt.clone();
        r.tags = Tags::new();
        assert!(matches!(
            WelcomeRumor::from_rumor(&r),
            Err(Error::MissingTag { .. })
        ));
        let mut r = rebuilt;
        r.content = "0001000500".into();
        assert!(WelcomeRumor::from_rumor(&r).is_err());
    }
    assert_eq!(n, 2);
}

#[test]
fn welcome_group_secrets_and_key_schedule_match_the_recorded_values() {
    let d = load();
    let p = RustCryptoSuite1::new();
    for s in d["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["action"] == "welcome")
    {
        let recipient = s["recipient"].as_str().unwrap();
        let kp = &d["key_packages"][recipient];
        let opened = open_welcome(&keys_of(&d, recipient), &event(&s["event"])).unwrap();
        let welcome = match MlsMessage::from_bytes(&opened.rumor.mls_message)
            .unwrap()
            .body
        {
            MlsMessageBody::Welcome(w) => w,
            other => panic!("not a Welcome: {other:?}"),
        };
        let init = HpkePrivateKey::from_slice(&h(&kp["init_private_key"]));
        let gs = welcome
            .decrypt_group_secrets(&p, &h(&kp["key_package_ref"]), &init)
            .unwrap();
        assert_eq!(
            gs.joiner_secret.as_bytes(),
            h(&s["group_secrets"]["joiner_secret"])
        );
        match s["group_secrets"]["path_secret"].as_str() {
            Some(ps) => assert_eq!(
                gs.path_secret.as_ref().unwrap().as_bytes(),
                hex::decode(ps).unwrap()
            ),
            None => assert!(gs.path_secret.is_none()),
        }
        let ws = welcome_secret(&p, &gs.joiner_secret, None).unwrap();
        let gi = welcome.decrypt_group_info(&p, &ws).unwrap();
        let n = s["epoch_after"].as_u64().unwrap();
        let gc = gi.group_context.encode().unwrap();
        assert_eq!(gc, h(&epoch(&d, n)["group_context"]));
        let secrets = EpochSecrets::from_joiner_secret(&p, gs.joiner_secret, None, &gc).unwrap();
        assert_eq!(
            secrets.epoch_authenticator.as_bytes(),
            h(&s["epoch_authenticator_after"])
        );
        let exp = secrets
            .export(&p, EXPORTER_LABEL, EXPORTER_CONTEXT, 32)
            .unwrap();
        assert_eq!(exp.as_bytes(), h(&s["exporter_secret_after"]));
        let data = gi
            .group_context
            .extensions
            .iter()
            .find(|e| e.extension_type.0 == 0xf2ee)
            .unwrap();
        assert_eq!(
            data.data,
            h(&d["group"]["nostr_group_data_extension"]["extension_data"])
        );
        // Another member's init key does not open it.
        let other = if recipient == "bob" { "carol" } else { "bob" };
        let wrong = HpkePrivateKey::from_slice(&h(&d["key_packages"][other]["init_private_key"]));
        assert!(
            welcome
                .decrypt_group_secrets(&p, &h(&kp["key_package_ref"]), &wrong)
                .is_err()
        );
    }
}
