//! Runners for the official MLS test vectors (`mlswg/mls-implementations`), shared by the
//! `mls-vectors` example and the crate's tests. Enabled by the `test-vectors` feature.
//!
//! Each runner checks every case of a file whose cipher suite this crate implements and skips
//! the others; a case of a supported suite is never skipped.
#![allow(clippy::missing_errors_doc)]

mod framing_vectors;
mod messages_vectors;
mod passive;
mod schedule_vectors;
mod tree_vectors;

use serde_json::Value;

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
        "tree-math" => schedule_vectors::tree_math,
        "crypto-basics" => schedule_vectors::crypto_basics,
        "key-schedule" => schedule_vectors::key_schedule,
        "psk_secret" => schedule_vectors::psk_secret,
        "secret-tree" => schedule_vectors::secret_tree,
        "transcript-hashes" => schedule_vectors::transcript_hashes,
        "message-protection" => framing_vectors::message_protection,
        "welcome" => framing_vectors::welcome,
        "deserialization" => framing_vectors::deserialization,
        "tree-validation" => tree_vectors::tree_validation,
        "tree-operations" => tree_vectors::tree_operations,
        "treekem" => tree_vectors::treekem,
        "messages" => messages_vectors::messages,
        // Any file of the passive-client schema.
        "passive-client" => passive::passive_client,
        other => return Err(format!("vector type {other:?} is not implemented")),
    };
    let mut out = Outcome::default();
    for (i, case) in cases.iter().enumerate() {
        // messages.json has no cipher_suite field: its suite is that of its KeyPackage.
        if kind == "messages" && messages_vectors::messages_suite(case)? != 1 {
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

pub(crate) fn hex_of(v: &Value, name: &str) -> Result<Vec<u8>, String> {
    let s = v
        .as_str()
        .ok_or_else(|| format!("{name} is not a string"))?;
    hex::decode(s).map_err(|e| format!("{name}: bad hex: {e}"))
}

pub(crate) fn hex_field(v: &Value, name: &str) -> Result<Vec<u8>, String> {
    hex_of(field(v, name)?, name)
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
