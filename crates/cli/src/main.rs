//! `nipee`: NIP-EE end-to-end encrypted group messaging from the command line.
//!
//! Built on the client core (`nipee::Client`), its SQLite storage (`nipee_sqlite`) and the
//! native driver (`nipee_driver::Driver`): the CLI parses arguments, names groups and
//! people, and prints; every protocol step and every write of the database is the core's.
//! `nipee --help` lists the commands, and each command's `--help` has examples.
//!
//! Results go to stdout (one JSON object per line with `--json`), progress and notes to
//! stderr. Exit codes: 0 success, 1 protocol or input error, 2 usage, 3 relay failure or
//! timeout (also a commit left pending), 4 storage failure.

mod args;
mod chat;
mod commands;
mod config;
mod output;

use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use serde_json::json;

use crate::args::{Cli, Command};
use crate::output::EXIT_INPUT;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    if let Command::Completions { shell } = cli.command {
        clap_complete::generate(shell, &mut Cli::command(), "nipee", &mut std::io::stdout());
        return ExitCode::SUCCESS;
    }
    let json = cli.json;
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_INPUT);
        }
    };
    match rt.block_on(commands::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            if json {
                println!("{}", json!({"error": f.message, "exit_code": f.code}));
            }
            eprintln!("error: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}
