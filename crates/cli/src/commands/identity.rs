//! `nipee identity new|import|export|show`: the identity is stored by the client core
//! (`Client::new` on a fresh store), never written here.

use std::io::{BufRead, IsTerminal, Read, Write};

use nipee::Client;
use nipee_nostr::{Keys, PublicKey, SecretKey};
use serde_json::json;
use zeroize::Zeroizing;

use super::Ctx;
use crate::args::{IdentityCommand, ImportArgs};
use crate::output::Fail;

pub fn run(ctx: &mut Ctx, c: IdentityCommand) -> Result<(), Fail> {
    match c {
        IdentityCommand::New => create(ctx, Keys::generate(&mut rand::rng())),
        IdentityCommand::Import(a) => {
            let secret = read_secret(&a)?;
            let key = SecretKey::parse(secret.trim()).map_err(|e| {
                Fail::input(format!(
                    "the secret is not an nsec or 64 hex characters ({e})"
                ))
            })?;
            create(ctx, Keys::new(key))
        }
        IdentityCommand::Show => {
            let pk = ctx.client()?.public_key();
            show(ctx, &pk);
            Ok(())
        }
        IdentityCommand::Export { yes } => export(ctx, yes),
    }
}

fn show(ctx: &mut Ctx, pk: &PublicKey) {
    ctx.out.emit(
        pk.to_bech32(),
        json!({"npub": pk.to_bech32(), "pubkey": pk.to_hex()}),
    );
}

/// Stores `keys` as this directory's identity, through the client core.
fn create(ctx: &mut Ctx, keys: Keys) -> Result<(), Fail> {
    let storage = ctx.dir.open_storage(true, ctx.config.journal()?)?;
    if let Some(existing) = Client::stored_identity(&storage)? {
        return Err(Fail::input(format!(
            "{} already holds the identity {}: use another --data-dir for a second one",
            ctx.dir.path.display(),
            existing.to_bech32()
        )));
    }
    let client = Client::new(keys, storage, ctx.client_config())?;
    let pk = client.public_key();
    show(ctx, &pk);
    if ctx.config.relays.is_empty() {
        ctx.out
            .note("next: choose a relay with `nipee --relay wss://… keypackage publish`");
    }
    Ok(())
}

/// The secret, from `--file`, `--env` or standard input; never from the command line.
fn read_secret(a: &ImportArgs) -> Result<Zeroizing<String>, Fail> {
    if !a.refused_secret.is_empty() {
        return Err(Fail::usage(
            "`identity import` does not take the secret as an argument (it would stay in your shell history and show in the process list); \
             pipe it in: `nipee identity import < key.txt`, or use `--file PATH` or `--env VAR`",
        ));
    }
    if let Some(path) = &a.file {
        let mut s = Zeroizing::new(String::new());
        std::fs::File::open(path)
            .and_then(|mut f| f.read_to_string(&mut s))
            .map_err(|e| Fail::input(format!("reading {}: {e}", path.display())))?;
        return Ok(s);
    }
    if let Some(var) = &a.env {
        return std::env::var(var).map(Zeroizing::new).map_err(|_| {
            Fail::input(format!(
                "the environment variable {var} is not set (or not UTF-8)"
            ))
        });
    }
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("secret key (nsec or hex), then Enter: ");
        let _ = std::io::stderr().flush();
    }
    let mut s = Zeroizing::new(String::new());
    stdin
        .lock()
        .read_line(&mut s)
        .map_err(|e| Fail::input(format!("reading standard input: {e}")))?;
    if s.trim().is_empty() {
        return Err(Fail::input(
            "no secret on standard input: `nipee identity import < key.txt`, or use --file or --env",
        ));
    }
    Ok(s)
}

fn export(ctx: &mut Ctx, yes: bool) -> Result<(), Fail> {
    let client = ctx.client()?;
    if !yes {
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            return Err(Fail::usage(
                "`identity export` prints your secret key; confirm with --yes when not on a terminal",
            ));
        }
        eprint!(
            "This prints the secret key of {}: anyone who sees it can read your groups and speak as you.\nPrint it? [y/N] ",
            client.public_key().to_bech32()
        );
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        stdin
            .lock()
            .read_line(&mut answer)
            .map_err(|e| Fail::input(format!("reading the answer: {e}")))?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            return Err(Fail::input("not exported"));
        }
    }
    let nsec = client.keys().secret_key().to_bech32();
    let pk = client.public_key();
    ctx.out.emit(
        nsec.as_str(),
        json!({"nsec": nsec.as_str(), "npub": pk.to_bech32()}),
    );
    Ok(())
}
