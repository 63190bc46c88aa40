//! Identity handling and the data directory, without a relay.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{command, ok, run_with_input, tmp};

const SECRET_HEX: &str = "0000000000000000000000000000000000000000000000000000000000000003";

fn import(dir: &std::path::Path, args: &[&str], stdin: Option<&str>) -> common::Run {
    let mut c = command(dir);
    c.args(["--json", "identity", "import"]).args(args);
    run_with_input(c, stdin)
}

fn npub_of(r: common::Run) -> String {
    ok(r)[0]["npub"].as_str().unwrap().to_owned()
}

#[test]
fn import_never_accepts_the_secret_as_an_argument() {
    let dir = tmp("argv");
    for args in [
        &[SECRET_HEX][..],
        &["--", SECRET_HEX],
        &["--env", "X", SECRET_HEX],
    ] {
        let r = import(&dir, args, None);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains("< key.txt"), "{}", r.stderr);
        assert!(!r.stderr.contains(SECRET_HEX) && !r.stdout.contains(SECRET_HEX));
    }
    assert!(!dir.exists(), "nothing was created");
}

#[test]
fn import_reads_standard_input_a_file_or_an_environment_variable() {
    let (a, b, c) = (tmp("stdin"), tmp("file"), tmp("env"));
    let from_stdin = npub_of(import(&a, &[], Some(&format!("{SECRET_HEX}\n"))));
    let file = std::env::temp_dir().join(format!("nipee-key-{}", rand::random::<u32>()));
    std::fs::write(&file, SECRET_HEX).unwrap();
    let from_file = npub_of(import(&b, &["--file", file.to_str().unwrap()], None));
    let mut cmd = command(&c);
    cmd.env("NIPEE_TEST_SECRET", SECRET_HEX).args([
        "--json",
        "identity",
        "import",
        "--env",
        "NIPEE_TEST_SECRET",
    ]);
    let from_env = npub_of(run_with_input(cmd, None));
    assert_eq!(from_stdin, from_file);
    assert_eq!(from_stdin, from_env);
    // Empty input and a bad secret are input errors.
    assert_eq!(import(&tmp("empty"), &[], Some("")).code, 1);
    assert_eq!(import(&tmp("bad"), &[], Some("nsec1nope\n")).code, 1);
    for d in [a, b, c] {
        std::fs::remove_dir_all(d).unwrap();
    }
    std::fs::remove_file(file).unwrap();
}

#[test]
fn export_asks_first_and_round_trips_through_import() {
    let (a, b) = (tmp("exporter"), tmp("importer"));
    let mut c = command(&a);
    c.args(["--json", "identity", "new"]);
    let npub = npub_of(run_with_input(c, None));
    // Not on a terminal and without --yes: refused, nothing printed.
    let mut c = command(&a);
    c.args(["identity", "export"]);
    let r = run_with_input(c, Some("y\n"));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stdout.is_empty() && r.stderr.contains("--yes"));
    let mut c = command(&a);
    c.args(["identity", "export", "--yes"]);
    let r = run_with_input(c, None);
    assert_eq!(r.code, 0);
    let nsec = r.stdout.trim().to_owned();
    assert!(nsec.starts_with("nsec1"));
    assert_eq!(npub_of(import(&b, &[], Some(&nsec))), npub);
    // `identity show` prints the public key only.
    let mut c = command(&b);
    c.args(["identity", "show"]);
    let r = run_with_input(c, None);
    assert_eq!(r.stdout.trim(), npub);
    for d in [a, b] {
        std::fs::remove_dir_all(d).unwrap();
    }
}

#[cfg(unix)]
#[test]
fn the_data_dir_is_created_0700_and_the_database_and_config_0600() {
    use std::os::unix::fs::PermissionsExt;
    let root = tmp("perm");
    let dir = root.join("a").join("b");
    let mut c = command(&dir);
    c.args(["--relay", "wss://relay.example", "identity", "new"]);
    assert_eq!(run_with_input(c, None).code, 0);
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&root.join("a")), 0o700);
    assert_eq!(mode(&dir.join("nipee.db")), 0o600);
    assert_eq!(mode(&dir.join("config.json")), 0o600);
    let config = std::fs::read_to_string(dir.join("config.json")).unwrap();
    assert!(config.contains("wss://relay.example"), "{config}");
    std::fs::remove_dir_all(root).unwrap();
}

#[test]
fn the_data_dir_comes_from_nipee_data_dir_when_no_option_is_given() {
    let dir = tmp("envdir");
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_nipee"));
    c.env("NIPEE_DATA_DIR", &dir).args(["identity", "new"]);
    assert_eq!(run_with_input(c, None).code, 0);
    assert!(dir.join("nipee.db").exists());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn completions_are_printed_for_bash_zsh_and_fish() {
    for shell in ["bash", "zsh", "fish"] {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_nipee"));
        c.args(["completions", shell]);
        let r = run_with_input(c, None);
        assert_eq!(r.code, 0, "{shell}");
        assert!(r.stdout.contains("keypackage"), "{shell}");
    }
}
