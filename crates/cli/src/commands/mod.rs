//! Running the commands: what every command shares (opening the client, connecting,
//! naming groups and people) and the dispatch.

mod group;
mod identity;
mod info;
mod messages;

pub use messages::POLL_EVERY;

use std::time::Duration;

use nipee::{Client, ClientConfig, GroupId};
use nipee_driver::{CommitResult, Driver};
use nipee_nostr::PublicKey;
use nipee_relay::discovery::check_relay_url;
use nipee_relay::{Pool, PoolConfig, RelayUrl};
use nipee_sqlite::SqliteStorage;
use serde_json::json;

use crate::args::{Cli, Command};
use crate::config::{Config, DataDir, no_identity};
use crate::output::{Fail, Names, Out};

/// How long to wait for the first relay to connect.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What every command gets.
pub struct Ctx {
    pub dir: DataDir,
    pub config: Config,
    pub out: Out,
}

impl Ctx {
    /// The client of this data directory's identity.
    pub fn client(&self) -> Result<Client<SqliteStorage>, Fail> {
        let storage = self.dir.open_storage(false, self.config.journal()?)?;
        if Client::stored_identity(&storage)?.is_none() {
            return Err(no_identity(&self.dir.path));
        }
        Ok(Client::open(storage, self.client_config())?)
    }

    pub fn client_config(&self) -> ClientConfig {
        let mut c = ClientConfig::with_relays(self.config.relays.iter().cloned());
        c.profile = self.profile();
        c.ratchet_tree_out_of_band = self.config.tree_out_of_band.unwrap_or(false);
        c
    }

    /// The profile of new groups and KeyPackages (checked when the config was loaded).
    pub fn profile(&self) -> nipee::Profile {
        self.config
            .profile
            .as_deref()
            .and_then(|p| p.parse().ok())
            .unwrap_or_default()
    }

    pub fn names(&self, own: Option<PublicKey>) -> Names {
        Names::new(&self.config.petnames, own)
    }

    /// The relays, or a usage error saying how to give one.
    pub fn relays(&self) -> Result<Vec<String>, Fail> {
        if self.config.relays.is_empty() {
            return Err(Fail::usage(
                "no relay configured: pass `--relay wss://…` once (it is remembered), or run `nipee relays add URL`",
            ));
        }
        Ok(self.config.relays.clone())
    }

    /// The client, connected to our relays.
    pub async fn connect(&mut self) -> Result<Driver<SqliteStorage>, Fail> {
        let client = self.client()?;
        let relays = self.relays()?;
        self.out
            .step(format!("connecting to {}", relays.join(", ")));
        let pool = Pool::connect(PoolConfig::default(), relays.iter())?;
        if pool.wait_connected(1, CONNECT_TIMEOUT).await.is_err() {
            return Err(Fail::relay(format!(
                "no relay answered within {} s ({}): check the URLs with `nipee relays list` and that the relays are up",
                CONNECT_TIMEOUT.as_secs(),
                relays.join(", ")
            )));
        }
        let mut driver = Driver::new(client, pool);
        // What a command processes stays in the client's inbox until a command that shows
        // it (`sync`, `listen`, `chat`) has printed it: a message read while `send` syncs
        // is shown by the next `sync`, and one whose process was killed before printing it
        // is shown again (its `id` tells it apart).
        driver.auto_acknowledge = false;
        if relays.iter().any(|r| is_local(r)) {
            // Someone who configured a relay on a private or loopback address runs a local
            // deployment on purpose: let the group's relays be there too.
            driver.allow_private_relays();
        }
        self.out.done();
        Ok(driver)
    }

    /// Connects and syncs quietly (what commands acting on a group do first, so they act
    /// on the group's current epoch).
    pub async fn connect_synced(&mut self) -> Result<Driver<SqliteStorage>, Fail> {
        let mut d = self.connect().await?;
        self.out.step("syncing with the relays");
        d.sync().await?;
        self.out.done();
        Ok(d)
    }
}

/// Whether a relay URL points at a private or loopback address.
pub fn is_local(url: &str) -> bool {
    check_relay_url(url, false).is_err() && check_relay_url(url, true).is_ok()
}

/// Checks relay URLs, normalised.
pub fn parse_relays(urls: &[String]) -> Result<Vec<String>, Fail> {
    urls.iter()
        .map(|u| {
            RelayUrl::parse(u)
                .map(|r| r.as_str().to_owned())
                .map_err(|e| {
                    Fail::usage(format!("{e} (a relay URL looks like wss://relay.example)"))
                })
        })
        .collect()
}

/// A group by name, or by a unique prefix of its MLS group id or its nostr_group_id.
pub fn find_group(client: &Client<SqliteStorage>, arg: &str) -> Result<GroupId, Fail> {
    let groups = client.groups();
    let name_of = |g: &nipee::GroupSummary| g.data.as_ref().map(|d| d.name.clone());
    let by_name: Vec<&nipee::GroupSummary> = groups
        .iter()
        .filter(|g| name_of(g).as_deref() == Some(arg))
        .collect();
    let lower = arg.to_ascii_lowercase();
    let is_hex = !lower.is_empty() && lower.bytes().all(|b| b.is_ascii_hexdigit());
    let candidates: Vec<&nipee::GroupSummary> = if !by_name.is_empty() {
        by_name
    } else if is_hex {
        groups
            .iter()
            .filter(|g| {
                g.group_id.to_hex().starts_with(&lower)
                    || g.nostr_group_id.to_hex().starts_with(&lower)
            })
            .collect()
    } else {
        Vec::new()
    };
    match candidates.as_slice() {
        [one] => Ok(one.group_id.clone()),
        [] => Err(Fail::input(format!(
            "no group is named or starts with {arg:?}: see `nipee groups` (or `nipee sync` to join groups you were invited to)"
        ))),
        many => Err(Fail::input(format!(
            "{arg:?} names {} groups ({}): type more of the id",
            many.len(),
            many.iter()
                .map(|g| format!(
                    "{} {}",
                    crate::output::short_hex(&g.group_id.to_hex()),
                    name_of(g).unwrap_or_default()
                ))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// A person: npub, hex public key, or petname.
pub fn parse_person(config: &Config, arg: &str) -> Result<PublicKey, Fail> {
    if let Some(hex) = config.petnames.get(arg) {
        return PublicKey::from_hex(hex)
            .map_err(|e| Fail::storage(format!("the petname {arg:?} holds a bad key: {e}")));
    }
    PublicKey::parse(arg).map_err(|e| {
        Fail::input(format!(
            "{arg:?} is not an npub, a hex public key or a petname ({e}); see `nipee petname list`"
        ))
    })
}

pub fn parse_people(config: &Config, args: &[String]) -> Result<Vec<PublicKey>, Fail> {
    args.iter().map(|a| parse_person(config, a)).collect()
}

/// Reports a commit's fate: confirmed prints the epoch; pending exits 3; discarded exits 1.
pub fn report_commit(
    out: &mut Out,
    action: &str,
    gid: &GroupId,
    result: CommitResult,
) -> Result<(), Fail> {
    let group = gid.to_hex();
    match result {
        CommitResult::Confirmed { epoch } => {
            out.emit(
                format!("{action}: done, the group is at epoch {epoch}"),
                json!({"group": group, "action": action, "result": "confirmed", "epoch": epoch}),
            );
            Ok(())
        }
        CommitResult::Pending => {
            out.emit(
                format!("{action}: published, but no group relay has confirmed it yet"),
                json!({"group": group, "action": action, "result": "pending"}),
            );
            Err(Fail::relay(format!(
                "the {action} commit is pending: no group relay confirmed it; the next `nipee sync` will settle it"
            )))
        }
        CommitResult::Discarded { reason } => {
            out.emit(
                format!("{action}: discarded ({reason})"),
                json!({"group": group, "action": action, "result": "discarded", "reason": reason}),
            );
            Err(Fail::input(format!(
                "the {action} commit was discarded: {reason}"
            )))
        }
        other => Err(Fail::input(format!(
            "the {action} commit ended as {other:?}"
        ))),
    }
}

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> Result<(), Fail> {
    let dir = DataDir::resolve(cli.data_dir)?;
    let mut config = dir.load_config()?;
    if let Some(p) = config.profile.as_deref()
        && p.parse::<nipee::Profile>().is_err()
    {
        return Err(Fail::storage(format!(
            "config.json names the profile {p:?}; the profiles are nip-ee and marmot (fix or delete it)"
        )));
    }
    if let Some(p) = cli.profile {
        let name = p.profile().name().to_owned();
        if config.profile.as_deref() != Some(name.as_str()) {
            config.profile = Some(name);
            dir.save_config(&config)?;
        }
    }
    config.journal()?;
    if let Some(j) = cli.journal
        && config.journal.as_deref().unwrap_or("wal") != j.name()
    {
        config.journal = Some(j.name().to_owned());
        dir.save_config(&config)?;
    }
    if let Some(s) = cli.tree_out_of_band {
        let on = s == crate::args::Switch::On;
        if config.tree_out_of_band.unwrap_or(false) != on {
            config.tree_out_of_band = Some(on);
            dir.save_config(&config)?;
        }
    }
    if !cli.relays.is_empty() {
        let relays = parse_relays(&cli.relays)?;
        if relays != config.relays {
            config.relays = relays;
            dir.save_config(&config)?;
        }
    }
    let mut ctx = Ctx {
        dir,
        config,
        out: Out::new(cli.json),
    };
    if let Some(w) = ctx.dir.loose_permissions() {
        ctx.out.note(w);
    }
    match cli.command {
        Command::Identity(c) => identity::run(&mut ctx, c),
        Command::Keypackage(c) => group::keypackage(&mut ctx, c).await,
        Command::Group(c) => group::run(&mut ctx, c).await,
        Command::Groups { sync } => info::groups(&mut ctx, sync).await,
        Command::Members { group, sync } => info::members(&mut ctx, &group, sync).await,
        Command::Status { offline } => info::status(&mut ctx, offline).await,
        Command::Relays(c) => info::relays(&mut ctx, c),
        Command::Petname(c) => info::petname(&mut ctx, c),
        Command::Send { group, text } => messages::send(&mut ctx, &group, &text.join(" ")).await,
        Command::React {
            group,
            event_id,
            emoji,
        } => messages::react(&mut ctx, &group, &event_id, &emoji).await,
        Command::Listen { count, timeout } => messages::listen(&mut ctx, count, timeout).await,
        Command::Sync => messages::sync(&mut ctx).await,
        Command::Chat { group } => crate::chat::run(&mut ctx, &group).await,
        Command::Completions { .. } => Ok(()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::output::{EXIT_INPUT, EXIT_RELAY};

    fn gid() -> GroupId {
        GroupId::new(vec![7; 32])
    }

    #[test]
    fn a_confirmed_commit_succeeds() {
        let mut out = Out::new(true);
        assert!(
            report_commit(
                &mut out,
                "rotate",
                &gid(),
                CommitResult::Confirmed { epoch: 3 }
            )
            .is_ok()
        );
    }

    #[test]
    fn a_pending_commit_is_exit_3_and_says_sync_settles_it() {
        let mut out = Out::new(true);
        let e = report_commit(&mut out, "invite", &gid(), CommitResult::Pending).unwrap_err();
        assert_eq!(e.code, EXIT_RELAY);
        assert!(e.message.contains("`nipee sync`"), "{}", e.message);
    }

    #[test]
    fn a_discarded_commit_is_exit_1_with_the_reason() {
        let mut out = Out::new(true);
        let e = report_commit(
            &mut out,
            "remove",
            &gid(),
            CommitResult::Discarded {
                reason: "a competing commit won".into(),
            },
        )
        .unwrap_err();
        assert_eq!(e.code, EXIT_INPUT);
        assert!(
            e.message.contains("a competing commit won"),
            "{}",
            e.message
        );
    }

    #[test]
    fn relay_urls_are_checked_and_loopback_ones_recognised() {
        assert_eq!(
            parse_relays(&["wss://Relay.Example".into()]).unwrap(),
            ["wss://relay.example"]
        );
        let e = parse_relays(&["https://relay.example".into()]).unwrap_err();
        assert_eq!(e.code, crate::output::EXIT_USAGE);
        assert!(e.message.contains("wss://"), "{}", e.message);
        assert!(is_local("ws://127.0.0.1:7777"));
        assert!(!is_local("wss://relay.example"));
    }

    #[test]
    fn people_are_named_by_npub_hex_or_petname() {
        let pk = nipee_nostr::Keys::generate(&mut rand::rng()).public_key();
        let mut config = Config::default();
        config.petnames.insert("bob".into(), pk.to_hex());
        for form in [pk.to_bech32(), pk.to_hex(), "bob".to_owned()] {
            assert_eq!(parse_person(&config, &form).unwrap(), pk, "{form}");
        }
        let e = parse_person(&config, "carol").unwrap_err();
        assert_eq!(e.code, EXIT_INPUT);
        assert!(e.message.contains("petname list"), "{}", e.message);
    }
}
