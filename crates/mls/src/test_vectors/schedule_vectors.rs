//! Runners for tree math, crypto basics, the key schedule, PSKs, the secret tree and the
//! transcript hashes.

use serde_json::Value;

use super::{check_eq, e, field, hex_field, opt_u32_array, str_field, u64_field};
use crate::crypto::{
    self, CipherSuite, CryptoProvider, HpkePrivateKey, RustCryptoSuite1, Secret, SignatureSecretKey,
};
use crate::schedule::{self, EpochSecrets, GroupContext, PreSharedKeyId, Psk};
use crate::tree::math::{self, NodeIndex};

// ----- tree-math -----

pub(super) fn tree_math(v: &Value) -> Result<(), String> {
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

pub(super) fn crypto_basics(v: &Value) -> Result<(), String> {
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

pub(super) fn key_schedule(v: &Value) -> Result<(), String> {
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
            group_id: group_id.clone().into(),
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

pub(super) fn psk_secret(v: &Value) -> Result<(), String> {
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

pub(super) fn secret_tree(v: &Value) -> Result<(), String> {
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

pub(super) fn transcript_hashes(v: &Value) -> Result<(), String> {
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
