//! `nipee`: NIP-EE group messaging from the command line.
//!
//! ```text
//! nipee --data-dir D [--relay URL]… [--json] COMMAND
//!   identity new | identity import NSEC_OR_HEX | identity show
//!   keypackage publish [--last-resort]
//!   group create NAME [--description TEXT] [--invite NPUB]…
//!   group invite GROUP NPUB… | group remove GROUP NPUB… | group rotate GROUP | group leave GROUP
//!   groups | members GROUP
//!   send GROUP TEXT | react GROUP EVENT_ID EMOJI
//!   listen [--count N] [--timeout SECONDS]
//! ```
//!
//! GROUP is the hex nostr_group_id, a unique prefix of it, or the group name. State lives in
//! `D/nipee.db` (SQLite, mode 0600), including the identity key. Relays given with `--relay`
//! are remembered. Progress goes to stderr, results to stdout (one JSON object per line
//! with `--json`). Exit codes: 0 success, 1 protocol or input error, 2 usage, 3 relay
//! (network) failure, 4 storage failure.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use nipee::driver::Driver;
use nipee::storage::{Blob, SqliteStorage, Storage, Table, WriteBatch};
use nipee::{Client, ClientConfig, ErrorKind, Outcome};
use nipee_nostr::{EventId, Keys, PublicKey, SecretKey};
use nipee_relay::{Pool, PoolConfig};
use serde_json::json;

const USAGE: &str = "usage: nipee --data-dir D [--relay URL]... [--json] COMMAND
commands:
  identity new | identity import NSEC | identity show
  keypackage publish [--last-resort]
  group create NAME [--description TEXT] [--invite NPUB]...
  group invite GROUP NPUB... | group remove GROUP NPUB... | group rotate GROUP | group leave GROUP
  groups | members GROUP
  send GROUP TEXT | react GROUP EVENT_ID EMOJI
  listen [--count N] [--timeout SECONDS]";

/// A failure with its exit code.
struct Fail {
    code: u8,
    message: String,
}

impl Fail {
    fn usage(m: impl Into<String>) -> Fail {
        Fail {
            code: 2,
            message: m.into(),
        }
    }
    fn input(m: impl Into<String>) -> Fail {
        Fail {
            code: 1,
            message: m.into(),
        }
    }
}

impl From<nipee::Error> for Fail {
    fn from(e: nipee::Error) -> Fail {
        let code = match e.kind() {
            ErrorKind::Network => 3,
            ErrorKind::Storage => 4,
            _ => 1,
        };
        Fail {
            code,
            message: e.to_string(),
        }
    }
}

impl From<nipee_nostr::Error> for Fail {
    fn from(e: nipee_nostr::Error) -> Fail {
        Fail::input(e.to_string())
    }
}

struct Args {
    data_dir: PathBuf,
    relays: Vec<String>,
    json: bool,
    rest: Vec<String>,
}

fn parse_args(argv: Vec<String>) -> Result<Args, Fail> {
    let mut data_dir = None;
    let mut relays = Vec::new();
    let mut json = false;
    let mut rest = Vec::new();
    let mut it = argv.into_iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--data-dir" => {
                data_dir = Some(PathBuf::from(
                    it.next()
                        .ok_or_else(|| Fail::usage("--data-dir needs a value"))?,
                ))
            }
            "--relay" => relays.push(
                it.next()
                    .ok_or_else(|| Fail::usage("--relay needs a value"))?,
            ),
            "--json" => json = true,
            "-h" | "--help" => {
                return Err(Fail {
                    code: 0,
                    message: USAGE.to_owned(),
                });
            }
            _ => rest.push(a),
        }
    }
    let data_dir = data_dir.ok_or_else(|| Fail::usage("--data-dir is required"))?;
    Ok(Args {
        data_dir,
        relays,
        json,
        rest,
    })
}

/// Takes `--name value` options out of `rest`.
fn take_opt(rest: &mut Vec<String>, name: &str) -> Result<Vec<String>, Fail> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < rest.len() {
        if rest[i] == name {
            if i + 1 >= rest.len() {
                return Err(Fail::usage(format!("{name} needs a value")));
            }
            out.push(rest.remove(i + 1));
            rest.remove(i);
        } else {
            i += 1;
        }
    }
    Ok(out)
}

fn take_flag(rest: &mut Vec<String>, name: &str) -> bool {
    let before = rest.len();
    rest.retain(|a| a != name);
    rest.len() != before
}

struct Out {
    json: bool,
}

impl Out {
    fn progress(&self, m: &str) {
        eprintln!("… {m}");
    }
    fn result(&self, text: String, value: serde_json::Value) {
        if self.json {
            println!("{value}");
        } else {
            println!("{text}");
        }
    }
}

fn open_storage(dir: &PathBuf) -> Result<SqliteStorage, Fail> {
    std::fs::create_dir_all(dir).map_err(|e| Fail {
        code: 4,
        message: format!("{}: {e}", dir.display()),
    })?;
    Ok(SqliteStorage::open(dir.join("nipee.db"))?)
}

fn load_identity(storage: &SqliteStorage) -> Result<Keys, Fail> {
    let blob = storage
        .get(Table::Meta, b"identity")?
        .ok_or_else(|| Fail::input("no identity: run `nipee identity new` or `identity import`"))?;
    let secret = Blob::decode(1, &blob)?;
    let bytes: [u8; 32] = secret.try_into().map_err(|_| Fail {
        code: 4,
        message: "stored identity is corrupt".into(),
    })?;
    Ok(Keys::new(SecretKey::from_bytes(&bytes)?))
}

fn store_identity(storage: &mut SqliteStorage, keys: &Keys) -> Result<(), Fail> {
    let mut b = WriteBatch::new();
    b.put(
        Table::Meta,
        b"identity".to_vec(),
        Blob::encode(1, keys.secret_key().to_secret_bytes().as_slice()),
    );
    Ok(storage.apply(b)?)
}

fn relays_of(storage: &mut SqliteStorage, given: &[String]) -> Result<Vec<String>, Fail> {
    if !given.is_empty() {
        let mut b = WriteBatch::new();
        b.put(
            Table::Meta,
            b"relays".to_vec(),
            Blob::encode(1, given.join("\n").as_bytes()),
        );
        storage.apply(b)?;
        return Ok(given.to_vec());
    }
    match storage.get(Table::Meta, b"relays")? {
        Some(v) => Ok(String::from_utf8_lossy(Blob::decode(1, &v)?)
            .lines()
            .map(str::to_owned)
            .collect()),
        None => Ok(Vec::new()),
    }
}

fn npub(pk: &PublicKey) -> String {
    pk.to_bech32()
}

fn find_group(client: &Client<SqliteStorage>, arg: &str) -> Result<[u8; 32], Fail> {
    let groups = client.groups();
    let lower = arg.to_lowercase();
    let matches: Vec<[u8; 32]> = groups
        .iter()
        .filter(|g| hex::encode(g.nostr_group_id).starts_with(&lower) || g.data.name == arg)
        .map(|g| g.nostr_group_id)
        .collect();
    match matches.as_slice() {
        [one] => Ok(*one),
        [] => Err(Fail::input(format!(
            "no group matches {arg:?} (see `nipee groups`)"
        ))),
        _ => Err(Fail::input(format!(
            "{arg:?} matches several groups; give more of the id"
        ))),
    }
}

fn parse_keys(args: &[String]) -> Result<Vec<PublicKey>, Fail> {
    args.iter()
        .map(|a| PublicKey::parse(a).map_err(|e| Fail::input(format!("{a}: {e}"))))
        .collect()
}

fn describe(client: &Client<SqliteStorage>, o: &Outcome) -> (String, serde_json::Value) {
    let name = |gid: &[u8; 32]| client.group(gid).map(|g| g.data.name).unwrap_or_default();
    match o {
        Outcome::Message {
            nostr_group_id,
            event,
            epoch,
            ..
        } => (
            format!(
                "[{}] {}: {}{}",
                name(nostr_group_id),
                npub(&event.pubkey),
                if event.kind.as_u16() == 7 {
                    "reacted "
                } else {
                    ""
                },
                event.content
            ),
            json!({"type": "message", "group": hex::encode(nostr_group_id), "epoch": epoch,
                   "id": event.id().to_hex(), "kind": event.kind.as_u16(), "author": event.pubkey.to_hex(),
                   "created_at": event.created_at.as_u64(), "content": event.content,
                   "tags": event.tags.iter().map(|t| t.as_slice().to_vec()).collect::<Vec<_>>()}),
        ),
        Outcome::Joined {
            nostr_group_id,
            epoch,
            ..
        } => (
            format!(
                "joined [{}] {} at epoch {epoch}",
                name(nostr_group_id),
                hex::encode(nostr_group_id)
            ),
            json!({"type": "joined", "group": hex::encode(nostr_group_id), "name": name(nostr_group_id), "epoch": epoch}),
        ),
        Outcome::Commit {
            nostr_group_id,
            epoch,
            ..
        }
        | Outcome::OwnCommitConfirmed {
            nostr_group_id,
            epoch,
            ..
        } => (
            format!("[{}] now at epoch {epoch}", name(nostr_group_id)),
            json!({"type": "epoch", "group": hex::encode(nostr_group_id), "epoch": epoch}),
        ),
        Outcome::Removed { nostr_group_id } => (
            format!("removed from [{}]", name(nostr_group_id)),
            json!({"type": "removed", "group": hex::encode(nostr_group_id)}),
        ),
        other => (format!("{other:?}"), json!({"type": "other"})),
    }
}

async fn connect(
    out: &Out,
    storage: SqliteStorage,
    keys: Keys,
    relays: Vec<String>,
) -> Result<Driver<SqliteStorage>, Fail> {
    if relays.is_empty() {
        return Err(Fail::usage("no relay: pass --relay URL (it is remembered)"));
    }
    out.progress(&format!("connecting to {}", relays.join(", ")));
    let pool =
        Pool::connect(PoolConfig::default(), relays.iter().map(String::as_str)).map_err(|e| {
            Fail {
                code: 3,
                message: e.to_string(),
            }
        })?;
    pool.wait_connected(1, Duration::from_secs(10))
        .await
        .map_err(|e| Fail {
            code: 3,
            message: format!("no relay reachable: {e}"),
        })?;
    let config = ClientConfig {
        relays,
        ..ClientConfig::default()
    };
    let client = Client::new(keys, storage, config)?;
    Ok(Driver::new(client, pool))
}

async fn sync(out: &Out, d: &mut Driver<SqliteStorage>, print: bool) -> Result<(), Fail> {
    out.progress("syncing");
    let outcomes = d.sync().await?;
    if print {
        for o in &outcomes {
            let (t, v) = describe(d.client(), o);
            out.result(t, v);
        }
    }
    Ok(())
}

async fn run(args: Args) -> Result<(), Fail> {
    let out = Out { json: args.json };
    let mut rest = args.rest;
    let mut storage = open_storage(&args.data_dir)?;
    let words: Vec<&str> = rest.iter().take(2).map(String::as_str).collect();
    // Offline commands.
    match words.as_slice() {
        ["identity", "new"] | ["identity", "import"] => {
            if storage.get(Table::Meta, b"identity")?.is_some() {
                return Err(Fail::input(
                    "an identity already exists in this data directory",
                ));
            }
            let keys = if words[1] == "new" {
                Keys::generate(&mut rand::rng())
            } else {
                let s = rest
                    .get(2)
                    .ok_or_else(|| Fail::usage("identity import NSEC"))?;
                Keys::new(SecretKey::parse(s)?)
            };
            store_identity(&mut storage, &keys)?;
            let pk = keys.public_key();
            out.result(npub(&pk), json!({"npub": npub(&pk), "pubkey": pk.to_hex()}));
            return Ok(());
        }
        ["identity", "show"] => {
            let pk = load_identity(&storage)?.public_key();
            out.result(npub(&pk), json!({"npub": npub(&pk), "pubkey": pk.to_hex()}));
            return Ok(());
        }
        _ => {}
    }
    let keys = load_identity(&storage)?;
    let relays = relays_of(&mut storage, &args.relays)?;
    match words.as_slice() {
        ["keypackage", "publish"] => {
            let last_resort = take_flag(&mut rest, "--last-resort");
            let mut d = connect(&out, storage, keys, relays.clone()).await?;
            out.progress("publishing KeyPackage");
            let e = d.publish_key_package(last_resort, &relays).await?;
            out.result(
                format!("published KeyPackage {}", e.id()),
                json!({"event_id": e.id().to_hex()}),
            );
        }
        ["group", "create"] => {
            let invite = parse_keys(&take_opt(&mut rest, "--invite")?)?;
            let description = take_opt(&mut rest, "--description")?
                .pop()
                .unwrap_or_default();
            let name = rest
                .get(2)
                .ok_or_else(|| Fail::usage("group create NAME"))?
                .clone();
            let mut d = connect(&out, storage, keys, relays).await?;
            out.progress("fetching KeyPackages and creating the group");
            let gid = d.create_group(&name, &description, &invite).await?;
            out.result(hex::encode(gid), json!({"group": hex::encode(gid), "name": name, "invited": invite.iter().map(npub).collect::<Vec<_>>()}));
        }
        ["group", "invite" | "remove" | "rotate" | "leave"] => {
            let what = words[1].to_owned();
            let group = rest
                .get(2)
                .ok_or_else(|| Fail::usage(format!("group {what} GROUP")))?
                .clone();
            let targets = parse_keys(rest.get(3..).unwrap_or_default())?;
            if matches!(what.as_str(), "invite" | "remove") && targets.is_empty() {
                return Err(Fail::usage(format!("group {what} GROUP NPUB...")));
            }
            let mut d = connect(&out, storage, keys, relays).await?;
            sync(&out, &mut d, false).await?;
            let gid = find_group(d.client(), &group)?;
            out.progress(&format!(
                "publishing the {what} commit and waiting for a relay OK"
            ));
            let epoch = match what.as_str() {
                "invite" => Some(d.invite(&gid, &targets).await?),
                "remove" => Some(d.remove(&gid, &targets).await?),
                "rotate" => Some(d.rotate(&gid).await?),
                _ => {
                    d.leave(&gid).await?;
                    None
                }
            };
            out.result(
                match epoch {
                    Some(e) => format!("{what}: group now at epoch {e}"),
                    None => "leave requested: an admin will commit it".to_owned(),
                },
                json!({"group": hex::encode(gid), "action": what, "epoch": epoch}),
            );
        }
        ["groups", ..] | ["members", ..] => {
            let members = words[0] == "members";
            let group = rest.get(1).cloned();
            let mut d = connect(&out, storage, keys, relays).await?;
            sync(&out, &mut d, false).await?;
            if members {
                let gid = find_group(
                    d.client(),
                    group
                        .as_deref()
                        .ok_or_else(|| Fail::usage("members GROUP"))?,
                )?;
                let g = d.client().group(&gid)?;
                for (leaf, pk) in &g.members {
                    let admin = g.data.is_admin(pk);
                    out.result(
                        format!("{leaf:>3} {}{}", npub(pk), if admin { " (admin)" } else { "" }),
                        json!({"leaf": leaf, "npub": npub(pk), "pubkey": pk.to_hex(), "admin": admin}),
                    );
                }
            } else {
                for g in d.client().groups() {
                    out.result(
                        format!("{} {} epoch {} members {}{}", hex::encode(g.nostr_group_id), g.data.name, g.epoch, g.members.len(), if g.active { "" } else { " (left)" }),
                        json!({"group": hex::encode(g.nostr_group_id), "name": g.data.name, "epoch": g.epoch, "members": g.members.len(), "active": g.active}),
                    );
                }
            }
        }
        ["send", ..] | ["react", ..] => {
            let react = words[0] == "react";
            let group = rest.get(1).ok_or_else(|| Fail::usage(USAGE))?.clone();
            let mut d = connect(&out, storage, keys, relays).await?;
            sync(&out, &mut d, false).await?;
            let gid = find_group(d.client(), &group)?;
            let id = if react {
                let target = EventId::from_hex(
                    rest.get(2)
                        .ok_or_else(|| Fail::usage("react GROUP EVENT_ID EMOJI"))?,
                )?;
                let emoji = rest
                    .get(3)
                    .ok_or_else(|| Fail::usage("react GROUP EVENT_ID EMOJI"))?;
                d.react(&gid, &target, emoji).await?
            } else {
                let text = rest
                    .get(2..)
                    .filter(|t| !t.is_empty())
                    .ok_or_else(|| Fail::usage("send GROUP TEXT"))?
                    .join(" ");
                d.send_text(&gid, &text).await?
            };
            out.result(
                id.to_hex(),
                json!({"group": hex::encode(gid), "id": id.to_hex()}),
            );
        }
        ["listen", ..] => {
            let count: Option<usize> = take_opt(&mut rest, "--count")?
                .pop()
                .map(|c| c.parse().map_err(|_| Fail::usage("--count N")))
                .transpose()?;
            let timeout: Option<u64> = take_opt(&mut rest, "--timeout")?
                .pop()
                .map(|c| c.parse().map_err(|_| Fail::usage("--timeout SECONDS")))
                .transpose()?;
            let mut d = connect(&out, storage, keys, relays).await?;
            out.progress("listening (Ctrl-C to stop)");
            let mut seen = 0usize;
            let fut = d.listen(|client, o| {
                let (t, v) = describe(client, o);
                out.result(t, v);
                if matches!(o, Outcome::Message { .. }) {
                    seen += 1;
                }
                count.is_none_or(|c| seen < c)
            });
            match timeout {
                Some(s) => match tokio::time::timeout(Duration::from_secs(s), fut).await {
                    Ok(r) => r?,
                    Err(_) => {
                        if count.is_some() {
                            return Err(Fail {
                                code: 3,
                                message: "timed out before enough messages arrived".into(),
                            });
                        }
                    }
                },
                None => fut.await?,
            }
        }
        _ => return Err(Fail::usage(USAGE)),
    }
    Ok(())
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let args = match parse_args(argv) {
        Ok(a) => a,
        Err(f) => {
            if f.code == 0 {
                println!("{}", f.message);
            } else {
                eprintln!("{}\n{USAGE}", f.message);
            }
            return ExitCode::from(f.code);
        }
    };
    let json = args.json;
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(run(args)) {
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
