//! `cargo xtask sim [--seeds N] [--first N]`: the convergence simulation of
//! `nipee-test-support` over N seeds (default 1000), two seeds at a time, built with
//! `--release` (the MLS engine is ten times faster there), ending with `N passed, M failed`.
//! `test-all` runs a smaller count as its own stage, in the test profile it has built.

use crate::util::{cargo, run};
use std::path::Path;
use std::process::Command;

/// The seeds `cargo xtask sim` runs by default.
pub const DEFAULT_SEEDS: u64 = 1000;
/// The seeds `cargo xtask test-all` runs.
pub const TEST_ALL_SEEDS: u64 = 50;

/// Parses `--seeds N` and `--first N`.
pub fn parse(args: &[String]) -> Result<(u64, u64), String> {
    let mut seeds = DEFAULT_SEEDS;
    let mut first = 0;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let value = |it: &mut std::slice::Iter<'_, String>| {
            it.next()
                .and_then(|v| v.parse::<u64>().ok())
                .ok_or(format!("{a} needs a number"))
        };
        match a.as_str() {
            "--seeds" => seeds = value(&mut it)?,
            "--first" => first = value(&mut it)?,
            other => return Err(format!("sim: unknown argument {other}")),
        }
    }
    Ok((first, seeds))
}

/// Runs seeds `first..first + seeds`, optimised with `release`.
pub fn run_seeds(root: &Path, first: u64, seeds: u64, release: bool) -> Result<(), String> {
    let mut c = Command::new(cargo());
    c.current_dir(root).arg("test");
    if release {
        c.arg("--release");
    }
    run(c
        .args([
            "-p",
            "nipee-test-support",
            "--test",
            "sim",
            "every_seed",
            "--",
            "--nocapture",
        ])
        .env("NIPEE_SIM_SEEDS", seeds.to_string())
        .env("NIPEE_SIM_FIRST", first.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &[&str]) -> Vec<String> {
        s.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn seeds_and_first_seed_are_read_from_the_arguments() {
        assert_eq!(parse(&[]), Ok((0, DEFAULT_SEEDS)));
        assert_eq!(parse(&args(&["--seeds", "20"])), Ok((0, 20)));
        assert_eq!(parse(&args(&["--first", "5", "--seeds", "2"])), Ok((5, 2)));
        assert!(parse(&args(&["--seeds"])).is_err());
        assert!(parse(&args(&["--fast"])).is_err());
    }
}
