//! `cargo xtask fuzz [--smoke] [--runs N | --seconds N] [--jobs N] [TARGET]`: the cargo-fuzz targets
//! of `fuzz/` (its own workspace, built with the nightly toolchain), each started from a
//! corpus seeded from the vector files. `--smoke` runs every target for a few seconds (a
//! stage of `test-all`); without it each target runs for `--runs` executions (default ten
//! million), one at a time, at the lowest CPU priority (`--jobs N`: in N processes that
//! share the corpus and split the count), and a table of executions, rate and crashes is
//! printed at the end.

use crate::util::{have, output, run, tools_dir};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// Every target, in `fuzz/fuzz_targets/`.
pub const TARGETS: &[&str] = &[
    "codec_reader",
    "key_package",
    "mls_message",
    "welcome_join",
    "group_stage",
    "event_json",
    "nip44_decrypt",
    "gift_unwrap",
    "group_data",
    "client_process",
];

/// The cargo-fuzz version `setup` installs.
pub const CARGO_FUZZ_VERSION: &str = "0.13.2";
/// Seconds per target in `--smoke`.
pub const SMOKE_SECONDS: u64 = 4;

/// The cargo-fuzz binary xtask uses.
pub fn cargo_fuzz_bin() -> PathBuf {
    tools_dir().join("bin/cargo-fuzz")
}

/// Whether rustup has a nightly toolchain (cargo-fuzz needs its sanitizer flags).
pub fn have_nightly() -> bool {
    output(Command::new("rustup").args(["toolchain", "list"]))
        .is_some_and(|s| s.lines().any(|l| l.starts_with("nightly")))
}

/// Installs what `cargo xtask fuzz` needs: cargo-fuzz, and a nightly toolchain where rustup
/// can install one. Without a nightly the targets are built by the stable toolchain (see
/// [`Toolchain`]), so a machine whose rustup cannot download still fuzzes.
pub fn ensure_tools() -> Result<(), String> {
    if have_nightly() {
        eprintln!("setup: nightly toolchain present");
    } else if have("rustup") {
        eprintln!("setup: installing the nightly toolchain for cargo-fuzz (10 min limit)");
        if let Err(e) = run(Command::new("timeout").args([
            "600",
            "rustup",
            "toolchain",
            "install",
            "nightly",
            "--profile",
            "minimal",
        ])) {
            eprintln!(
                "setup: no nightly toolchain ({e}); fuzzing will use the stable toolchain \
                 without AddressSanitizer"
            );
        }
    }
    let bin = cargo_fuzz_bin();
    let current = output(Command::new(&bin).arg("--version"));
    if current.is_some_and(|s| s.contains(CARGO_FUZZ_VERSION)) {
        eprintln!("setup: cargo-fuzz {CARGO_FUZZ_VERSION} present");
        return Ok(());
    }
    eprintln!("setup: installing cargo-fuzz {CARGO_FUZZ_VERSION} (about a minute)");
    run(Command::new(crate::util::cargo()).args([
        "install",
        "cargo-fuzz",
        "--version",
        CARGO_FUZZ_VERSION,
        "--root",
        &tools_dir().to_string_lossy(),
    ]))
}

/// What the command was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// A few seconds per target.
    pub smoke: bool,
    /// Executions per target (full runs).
    pub runs: u64,
    /// A time limit per target instead of a count.
    pub seconds: Option<u64>,
    /// One target, or all.
    pub target: Option<String>,
    /// Processes per target, sharing its corpus (libFuzzer reloads the corpus directory,
    /// so each finds what the others add); `--runs` is split between them.
    pub jobs: u64,
}

/// Parses the command's arguments.
pub fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        smoke: false,
        runs: 10_000_000,
        seconds: None,
        target: None,
        jobs: 1,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut number = || {
            it.next()
                .and_then(|v| v.parse::<u64>().ok())
                .ok_or(format!("{a} needs a number"))
        };
        match a.as_str() {
            "--smoke" => o.smoke = true,
            "--runs" => o.runs = number()?,
            "--seconds" => o.seconds = Some(number()?),
            "--jobs" => o.jobs = number()?.max(1),
            t if TARGETS.contains(&t) => o.target = Some(t.to_owned()),
            other => {
                return Err(format!(
                    "fuzz: unknown argument {other} (targets: {})",
                    TARGETS.join(", ")
                ));
            }
        }
    }
    Ok(o)
}

/// One target's result.
struct Ran {
    target: String,
    runs: u64,
    seconds: f64,
    crashes: usize,
}

/// The number in libFuzzer's closing line "Done N runs in S second(s)".
fn runs_done(log: &str) -> Option<u64> {
    log.lines().rev().find_map(|l| {
        l.strip_prefix("Done ")?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    })
}

fn artifacts(root: &Path, target: &str) -> usize {
    std::fs::read_dir(root.join("fuzz/artifacts").join(target))
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().starts_with("crash-"))
                .count()
        })
        .unwrap_or(0)
}

/// The toolchain the fuzz targets are built with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Toolchain {
    /// rustup's nightly: libFuzzer with AddressSanitizer (it also watches the C code of
    /// secp256k1).
    Nightly,
    /// The stable toolchain with `RUSTC_BOOTSTRAP=1` for cargo-fuzz's `-Z` flags and no
    /// sanitizer (`-s none`): the same coverage-guided libFuzzer, panics and aborts are
    /// still crashes; memory errors in C code would go unseen. Used where no nightly is
    /// installed or installable.
    Stable,
}

impl Toolchain {
    /// Nightly where installed, unless `NIPEE_FUZZ_TOOLCHAIN=stable` asks for the fallback
    /// (to test it on a machine that has a nightly).
    fn pick() -> Self {
        let forced_stable = std::env::var("NIPEE_FUZZ_TOOLCHAIN").is_ok_and(|v| v == "stable");
        if have_nightly() && !forced_stable {
            Toolchain::Nightly
        } else {
            Toolchain::Stable
        }
    }
}

/// `cargo-fuzz <sub> [-s none] -O` set up for the toolchain, under `nice -n 19` for long runs.
fn cargo_fuzz(root: &Path, toolchain: Toolchain, sub: &str, nice: bool) -> Command {
    let mut c = if nice {
        // Long runs yield the CPU to everything else.
        let mut n = Command::new("nice");
        n.args(["-n", "19"]).arg(cargo_fuzz_bin());
        n
    } else {
        Command::new(cargo_fuzz_bin())
    };
    // cargo-fuzz runs `cargo` itself.
    c.current_dir(root).args(["fuzz", sub, "-O"]);
    match toolchain {
        Toolchain::Nightly => {
            c.env("RUSTUP_TOOLCHAIN", "nightly");
        }
        Toolchain::Stable => {
            c.env("RUSTC_BOOTSTRAP", "1").args(["-s", "none"]);
        }
    }
    c
}

/// Runs the command.
pub fn command(root: &Path, o: &Options) -> Result<(), String> {
    if !cargo_fuzz_bin().exists() {
        return Err("cargo-fuzz is missing: run `cargo xtask setup`".into());
    }
    let toolchain = Toolchain::pick();
    if toolchain == Toolchain::Stable {
        eprintln!("fuzz: no nightly toolchain; stable toolchain, no AddressSanitizer");
    }
    crate::fuzz_seeds::seed_corpora(root)?;
    let targets: Vec<String> = match &o.target {
        Some(t) => vec![t.clone()],
        None => TARGETS.iter().map(ToString::to_string).collect(),
    };
    run(&mut cargo_fuzz(root, toolchain, "build", false))?;
    let mut results = Vec::new();
    for t in &targets {
        let corpus = root.join("fuzz/corpus").join(t);
        let limit = if o.smoke {
            format!("-max_total_time={SMOKE_SECONDS}")
        } else if let Some(s) = o.seconds {
            format!("-max_total_time={s}")
        } else {
            format!("-runs={}", o.runs)
        };
        let before = artifacts(root, t);
        std::fs::create_dir_all(root.join("fuzz/artifacts")).map_err(|e| e.to_string())?;
        let started = Instant::now();
        let mut children = Vec::new();
        for job in 0..o.jobs {
            let limit = match (&o.seconds, o.smoke) {
                (None, false) => format!("-runs={}", o.runs.div_ceil(o.jobs)),
                _ => limit.clone(),
            };
            let log_path = root.join("fuzz/artifacts").join(if o.jobs == 1 {
                format!("{t}.log")
            } else {
                format!("{t}.job{job}.log")
            });
            let log = std::fs::File::create(&log_path).map_err(|e| e.to_string())?;
            let mut c = cargo_fuzz(root, toolchain, "run", !o.smoke);
            c.arg(t)
                .arg(&corpus)
                .args(["--", &limit, "-print_final_stats=1"])
                .stderr(log.try_clone().map_err(|e| e.to_string())?)
                .stdout(log);
            eprintln!("==> fuzz {t} ({limit}, job {} of {})", job + 1, o.jobs);
            children.push((c.spawn().map_err(|e| format!("cargo-fuzz: {e}"))?, log_path));
        }
        let mut runs = 0;
        let mut failed = None;
        for (mut child, log_path) in children {
            let status = child.wait().map_err(|e| format!("cargo-fuzz: {e}"))?;
            let text = std::fs::read_to_string(&log_path).unwrap_or_default();
            runs += runs_done(&text).unwrap_or(0);
            if !status.success() {
                failed = Some(log_path);
            }
        }
        let seconds = started.elapsed().as_secs_f64();
        let crashes = artifacts(root, t).saturating_sub(before);
        if let Some(log_path) = failed.filter(|_| crashes == 0) {
            return Err(format!(
                "fuzz {t} failed without a crash artifact; see {}",
                log_path.display()
            ));
        }
        results.push(Ran {
            target: t.clone(),
            runs,
            seconds,
            crashes,
        });
    }
    eprintln!(
        "\n{:<16} {:>12} {:>9} {:>10} {:>8}",
        "target", "executions", "seconds", "execs/s", "crashes"
    );
    for r in &results {
        eprintln!(
            "{:<16} {:>12} {:>9.0} {:>10.0} {:>8}",
            r.target,
            r.runs,
            r.seconds,
            r.runs as f64 / r.seconds.max(0.001),
            r.crashes
        );
    }
    let crashed: Vec<&str> = results
        .iter()
        .filter(|r| r.crashes > 0)
        .map(|r| r.target.as_str())
        .collect();
    if crashed.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "crashes in {} (inputs in fuzz/artifacts/)",
            crashed.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &[&str]) -> Vec<String> {
        s.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn smoke_runs_and_a_target_are_read_from_the_arguments() {
        let o = parse(&args(&["--smoke", "group_data"])).unwrap_or_else(|e| panic!("{e}"));
        assert!(o.smoke);
        assert_eq!(o.target.as_deref(), Some("group_data"));
        let o = parse(&args(&["--jobs", "2", "client_process"])).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((o.jobs, o.target.as_deref()), (2, Some("client_process")));
        let o = parse(&args(&["--runs", "5"])).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(o.jobs, 1);
        assert_eq!((o.runs, o.target), (5, None));
        assert!(parse(&args(&["nope"])).is_err());
    }

    #[test]
    fn the_closing_line_of_libfuzzer_gives_the_executions() {
        let log = "#1024 pulse\nDone 123456 runs in 10 second(s)\nstat::x: 1\n";
        assert_eq!(runs_done(log), Some(123_456));
        assert_eq!(runs_done("nothing"), None);
    }
}
