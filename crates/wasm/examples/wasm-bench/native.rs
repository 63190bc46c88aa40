//! The native counterparts of the browser benchmark (`wasm-tests/bench.mjs`): the same
//! facade operations (the rlib's `*_native` API, the code the `.wasm` runs) on the same
//! inputs, one thread, with the same iteration counts and medians.

use std::time::Instant;

use nipee_wasm::{
    Nip44Conversation, NipeeClient, gift_wrap_native, nip44_decrypt_native, nip44_encrypt_native,
    sign_event_native, unwrap_gift_wrap_native, verify_event_native,
};
use serde_json::{Map, Value, json};

use crate::fixtures::outcome_types;

type Res<T> = Result<T, String>;

fn err(e: impl core::fmt::Display) -> String {
    e.to_string()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Seconds per operation: the median over `samples` timed batches of `batch` calls, after
/// one untimed batch.
fn per_op(samples: usize, batch: usize, mut f: impl FnMut() -> Res<()>) -> Res<f64> {
    for _ in 0..batch {
        f()?;
    }
    let mut times = Vec::with_capacity(samples);
    for _ in 0..samples {
        let t = Instant::now();
        for _ in 0..batch {
            f()?;
        }
        times.push(t.elapsed().as_secs_f64() / batch as f64);
    }
    Ok(median(times))
}

/// Seconds per operation on a fresh state: the median over `iters` runs of `op`, each on
/// what an untimed `setup` made (one untimed run first).
fn per_run<S>(
    iters: usize,
    mut setup: impl FnMut() -> Res<S>,
    mut op: impl FnMut(S) -> Res<()>,
) -> Res<f64> {
    op(setup()?)?;
    let mut times = Vec::with_capacity(iters);
    for _ in 0..iters {
        let s = setup()?;
        let t = Instant::now();
        op(s)?;
        times.push(t.elapsed().as_secs_f64());
    }
    Ok(median(times))
}

fn expect(result: &Value, ty: &str) -> Res<()> {
    if outcome_types(result).iter().any(|t| t == ty) {
        Ok(())
    } else {
        Err(format!(
            "expected a {ty:?} outcome, got {:?}",
            outcome_types(result)
        ))
    }
}

fn str_of<'a>(v: &'a Value, field: &str) -> Res<&'a str> {
    v[field]
        .as_str()
        .ok_or_else(|| format!("fixture field {field} missing"))
}

/// Runs every native measurement on `fx` (the fixtures): `{ id: seconds per operation }`.
pub fn run(fx: &Value) -> Res<Value> {
    let config = &fx["config"];
    let now = fx["now"].as_f64().ok_or("no now")?;
    let mut out = Map::new();
    let mut put = |id: &str, secs: f64| {
        eprintln!("native {id}: {:.1} µs", secs * 1e6);
        out.insert(id.to_owned(), json!(secs));
    };

    for (id, iters) in [("join128", 20), ("join1024", 8)] {
        let f = &fx[id];
        let secs = per_run(
            iters,
            || NipeeClient::open_native(&f["rows"], config).map_err(err),
            |mut c| expect(&c.process_native(&f["wrap"], now).map_err(err)?, "joined"),
        )?;
        put(id, secs);
    }
    let f = &fx["update1024"];
    let secs = per_run(
        8,
        || NipeeClient::open_native(&f["rows"], config).map_err(err),
        |mut c| expect(&c.process_native(&f["commit"], now).map_err(err)?, "commit"),
    )?;
    put("update1024", secs);

    let m = &fx["messages"];
    let (gid, text) = (str_of(m, "group")?, str_of(m, "text")?);
    let mut sender = NipeeClient::open_native(&m["senderRows"], config).map_err(err)?;
    let secs = per_op(20, 20, || {
        let r = sender.send_message_native(gid, text, now).map_err(err)?;
        if r["publish"].as_array().map_or(0, Vec::len) == 1 {
            Ok(())
        } else {
            Err("a send published no event".into())
        }
    })?;
    put("msgEncrypt", secs);
    let mut receiver = NipeeClient::open_native(&m["receiverRows"], config).map_err(err)?;
    let events = m["events"].as_array().ok_or("no message events")?;
    let mut next = events.iter();
    let secs = per_op(20, 20, || {
        let ev = next.next().ok_or("out of messages")?;
        expect(&receiver.process_native(ev, now).map_err(err)?, "message")
    })?;
    put("msgDecrypt", secs);

    let n = &fx["nostr"];
    let (secret, peer_secret) = (str_of(n, "secret")?, str_of(n, "peerSecret")?);
    let (pk, peer_pk) = (str_of(n, "pubkey")?, str_of(n, "peerPubkey")?);
    let (plaintext, payload) = (str_of(n, "plaintext")?, str_of(n, "payload")?);
    put(
        "sign",
        per_op(21, 50, || {
            sign_event_native(&n["unsigned"], secret)
                .map(drop)
                .map_err(err)
        })?,
    );
    put(
        "verify",
        per_op(21, 50, || {
            verify_event_native(&n["signed"]).map(drop).map_err(err)
        })?,
    );
    put(
        "nip44Encrypt",
        per_op(21, 50, || {
            nip44_encrypt_native(secret, peer_pk, plaintext)
                .map(drop)
                .map_err(err)
        })?,
    );
    put(
        "nip44Decrypt",
        per_op(21, 50, || {
            let p = nip44_decrypt_native(peer_secret, pk, payload).map_err(err)?;
            if p.len() == plaintext.len() {
                Ok(())
            } else {
                Err("wrong plaintext".into())
            }
        })?,
    );
    let conversation = Nip44Conversation::new_native(secret, peer_pk).map_err(err)?;
    put(
        "nip44EncryptCachedKey",
        per_op(21, 50, || {
            conversation
                .encrypt_native(plaintext)
                .map(drop)
                .map_err(err)
        })?,
    );
    let peer_conversation = Nip44Conversation::new_native(peer_secret, pk).map_err(err)?;
    put(
        "nip44DecryptCachedKey",
        per_op(21, 50, || {
            let p = peer_conversation.decrypt_native(payload).map_err(err)?;
            if p.len() == plaintext.len() {
                Ok(())
            } else {
                Err("wrong plaintext".into())
            }
        })?,
    );
    let now_secs = fx["now"].as_u64().ok_or("no now")?;
    put(
        "giftWrap",
        per_op(21, 10, || {
            gift_wrap_native(&n["rumor"], secret, peer_pk, now_secs)
                .map(drop)
                .map_err(err)
        })?,
    );
    put(
        "unwrap",
        per_op(21, 10, || {
            let u = unwrap_gift_wrap_native(&n["wrap"], peer_secret).map_err(err)?;
            if u["sender"].as_str() == Some(pk) {
                Ok(())
            } else {
                Err("wrong sender".into())
            }
        })?,
    );
    Ok(Value::Object(out))
}
