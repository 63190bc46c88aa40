//! The dependency rule of the design card, checked from `cargo metadata`.
//!
//! ```text
//! codec → keypackage → mls ─┐
//! nostr ────────────────────┴→ nipee (sans-IO core) → nipee-sqlite, nipee-wasm
//! nostr → relay ─────────────────────────────────────→ nipee-driver → nipee-cli
//! ```
//! Crates depend strictly bottom-up. The MLS side knows nothing of Nostr and
//! the Nostr side nothing of MLS; only `nipee` joins them; nothing depends on
//! `xtask`.

use std::collections::BTreeMap;

/// The layer each workspace crate sits in, and the workspace crates it may
/// depend on (normal, build or dev dependencies alike).
pub fn allowed() -> BTreeMap<&'static str, &'static [&'static str]> {
    let mut m: BTreeMap<&'static str, &'static [&'static str]> = BTreeMap::new();
    m.insert("nipee-codec", &[]);
    m.insert("nipee-keypackage", &["nipee-codec"]);
    m.insert("nipee-mls", &["nipee-codec", "nipee-keypackage"]);
    m.insert("nipee-nostr", &[]);
    m.insert("nipee-relay", &["nipee-nostr"]);
    // The sans-IO core joins the MLS side and the Nostr side, without the relay client.
    m.insert(
        "nipee",
        &[
            "nipee-codec",
            "nipee-keypackage",
            "nipee-mls",
            "nipee-nostr",
        ],
    );
    // Hosts of the core: storage, relays, JavaScript.
    m.insert(
        "nipee-sqlite",
        &[
            "nipee-codec",
            "nipee-keypackage",
            "nipee-mls",
            "nipee-nostr",
            "nipee",
        ],
    );
    m.insert(
        "nipee-driver",
        &[
            "nipee-codec",
            "nipee-keypackage",
            "nipee-mls",
            "nipee-nostr",
            "nipee-relay",
            "nipee",
        ],
    );
    m.insert(
        "nipee-wasm",
        &[
            "nipee-codec",
            "nipee-keypackage",
            "nipee-mls",
            "nipee-nostr",
            "nipee",
        ],
    );
    m.insert(
        "nipee-cli",
        &[
            "nipee-codec",
            "nipee-keypackage",
            "nipee-mls",
            "nipee-nostr",
            "nipee-relay",
            "nipee",
            "nipee-sqlite",
            "nipee-driver",
        ],
    );
    // Test support sits on top of every library crate; nothing depends on it.
    m.insert(
        "nipee-test-support",
        &[
            "nipee-codec",
            "nipee-keypackage",
            "nipee-mls",
            "nipee-nostr",
            "nipee-relay",
            "nipee",
            "nipee-sqlite",
            "nipee-driver",
        ],
    );
    m.insert("xtask", &[]);
    m
}

/// One dependency edge between workspace crates that the rule forbids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    /// `from` depends on `to`, which its layer may not use.
    Forbidden {
        /// The depending crate.
        from: String,
        /// The dependency.
        to: String,
    },
    /// A workspace crate the rule does not know: add it to [`allowed`].
    UnknownCrate(String),
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Violation::Forbidden { from, to } => {
                write!(f, "{from} must not depend on {to} (dependency rule)")
            }
            Violation::UnknownCrate(name) => {
                write!(f, "{name} is not placed in a layer (xtask/src/deps.rs)")
            }
        }
    }
}

/// Checks `edges` (crate → its workspace dependencies) against the rule.
pub fn check(edges: &BTreeMap<String, Vec<String>>) -> Vec<Violation> {
    let rule = allowed();
    let mut out = Vec::new();
    for (from, tos) in edges {
        let Some(ok) = rule.get(from.as_str()) else {
            out.push(Violation::UnknownCrate(from.clone()));
            continue;
        };
        for to in tos {
            if !ok.contains(&to.as_str()) {
                out.push(Violation::Forbidden {
                    from: from.clone(),
                    to: to.clone(),
                });
            }
        }
    }
    out
}

/// Reads the workspace's crate-to-crate edges from `cargo metadata` JSON.
pub fn edges_from_metadata(
    meta: &serde_json::Value,
) -> Result<BTreeMap<String, Vec<String>>, String> {
    let members: Vec<&str> = meta["workspace_members"]
        .as_array()
        .ok_or("cargo metadata: no workspace_members")?
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    let packages = meta["packages"]
        .as_array()
        .ok_or("cargo metadata: no packages")?;
    let names: Vec<&str> = packages
        .iter()
        .filter(|p| p["id"].as_str().is_some_and(|id| members.contains(&id)))
        .filter_map(|p| p["name"].as_str())
        .collect();
    let mut edges = BTreeMap::new();
    for p in packages {
        let Some(id) = p["id"].as_str() else { continue };
        if !members.contains(&id) {
            continue;
        }
        let name = p["name"]
            .as_str()
            .ok_or("package without name")?
            .to_string();
        let mut deps: Vec<String> = p["dependencies"]
            .as_array()
            .map(|ds| {
                ds.iter()
                    .filter_map(|d| d["name"].as_str())
                    .filter(|d| names.contains(d) && *d != name)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        deps.sort();
        deps.dedup();
        edges.insert(name, deps);
    }
    Ok(edges)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edges(list: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
            .collect()
    }

    #[test]
    fn the_layered_graph_passes() {
        let e = edges(&[
            ("nipee-codec", &[]),
            ("nipee-keypackage", &["nipee-codec"]),
            ("nipee-mls", &["nipee-codec", "nipee-keypackage"]),
            ("nipee-nostr", &[]),
            ("nipee-relay", &["nipee-nostr"]),
            ("nipee", &["nipee-mls", "nipee-nostr"]),
            ("nipee-sqlite", &["nipee"]),
            ("nipee-driver", &["nipee", "nipee-relay"]),
            ("nipee-wasm", &["nipee"]),
            ("nipee-cli", &["nipee", "nipee-driver", "nipee-sqlite"]),
            (
                "nipee-test-support",
                &["nipee", "nipee-driver", "nipee-sqlite"],
            ),
        ]);
        assert_eq!(check(&e), vec![]);
    }

    #[test]
    fn the_sans_io_core_may_not_use_the_relay_client_or_its_hosts() {
        let e = edges(&[("nipee", &["nipee-mls", "nipee-relay", "nipee-sqlite"])]);
        assert_eq!(
            check(&e),
            vec![
                Violation::Forbidden {
                    from: "nipee".into(),
                    to: "nipee-relay".into()
                },
                Violation::Forbidden {
                    from: "nipee".into(),
                    to: "nipee-sqlite".into()
                }
            ]
        );
    }

    #[test]
    fn the_wasm_facade_may_not_use_native_hosts() {
        let e = edges(&[("nipee-wasm", &["nipee", "nipee-driver"])]);
        assert_eq!(check(&e).len(), 1);
    }

    #[test]
    fn mls_depending_on_nostr_is_refused() {
        let e = edges(&[("nipee-mls", &["nipee-codec", "nipee-nostr"])]);
        assert_eq!(
            check(&e),
            vec![Violation::Forbidden {
                from: "nipee-mls".into(),
                to: "nipee-nostr".into()
            }]
        );
    }

    #[test]
    fn downward_and_sideways_edges_are_refused() {
        let e = edges(&[
            ("nipee-codec", &["nipee-keypackage"]),
            ("nipee-nostr", &["nipee-relay"]),
            ("nipee-relay", &["nipee-codec"]),
            ("nipee-wasm", &["nipee-relay"]),
            ("nipee", &["xtask"]),
        ]);
        assert_eq!(check(&e).len(), 5);
    }

    #[test]
    fn an_unplaced_crate_is_reported() {
        let e = edges(&[("nipee-newthing", &[])]);
        assert_eq!(
            check(&e),
            vec![Violation::UnknownCrate("nipee-newthing".into())]
        );
    }

    #[test]
    fn this_workspace_obeys_the_rule() {
        let out = std::process::Command::new(std::env::var("CARGO").unwrap_or("cargo".into()))
            .args(["metadata", "--format-version", "1", "--no-deps"])
            .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
            .output()
            .expect("cargo metadata runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let e = edges_from_metadata(&meta).unwrap();
        assert!(
            e.contains_key("nipee-codec"),
            "the metadata lists the workspace"
        );
        let violations = check(&e);
        assert!(violations.is_empty(), "{violations:?}");
    }
}
