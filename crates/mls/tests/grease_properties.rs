//! Property test of the unknown-value rules on the group paths (RFC 9420 §12.4.3, §13,
//! §13.5), over seeded random cases (each failure names its case's seed):
//!
//! * Welcomes from our generator, for joiners whose KeyPackages come from the official
//!   passive-client vectors or from our generator, with GREASE and unknown values inserted
//!   in every allowed place of those KeyPackages (re-signed) and of the Welcome's GroupInfo
//!   (re-signed by its signer): every joiner joins, to the same group as from the untouched
//!   Welcome. One GREASE value in a forbidden place of the GroupInfo is refused with the
//!   typed error of its rule.
//! * Commits from our generator adding such KeyPackages, with our own GREASE on or off, as
//!   PublicMessages or PrivateMessages: every member accepts them and all agree; a GREASE
//!   proposal type inserted into a PublicMessage commit fails to parse, naming the field.
//! * The official vectors' own messages: every passive-client commit and proposal with a
//!   GREASE proposal type fails to parse the same way, and every passive-client Welcome
//!   with a GREASE GroupContext extension is refused as unsupported. Their GroupInfos and
//!   commits cannot be re-signed (the vectors do not hold the signers' keys), so GREASE in
//!   their allowed places is tested on our own messages only.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::LazyLock;

use common::rewrap::{Opener, rewrap, with_proposal_type};
use common::{NOW, signer_of};
use nipee_keypackage::{
    CipherSuite, CredentialType, Extension, ExtensionType, GREASE_VALUES, KeyPackage,
    KeyPackageBundle, KeyPackageOptions, ProposalType, ProtocolVersion, SignatureSecretKey,
    ValidationPolicy,
};
use nipee_mls::hazmat::welcome::GroupInfo;
use nipee_mls::{
    CommitOptions, Error, Group, GroupConfig, GroupId, HandshakeFormat, HpkePrivateKey, JoinKeys,
    MlsMessageIn, Proposal, RequiredCapabilities, RustCryptoSuite1, Secret,
};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde_json::Value;

/// How many random cases each property runs.
const WELCOME_CASES: u64 = 200;
const COMMIT_CASES: u64 = 200;

const PASSIVE: [&str; 3] = [
    include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../vectors/mls/passive-client-welcome.json"
    )),
    include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../vectors/mls/passive-client-handling-commit.json"
    )),
    include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../vectors/mls/passive-client-random.json"
    )),
];

/// The suite-1 cases of the passive-client vectors.
static OFFICIAL: LazyLock<Vec<Value>> = LazyLock::new(|| {
    let mut out = vec![];
    for file in PASSIVE {
        let cases: Vec<Value> = serde_json::from_str(file).unwrap();
        out.extend(cases.into_iter().filter(|c| c["cipher_suite"] == 1));
    }
    assert_eq!(out.len(), 22);
    out
});

fn hex(v: &Value, k: &str) -> Vec<u8> {
    hex::decode(v[k].as_str().unwrap()).unwrap()
}

/// The joiner of an official case: its KeyPackage and private keys.
fn official_keys(c: &Value) -> JoinKeys {
    let nipee_mls::hazmat::framing::MlsMessageBody::KeyPackage(kp) =
        nipee_mls::hazmat::framing::MlsMessage::from_bytes(&hex(c, "key_package"))
            .unwrap()
            .body
    else {
        panic!("a KeyPackage");
    };
    JoinKeys {
        key_package: *kp,
        init_secret: HpkePrivateKey::new(hex(c, "init_priv")),
        encryption_secret: HpkePrivateKey::new(hex(c, "encryption_priv")),
        signature_secret: SignatureSecretKey::from_slice(&hex(c, "signature_priv")).unwrap(),
    }
}

fn official_psks(c: &Value) -> Vec<(Vec<u8>, Secret)> {
    c["external_psks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (hex(p, "psk_id"), Secret::new(hex(p, "psk"))))
        .collect()
}

/// GREASE, or an unknown value that is not (both take the same path, §13.5).
fn unknown(rng: &mut StdRng) -> u16 {
    if rng.random_bool(0.75) {
        GREASE_VALUES[rng.random_range(0..GREASE_VALUES.len())]
    } else {
        rng.random_range(0xFF00..=0xFFFF)
    }
}

fn data(rng: &mut StdRng) -> Vec<u8> {
    (0..rng.random_range(0..40)).map(|_| rng.random()).collect()
}

fn put<T>(rng: &mut StdRng, list: &mut Vec<T>, item: T) {
    let at = rng.random_range(0..=list.len());
    list.insert(at, item);
}

/// GREASE and unknown values in every place a KeyPackage may hold them (each capability
/// list, a listed leaf extension, an unlisted KeyPackage extension), 1 to 3 per place,
/// re-signed with `key`.
fn grease_key_package(rng: &mut StdRng, kp: &KeyPackage, key: &SignatureSecretKey) -> KeyPackage {
    let mut kp = kp.clone();
    for _ in 0..rng.random_range(1..=3) {
        let values: [u16; 5] = core::array::from_fn(|_| unknown(rng));
        let c = &mut kp.leaf_node.capabilities;
        put(rng, &mut c.versions, ProtocolVersion(values[0]));
        put(rng, &mut c.cipher_suites, CipherSuite(values[1]));
        put(rng, &mut c.extensions, ExtensionType(values[2]));
        put(rng, &mut c.proposals, ProposalType(values[3]));
        put(rng, &mut c.credentials, CredentialType(values[4]));
        let t = ExtensionType(unknown(rng));
        if !kp
            .leaf_node
            .extensions
            .iter()
            .any(|e| e.extension_type == t)
        {
            kp.leaf_node.capabilities.extensions.push(t);
            let e = Extension::new(t, data(rng));
            put(rng, &mut kp.leaf_node.extensions, e);
        }
        let t = ExtensionType(unknown(rng));
        if !kp.extensions.iter().any(|e| e.extension_type == t) {
            let e = Extension::new(t, data(rng));
            put(rng, &mut kp.extensions, e);
        }
    }
    let leaf = kp.leaf_node.to_unsigned().sign(key, &[], 0).unwrap();
    KeyPackage::sign(kp.init_key, leaf, kp.extensions, key).unwrap()
}

fn lenient(format: HandshakeFormat) -> GroupConfig {
    let mut c = common::config(format);
    // The official KeyPackages' lifetimes have long expired.
    c.key_package_policy = ValidationPolicy::for_fixed_vectors();
    c
}

fn random_config(rng: &mut StdRng) -> GroupConfig {
    let format = if rng.random_bool(0.5) {
        HandshakeFormat::Public
    } else {
        HandshakeFormat::Private
    };
    let mut c = lenient(format);
    c.grease = rng.random_bool(0.7);
    c.grease_leaf_extensions = c.grease && rng.random_bool(0.5);
    c
}

/// One joiner: from an official case (its PSKs too) or generated, its KeyPackage greased.
struct Joiner {
    keys: JoinKeys,
    psks: Vec<(Vec<u8>, Secret)>,
    official: bool,
}

impl Joiner {
    fn new(rng: &mut StdRng, name: &str) -> Self {
        let official = rng.random_bool(0.5);
        let (mut keys, psks) = if official {
            let c = &OFFICIAL[rng.random_range(0..OFFICIAL.len())];
            (official_keys(c), official_psks(c))
        } else {
            let b = KeyPackageBundle::generate(
                name.as_bytes(),
                &KeyPackageOptions::new(NOW),
                &mut StdRng::seed_from_u64(rng.random()),
            )
            .unwrap();
            (JoinKeys::from(b), vec![])
        };
        if rng.random_bool(0.8) {
            keys.key_package = grease_key_package(rng, &keys.key_package, &keys.signature_secret);
        }
        Joiner {
            keys,
            psks,
            official,
        }
    }

    fn keys(&self) -> JoinKeys {
        JoinKeys {
            key_package: self.keys.key_package.clone(),
            init_secret: self.keys.init_secret.clone(),
            encryption_secret: self.keys.encryption_secret.clone(),
            signature_secret: SignatureSecretKey::from_bytes(
                *self.keys.signature_secret.expose_secret(),
            ),
        }
    }

    fn join(&self, cfg: &GroupConfig, welcome: &[u8]) -> nipee_mls::Result<Group> {
        Group::join(
            RustCryptoSuite1::new(),
            cfg.clone(),
            welcome,
            self.keys(),
            None,
            self.psks.clone(),
        )
    }
}

/// Our group with the joiners added in one commit (the two official KeyPackages of one case
/// are never added together: they share keys). Returns the creator, her signature key and
/// the Welcome.
fn welcome_for(rng: &mut StdRng, joiners: &[Joiner]) -> (Group, SignatureSecretKey, Vec<u8>) {
    let b = KeyPackageBundle::generate(
        b"alice",
        &KeyPackageOptions::new(NOW),
        &mut StdRng::seed_from_u64(rng.random()),
    )
    .unwrap();
    let signer = signer_of(&b);
    let mut alice = Group::create(
        RustCryptoSuite1::new(),
        random_config(rng),
        GroupId::new(b"grease properties".to_vec()),
        b,
        vec![],
    )
    .unwrap();
    let out = alice
        .commit(CommitOptions {
            proposals: joiners
                .iter()
                .map(|j| Proposal::Add(Box::new(j.keys.key_package.clone())))
                .collect(),
            force_path: rng.random_bool(0.5),
            ..CommitOptions::default()
        })
        .unwrap();
    alice.merge_pending_commit().unwrap();
    (alice, signer, out.welcome.unwrap())
}

fn distinct_joiners(rng: &mut StdRng) -> Vec<Joiner> {
    let mut joiners: Vec<Joiner> = vec![];
    while joiners.len() < rng.random_range(1..=3) {
        let j = Joiner::new(rng, &format!("j{}", joiners.len()));
        let key = j.keys.key_package.leaf_node.signature_key;
        if !joiners
            .iter()
            .any(|o| o.keys.key_package.leaf_node.signature_key == key)
        {
            joiners.push(j);
        }
    }
    joiners
}

fn insert_group_info_extensions(rng: &mut StdRng, gi: &mut GroupInfo) {
    for _ in 0..rng.random_range(1..=4) {
        let t = ExtensionType(unknown(rng));
        if !gi.extensions.iter().any(|e| e.extension_type == t) {
            let e = Extension::new(t, data(rng));
            put(rng, &mut gi.extensions, e);
        }
    }
}

/// RFC 9420 §12.4.3 and §13: GREASE and unknown values in `GroupInfo.extensions` and in the
/// joiners' KeyPackages (capabilities, leaf and KeyPackage extensions) are ignored: each
/// joiner joins the same group from the changed Welcome as from the original.
#[test]
fn welcomes_with_grease_in_every_allowed_place_join_to_the_same_group() {
    let mut official_joiners = 0;
    for case in 0..WELCOME_CASES {
        let rng = &mut StdRng::seed_from_u64(1000 + case);
        let joiners = distinct_joiners(rng);
        official_joiners += joiners.iter().filter(|j| j.official).count();
        let (alice, signer, welcome) = welcome_for(rng, &joiners);
        let openers: Vec<Opener<'_>> = joiners.iter().map(|j| Opener::from(&j.keys)).collect();
        let changed = rewrap(&welcome, &openers, &joiners[0].psks, Some(&signer), |gi| {
            insert_group_info_extensions(rng, gi)
        });
        let cfg = lenient(HandshakeFormat::Public);
        for (k, j) in joiners.iter().enumerate() {
            let plain = j
                .join(&cfg, &welcome)
                .unwrap_or_else(|e| panic!("case {case}, joiner {k}: {e}"));
            let greased = j
                .join(&cfg, &changed)
                .unwrap_or_else(|e| panic!("case {case}, joiner {k}, GREASE: {e}"));
            assert_eq!(
                greased.epoch_authenticator(),
                plain.epoch_authenticator(),
                "case {case}"
            );
            assert_eq!(greased.context(), alice.context(), "case {case}");
            assert_eq!(greased.members(), alice.members(), "case {case}");
        }
    }
    assert!(official_joiners > 0);
}

/// Where GREASE is forbidden in a Welcome's GroupInfo, and the error of the rule.
#[derive(Debug, Clone, Copy)]
enum Forbidden {
    /// §13.5 "`GroupContext.extensions`", §13 "MUST verify that it supports every
    /// extension in the GroupContext".
    GroupContextExtension,
    /// A `required_capabilities` type no client supports (§11.1 with §13.5).
    RequiredExtension,
    RequiredProposal,
    RequiredCredential,
    /// §13.4: one type twice in `GroupInfo.extensions`.
    DuplicateGroupInfoExtension,
}

fn forbid(gi: &mut GroupInfo, f: Forbidden, v: u16) -> impl Fn(&Error) -> bool + use<> {
    let gc = &mut gi.group_context.extensions;
    let required = |r: RequiredCapabilities| r.to_extension().unwrap();
    let what = match f {
        Forbidden::GroupContextExtension => {
            gc.push(Extension::new(ExtensionType(v), vec![]));
            "GroupContext extension"
        }
        Forbidden::RequiredExtension => {
            gc.push(required(RequiredCapabilities {
                extension_types: vec![ExtensionType(v)],
                ..RequiredCapabilities::default()
            }));
            "required extension type"
        }
        Forbidden::RequiredProposal => {
            gc.push(required(RequiredCapabilities {
                proposal_types: vec![ProposalType(v)],
                ..RequiredCapabilities::default()
            }));
            "required proposal type"
        }
        Forbidden::RequiredCredential => {
            gc.push(required(RequiredCapabilities {
                credential_types: vec![CredentialType(v)],
                ..RequiredCapabilities::default()
            }));
            "required credential type"
        }
        Forbidden::DuplicateGroupInfoExtension => {
            gi.extensions
                .retain(|e| e.extension_type != ExtensionType(v));
            gi.extensions
                .push(Extension::new(ExtensionType(v), vec![1]));
            gi.extensions
                .push(Extension::new(ExtensionType(v), vec![2]));
            "duplicate"
        }
    };
    move |e: &Error| match e {
        Error::NotSupportedByUs { what: w, value } => *w == what && *value == v,
        Error::MalformedField {
            field: "extensions",
            reason: "duplicate extension type",
        } => what == "duplicate",
        _ => false,
    }
}

const FORBIDDEN: [Forbidden; 5] = [
    Forbidden::GroupContextExtension,
    Forbidden::RequiredExtension,
    Forbidden::RequiredProposal,
    Forbidden::RequiredCredential,
    Forbidden::DuplicateGroupInfoExtension,
];

/// One GREASE value in a forbidden place of the GroupInfo (on top of allowed ones, the
/// GroupInfo re-signed by its signer) makes every joiner refuse the Welcome with the typed
/// error of that rule.
#[test]
fn welcomes_with_grease_in_a_forbidden_place_are_refused_with_the_error_of_the_rule() {
    for case in 0..WELCOME_CASES {
        let rng = &mut StdRng::seed_from_u64(2000 + case);
        let joiners = distinct_joiners(rng);
        let (_, signer, welcome) = welcome_for(rng, &joiners);
        let openers: Vec<Opener<'_>> = joiners.iter().map(|j| Opener::from(&j.keys)).collect();
        let f = FORBIDDEN[rng.random_range(0..FORBIDDEN.len())];
        let v = GREASE_VALUES[rng.random_range(0..GREASE_VALUES.len())];
        let mut expected = None;
        let changed = rewrap(&welcome, &openers, &[], Some(&signer), |gi| {
            insert_group_info_extensions(rng, gi);
            expected = Some(forbid(gi, f, v));
        });
        let expected = expected.unwrap();
        for j in &joiners {
            let err = j
                .join(&lenient(HandshakeFormat::Public), &changed)
                .err()
                .unwrap_or_else(|| panic!("case {case}: {f:?} 0x{v:04x} was accepted"));
            assert!(expected(&err), "case {case}: {f:?} 0x{v:04x}: {err:?}");
        }
    }
}

/// RFC 9420 §13: a commit adding KeyPackages with GREASE everywhere allowed, from a
/// committer whose own GREASE is on or off, framed as PublicMessage or PrivateMessage, is
/// accepted by every member, and all agree on the new epoch; so is a later commit of
/// another member, whose path leaf carries its own GREASE. The same commit as a
/// PublicMessage with a GREASE proposal type put in its list fails to parse (§13.5:
/// "`Proposal.proposal_type`").
#[test]
fn commits_with_grease_are_accepted_by_every_member_and_a_grease_proposal_type_is_not() {
    let mut patched = 0;
    for case in 0..COMMIT_CASES {
        let rng = &mut StdRng::seed_from_u64(3000 + case);
        let joiners = distinct_joiners(rng);
        let (mut alice, _, welcome) = welcome_for(rng, &joiners);
        let mut members: Vec<Group> = joiners
            .iter()
            .map(|j| {
                Group::join(
                    RustCryptoSuite1::new(),
                    random_config(rng),
                    &welcome,
                    j.keys(),
                    None,
                    vec![],
                )
                .unwrap()
            })
            .collect();
        // A member (or alice) adds one more greased KeyPackage, with a path.
        let newcomer = loop {
            let j = Joiner::new(rng, "late");
            let key = j.keys.key_package.leaf_node.signature_key;
            if !alice.members().iter().any(|m| m.signature_key == key) {
                break j;
            }
        };
        let who = rng.random_range(0..=members.len());
        let committer = if who == members.len() {
            &mut alice
        } else {
            &mut members[who]
        };
        let out = committer
            .commit(CommitOptions {
                proposals: vec![Proposal::Add(Box::new(newcomer.keys.key_package.clone()))],
                force_path: rng.random_bool(0.5),
                ..CommitOptions::default()
            })
            .unwrap();
        committer.merge_pending_commit().unwrap();
        let expected = committer.epoch_authenticator().as_bytes().to_vec();
        if MlsMessageIn::parse(&out.commit).unwrap().wire_format()
            == nipee_mls::WireFormat::PublicMessage
        {
            let v = GREASE_VALUES[rng.random_range(0..GREASE_VALUES.len())];
            let err = MlsMessageIn::parse(&with_proposal_type(&out.commit, v)).unwrap_err();
            assert!(
                matches!(err, Error::UnknownValue { field: "proposal_type", value } if value == u64::from(v)),
                "case {case}: {err:?}"
            );
            patched += 1;
        }
        for (i, g) in std::iter::once(&mut alice)
            .chain(members.iter_mut())
            .enumerate()
        {
            if g.epoch_authenticator().as_bytes() != expected.as_slice() {
                g.process_message(&out.commit)
                    .unwrap_or_else(|e| panic!("case {case}, member {i}: {e}"));
                assert_eq!(g.epoch_authenticator().as_bytes(), expected.as_slice());
            }
        }
        let late = newcomer
            .join(&lenient(HandshakeFormat::Public), &out.welcome.unwrap())
            .unwrap_or_else(|e| panic!("case {case}, newcomer: {e}"));
        assert_eq!(late.epoch_authenticator().as_bytes(), expected.as_slice());

        // Another member's commit with a fresh path leaf (its own GREASE, if on).
        let next = rng.random_range(0..members.len());
        let out = members[next].self_update().unwrap();
        members[next].merge_pending_commit().unwrap();
        let expected = members[next].epoch_authenticator().as_bytes().to_vec();
        for (i, g) in std::iter::once(&mut alice)
            .chain(members.iter_mut())
            .enumerate()
        {
            if g.epoch_authenticator().as_bytes() != expected.as_slice() {
                g.process_message(&out.commit)
                    .unwrap_or_else(|e| panic!("case {case}, self-update, member {i}: {e}"));
            }
        }
    }
    assert!(
        patched > COMMIT_CASES / 4,
        "{patched} PublicMessage commits patched"
    );
}

/// The official vectors' messages: every passive-client commit and proposal (all
/// PublicMessages) with a GREASE proposal type fails to parse, naming the field; every
/// passive-client Welcome whose GroupContext gains a GREASE extension is refused as
/// unsupported before its (now wrong) signature is checked. Counted, so that a change of
/// the vectors shows.
#[test]
fn official_messages_with_grease_in_a_forbidden_place_are_refused() {
    let rng = &mut StdRng::seed_from_u64(4000);
    let (mut commits, mut proposals, mut welcomes) = (0, 0, 0);
    for c in OFFICIAL.iter() {
        for epoch in c["epochs"].as_array().unwrap() {
            let mut messages: Vec<Vec<u8>> = epoch["proposals"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| hex::decode(p.as_str().unwrap()).unwrap())
                .collect();
            proposals += messages.len();
            messages.push(hex(epoch, "commit"));
            commits += 1;
            for m in messages {
                MlsMessageIn::parse(&m).unwrap();
                let v = GREASE_VALUES[rng.random_range(0..GREASE_VALUES.len())];
                let err = MlsMessageIn::parse(&with_proposal_type(&m, v)).unwrap_err();
                assert!(
                    matches!(err, Error::UnknownValue { field: "proposal_type", value } if value == u64::from(v)),
                    "{err:?}"
                );
            }
        }
        let keys = official_keys(c);
        let psks = official_psks(c);
        let v = GREASE_VALUES[rng.random_range(0..GREASE_VALUES.len())];
        let changed = rewrap(
            &hex(c, "welcome"),
            &[Opener::from(&keys)],
            &psks,
            None,
            |gi| {
                gi.group_context
                    .extensions
                    .push(Extension::new(ExtensionType(v), vec![]));
            },
        );
        let tree = match &c["ratchet_tree"] {
            Value::Null => None,
            t => Some(hex::decode(t.as_str().unwrap()).unwrap()),
        };
        let err = Group::join(
            RustCryptoSuite1::new(),
            lenient(HandshakeFormat::Public),
            &changed,
            keys,
            tree.as_deref(),
            psks,
        )
        .unwrap_err();
        assert!(
            matches!(err, Error::NotSupportedByUs { what: "GroupContext extension", value } if value == v),
            "{err:?}"
        );
        welcomes += 1;
    }
    assert_eq!((commits, proposals, welcomes), (226, 1554, 22));
}
