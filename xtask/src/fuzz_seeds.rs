//! Seed corpora for the fuzz targets, taken from the vector files: MLS messages,
//! KeyPackages and Welcomes from `vectors/mls`, events and NIP-44 payloads from
//! `vectors/nostr`, the NIP-EE interop file's events and group data. Written into
//! `fuzz/corpus/<target>/` when that folder is empty (libFuzzer adds its own finds there).

use serde_json::Value;
use std::path::Path;

fn load(root: &Path, rel: &str) -> Result<Value, String> {
    let text = std::fs::read_to_string(root.join("vectors").join(rel))
        .map_err(|e| format!("vectors/{rel}: {e}"))?;
    serde_json::from_str(&text).map_err(|e| format!("vectors/{rel}: {e}"))
}

/// Every string under `v` whose key is one of `keys` (any key when `keys` is empty).
fn strings<'a>(v: &'a Value, keys: &[&str], out: &mut Vec<&'a str>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                match x {
                    Value::String(s) if keys.is_empty() || keys.contains(&k.as_str()) => {
                        out.push(s)
                    }
                    _ => strings(x, keys, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| strings(x, keys, out)),
        _ => {}
    }
}

/// Every object under `v` that looks like a Nostr event, as JSON text.
fn events(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if ["id", "pubkey", "kind", "content", "tags"]
                .iter()
                .all(|k| m.contains_key(*k))
            {
                out.push(v.to_string());
            }
            m.values().for_each(|x| events(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| events(x, out)),
        Value::String(s) if s.starts_with('{') => {
            if let Ok(inner) = serde_json::from_str::<Value>(s) {
                events(&inner, out);
            }
        }
        _ => {}
    }
}

fn hexes(v: &Value, keys: &[&str]) -> Vec<Vec<u8>> {
    let mut s = Vec::new();
    strings(v, keys, &mut s);
    s.into_iter()
        .filter(|x| x.len() % 2 == 0 && x.bytes().all(|b| b.is_ascii_hexdigit()))
        .filter_map(hex_decode)
        .collect()
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

fn prefixed(mode: u8, seeds: &[Vec<u8>]) -> Vec<Vec<u8>> {
    seeds
        .iter()
        .map(|s| {
            let mut v = vec![mode];
            v.extend_from_slice(s);
            v
        })
        .collect()
}

/// A target and its seed inputs.
pub type Seeds = (&'static str, Vec<Vec<u8>>);

/// The seeds of each target.
pub fn seeds(root: &Path) -> Result<Vec<Seeds>, String> {
    let messages = load(root, "mls/messages.json")?;
    let welcome = load(root, "mls/welcome.json")?;
    let passive = load(root, "mls/passive-client-welcome.json")?;
    let deser = load(root, "mls/deserialization.json")?;
    let nip44 = load(root, "nostr/nip44.vectors.json")?;
    let nip01 = load(root, "nostr/nip01.derived-vectors.json")?;
    let nip59 = load(root, "nostr/nip59.example.json")?;
    let interop = load(root, "nip-ee/nostr-mls-basic.json")?;

    let mls_all = hexes(&messages, &[]);
    let key_packages = {
        let mut v = hexes(&messages, &["mls_key_package"]);
        v.extend(hexes(&welcome, &["key_package"]));
        v.extend(hexes(&passive, &["key_package"]));
        v
    };
    let welcomes = {
        let mut v = hexes(&welcome, &["welcome"]);
        v.extend(hexes(&passive, &["welcome"]));
        v
    };
    let framed = hexes(
        &messages,
        &[
            "public_message_application",
            "public_message_proposal",
            "public_message_commit",
            "private_message",
        ],
    );
    let mut event_json = Vec::new();
    for v in [&nip01, &nip59, &interop] {
        events(v, &mut event_json);
    }
    let event_bytes: Vec<Vec<u8>> = event_json.iter().map(|e| e.clone().into_bytes()).collect();
    let payloads: Vec<Vec<u8>> = {
        let mut s = Vec::new();
        strings(&nip44, &["payload"], &mut s);
        s.into_iter().map(|p| p.as_bytes().to_vec()).collect()
    };
    let group_data = hexes(&interop, &["nostr_group_data_extension"]);
    let codec: Vec<Vec<u8>> = hexes(&deser, &["vlbytes_header"])
        .iter()
        .flat_map(|h| (0..9u8).map(move |op| prefixed(op, std::slice::from_ref(h)).remove(0)))
        .collect();

    let mut welcome_join = prefixed(0, &welcomes);
    welcome_join.extend([vec![1], vec![3]]);
    let mut group_stage = prefixed(0, &framed);
    group_stage.extend([vec![1], vec![2]]);
    let mut gift = prefixed(0, &event_bytes);
    gift.push(vec![1]);
    let mut client = prefixed(0, &framed);
    client.extend([vec![1], vec![2], vec![4]]);
    client.extend(prefixed(3, &welcomes));
    client.extend(prefixed(5, &event_bytes));
    Ok(vec![
        ("codec_reader", codec),
        ("key_package", key_packages),
        ("mls_message", mls_all),
        ("welcome_join", welcome_join),
        ("group_stage", group_stage),
        ("event_json", event_bytes),
        ("nip44_decrypt", payloads),
        ("gift_unwrap", gift),
        ("group_data", group_data),
        ("client_process", client),
    ])
}

/// Writes each target's seeds into `fuzz/corpus/<target>/` unless it holds files already.
pub fn seed_corpora(root: &Path) -> Result<(), String> {
    for (target, seeds) in seeds(root)? {
        let dir = root.join("fuzz/corpus").join(target);
        let empty = std::fs::read_dir(&dir).map_or(true, |mut d| d.next().is_none());
        if !empty {
            continue;
        }
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for (i, s) in seeds.iter().take(400).enumerate() {
            std::fs::write(dir.join(format!("seed-{i:04}")), s)
                .map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        eprintln!(
            "fuzz: {target}: {} seeds from the vector files",
            seeds.len().min(400)
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_target_gets_seeds_from_the_vector_files() {
        let root = crate::util::root();
        let all = seeds(&root).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(all.len(), crate::fuzz::TARGETS.len());
        for (target, seeds) in all {
            assert!(
                crate::fuzz::TARGETS.contains(&target),
                "{target} is not a target"
            );
            assert!(!seeds.is_empty(), "{target} has no seed");
        }
    }
}
