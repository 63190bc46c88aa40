//! Build, setup and test automation for nipee: `cargo xtask <command>`.
//!
//! * `setup`: installs what the tests need (a wasm32 std, wasm-bindgen-cli,
//!   Chromium + chromedriver, the npm packages of `wasm-tests/`, the test
//!   relay), only what is missing.
//! * `wasm`: builds `nipee-wasm` and packages it into `target/wasm-pkg/{web,nodejs}`.
//! * `wasm-bench`: the package's speed in headless Chromium against native nipee (one
//!   thread) and nostr-tools, as a table (docs/PERFORMANCE.md).
//! * `test-all [--stress]`: every check, ending with a table of stages (`--stress`: the
//!   tests run beside a CPU hog that keeps every core busy).
//! * `bench`: the criterion benchmarks of the workspace, then the client against MDK
//!   (`crates/test-support/mdk-interop`, its own workspace); extra arguments go to criterion.
//! * `check-deps`: the dependency rule of the design card.
//! * `tidy`: repository hygiene (nothing refers outside the repository; no module circle).
//! * `fresh-check`: tidy and the wasm32 C build in a fresh clone with a clean environment.
//! * `sim [--seeds N] [--first N]`: the convergence simulation over N seeds (default 1000).
//! * `fuzz [--smoke] [--runs N | --seconds N] [TARGET]`: the cargo-fuzz targets of `fuzz/`.

mod circles;
mod deps;
mod fresh;
mod fuzz;
mod fuzz_seeds;
mod setup;
mod sim;
mod stress;
mod tidy;
mod tools;
mod util;
mod visualizer;
mod wasm;
mod wasm_bench;

use std::process::{Command, ExitCode};
use std::time::Instant;
use util::{cargo, root, run};

const USAGE: &str = "usage: cargo xtask <setup | wasm | wasm-bench [--runs N] | test-all [--stress] | bench [criterion args] | \
                     check-deps | tidy | fresh-check | visualizer [--test] [--port N] | \
                     sim [--seeds N] [--first N] | fuzz [--smoke] [--runs N | --seconds N] \
                     [TARGET]>";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("setup") => setup::setup(&root()).map(|_| ()),
        Some("wasm") => cmd_wasm(),
        Some("wasm-bench") => wasm_bench::command(&root(), &args[1..]),
        Some("test-all") => return test_all(args.iter().any(|a| a == "--stress")),
        Some("bench") => cmd_bench(&args[1..]),
        Some("check-deps") => check_deps(),
        Some("tidy") => tidy::check(&root()),
        Some("visualizer") => visualizer::command(&args[1..]),
        Some("fresh-check") => fresh::fresh_check(&root()),
        Some("fuzz") => fuzz::parse(&args[1..]).and_then(|o| fuzz::command(&root(), &o)),
        Some("sim") => {
            sim::parse(&args[1..]).and_then(|(first, n)| sim::run_seeds(&root(), first, n, true))
        }
        // Used by fresh-check inside the clone: the wasm32 build's C dependency alone.
        Some("wasm-c-check") => cmd_wasm_c_check(),
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

fn cmd_wasm_c_check() -> Result<(), String> {
    let route = setup::wasm_route().ok_or("no wasm32 toolchain: run `cargo xtask setup`")?;
    wasm::build_c_dependency(&root(), route)
}

fn cmd_bench(extra: &[String]) -> Result<(), String> {
    let root = root();
    let mut c = Command::new(cargo());
    c.current_dir(&root).args(["bench", "--workspace"]);
    if !extra.is_empty() {
        c.arg("--").args(extra);
    }
    run(&mut c)?;
    // The client against MDK: a workspace of its own (its own lock file), built into the
    // same target directory as the MDK interop test stage of test-all.
    let manifest = root.join("crates/test-support/mdk-interop/Cargo.toml");
    let mut c = Command::new(cargo());
    c.current_dir(&root)
        .args(["bench", "--locked", "--manifest-path"])
        .arg(&manifest)
        .env("CARGO_TARGET_DIR", util::target_dir(&root));
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
    missing: Vec<tools::Missing>,
    f: &mut dyn FnMut() -> Result<(), String>,
) -> bool {
    eprintln!("\n==> {name}");
    let t = Instant::now();
    let checked = if missing.is_empty() {
        f()
    } else {
        Err(missing
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; "))
    };
    let outcome = match checked {
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

fn test_all(stress: bool) -> ExitCode {
    let root = root();
    let mut stages: Vec<Stage> = Vec::new();

    // Setup installs whatever is missing; then every stage first checks that the tools
    // it needs are there and names a missing one instead of failing inside a build.
    let mut route = None;
    run_stage(&mut stages, "setup", vec![], &mut || {
        route = Some(setup::setup(&root)?);
        Ok(())
    });
    let route = route.or_else(setup::wasm_route);
    let needs = |n: tools::Needs| tools::missing_for(&root, n, route);
    let relay_bin = setup::relay_bin();
    let cargo_in_root = |args: &[&str]| {
        let mut c = Command::new(cargo());
        c.current_dir(&root)
            .args(args)
            .env("NIPEE_RELAY_BIN", &relay_bin);
        c
    };
    run_stage(&mut stages, "tidy", vec![], &mut || tidy::check(&root));
    run_stage(&mut stages, "fmt", needs(tools::Needs::Fmt), &mut || {
        run(&mut cargo_in_root(&["fmt", "--all", "--check"]))
    });
    run_stage(
        &mut stages,
        "clippy",
        needs(tools::Needs::Clippy),
        &mut || {
            run(&mut cargo_in_root(&[
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ]))
        },
    );
    run_stage(&mut stages, "dependency rule", vec![], &mut check_deps);
    let test_stage = if stress {
        "test (beside a CPU hog)"
    } else {
        "test"
    };
    run_stage(
        &mut stages,
        test_stage,
        needs(tools::Needs::Tests),
        &mut || {
            let _hog = stress.then(stress::Hog::start);
            run(&mut cargo_in_root(&[
                "test",
                "--workspace",
                "--no-fail-fast",
            ]))
        },
    );
    run_stage(&mut stages, "fuzz smoke", vec![], &mut || {
        fuzz::command(
            &root,
            &fuzz::Options {
                smoke: true,
                runs: 0,
                seconds: None,
                target: None,
                jobs: 1,
            },
        )
    });
    // The Marmot interop tests against MDK keep a workspace (and lock file) of their own:
    // MDK's OpenMLS 0.8 and the OpenMLS 0.9 dev-dependency above pin incompatible versions
    // of a shared crate. They build into the same target dir, and their real-relay test runs
    // the `nipee` binary the test stage just built.
    run_stage(
        &mut stages,
        "MDK interop (marmot profile)",
        needs(tools::Needs::Tests),
        &mut || {
            let manifest = root.join("crates/test-support/mdk-interop/Cargo.toml");
            let manifest = manifest.to_string_lossy();
            let target = util::target_dir(&root);
            run(&mut cargo_in_root(&[
                "fmt",
                "--manifest-path",
                &manifest,
                "--check",
            ]))?;
            run(cargo_in_root(&[
                "clippy",
                "--manifest-path",
                &manifest,
                "--locked",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ])
            .env("CARGO_TARGET_DIR", &target))?;
            // The `nipee` binary as the test stage built it (for the CLI's integration
            // tests): `cargo build -p nipee-cli` would resolve features for that package
            // alone and rebuild much of the dependency tree (2.4 min in a fresh-clone run).
            run(&mut cargo_in_root(&[
                "test",
                "--workspace",
                "--no-run",
                "--quiet",
            ]))?;
            run(
                cargo_in_root(&["test", "--manifest-path", &manifest, "--locked"])
                    .env("CARGO_TARGET_DIR", &target)
                    .env("NIPEE_BIN", target.join("debug").join("nipee")),
            )
        },
    );
    run_stage(
        &mut stages,
        "simulation (50 seeds)",
        needs(tools::Needs::Tests),
        &mut || sim::run_seeds(&root, 0, sim::TEST_ALL_SEEDS, false),
    );
    run_stage(&mut stages, "doc", vec![], &mut || {
        run(cargo_in_root(&["doc", "--workspace", "--no-deps"]).env("RUSTDOCFLAGS", "-D warnings"))
    });
    let wasm_ok = run_stage(
        &mut stages,
        "wasm32 build (all library crates)",
        needs(tools::Needs::WasmBuild),
        &mut || match route {
            Some(route) => wasm::build_libs(&root, route),
            None => Err("no wasm32 toolchain".into()),
        },
    ) && run_stage(
        &mut stages,
        "wasm package (web + nodejs)",
        needs(tools::Needs::WasmPackage),
        &mut || match route {
            Some(route) => wasm::package(&root, route),
            None => Err("no wasm32 toolchain".into()),
        },
    );
    if wasm_ok {
        run_stage(&mut stages, "wasm size budget", vec![], &mut || {
            wasm::check_size_budget(&root)
        });
    }
    let pkg = wasm::pkg_dir(&root);
    for (name, file, need) in [
        ("wasm tests in Node", "node.test.mjs", tools::Needs::Node),
        (
            "wasm tests in headless Chromium",
            "browser.test.mjs",
            tools::Needs::Browser,
        ),
    ] {
        if !wasm_ok {
            stages.push(Stage {
                name,
                outcome: Outcome::Skipped("the wasm build failed"),
                seconds: 0.0,
            });
            continue;
        }
        run_stage(&mut stages, name, needs(need), &mut || {
            run(Command::new("node")
                .args(["--test", "--test-reporter=spec", file])
                .current_dir(root.join("wasm-tests"))
                .env("NIPEE_WASM_PKG", &pkg))
        });
    }
    if wasm_ok {
        let mut missing = needs(tools::Needs::Browser);
        missing.extend(needs(tools::Needs::Tests));
        run_stage(
            &mut stages,
            "interop: browser and CLI over the relay",
            missing.clone(),
            &mut || {
                // The `nipee` binary as the test stage built it (see the MDK stage).
                run(&mut cargo_in_root(&[
                    "test",
                    "--workspace",
                    "--no-run",
                    "--quiet",
                ]))?;
                run(Command::new("node")
                    .args(["--test", "--test-reporter=spec", "interop.test.mjs"])
                    .current_dir(root.join("wasm-tests"))
                    .env("NIPEE_WASM_PKG", &pkg)
                    .env("NIPEE_RELAY_BIN", &relay_bin)
                    .env("NIPEE_CLI_BIN", util::target_dir(&root).join("debug/nipee")))
            },
        );
        run_stage(&mut stages, "visualizer (Playwright)", missing, &mut || {
            visualizer::test_with_package(&root, &pkg)
        });
    } else {
        stages.push(Stage {
            name: "visualizer (Playwright)",
            outcome: Outcome::Skipped("the wasm build failed"),
            seconds: 0.0,
        });
    }
    run_stage(
        &mut stages,
        "fresh clone, clean environment",
        needs(tools::Needs::WasmBuild),
        &mut || fresh::fresh_check(&root),
    );

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
