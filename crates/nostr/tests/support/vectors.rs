//! Known-answer vector runner shared by `examples/nostr-vectors.rs` and the `#[test]`s
//! in `tests/vectors.rs` (included with `#[path]`), so both run exactly the same checks.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use nipee_nostr::nip44::{self, ConversationKey, LengthPrefix};
use nipee_nostr::{Error, Event, Keys, PublicKey, SecretKey, Signature, UnsignedEvent, nip59};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Result of running one vector file.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Cases that passed.
    pub passed: usize,
    /// One line per failed case.
    pub failures: Vec<String>,
    /// Informational lines (e.g. reinterpreted cases).
    pub notes: Vec<String>,
}

impl Outcome {
    fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        if ok {
            self.passed += 1;
        } else {
            self.failures.push(what());
        }
    }

    fn fail(&mut self, what: String) {
        self.failures.push(what);
    }

    /// The closing line: `N passed, M failed`.
    pub fn summary(&self) -> String {
        format!("{} passed, {} failed", self.passed, self.failures.len())
    }
}

/// The directory holding the shared vectors, relative to this crate.
pub fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../vectors/nostr")
}

/// Runs `suite` (nip44, bip340, nip01, nip59) over `file`.
pub fn run(suite: &str, file: &Path) -> Result<Outcome, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    match suite {
        "nip44" => {
            let ext_path = file.with_file_name("nip44.extended-prefix.json");
            let ext = std::fs::read_to_string(&ext_path)
                .map_err(|e| format!("{}: {e}", ext_path.display()))?;
            run_nip44(&text, &ext)
        }
        "bip340" => Ok(run_bip340(&text)),
        "nip01" => run_nip01(&text),
        "nip59" => run_nip59(&text),
        other => Err(format!(
            "unknown suite {other:?} (nip44|bip340|nip01|nip59)"
        )),
    }
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or_default()
}

fn h32(hex: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    let v = hex_bytes(hex);
    if v.len() == 32 {
        out.copy_from_slice(&v);
    }
    out
}

fn hex_bytes(hex: &str) -> Vec<u8> {
    (0..hex.len() / 2)
        .filter_map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok())
        .collect()
}

fn sha_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn arr<'a>(v: &'a Value, path: &[&str]) -> &'a [Value] {
    let mut cur = v;
    for p in path {
        cur = match cur.get(p) {
            Some(x) => x,
            None => return &[],
        };
    }
    cur.as_array().map(Vec::as_slice).unwrap_or_default()
}

/// NIP-44 v2: every valid and invalid case of `nip44.vectors.json`, plus the
/// extended-prefix table (`nip44.extended-prefix.json`).
pub fn run_nip44(text: &str, extended: &str) -> Result<Outcome, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let v2 = v.get("v2").ok_or("missing v2")?;
    let mut o = Outcome::default();

    for (i, c) in arr(v2, &["valid", "get_conversation_key"])
        .iter()
        .enumerate()
    {
        let got = SecretKey::from_hex(s(c, "sec1"))
            .and_then(|sk| Ok((sk, PublicKey::from_hex(s(c, "pub2"))?)))
            .map(|(sk, pk)| ConversationKey::derive(&sk, &pk));
        o.check(
            matches!(&got, Ok(k) if *k.as_bytes() == h32(s(c, "conversation_key"))),
            || format!("nip44 valid.get_conversation_key[{i}]: got {got:?}"),
        );
    }

    let mk = v2.get("valid").and_then(|x| x.get("get_message_keys"));
    if let Some(mk) = mk {
        let ck = ConversationKey::from_bytes(h32(s(mk, "conversation_key")));
        for (i, c) in arr(mk, &["keys"]).iter().enumerate() {
            let ok = match nip44::message_keys(&ck, &h32(s(c, "nonce"))) {
                Ok(k) => {
                    k.chacha_key.to_vec() == hex_bytes(s(c, "chacha_key"))
                        && k.chacha_nonce.to_vec() == hex_bytes(s(c, "chacha_nonce"))
                        && k.hmac_key.to_vec() == hex_bytes(s(c, "hmac_key"))
                }
                Err(_) => false,
            };
            o.check(ok, || format!("nip44 valid.get_message_keys[{i}]"));
        }
    } else {
        o.fail("nip44: missing valid.get_message_keys".into());
    }

    for (i, c) in arr(v2, &["valid", "calc_padded_len"]).iter().enumerate() {
        let pair = c.as_array().map(Vec::as_slice).unwrap_or_default();
        let (n, p) = match pair {
            [n, p] => (n.as_u64().unwrap_or(0), p.as_u64().unwrap_or(0)),
            _ => (0, 1),
        };
        let got = nip44::calc_padded_len(n);
        o.check(got == p, || {
            format!("nip44 valid.calc_padded_len[{i}]: {n} -> {got}, expected {p}")
        });
    }

    for (i, c) in arr(v2, &["valid", "encrypt_decrypt"]).iter().enumerate() {
        let res: Result<(), String> = (|| {
            let sk1 = SecretKey::from_hex(s(c, "sec1")).map_err(|e| e.to_string())?;
            let sk2 = SecretKey::from_hex(s(c, "sec2")).map_err(|e| e.to_string())?;
            let ck_expected = h32(s(c, "conversation_key"));
            let ck = ConversationKey::derive(&sk1, &sk2.public_key());
            if *ck.as_bytes() != ck_expected {
                return Err("conversation key (sec1, pub2)".into());
            }
            let pt = s(c, "plaintext");
            let payload = nip44::encrypt_with_nonce(
                &ck,
                pt.as_bytes(),
                &h32(s(c, "nonce")),
                LengthPrefix::Classic,
            )
            .map_err(|e| e.to_string())?;
            if payload != s(c, "payload") {
                return Err(format!("payload mismatch: {payload}"));
            }
            let ck2 = ConversationKey::derive(&sk2, &sk1.public_key());
            if ck2 != ck {
                return Err("conversation key (sec2, pub1)".into());
            }
            let back = nip44::decrypt_str(&ck2, &payload).map_err(|e| e.to_string())?;
            if back != pt {
                return Err("decrypted plaintext differs".into());
            }
            Ok(())
        })();
        o.check(res.is_ok(), || {
            format!(
                "nip44 valid.encrypt_decrypt[{i}]: {}",
                res.clone().err().unwrap_or_default()
            )
        });
    }

    for (i, c) in arr(v2, &["valid", "encrypt_decrypt_long_msg"])
        .iter()
        .enumerate()
    {
        let res: Result<(), String> = (|| {
            let repeat = c.get("repeat").and_then(Value::as_u64).unwrap_or(0) as usize;
            let pt = s(c, "pattern").repeat(repeat);
            if sha_hex(pt.as_bytes()) != s(c, "plaintext_sha256") {
                return Err("plaintext sha256".into());
            }
            let ck = ConversationKey::from_bytes(h32(s(c, "conversation_key")));
            let payload = nip44::encrypt_with_nonce(
                &ck,
                pt.as_bytes(),
                &h32(s(c, "nonce")),
                LengthPrefix::Classic,
            )
            .map_err(|e| e.to_string())?;
            if sha_hex(payload.as_bytes()) != s(c, "payload_sha256") {
                return Err("payload sha256".into());
            }
            if nip44::decrypt_str(&ck, &payload).map_err(|e| e.to_string())? != pt {
                return Err("round trip".into());
            }
            Ok(())
        })();
        o.check(res.is_ok(), || {
            format!(
                "nip44 valid.encrypt_decrypt_long_msg[{i}]: {}",
                res.clone().err().unwrap_or_default()
            )
        });
    }

    // invalid.encrypt_msg_lengths: with the classic 2-byte prefix all four must be
    // rejected. Under the extended prefix (current NIP-44 text) 0 stays invalid but 65536,
    // 100000 and 10000000 are valid: those are checked to encrypt and round-trip with the
    // 6-byte prefix, and 65536 is additionally pinned by nip44.extended-prefix.json below.
    let ck = ConversationKey::from_bytes([0x42; 32]);
    for (i, c) in arr(v2, &["invalid", "encrypt_msg_lengths"])
        .iter()
        .enumerate()
    {
        let n = c.as_u64().unwrap_or(0) as usize;
        let pt = vec![b'a'; n];
        let classic = nip44::encrypt_with_nonce(&ck, &pt, &[1; 32], LengthPrefix::Classic);
        let refused = if n == 0 {
            matches!(classic, Err(Error::Misuse { .. }))
        } else {
            matches!(classic, Err(Error::PlaintextTooLong { found, limit: 65_535, .. }) if found == n)
        };
        o.check(refused, || {
            format!("nip44 invalid.encrypt_msg_lengths[{i}] ({n}): classic prefix accepted it")
        });
        let ext = nip44::encrypt_with_nonce(&ck, &pt, &[1; 32], LengthPrefix::Extended);
        if n == 0 {
            o.check(matches!(ext, Err(Error::Misuse { .. })), || {
                format!("nip44 invalid.encrypt_msg_lengths[{i}] (0): extended prefix accepted it")
            });
        } else {
            o.notes.push(format!(
                "nip44 invalid.encrypt_msg_lengths[{i}] ({n}): valid under the extended prefix; checked as a round trip instead (see nip44.extended-prefix.json)"
            ));
            let ok = match &ext {
                Ok(p) => nip44::decrypt_with_limit(&ck, p, n)
                    .map(|b| b == pt)
                    .unwrap_or(false),
                Err(_) => false,
            };
            o.check(ok, || {
                format!("nip44 extended prefix: length {n} did not round-trip")
            });
        }
    }

    for (i, c) in arr(v2, &["invalid", "get_conversation_key"])
        .iter()
        .enumerate()
    {
        let sk = SecretKey::from_hex(s(c, "sec1"));
        let pk = PublicKey::from_hex(s(c, "pub2"));
        o.check(sk.is_err() || pk.is_err(), || {
            format!(
                "nip44 invalid.get_conversation_key[{i}] ({}) accepted",
                s(c, "note")
            )
        });
    }

    for (i, c) in arr(v2, &["invalid", "decrypt"]).iter().enumerate() {
        let ck = ConversationKey::from_bytes(h32(s(c, "conversation_key")));
        let note = s(c, "note");
        let got = nip44::decrypt(&ck, s(c, "payload"));
        let ok = match (&got, note) {
            (Err(Error::UnsupportedVersion { .. }), n)
                if n.starts_with("unknown encryption version") =>
            {
                true
            }
            (Err(Error::Base64 { .. }), "invalid base64") => true,
            (Err(Error::BadMac), "invalid MAC") => true,
            (Err(Error::BadPadding { .. }), "invalid padding") => true,
            (Err(Error::UnsupportedVersion { version: None }), "invalid payload length: 0") => true,
            (Err(Error::Nip44Payload { .. }), n) if n.starts_with("invalid payload length") => true,
            _ => false,
        };
        o.check(ok, || {
            format!("nip44 invalid.decrypt[{i}] ({note}): got {got:?}")
        });
    }

    let e: Value = serde_json::from_str(extended).map_err(|e| e.to_string())?;
    let ck = ConversationKey::from_bytes(h32(s(&e, "conversation_key")));
    let nonce = h32(s(&e, "nonce"));
    for (i, c) in arr(&e, &["vectors"]).iter().enumerate() {
        let res: Result<(), String> = (|| {
            let n = c.get("plaintext_len").and_then(Value::as_u64).unwrap_or(0) as usize;
            let pt = vec![b'a'; n];
            if sha_hex(&pt) != s(c, "plaintext_sha256") {
                return Err("plaintext sha256".into());
            }
            let padded = c.get("padded_len").and_then(Value::as_u64).unwrap_or(0);
            if nip44::calc_padded_len(n as u64) != padded {
                return Err("padded_len".into());
            }
            let p = nip44::encrypt_with_nonce(&ck, &pt, &nonce, LengthPrefix::Extended)
                .map_err(|e| e.to_string())?;
            if sha_hex(p.as_bytes()) != s(c, "payload_sha256") {
                return Err("payload sha256".into());
            }
            if nip44::decrypt(&ck, &p).map_err(|e| e.to_string())? != pt {
                return Err("round trip".into());
            }
            Ok(())
        })();
        o.check(res.is_ok(), || {
            format!(
                "nip44 extended-prefix[{i}]: {}",
                res.clone().err().unwrap_or_default()
            )
        });
    }
    Ok(o)
}

/// BIP-340: all rows of `bip340-test-vectors.csv`. Rows with a secret key must reproduce
/// the signature exactly; every row's verification result must match.
pub fn run_bip340(text: &str) -> Outcome {
    let mut o = Outcome::default();
    for line in text.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let cols: Vec<String> = line
            .split(',')
            .map(|c| c.trim().to_ascii_lowercase())
            .collect();
        let [index, sk, pk, aux, msg, sig, result, ..] = cols.as_slice() else {
            o.fail(format!("bip340: malformed row {line:?}"));
            continue;
        };
        let expect = result == "true";
        let msg = hex_bytes(msg);
        let mut problems = Vec::new();
        let sig_parsed = Signature::from_hex(sig);
        if !sk.is_empty() {
            match Keys::parse(sk) {
                Ok(keys) => {
                    if keys.public_key().to_hex() != *pk {
                        problems.push("derived public key differs".to_string());
                    }
                    let mine = keys.sign_bip340_with_aux_rand(&msg, &h32(aux));
                    if mine.to_hex() != *sig {
                        problems.push(format!("signature differs: {}", mine.to_hex()));
                    }
                }
                Err(e) => problems.push(format!("secret key rejected: {e}")),
            }
        }
        let verified = match (PublicKey::from_hex(pk), &sig_parsed) {
            (Ok(pk), Ok(sig)) => pk.verify_bip340(&msg, sig).is_ok(),
            _ => false,
        };
        if verified != expect {
            problems.push(format!("verification gave {verified}, expected {expect}"));
        }
        if problems.is_empty() {
            o.passed += 1;
        } else {
            o.fail(format!("bip340 row {index}: {}", problems.join("; ")));
        }
    }
    o
}

/// NIP-01: the 12 derived id vectors. Each must parse (with verification), reproduce the
/// canonical serialization, id and signature byte for byte, and round-trip through JSON.
pub fn run_nip01(text: &str) -> Result<Outcome, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let keys = Keys::parse(s(&v, "secret_key")).map_err(|e| e.to_string())?;
    let aux = h32(s(&v, "aux_rand"));
    let mut o = Outcome::default();
    for (i, c) in arr(&v, &["vectors"]).iter().enumerate() {
        let note = s(c, "note");
        let res: Result<(), String> = (|| {
            let ev_json = c.get("event").ok_or("missing event")?.to_string();
            let ev = Event::from_json(&ev_json).map_err(|e| format!("parse: {e}"))?;
            let ser = ev.clone().into_unsigned().canonical_serialization();
            if ser != s(c, "serialized") {
                return Err(format!("serialization differs: {ser}"));
            }
            let hex: String = ser.bytes().map(|b| format!("{b:02x}")).collect();
            if hex != s(c, "serialized_utf8_hex") {
                return Err("serialized utf8 hex differs".into());
            }
            let expected_id = s(c.get("event").unwrap_or(&Value::Null), "id");
            if ev.id().to_hex() != expected_id {
                return Err("id differs".into());
            }
            let resigned = ev
                .clone()
                .into_unsigned()
                .sign_with_aux_rand(&keys, &aux)
                .map_err(|e| e.to_string())?;
            if resigned != ev {
                return Err("re-signing did not reproduce the signature".into());
            }
            let again = Event::from_json(&ev.to_json()).map_err(|e| format!("reparse: {e}"))?;
            if again != ev {
                return Err("JSON round trip changed the event".into());
            }
            let from_serde: Event = serde_json::from_str(&ev_json).map_err(|e| e.to_string())?;
            if from_serde != ev {
                return Err("serde path differs".into());
            }
            Ok(())
        })();
        o.check(res.is_ok(), || {
            format!(
                "nip01[{i}] ({note}): {}",
                res.clone().err().unwrap_or_default()
            )
        });
    }
    Ok(o)
}

/// NIP-59: the worked example of the spec, step by step, plus the unwrapping API.
pub fn run_nip59(text: &str) -> Result<Outcome, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let mut o = Outcome::default();
    let author = Keys::parse(s(&v, "author_sec")).map_err(|e| e.to_string())?;
    let recipient = Keys::parse(s(&v, "recipient_sec")).map_err(|e| e.to_string())?;
    let eph = Keys::parse(s(&v, "ephemeral_wrap_sec")).map_err(|e| e.to_string())?;
    o.check(author.public_key().to_hex() == s(&v, "author_pub"), || {
        "nip59: author pubkey".into()
    });
    o.check(
        recipient.public_key().to_hex() == s(&v, "recipient_pub"),
        || "nip59: recipient pubkey".into(),
    );
    o.check(
        eph.public_key().to_hex() == s(&v, "ephemeral_wrap_pub"),
        || "nip59: ephemeral pubkey".into(),
    );

    let seal_ck = ConversationKey::derive(author.secret_key(), &recipient.public_key());
    let seal_ck_r = ConversationKey::derive(recipient.secret_key(), &author.public_key());
    o.check(
        *seal_ck.as_bytes() == h32(s(&v, "seal_conversation_key")) && seal_ck == seal_ck_r,
        || "nip59: seal conversation key".into(),
    );
    let wrap_ck = ConversationKey::derive(eph.secret_key(), &recipient.public_key());
    let wrap_ck_r = ConversationKey::derive(recipient.secret_key(), &eph.public_key());
    o.check(
        *wrap_ck.as_bytes() == h32(s(&v, "wrap_conversation_key")) && wrap_ck == wrap_ck_r,
        || "nip59: wrap conversation key".into(),
    );

    let wrap_v = v.get("gift_wrap").ok_or("missing gift_wrap")?;
    let seal_v = v.get("seal").ok_or("missing seal")?;
    let wrap = Event::from_value(wrap_v);
    o.check(wrap.is_ok(), || {
        format!("nip59: gift wrap id/sig: {:?}", wrap.as_ref().err())
    });
    let seal = Event::from_value(seal_v);
    o.check(seal.is_ok(), || {
        format!("nip59: seal id/sig: {:?}", seal.as_ref().err())
    });

    let wrap_pt = nip44::decrypt_str(&wrap_ck_r, s(wrap_v, "content"));
    o.check(wrap_pt.as_deref() == Ok(s(&v, "wrap_plaintext")), || {
        "nip59: wrap plaintext".into()
    });
    let seal_pt = nip44::decrypt_str(&seal_ck_r, s(seal_v, "content"));
    o.check(seal_pt.as_deref() == Ok(s(&v, "seal_plaintext")), || {
        "nip59: seal plaintext".into()
    });

    let re_wrap = nip44::encrypt_with_nonce(
        &wrap_ck,
        s(&v, "wrap_plaintext").as_bytes(),
        &h32(s(&v, "wrap_nonce")),
        LengthPrefix::Extended,
    );
    o.check(re_wrap.as_deref() == Ok(s(wrap_v, "content")), || {
        "nip59: re-encrypted wrap differs".into()
    });
    let re_seal = nip44::encrypt_with_nonce(
        &seal_ck,
        s(&v, "seal_plaintext").as_bytes(),
        &h32(s(&v, "seal_nonce")),
        LengthPrefix::Extended,
    );
    o.check(re_seal.as_deref() == Ok(s(seal_v, "content")), || {
        "nip59: re-encrypted seal differs".into()
    });

    let rumor_v = v.get("rumor").ok_or("missing rumor")?;
    let rumor = UnsignedEvent::from_json(&rumor_v.to_string());
    o.check(
        matches!(&rumor, Ok(r) if r.canonical_serialization() == s(&v, "rumor_serialized_for_id")
            && r.id().to_hex() == s(rumor_v, "id")),
        || format!("nip59: rumor id/serialization: {rumor:?}"),
    );

    if let Ok(wrap) = &wrap {
        match nip59::unwrap_gift_wrap(&recipient, wrap) {
            Ok(u) => {
                o.check(u.sender == author.public_key(), || "nip59: sender".into());
                o.check(
                    u.rumor.id().to_hex() == s(rumor_v, "id")
                        && u.rumor.content == "Are you going to the party tonight?",
                    || "nip59: unwrapped rumor".into(),
                );
                o.check(u.seal.id().to_hex() == s(seal_v, "id"), || {
                    "nip59: unwrapped seal".into()
                });
            }
            Err(e) => o.fail(format!("nip59: unwrap_gift_wrap failed: {e}")),
        }
        let wrong = nip59::unwrap_gift_wrap(&author, wrap);
        o.check(matches!(wrong, Err(Error::BadMac)), || {
            format!("nip59: unwrapping with the wrong key gave {wrong:?}")
        });
    }
    Ok(o)
}
