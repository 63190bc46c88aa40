//! `nipee groups|members|status|relays|petname`: views of the local state, and the config.

use std::time::Duration;

use nipee::{Client, GroupSummary};
use nipee_driver::Driver;
use nipee_relay::{Notification, Pool, PoolConfig};
use nipee_sqlite::SqliteStorage;
use serde_json::json;

use super::{Ctx, find_group, is_local, parse_person, parse_relays};
use crate::args::{PetnameCommand, RelaysCommand};
use crate::output::{Fail, short_hex};

/// How long `status` waits for the relays to connect.
const STATUS_WAIT: Duration = Duration::from_secs(3);

async fn client_maybe_synced(ctx: &mut Ctx, sync: bool) -> Result<Client<SqliteStorage>, Fail> {
    if sync {
        Ok(ctx.connect_synced().await?.into_client())
    } else {
        ctx.client()
    }
}

fn name(g: &GroupSummary) -> String {
    g.data.as_ref().map(|d| d.name.clone()).unwrap_or_default()
}

pub async fn groups(ctx: &mut Ctx, sync: bool) -> Result<(), Fail> {
    let client = client_maybe_synced(ctx, sync).await?;
    let groups = client.groups();
    if groups.is_empty() && !ctx.out.json {
        ctx.out.note(
            "no groups yet: `nipee group create NAME`, or `nipee sync` to join after an invitation",
        );
    }
    for g in groups {
        let admin = g.members.iter().any(|m| m.own && m.admin);
        let mut flags = Vec::new();
        if !g.active {
            flags.push("left");
        }
        if admin {
            flags.push("admin");
        }
        if g.pending_commit {
            flags.push("commit pending");
        }
        if g.profile == Some(nipee::Profile::Marmot) {
            flags.push("marmot");
        }
        ctx.out.emit(
            format!(
                "{}  {}  epoch {}  {} members{}",
                short_hex(&g.group_id.to_hex()),
                name(&g),
                g.epoch,
                g.members.len(),
                if flags.is_empty() {
                    String::new()
                } else {
                    format!("  ({})", flags.join(", "))
                }
            ),
            json!({"group": g.group_id.to_hex(), "nostr_group_id": g.nostr_group_id.to_hex(),
                   "name": name(&g), "description": g.data.as_ref().map(|d| d.description.clone()),
                   "epoch": g.epoch, "members": g.members.len(), "active": g.active,
                   "admin": admin, "pending_commit": g.pending_commit,
                   "profile": g.profile.map(nipee::Profile::name)}),
        );
    }
    Ok(())
}

pub async fn members(ctx: &mut Ctx, group: &str, sync: bool) -> Result<(), Fail> {
    let client = client_maybe_synced(ctx, sync).await?;
    let gid = find_group(&client, group)?;
    let names = ctx.names(None);
    for m in client.members(&gid)? {
        let pet = names.of(&m.pubkey);
        let mut flags = Vec::new();
        if m.admin {
            flags.push("admin");
        }
        if m.own {
            flags.push("you");
        }
        ctx.out.emit(
            format!(
                "{:>3}  {}{}{}",
                m.leaf,
                m.pubkey.to_bech32(),
                if pet.ends_with('…') {
                    String::new()
                } else {
                    format!("  {pet}")
                },
                if flags.is_empty() {
                    String::new()
                } else {
                    format!("  ({})", flags.join(", "))
                }
            ),
            json!({"leaf": m.leaf, "npub": m.pubkey.to_bech32(), "pubkey": m.pubkey.to_hex(),
                   "admin": m.admin, "own": m.own}),
        );
    }
    Ok(())
}

pub async fn status(ctx: &mut Ctx, offline: bool) -> Result<(), Fail> {
    let client = ctx.client()?;
    let pk = client.public_key();
    // What SQLite reports for the open database (the mode asked for, or a failure above).
    let journal = client.storage().journal_mode()?;
    ctx.out.emit(
        format!(
            "identity  {}\ndata      {}\nprofile   {} (new groups and KeyPackages)\njournal   {journal}",
            pk.to_bech32(),
            ctx.dir.path.display(),
            ctx.profile()
        ),
        json!({"type": "identity", "npub": pk.to_bech32(), "pubkey": pk.to_hex(),
               "data_dir": ctx.dir.path.display().to_string(),
               "profile": ctx.profile().name(), "journal": journal}),
    );
    let client = match relay_states(ctx, offline).await? {
        Some(pool) => {
            // Connected anyway: show the groups as the relays have them now.
            let mut d = Driver::new(client, pool);
            if ctx.config.relays.iter().any(|r| is_local(r)) {
                d.allow_private_relays();
            }
            ctx.out.step("syncing with the relays");
            if let Err(e) = d.sync().await {
                let f = Fail::from(e);
                if f.code == crate::output::EXIT_STORAGE {
                    return Err(f);
                }
                ctx.out.note(format!(
                    "sync failed ({}); groups as last synced:",
                    f.message
                ));
            }
            ctx.out.done();
            d.into_client()
        }
        None => client,
    };
    for g in client.groups() {
        ctx.out.emit(
            format!(
                "group     {}  {}  epoch {}  {} members{}{}",
                short_hex(&g.group_id.to_hex()),
                name(&g),
                g.epoch,
                g.members.len(),
                if g.active { "" } else { "  (left)" },
                if g.pending_commit {
                    "  (own commit pending: `nipee sync` settles it)"
                } else {
                    ""
                }
            ),
            json!({"type": "group", "group": g.group_id.to_hex(), "name": name(&g),
                   "epoch": g.epoch, "members": g.members.len(), "active": g.active,
                   "pending_commit": g.pending_commit}),
        );
    }
    let queued = client.outbox()?.len();
    ctx.out.emit(
        format!("queued    {queued} event(s) waiting to be published (the next sync sends them)"),
        json!({"type": "outbox", "queued": queued}),
    );
    Ok(())
}

/// Each relay and whether it is connected (with the last reason when it is not); the pool
/// when one is.
async fn relay_states(ctx: &mut Ctx, offline: bool) -> Result<Option<Pool>, Fail> {
    let relays = ctx.config.relays.clone();
    if relays.is_empty() {
        ctx.out.emit(
            "relays    none (pass --relay URL once, or `nipee relays add URL`)",
            json!({"type": "relays", "relays": []}),
        );
        return Ok(None);
    }
    if offline {
        for r in &relays {
            ctx.out.emit(
                format!("relay     {r}"),
                json!({"type": "relay", "url": r, "connected": null}),
            );
        }
        return Ok(None);
    }
    ctx.out.step("connecting to the relays");
    let pool = Pool::connect(PoolConfig::default(), relays.iter())?;
    let mut notes = pool.notifications();
    let _ = pool.wait_connected(relays.len(), STATUS_WAIT).await;
    let mut reasons = std::collections::BTreeMap::new();
    while let Ok(n) = notes.try_recv() {
        match n {
            Notification::ConnectFailed { relay, reason }
            | Notification::Disconnected { relay, reason } => {
                reasons.insert(relay.to_string(), reason);
            }
            _ => {}
        }
    }
    for s in pool.stats().relays {
        let url = s.url.to_string();
        let why = reasons.get(&url).cloned();
        ctx.out.emit(
            format!(
                "relay     {url}  {}",
                if s.connected {
                    "connected".to_owned()
                } else {
                    format!(
                        "not connected{}",
                        why.as_ref().map(|w| format!(" ({w})")).unwrap_or_default()
                    )
                }
            ),
            json!({"type": "relay", "url": url, "connected": s.connected, "reason": why}),
        );
    }
    if pool.stats().connected() > 0 {
        return Ok(Some(pool));
    }
    pool.close().await;
    Ok(None)
}

pub fn relays(ctx: &mut Ctx, c: RelaysCommand) -> Result<(), Fail> {
    match c {
        RelaysCommand::List => {}
        RelaysCommand::Add { urls } => {
            for u in parse_relays(&urls)? {
                if !ctx.config.relays.contains(&u) {
                    ctx.config.relays.push(u);
                }
            }
            ctx.dir.save_config(&ctx.config)?;
        }
        RelaysCommand::Remove { urls } => {
            let gone = parse_relays(&urls)?;
            ctx.config.relays.retain(|r| !gone.contains(r));
            ctx.dir.save_config(&ctx.config)?;
        }
    }
    for r in ctx.config.relays.clone() {
        ctx.out.emit(&r, json!({"url": r}));
    }
    Ok(())
}

pub fn petname(ctx: &mut Ctx, c: PetnameCommand) -> Result<(), Fail> {
    match c {
        PetnameCommand::Set { name, npub } => {
            if name.is_empty() || name.chars().any(char::is_whitespace) {
                return Err(Fail::usage("a petname is one word, e.g. `bob`"));
            }
            if name.starts_with("npub1") {
                return Err(Fail::usage("a petname cannot start with npub1"));
            }
            let pk = parse_person(&ctx.config, &npub)?;
            ctx.config.petnames.insert(name, pk.to_hex());
            ctx.dir.save_config(&ctx.config)?;
        }
        PetnameCommand::Remove { name } => {
            if ctx.config.petnames.remove(&name).is_none() {
                return Err(Fail::input(format!(
                    "no petname {name:?}: see `nipee petname list`"
                )));
            }
            ctx.dir.save_config(&ctx.config)?;
            return Ok(());
        }
        PetnameCommand::List => {}
    }
    for (name, hex) in ctx.config.petnames.clone() {
        let npub = nipee_nostr::PublicKey::from_hex(&hex)
            .map(|p| p.to_bech32())
            .unwrap_or_else(|_| hex.clone());
        ctx.out.emit(
            format!("{name}  {npub}"),
            json!({"name": name, "npub": npub, "pubkey": hex}),
        );
    }
    Ok(())
}
