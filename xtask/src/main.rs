//! Build, setup and test automation for nipee: `cargo xtask <command>`.
//!
//! * `setup`: installs what the tests need (a wasm32 std, wasm-bindgen-cli,
//!   Chromium + chromedriver, the npm packages of `wasm-tests/`, the test
//!   relay), only what is missing.
//! * `wasm`: builds `nipee-wasm` and packages it into `target/wasm-pkg/{web,nodejs}`.
//! * `test-all`: every check, ending with a table of stages.
//! * `bench`: the criterion benchmarks (extra arguments go to criterion).
//! * `check-deps`: the dependency rule of the design card.

mod deps;
mod setup;
mod util;
mod wasm;

use std::process::{Command, ExitCode};
use std::time::Instant;
use util::{cargo, root, run};

const USAGE: &str =
    "usage: cargo xtask <setup | wasm | test-all | bench [criterion args] | check-deps>";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("setup") => setup::setup(&root()).map(|_| ()),
        Some("wasm") => cmd_wasm(),
        Some("test-all") => return test_all(),
        Some("bench") => cmd_bench(&args[1..]),
        Some("check-deps") => check_deps(),
        _ => Err(USAGE.to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

fn cmd_wasm() -> Result<(), String> {
    let root = root();
    let route = setup::wasm_route().ok_or("no wasm32 toolchain: run `cargo xtask setup`")?;
    wasm::build_libs(&root, route)?;
    wasm::package(&root, route)
}

fn cmd_bench(extra: &[String]) -> Result<(), String> {
    let mut c = Command::new(cargo());
    c.current_dir(root()).args(["bench", "--workspace"]);
    if !extra.is_empty() {
        c.arg("--").args(extra);
    }
    run(&mut c)
}

fn check_deps() -> Result<(), String> {
    let json = util::output(
        Command::new(cargo())
            .args(["metadata", "--format-version", "1", "--no-deps"])
            .current_dir(root()),
    )
    .ok_or("cargo metadata failed")?;
    let meta: serde_json::Value = serde_json::from_str(&json).map_err(|e| e.to_string())?;
    let edges = deps::edges_from_metadata(&meta)?;
    let violations = deps::check(&edges);
    if violations.is_empty() {
        eprintln!("dependency rule: {} crates, no forbidden edge", edges.len());
        Ok(())
    } else {
        Err(violations
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n"))
    }
}

struct Stage {
    name: &'static str,
    outcome: Outcome,
    seconds: f64,
}

enum Outcome {
    Pass,
    Fail(String),
    Skipped(&'static str),
}

fn run_stage(
    stages: &mut Vec<Stage>,
    name: &'static str,
    f: &mut dyn FnMut() -> Result<(), String>,
) -> bool {
    eprintln!("\n==> {name}");
    let t = Instant::now();
    let outcome = match f() {
        Ok(()) => Outcome::Pass,
        Err(e) => {
            eprintln!("xtask: stage {name} failed: {e}");
            Outcome::Fail(e)
        }
    };
    let passed = matches!(outcome, Outcome::Pass);
    stages.push(Stage {
        name,
        outcome,
        seconds: t.elapsed().as_secs_f64(),
    });
    passed
}

fn test_all() -> ExitCode {
    let root = root();
    let mut stages: Vec<Stage> = Vec::new();
    let mut stage = |name: &'static str, f: &mut dyn FnMut() -> Result<(), String>| {
        run_stage(&mut stages, name, f)
    };

    let mut route = None;
    let setup_ok = stage("setup", &mut || {
        route = Some(setup::setup(&root)?);
        Ok(())
    });
    let relay_bin = setup::relay_bin();
    let cargo_in_root = |args: &[&str]| {
        let mut c = Command::new(cargo());
        c.current_dir(&root)
            .args(args)
            .env("NIPEE_RELAY_BIN", &relay_bin);
        c
    };
    stage("fmt", &mut || {
        run(&mut cargo_in_root(&["fmt", "--all", "--check"]))
    });
    stage("clippy", &mut || {
        run(&mut cargo_in_root(&[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]))
    });
    stage("dependency rule", &mut check_deps);
    stage("test", &mut || {
        run(&mut cargo_in_root(&["test", "--workspace"]))
    });
    stage("doc", &mut || {
        run(cargo_in_root(&["doc", "--workspace", "--no-deps"]).env("RUSTDOCFLAGS", "-D warnings"))
    });

    let wasm_ok = match (setup_ok, route) {
        (true, Some(route)) => {
            stage("wasm32 build (all library crates)", &mut || {
                wasm::build_libs(&root, route)
            }) && stage("wasm package (web + nodejs)", &mut || {
                wasm::package(&root, route)
            })
        }
        _ => false,
    };
    let pkg = wasm::pkg_dir(&root);
    let mut skipped = Vec::new();
    for (name, file) in [
        ("wasm tests in Node", "node.test.mjs"),
        ("wasm tests in headless Chromium", "browser.test.mjs"),
    ] {
        if wasm_ok {
            stage(name, &mut || {
                run(Command::new("node")
                    .args(["--test", "--test-reporter=spec", file])
                    .current_dir(root.join("wasm-tests"))
                    .env("NIPEE_WASM_PKG", &pkg))
            });
        } else {
            skipped.push(name);
        }
    }

    for name in skipped {
        stages.push(Stage {
            name,
            outcome: Outcome::Skipped("the wasm build failed"),
            seconds: 0.0,
        });
    }
    eprintln!("\n{:<40} {:<8} {:>9}", "stage", "result", "seconds");
    eprintln!("{}", "-".repeat(59));
    let mut failed = 0;
    for s in &stages {
        let result = match &s.outcome {
            Outcome::Pass => "pass",
            Outcome::Fail(_) => {
                failed += 1;
                "FAIL"
            }
            Outcome::Skipped(_) => {
                failed += 1;
                "skipped"
            }
        };
        eprintln!("{:<40} {:<8} {:>9.1}", s.name, result, s.seconds);
    }
    for s in &stages {
        match &s.outcome {
            Outcome::Fail(e) => eprintln!("  {}: {e}", s.name),
            Outcome::Skipped(why) => eprintln!("  {}: skipped: {why}", s.name),
            Outcome::Pass => {}
        }
    }
    if failed == 0 {
        eprintln!("test-all: all {} stages passed", stages.len());
        ExitCode::SUCCESS
    } else {
        eprintln!("test-all: {failed} of {} stages did not pass", stages.len());
        ExitCode::FAILURE
    }
}
