//! Runners for the official MLS test vectors (`mlswg/mls-implementations`), shared by the
//! `mls-vectors` example and the crate's tests. Enabled by the `test-vectors` feature.
//!
//! Each runner checks every case of a file whose cipher suite this crate implements and skips
//! the others; a case of a supported suite is never skipped.
#![allow(clippy::missing_errors_doc)]

use serde_json::Value;

use crate::crypto::{
    self, CipherSuite, CryptoProvider, HpkePrivateKey, RustCryptoSuite1, Secret, SignatureSecretKey,
};
use crate::schedule::{self, EpochSecrets, GroupContext, PreSharedKeyId, Psk};
use crate::tree::math::{self, NodeIndex};

/// The result of running one vector file.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Cases that passed.
    pub passed: usize,
    /// One line per failed case.
    pub failures: Vec<String>,
    /// Cases of suites this crate does not implement.
    pub skipped: usize,
}

impl Outcome {
    fn record(&mut self, case: usize, result: Result<(), String>) {
        match result {
            Ok(()) => self.passed += 1,
            Err(e) => self.failures.push(format!("case {case}: {e}")),
        }
    }

    /// The closing line: `N passed, M failed, K skipped`.
    pub fn summary(&self) -> String {
        format!(
            "{} passed, {} failed, {} skipped",
            self.passed,
            self.failures.len(),
            self.skipped
        )
    }
}

/// The vector types this crate can run.
pub const KINDS: &[&str] = &[
    "tree-math",
    "crypto-basics",
    "key-schedule",
    "psk_secret",
    "secret-tree",
];

/// Runs the vector file `json` of type `kind` (the upstream file stem).
///
/// # Errors
/// When the kind is unknown or not implemented, or the file is not a JSON array.
pub fn run(kind: &str, json: &str) -> Result<Outcome, String> {
    let cases: Vec<Value> = serde_json::from_str(json).map_err(|e| format!("bad JSON: {e}"))?;
    let runner: fn(&Value) -> Result<(), String> = match kind {
        "tree-math" => tree_math,
        "crypto-basics" => crypto_basics,
        "key-schedule" => key_schedule,
        "psk_secret" => psk_secret,
        "secret-tree" => secret_tree,
        "transcript-hashes" => transcript_hashes,
        "message-protection" => message_protection,
        "welcome" => welcome,
        "deserialization" => deserialization,
        "tree-validation" => tree_validation,
        "tree-operations" => tree_operations,
        "treekem" => treekem,
        "messages" => messages,
        // Any file of the passive-client schema (part 2, `group::vectors`).
        "passive-client" => crate::group::vectors::passive_client,
        other => return Err(format!("vector type {other:?} is not implemented")),
    };
    let mut out = Outcome::default();
    for (i, case) in cases.iter().enumerate() {
        // messages.json has no cipher_suite field: its suite is that of its KeyPackage.
        if kind == "messages" && messages_suite(case)? != 1 {
            out.skipped += 1;
            continue;
        }
        if let Some(suite) = case.get("cipher_suite")
            && suite.as_u64() != Some(1)
        {
            out.skipped += 1;
            continue;
        }
        out.record(i, runner(case));
    }
    Ok(out)
}

// ----- JSON helpers -----

pub(crate) fn field<'a>(v: &'a Value, name: &str) -> Result<&'a Value, String> {
    v.get(name).ok_or_else(|| format!("missing field {name}"))
}

pub(crate) fn hex_field(v: &Value, name: &str) -> Result<Vec<u8>, String> {
    let s = field(v, name)?
        .as_str()
        .ok_or_else(|| format!("{name} is not a string"))?;
    hex::decode(s).map_err(|e| format!("{name}: bad hex: {e}"))
}

pub(crate) fn str_field<'a>(v: &'a Value, name: &str) -> Result<&'a str, String> {
    field(v, name)?
        .as_str()
        .ok_or_else(|| format!("{name} is not a string"))
}

pub(crate) fn u64_field(v: &Value, name: &str) -> Result<u64, String> {
    field(v, name)?
        .as_u64()
        .ok_or_else(|| format!("{name} is not an integer"))
}

pub(crate) fn opt_u32_array(v: &Value, name: &str) -> Result<Vec<Option<u32>>, String> {
    field(v, name)?
        .as_array()
        .ok_or_else(|| format!("{name} is not an array"))?
        .iter()
        .map(|x| {
            if x.is_null() {
                Ok(None)
            } else {
                x.as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .map(Some)
                    .ok_or_else(|| format!("{name}: not a u32"))
            }
        })
        .collect()
}

pub(crate) fn check_eq(what: &str, got: &[u8], want: &[u8]) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!(
            "{what}: got {}, want {}",
            hex::encode(got),
            hex::encode(want)
        ))
    }
}

pub(crate) fn e<E: core::fmt::Display>(what: &'static str) -> impl FnOnce(E) -> String {
    move |err| format!("{what}: {err}")
}

// ----- tree-math -----

fn tree_math(v: &Value) -> Result<(), String> {
    let n = u32::try_from(u64_field(v, "n_leaves")?).map_err(e("n_leaves"))?;
    let n_nodes = u64_field(v, "n_nodes")?;
    if u64::from(math::node_width(n)) != n_nodes {
        return Err(format!(
            "n_nodes: got {}, want {n_nodes}",
            math::node_width(n)
        ));
    }
    let root = u64_field(v, "root")?;
    if u64::from(math::root(n).0) != root {
        return Err(format!("root: got {}, want {root}", math::root(n).0));
    }
    type Rel<'a> = &'a dyn Fn(NodeIndex) -> Option<NodeIndex>;
    let checks: [(&str, Rel<'_>); 4] = [
        ("left", &math::left),
        ("right", &math::right),
        ("parent", &|x| math::parent(x, n)),
        ("sibling", &|x| math::sibling(x, n)),
    ];
    for (name, f) in checks {
        let want = opt_u32_array(v, name)?;
        for (i, w) in want.iter().enumerate() {
            let i = u32::try_from(i).map_err(e("index"))?;
            let got = f(NodeIndex(i)).map(|x| x.0);
            if got != *w {
                return Err(format!("{name}[{i}]: got {got:?}, want {w:?}"));
            }
        }
    }
    Ok(())
}

// ----- crypto-basics -----

fn crypto_basics(v: &Value) -> Result<(), String> {
    let p = RustCryptoSuite1::new();

    let t = field(v, "ref_hash")?;
    let out = crypto::ref_hash(
        &p,
        str_field(t, "label")?.as_bytes(),
        &hex_field(t, "value")?,
    )
    .map_err(e("ref_hash"))?;
    check_eq("ref_hash", &out, &hex_field(t, "out")?)?;

    let t = field(v, "expand_with_label")?;
    let len = usize::try_from(u64_field(t, "length")?).map_err(e("length"))?;
    let out = crypto::expand_with_label(
        &p,
        &hex_field(t, "secret")?,
        str_field(t, "label")?.as_bytes(),
        &hex_field(t, "context")?,
        len,
    )
    .map_err(e("expand_with_label"))?;
    check_eq("expand_with_label", out.as_bytes(), &hex_field(t, "out")?)?;

    let t = field(v, "derive_secret")?;
    let out = crypto::derive_secret(
        &p,
        &hex_field(t, "secret")?,
        str_field(t, "label")?.as_bytes(),
    )
    .map_err(e("derive_secret"))?;
    check_eq("derive_secret", out.as_bytes(), &hex_field(t, "out")?)?;

    let t = field(v, "derive_tree_secret")?;
    let len = usize::try_from(u64_field(t, "length")?).map_err(e("length"))?;
    let generation = u32::try_from(u64_field(t, "generation")?).map_err(e("generation"))?;
    let out = crypto::derive_tree_secret(
        &p,
        &hex_field(t, "secret")?,
        str_field(t, "label")?.as_bytes(),
        generation,
        len,
    )
    .map_err(e("derive_tree_secret"))?;
    check_eq("derive_tree_secret", out.as_bytes(), &hex_field(t, "out")?)?;

    let t = field(v, "sign_with_label")?;
    let sk = SignatureSecretKey::from_slice(&hex_field(t, "priv")?).map_err(e("priv"))?;
    let pk = hex_field(t, "pub")?;
    let label = str_field(t, "label")?.as_bytes();
    let content = hex_field(t, "content")?;
    crypto::verify_with_label(
        &p,
        &pk,
        label,
        &content,
        &hex_field(t, "signature")?,
        "vector",
    )
    .map_err(e("verify_with_label(given)"))?;
    let sig = crypto::sign_with_label(&p, &sk, label, &content).map_err(e("sign_with_label"))?;
    crypto::verify_with_label(&p, &pk, label, &content, &sig, "vector")
        .map_err(e("verify_with_label(own)"))?;
    if p.signature_public_key(&sk).map_err(e("public key"))? != pk {
        return Err("sign_with_label: public key does not match private key".into());
    }

    let t = field(v, "encrypt_with_label")?;
    let sk = HpkePrivateKey::new(hex_field(t, "priv")?);
    let pk = hex_field(t, "pub")?;
    let label = str_field(t, "label")?.as_bytes();
    let context = hex_field(t, "context")?;
    let plaintext = hex_field(t, "plaintext")?;
    let pt = crypto::decrypt_with_label(
        &p,
        &sk,
        label,
        &context,
        &hex_field(t, "kem_output")?,
        &hex_field(t, "ciphertext")?,
    )
    .map_err(e("decrypt_with_label(given)"))?;
    check_eq("decrypt_with_label(given)", &pt, &plaintext)?;
    let ct = crypto::encrypt_with_label(&p, &pk, label, &context, &plaintext)
        .map_err(e("encrypt_with_label"))?;
    let pt = crypto::decrypt_with_label(&p, &sk, label, &context, &ct.kem_output, &ct.ciphertext)
        .map_err(e("decrypt_with_label(own)"))?;
    check_eq("decrypt_with_label(own)", &pt, &plaintext)?;
    Ok(())
}

// ----- key-schedule -----

fn key_schedule(v: &Value) -> Result<(), String> {
    let p = RustCryptoSuite1::new();
    let group_id = hex_field(v, "group_id")?;
    let mut init_secret = Secret::new(hex_field(v, "initial_init_secret")?);
    let epochs = field(v, "epochs")?
        .as_array()
        .ok_or("epochs is not an array")?;
    for (epoch, ev) in (0u64..).zip(epochs) {
        let gc = GroupContext {
            version: 1,
            cipher_suite: CipherSuite(1),
            group_id: group_id.clone(),
            epoch,
            tree_hash: hex_field(ev, "tree_hash")?,
            confirmed_transcript_hash: hex_field(ev, "confirmed_transcript_hash")?,
            extensions: vec![],
        };
        let gc_bytes = gc.encode().map_err(e("group_context"))?;
        check_eq("group_context", &gc_bytes, &hex_field(ev, "group_context")?)?;
        let decoded = GroupContext::decode(&gc_bytes).map_err(e("decode group_context"))?;
        if decoded != gc {
            return Err("group_context does not round-trip".into());
        }
        let commit_secret = Secret::new(hex_field(ev, "commit_secret")?);
        let psk_secret = Secret::new(hex_field(ev, "psk_secret")?);
        let s = EpochSecrets::derive(
            &p,
            &init_secret,
            Some(&commit_secret),
            Some(&psk_secret),
            &gc_bytes,
        )
        .map_err(e("key schedule"))?;
        let checks: [(&str, &Secret); 11] = [
            ("joiner_secret", &s.joiner_secret),
            ("welcome_secret", &s.welcome_secret),
            ("init_secret", &s.init_secret),
            ("sender_data_secret", &s.sender_data_secret),
            ("encryption_secret", &s.encryption_secret),
            ("exporter_secret", &s.exporter_secret),
            ("epoch_authenticator", &s.epoch_authenticator),
            ("external_secret", &s.external_secret),
            ("confirmation_key", &s.confirmation_key),
            ("membership_key", &s.membership_key),
            ("resumption_psk", &s.resumption_psk),
        ];
        for (name, got) in checks {
            check_eq(name, got.as_bytes(), &hex_field(ev, name)?)
                .map_err(|m| format!("epoch {epoch}: {m}"))?;
        }
        let (_, external_pub) = s.external_key_pair(&p).map_err(e("external key pair"))?;
        check_eq(
            "external_pub",
            &external_pub,
            &hex_field(ev, "external_pub")?,
        )?;
        let ex = field(ev, "exporter")?;
        let len = usize::try_from(u64_field(ex, "length")?).map_err(e("length"))?;
        let exported = s
            .export(
                &p,
                str_field(ex, "label")?.as_bytes(),
                &hex_field(ex, "context")?,
                len,
            )
            .map_err(e("exporter"))?;
        check_eq(
            "exporter.secret",
            exported.as_bytes(),
            &hex_field(ex, "secret")?,
        )?;
        init_secret = s.init_secret.clone();
    }
    Ok(())
}

// ----- psk_secret -----

fn psk_secret(v: &Value) -> Result<(), String> {
    let p = RustCryptoSuite1::new();
    let psks = field(v, "psks")?
        .as_array()
        .ok_or("psks is not an array")?
        .iter()
        .map(|x| {
            Ok(Psk {
                id: PreSharedKeyId::External {
                    psk_id: hex_field(x, "psk_id")?,
                    psk_nonce: hex_field(x, "psk_nonce")?,
                },
                secret: Secret::new(hex_field(x, "psk")?),
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let out = schedule::psk_secret(&p, &psks).map_err(e("psk_secret"))?;
    check_eq("psk_secret", out.as_bytes(), &hex_field(v, "psk_secret")?)
}

// ----- secret-tree -----

fn secret_tree(v: &Value) -> Result<(), String> {
    use crate::secret_tree::{RatchetType, SecretTree, SecretTreeConfig, sender_data_key_nonce};
    use crate::tree::math::LeafIndex;
    let p = RustCryptoSuite1::new();
    let sd = field(v, "sender_data")?;
    let (key, nonce) = sender_data_key_nonce(
        &p,
        &Secret::new(hex_field(sd, "sender_data_secret")?),
        &hex_field(sd, "ciphertext")?,
    )
    .map_err(e("sender data"))?;
    check_eq("sender_data.key", key.as_bytes(), &hex_field(sd, "key")?)?;
    check_eq(
        "sender_data.nonce",
        nonce.as_bytes(),
        &hex_field(sd, "nonce")?,
    )?;

    let leaves = field(v, "leaves")?
        .as_array()
        .ok_or("leaves is not an array")?;
    let n = u32::try_from(leaves.len()).map_err(e("leaves"))?;
    let mut tree = SecretTree::new(
        Secret::new(hex_field(v, "encryption_secret")?),
        n,
        SecretTreeConfig::default(),
    )
    .map_err(e("secret tree"))?;
    for (i, leaf) in (0u32..).zip(leaves) {
        for g in leaf.as_array().ok_or("leaf is not an array")? {
            let generation = u32::try_from(u64_field(g, "generation")?).map_err(e("generation"))?;
            for (rt, kname, nname) in [
                (RatchetType::Handshake, "handshake_key", "handshake_nonce"),
                (
                    RatchetType::Application,
                    "application_key",
                    "application_nonce",
                ),
            ] {
                let kn = tree
                    .key_for_generation(&p, LeafIndex(i), rt, generation)
                    .map_err(|err| format!("leaf {i} generation {generation}: {err}"))?;
                check_eq(kname, kn.key.as_bytes(), &hex_field(g, kname)?)
                    .map_err(|m| format!("leaf {i} generation {generation}: {m}"))?;
                check_eq(nname, kn.nonce.as_bytes(), &hex_field(g, nname)?)
                    .map_err(|m| format!("leaf {i} generation {generation}: {m}"))?;
            }
        }
    }
    Ok(())
}

// ----- transcript-hashes -----

fn transcript_hashes(v: &Value) -> Result<(), String> {
    use crate::framing::AuthenticatedContent;
    let p = RustCryptoSuite1::new();
    let bytes = hex_field(v, "authenticated_content")?;
    let ac = nipee_codec::decode_exact::<AuthenticatedContent>(&bytes)
        .map_err(e("authenticated_content"))?;
    check_eq(
        "re-encoded authenticated_content",
        &ac.to_bytes().map_err(e("encode"))?,
        &bytes,
    )?;
    let input = ac.confirmed_transcript_hash_input().map_err(e("content"))?;
    let confirmed = schedule::confirmed_transcript_hash(
        &p,
        &hex_field(v, "interim_transcript_hash_before")?,
        &input,
    );
    check_eq(
        "confirmed_transcript_hash_after",
        &confirmed,
        &hex_field(v, "confirmed_transcript_hash_after")?,
    )?;
    let tag = ac
        .auth
        .confirmation_tag
        .as_deref()
        .ok_or("commit without confirmation tag")?;
    let key = Secret::new(hex_field(v, "confirmation_key")?);
    schedule::verify_confirmation_tag(&p, &key, &confirmed, tag).map_err(e("confirmation_tag"))?;
    let interim = schedule::interim_transcript_hash(&p, &confirmed, tag).map_err(e("interim"))?;
    check_eq(
        "interim_transcript_hash_after",
        &interim,
        &hex_field(v, "interim_transcript_hash_after")?,
    )
}

// ----- message-protection -----

fn message_protection(v: &Value) -> Result<(), String> {
    use crate::framing::{
        Content, FramedContent, MlsMessage, MlsMessageBody, PrivateMessage, PublicMessage, Sender,
    };
    use crate::secret_tree::{SecretTree, SecretTreeConfig};
    use nipee_codec::{Decode, Reader, Writer};

    let p = RustCryptoSuite1::new();
    let gc = GroupContext {
        version: 1,
        cipher_suite: CipherSuite(1),
        group_id: hex_field(v, "group_id")?,
        epoch: u64_field(v, "epoch")?,
        tree_hash: hex_field(v, "tree_hash")?,
        confirmed_transcript_hash: hex_field(v, "confirmed_transcript_hash")?,
        extensions: vec![],
    };
    let sig_priv = SignatureSecretKey::from_slice(&hex_field(v, "signature_priv")?)
        .map_err(e("signature_priv"))?;
    let sig_pub = hex_field(v, "signature_pub")?;
    let encryption_secret = hex_field(v, "encryption_secret")?;
    let sender_data_secret = Secret::new(hex_field(v, "sender_data_secret")?);
    let membership_key = Secret::new(hex_field(v, "membership_key")?);
    let new_tree = || {
        SecretTree::new(
            Secret::from_slice(&encryption_secret),
            2,
            SecretTreeConfig::default(),
        )
        .map_err(e("secret tree"))
    };
    let body_bytes = |c: &Content| -> Result<Vec<u8>, String> {
        let mut w = Writer::new();
        match c {
            Content::Application(d) => w.bytes(d),
            _ => c.write_body(&mut w).map_err(e("encode content"))?,
        }
        Ok(w.into_bytes())
    };
    let public_of = |bytes: &[u8]| -> Result<PublicMessage, String> {
        match MlsMessage::from_bytes(bytes)
            .map_err(e("decode MLSMessage"))?
            .body
        {
            MlsMessageBody::PublicMessage(m) => Ok(*m),
            _ => Err("not a PublicMessage".into()),
        }
    };
    let private_of = |bytes: &[u8]| -> Result<PrivateMessage, String> {
        match MlsMessage::from_bytes(bytes)
            .map_err(e("decode MLSMessage"))?
            .body
        {
            MlsMessageBody::PrivateMessage(m) => Ok(*m),
            _ => Err("not a PrivateMessage".into()),
        }
    };
    let key_of = |leaf: crate::tree::math::LeafIndex| -> crate::Result<Vec<u8>> {
        if leaf.0 == 1 {
            Ok(sig_pub.clone())
        } else {
            Err(crate::Error::InvalidSender {
                reason: "unknown leaf",
            })
        }
    };

    for kind in ["proposal", "commit", "application"] {
        let raw = hex_field(v, kind)?;
        let content = match kind {
            "proposal" => {
                let mut r = Reader::new(&raw);
                let c = Content::Proposal(
                    crate::framing::Proposal::decode(&mut r).map_err(e("proposal"))?,
                );
                r.finish().map_err(e("proposal"))?;
                c
            }
            "commit" => {
                let mut r = Reader::new(&raw);
                let c = Content::Commit(Box::new(
                    crate::framing::Commit::decode(&mut r).map_err(e("commit"))?,
                ));
                r.finish().map_err(e("commit"))?;
                c
            }
            _ => Content::Application(raw.clone()),
        };
        check_eq(&format!("{kind} re-encoded"), &body_bytes(&content)?, &raw)?;
        let framed = FramedContent {
            group_id: gc.group_id.clone(),
            epoch: gc.epoch,
            sender: Sender::Member(1),
            authenticated_data: vec![],
            content: content.clone(),
        };

        // PublicMessage: the vector's message verifies; ours round-trips.
        let mut confirmation_tag = None;
        if kind != "application" {
            let pm = public_of(&hex_field(v, &format!("{kind}_pub"))?)?;
            let ac = pm
                .unprotect(&p, &gc, &membership_key, &sig_pub)
                .map_err(e("unprotect pub"))?;
            check_eq(
                &format!("{kind}_pub content"),
                &body_bytes(&ac.content.content)?,
                &raw,
            )?;
            confirmation_tag = ac.auth.confirmation_tag.clone();
            let ours = PublicMessage::protect(
                &p,
                framed.clone(),
                &sig_priv,
                &gc,
                &membership_key,
                confirmation_tag.clone(),
            )
            .map_err(e("protect pub"))?;
            let msg = MlsMessage {
                body: MlsMessageBody::PublicMessage(Box::new(ours)),
            };
            let back = public_of(&msg.to_bytes().map_err(e("encode"))?)?;
            let ac = back
                .unprotect(&p, &gc, &membership_key, &sig_pub)
                .map_err(e("unprotect own pub"))?;
            if ac.content != framed {
                return Err(format!("{kind}: own PublicMessage content differs"));
            }
        } else if PublicMessage::protect(&p, framed.clone(), &sig_priv, &gc, &membership_key, None)
            .is_ok()
        {
            return Err("application data was accepted as a PublicMessage".into());
        }

        // PrivateMessage: the vector's message decrypts; ours round-trips.
        let pm = private_of(&hex_field(v, &format!("{kind}_priv"))?)?;
        let tree = new_tree()?;
        let (ac, _) = pm
            .unprotect(&p, &gc, &tree, &sender_data_secret, key_of)
            .map_err(e("unprotect priv"))?;
        check_eq(
            &format!("{kind}_priv content"),
            &body_bytes(&ac.content.content)?,
            &raw,
        )?;
        let mut send_tree = new_tree()?;
        let ours = PrivateMessage::protect(
            &p,
            &framed,
            &sig_priv,
            &gc,
            &mut send_tree,
            &sender_data_secret,
            confirmation_tag,
            7,
        )
        .map_err(e("protect priv"))?;
        let msg = MlsMessage {
            body: MlsMessageBody::PrivateMessage(Box::new(ours)),
        };
        let back = private_of(&msg.to_bytes().map_err(e("encode"))?)?;
        let recv_tree = new_tree()?;
        let (ac, _) = back
            .unprotect(&p, &gc, &recv_tree, &sender_data_secret, key_of)
            .map_err(e("unprotect own priv"))?;
        if ac.content != framed {
            return Err(format!("{kind}: own PrivateMessage content differs"));
        }
    }
    Ok(())
}

// ----- welcome -----

fn welcome(v: &Value) -> Result<(), String> {
    use crate::framing::{MlsMessage, MlsMessageBody};
    use nipee_codec::Encode;
    let p = RustCryptoSuite1::new();
    let kp = match MlsMessage::from_bytes(&hex_field(v, "key_package")?)
        .map_err(e("key_package"))?
        .body
    {
        MlsMessageBody::KeyPackage(kp) => kp,
        _ => return Err("key_package is not a KeyPackage".into()),
    };
    let kp_ref = crypto::key_package_ref(&p, &kp.to_bytes().map_err(e("encode key package"))?)
        .map_err(e("KeyPackageRef"))?;
    let w = match MlsMessage::from_bytes(&hex_field(v, "welcome")?)
        .map_err(e("welcome"))?
        .body
    {
        MlsMessageBody::Welcome(w) => w,
        _ => return Err("welcome is not a Welcome".into()),
    };
    let init_priv = HpkePrivateKey::new(hex_field(v, "init_priv")?);
    let gs = w
        .decrypt_group_secrets(&p, &kp_ref, &init_priv)
        .map_err(e("group secrets"))?;
    let ws = schedule::welcome_secret(&p, &gs.joiner_secret, None).map_err(e("welcome secret"))?;
    let gi = w.decrypt_group_info(&p, &ws).map_err(e("group info"))?;
    gi.verify(&p, &hex_field(v, "signer_pub")?)
        .map_err(e("group info signature"))?;
    let gc = gi.group_context.encode().map_err(e("group context"))?;
    let secrets = EpochSecrets::from_joiner_secret(&p, gs.joiner_secret, None, &gc)
        .map_err(e("key schedule"))?;
    gi.verify_confirmation_tag(&p, &secrets.confirmation_key)
        .map_err(e("confirmation tag"))
}

// ----- deserialization -----

fn deserialization(v: &Value) -> Result<(), String> {
    let header = hex_field(v, "vlbytes_header")?;
    let (len, rest) =
        nipee_codec::varint::read_varint("vlbytes_header", &header).map_err(e("header"))?;
    if !rest.is_empty() {
        return Err("trailing bytes after the header".into());
    }
    let want = u64_field(v, "length")?;
    if len != want {
        return Err(format!("length: got {len}, want {want}"));
    }
    Ok(())
}

// ----- tree-validation -----

fn tree_validation(v: &Value) -> Result<(), String> {
    use crate::tree::RatchetTree;
    let p = RustCryptoSuite1::new();
    let bytes = hex_field(v, "tree")?;
    let tree = RatchetTree::decode(&p, &bytes).map_err(e("tree"))?;
    check_eq(
        "re-encoded tree",
        &tree.encode().map_err(e("encode"))?,
        &bytes,
    )?;
    let resolutions = field(v, "resolutions")?.as_array().ok_or("resolutions")?;
    for (i, want) in (0u32..).zip(resolutions) {
        let want: Vec<u32> = want
            .as_array()
            .ok_or("resolution")?
            .iter()
            .map(|x| {
                x.as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or("resolution entry")
            })
            .collect::<Result<_, _>>()?;
        let got: Vec<u32> = tree.resolution(NodeIndex(i)).iter().map(|n| n.0).collect();
        if got != want {
            return Err(format!("resolution[{i}]: got {got:?}, want {want:?}"));
        }
    }
    let hashes = field(v, "tree_hashes")?.as_array().ok_or("tree_hashes")?;
    for (i, want) in (0u32..).zip(hashes) {
        let want = hex::decode(want.as_str().ok_or("tree hash")?).map_err(e("hex"))?;
        check_eq(
            &format!("tree_hashes[{i}]"),
            tree.node_tree_hash(NodeIndex(i)).unwrap_or(&[]),
            &want,
        )?;
    }
    tree.validate(&p, &hex_field(v, "group_id")?)
        .map_err(e("validate"))
}

// ----- tree-operations -----

fn tree_operations(v: &Value) -> Result<(), String> {
    use crate::framing::Proposal;
    use crate::tree::RatchetTree;
    use crate::tree::math::LeafIndex;
    let p = RustCryptoSuite1::new();
    let mut tree =
        RatchetTree::decode(&p, &hex_field(v, "tree_before")?).map_err(e("tree_before"))?;
    check_eq(
        "tree_hash_before",
        tree.tree_hash(),
        &hex_field(v, "tree_hash_before")?,
    )?;
    let proposal =
        nipee_codec::decode_exact::<Proposal>(&hex_field(v, "proposal")?).map_err(e("proposal"))?;
    let sender = LeafIndex(u32::try_from(u64_field(v, "proposal_sender")?).map_err(e("sender"))?);
    match proposal {
        Proposal::Add(kp) => {
            tree.add_leaf(&p, kp.leaf_node.clone()).map_err(e("add"))?;
        }
        Proposal::Update(leaf) => tree.update_leaf(&p, sender, *leaf).map_err(e("update"))?,
        Proposal::Remove { removed } => tree
            .remove_leaf(&p, LeafIndex(removed))
            .map_err(e("remove"))?,
        other => {
            return Err(format!(
                "unexpected proposal type {}",
                other.proposal_type()
            ));
        }
    }
    check_eq(
        "tree_after",
        &tree.encode().map_err(e("encode"))?,
        &hex_field(v, "tree_after")?,
    )?;
    check_eq(
        "tree_hash_after",
        tree.tree_hash(),
        &hex_field(v, "tree_hash_after")?,
    )
}

// ----- treekem -----

fn treekem(v: &Value) -> Result<(), String> {
    use crate::framing::UpdatePath;
    use crate::tree::RatchetTree;
    use crate::tree::math::LeafIndex;
    use crate::tree::treekem::{self, TreeKemPrivate};
    let p = RustCryptoSuite1::new();
    let group_id = hex_field(v, "group_id")?;
    let epoch = u64_field(v, "epoch")?;
    let cth = hex_field(v, "confirmed_transcript_hash")?;
    let tree =
        RatchetTree::decode(&p, &hex_field(v, "ratchet_tree")?).map_err(e("ratchet_tree"))?;
    let context_for = |t: &RatchetTree| -> crate::Result<Vec<u8>> {
        GroupContext {
            version: 1,
            cipher_suite: CipherSuite(1),
            group_id: group_id.clone(),
            epoch,
            tree_hash: t.tree_hash().to_vec(),
            confirmed_transcript_hash: cth.clone(),
            extensions: vec![],
        }
        .encode()
    };

    let mut privs: std::collections::BTreeMap<u32, (TreeKemPrivate, SignatureSecretKey)> =
        std::collections::BTreeMap::new();
    for lp in field(v, "leaves_private")?
        .as_array()
        .ok_or("leaves_private")?
    {
        let index = u32::try_from(u64_field(lp, "index")?).map_err(e("index"))?;
        let mut st = TreeKemPrivate::new(
            LeafIndex(index),
            HpkePrivateKey::new(hex_field(lp, "encryption_priv")?),
        );
        for ps in field(lp, "path_secrets")?
            .as_array()
            .ok_or("path_secrets")?
        {
            let node = u32::try_from(u64_field(ps, "node")?).map_err(e("node"))?;
            st.set_path_secret(
                &p,
                NodeIndex(node),
                &Secret::new(hex_field(ps, "path_secret")?),
            )
            .map_err(e("path secret"))?;
        }
        st.check_consistency(&p, &tree)
            .map_err(|err| format!("leaf {index}: {err}"))?;
        privs.insert(
            index,
            (
                st,
                SignatureSecretKey::from_slice(&hex_field(lp, "signature_priv")?)
                    .map_err(e("signature_priv"))?,
            ),
        );
    }

    for (k, up) in field(v, "update_paths")?
        .as_array()
        .ok_or("update_paths")?
        .iter()
        .enumerate()
    {
        let sender = LeafIndex(u32::try_from(u64_field(up, "sender")?).map_err(e("sender"))?);
        let path = nipee_codec::decode_exact::<UpdatePath>(&hex_field(up, "update_path")?)
            .map_err(e("update_path"))?;
        let mut merged = tree.clone();
        treekem::merge_update_path(&p, &mut merged, sender, &path, &group_id)
            .map_err(|err| format!("update_paths[{k}]: merge: {err}"))?;
        check_eq(
            "tree_hash_after",
            merged.tree_hash(),
            &hex_field(up, "tree_hash_after")?,
        )?;
        let gc = context_for(&merged).map_err(e("group context"))?;
        let want_commit = hex_field(up, "commit_secret")?;
        let want_secrets = field(up, "path_secrets")?
            .as_array()
            .ok_or("path_secrets")?;
        for (j, (st, _)) in &privs {
            if *j == sender.0 || tree.leaf(LeafIndex(*j)).is_none() {
                continue;
            }
            let mut st = st.clone();
            let out = treekem::decrypt_update_path(&p, &merged, sender, &path, &mut st, &gc, &[])
                .map_err(|err| format!("update_paths[{k}]: leaf {j}: {err}"))?;
            let want = want_secrets
                .get(*j as usize)
                .and_then(Value::as_str)
                .ok_or("path secret")?;
            check_eq(
                &format!("update_paths[{k}].path_secrets[{j}]"),
                out.decrypted.1.as_bytes(),
                &hex::decode(want).map_err(e("hex"))?,
            )?;
            check_eq(
                &format!("update_paths[{k}].commit_secret (leaf {j})"),
                out.commit_secret.as_bytes(),
                &want_commit,
            )?;
        }

        // Our own UpdatePath from the same sender must be processable by everyone.
        let (st, sig) = privs
            .get(&sender.0)
            .ok_or("no private state for the sender")?;
        let mut st = st.clone();
        let mut ours = tree.clone();
        let created =
            treekem::create_update_path(&p, &mut ours, &mut st, sig, &group_id, &[], |t| {
                context_for(t)
            })
            .map_err(|err| format!("update_paths[{k}]: create: {err}"))?;
        let gc = context_for(&ours).map_err(e("group context"))?;
        for (j, (st, _)) in &privs {
            if *j == sender.0 || tree.leaf(LeafIndex(*j)).is_none() {
                continue;
            }
            let mut st = st.clone();
            let mut theirs = tree.clone();
            treekem::merge_update_path(&p, &mut theirs, sender, &created.update_path, &group_id)
                .map_err(|err| format!("update_paths[{k}]: merge own path (leaf {j}): {err}"))?;
            check_eq("own path tree hash", theirs.tree_hash(), ours.tree_hash())?;
            let out = treekem::decrypt_update_path(
                &p,
                &theirs,
                sender,
                &created.update_path,
                &mut st,
                &gc,
                &[],
            )
            .map_err(|err| format!("update_paths[{k}]: own path, leaf {j}: {err}"))?;
            check_eq(
                "own path commit_secret",
                out.commit_secret.as_bytes(),
                created.commit_secret.as_bytes(),
            )?;
        }
    }
    Ok(())
}

// ----- messages -----

fn messages_suite(v: &Value) -> Result<u16, String> {
    // MLSMessage: version(2) wire_format(2), then KeyPackage: version(2) cipher_suite(2).
    let kp = hex_field(v, "mls_key_package")?;
    match kp.get(6..8) {
        Some(&[a, b]) => Ok(u16::from_be_bytes([a, b])),
        _ => Err("mls_key_package too short".into()),
    }
}

fn messages(v: &Value) -> Result<(), String> {
    use crate::framing::{Commit, MlsMessage, Proposal};
    use crate::tree::RatchetTree;
    use crate::welcome::GroupSecrets;
    use nipee_codec::{Encode, Reader, Writer};
    let p = RustCryptoSuite1::new();
    for name in [
        "mls_welcome",
        "mls_group_info",
        "mls_key_package",
        "public_message_application",
        "public_message_proposal",
        "public_message_commit",
        "private_message",
    ] {
        let bytes = hex_field(v, name)?;
        let m = MlsMessage::from_bytes(&bytes).map_err(|err| format!("{name}: {err}"))?;
        check_eq(name, &m.to_bytes().map_err(e("encode"))?, &bytes)?;
    }
    let bytes = hex_field(v, "ratchet_tree")?;
    let tree = RatchetTree::decode(&p, &bytes).map_err(e("ratchet_tree"))?;
    check_eq("ratchet_tree", &tree.encode().map_err(e("encode"))?, &bytes)?;

    let bytes = hex_field(v, "group_secrets")?;
    let gs = nipee_codec::decode_exact::<GroupSecrets>(&bytes).map_err(e("group_secrets"))?;
    check_eq(
        "group_secrets",
        &gs.to_bytes().map_err(e("encode"))?,
        &bytes,
    )?;

    let bytes = hex_field(v, "commit")?;
    let c = nipee_codec::decode_exact::<Commit>(&bytes).map_err(e("commit"))?;
    check_eq("commit", &c.to_bytes().map_err(e("encode"))?, &bytes)?;

    for (name, t) in [
        ("add_proposal", 1u16),
        ("update_proposal", 2),
        ("remove_proposal", 3),
        ("pre_shared_key_proposal", 4),
        ("re_init_proposal", 5),
        ("external_init_proposal", 6),
        ("group_context_extensions_proposal", 7),
    ] {
        let bytes = hex_field(v, name)?;
        let mut r = Reader::new(&bytes);
        let prop = Proposal::read_body(&mut r, t).map_err(|err| format!("{name}: {err}"))?;
        r.finish().map_err(|err| format!("{name}: {err}"))?;
        let mut w = Writer::new();
        prop.write_body(&mut w).map_err(e("encode"))?;
        check_eq(name, w.as_bytes(), &bytes)?;
    }
    Ok(())
}
