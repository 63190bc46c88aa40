//! What the CLI prints: results on stdout (text or one JSON object per line), progress on
//! stderr (a spinner on a terminal, plain lines otherwise), and failures with their exit
//! codes.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use nipee::{Client, GroupId, Outcome, Storage};
use nipee_nostr::{Kind, PublicKey};
use serde_json::{Value, json};

/// Exit code: protocol or input error.
pub const EXIT_INPUT: u8 = 1;
/// Exit code: usage error.
pub const EXIT_USAGE: u8 = 2;
/// Exit code: relay failure or timeout.
pub const EXIT_RELAY: u8 = 3;
/// Exit code: storage failure.
pub const EXIT_STORAGE: u8 = 4;

/// A failure with its exit code and a message that says what to do.
#[derive(Debug)]
pub struct Fail {
    pub code: u8,
    pub message: String,
}

impl Fail {
    pub fn input(m: impl Into<String>) -> Fail {
        Fail {
            code: EXIT_INPUT,
            message: m.into(),
        }
    }
    pub fn usage(m: impl Into<String>) -> Fail {
        Fail {
            code: EXIT_USAGE,
            message: m.into(),
        }
    }
    pub fn relay(m: impl Into<String>) -> Fail {
        Fail {
            code: EXIT_RELAY,
            message: m.into(),
        }
    }
    pub fn storage(m: impl Into<String>) -> Fail {
        Fail {
            code: EXIT_STORAGE,
            message: m.into(),
        }
    }
}

fn code_of(kind: &str) -> u8 {
    match kind {
        "network" => EXIT_RELAY,
        "storage" => EXIT_STORAGE,
        _ => EXIT_INPUT,
    }
}

impl From<nipee::Error> for Fail {
    fn from(e: nipee::Error) -> Fail {
        Fail {
            code: code_of(e.kind().as_str()),
            message: e.to_string(),
        }
    }
}

impl From<nipee_driver::Error> for Fail {
    fn from(e: nipee_driver::Error) -> Fail {
        let hint = match &e {
            nipee_driver::Error::NoKeyPackage { .. } => {
                " (ask them to run `nipee keypackage publish` on one of your relays)"
            }
            _ => "",
        };
        Fail {
            code: code_of(e.kind().as_str()),
            message: format!("{e}{hint}"),
        }
    }
}

impl From<nipee_relay::Error> for Fail {
    fn from(e: nipee_relay::Error) -> Fail {
        Fail {
            code: if e.kind().as_str() == "misuse" {
                EXIT_INPUT
            } else {
                EXIT_RELAY
            },
            message: e.to_string(),
        }
    }
}

/// Where results and progress go.
pub struct Out {
    pub json: bool,
    spinner: Option<ProgressBar>,
    terminal: bool,
}

impl Out {
    pub fn new(json: bool) -> Out {
        Out {
            json,
            spinner: None,
            terminal: std::io::stderr().is_terminal(),
        }
    }

    /// Reports a slow step: a spinner on a terminal, a plain line otherwise.
    pub fn step(&mut self, message: impl Into<String>) {
        let message = message.into();
        if !self.terminal {
            eprintln!("… {message}");
            return;
        }
        let spinner = self.spinner.get_or_insert_with(|| {
            let s = ProgressBar::new_spinner();
            if let Ok(style) = ProgressStyle::with_template("{spinner} {msg}") {
                s.set_style(style);
            }
            s.enable_steady_tick(Duration::from_millis(100));
            s
        });
        spinner.set_message(message);
    }

    /// Ends the current step's spinner.
    pub fn done(&mut self) {
        if let Some(s) = self.spinner.take() {
            s.finish_and_clear();
        }
    }

    /// Prints a result: `text` for people, `value` with `--json`.
    pub fn emit(&mut self, text: impl std::fmt::Display, value: Value) {
        self.done();
        if self.json {
            println!("{value}");
        } else {
            println!("{text}");
        }
    }

    /// A note for people (stderr; not part of the JSON stream).
    pub fn note(&mut self, text: impl std::fmt::Display) {
        self.done();
        eprintln!("{text}");
    }
}

/// Names people by their petname, or a short npub.
#[derive(Debug, Clone, Default)]
pub struct Names {
    /// Hex public key → petname.
    by_key: BTreeMap<String, String>,
    own: Option<PublicKey>,
}

impl Names {
    pub fn new(petnames: &BTreeMap<String, String>, own: Option<PublicKey>) -> Names {
        Names {
            by_key: petnames
                .iter()
                .map(|(name, key)| (key.clone(), name.clone()))
                .collect(),
            own,
        }
    }

    /// "you", a petname, or `npub1abcdefgh…`.
    pub fn of(&self, pk: &PublicKey) -> String {
        if self.own.as_ref() == Some(pk) {
            return "you".to_owned();
        }
        if let Some(n) = self.by_key.get(&pk.to_hex()) {
            return n.clone();
        }
        short_npub(pk)
    }
}

pub fn short_npub(pk: &PublicKey) -> String {
    let n = pk.to_bech32();
    format!("{}…", n.get(..13).unwrap_or(&n))
}

/// A unix time as local `HH:MM`.
pub fn clock(secs: u64) -> String {
    use chrono::TimeZone;
    i64::try_from(secs)
        .ok()
        .and_then(|s| chrono::Local.timestamp_opt(s, 0).single())
        .map(|t| t.format("%H:%M").to_string())
        .unwrap_or_else(|| "--:--".to_owned())
}

/// The name of a group, or its short id.
pub fn group_name<S: Storage>(client: &Client<S>, gid: &GroupId) -> String {
    client
        .group(gid)
        .ok()
        .and_then(|g| g.data.map(|d| d.name))
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| short_hex(&gid.to_hex()))
}

pub fn short_hex(h: &str) -> String {
    h.get(..8).unwrap_or(h).to_owned()
}

fn keys(list: &[PublicKey]) -> Vec<String> {
    list.iter().map(PublicKey::to_hex).collect()
}

/// Text and JSON for an outcome worth showing, `None` for bookkeeping ones.
pub fn describe<S: Storage>(
    client: &Client<S>,
    names: &Names,
    o: &Outcome,
) -> Option<(String, Value)> {
    Some(match o {
        Outcome::Message {
            group_id,
            epoch,
            event,
            ..
        } => {
            let g = group_name(client, group_id);
            let who = names.of(&event.pubkey);
            let at = clock(event.created_at.as_u64());
            let text = if event.kind == Kind::new(7) {
                let target = event
                    .tags
                    .iter()
                    .find(|t| t.as_slice().first().map(String::as_str) == Some("e"))
                    .and_then(|t| t.as_slice().get(1))
                    .map(|id| short_hex(id))
                    .unwrap_or_default();
                format!("[{g}] {at} {who} reacted {} to {target}", event.content)
            } else {
                format!("[{g}] {at} {who}: {}", event.content)
            };
            (
                text,
                json!({"type": "message", "group": group_id.to_hex(), "epoch": epoch,
                       "id": event.id().to_hex(), "kind": event.kind.as_u16(),
                       "author": event.pubkey.to_hex(), "created_at": event.created_at.as_u64(),
                       "content": event.content,
                       "tags": event.tags.iter().map(|t| t.as_slice().to_vec()).collect::<Vec<_>>()}),
            )
        }
        Outcome::Joined {
            group_id,
            nostr_group_id,
            epoch,
            inviter,
            ..
        } => (
            format!(
                "joined [{}] (invited by {}) at epoch {epoch}",
                group_name(client, group_id),
                names.of(inviter)
            ),
            json!({"type": "joined", "group": group_id.to_hex(), "nostr_group_id": nostr_group_id.to_hex(),
                   "name": group_name(client, group_id), "epoch": epoch, "inviter": inviter.to_hex()}),
        ),
        Outcome::Commit(i) | Outcome::OwnCommitConfirmed(i) => {
            let g = group_name(client, &i.group_id);
            let mut what = Vec::new();
            let list = |l: &[PublicKey]| l.iter().map(|p| names.of(p)).collect::<Vec<_>>();
            if !i.added.is_empty() {
                what.push(format!("added {}", list(&i.added).join(", ")));
            }
            if !i.removed.is_empty() {
                what.push(format!("removed {}", list(&i.removed).join(", ")));
            }
            if i.group_data_changed {
                what.push("changed the group data".to_owned());
            }
            if what.is_empty() && !i.updated.is_empty() {
                what.push("rotated keys".to_owned());
            }
            let by = i.committer.as_ref().map(|p| names.of(p));
            (
                format!(
                    "[{g}] {}{} (epoch {})",
                    by.map(|b| format!("{b} ")).unwrap_or_default(),
                    if what.is_empty() {
                        "committed".to_owned()
                    } else {
                        what.join("; ")
                    },
                    i.epoch
                ),
                json!({"type": "epoch", "group": i.group_id.to_hex(), "epoch": i.epoch,
                       "committer": i.committer.map(|p| p.to_hex()), "added": keys(&i.added),
                       "removed": keys(&i.removed), "group_data_changed": i.group_data_changed,
                       "own": matches!(o, Outcome::OwnCommitConfirmed(_))}),
            )
        }
        Outcome::OwnCommitDiscarded {
            group_id,
            epoch,
            reason,
        } => (
            format!(
                "[{}] your commit for epoch {epoch} was discarded: {reason}",
                group_name(client, group_id)
            ),
            json!({"type": "commit_discarded", "group": group_id.to_hex(), "epoch": epoch, "reason": reason}),
        ),
        Outcome::Proposal {
            group_id,
            sender,
            leave_request,
            ..
        } => {
            let who = sender.as_ref().map(|p| names.of(p)).unwrap_or_default();
            let g = group_name(client, group_id);
            (
                if *leave_request {
                    format!(
                        "[{g}] {who} asks to leave (`nipee group commit-proposals {g}` commits it)"
                    )
                } else {
                    format!("[{g}] {who} proposed a change")
                },
                json!({"type": "proposal", "group": group_id.to_hex(),
                       "sender": sender.map(|p| p.to_hex()), "leave_request": leave_request}),
            )
        }
        Outcome::Removed { group_id, by } => (
            format!(
                "you were removed from [{}]{}",
                group_name(client, group_id),
                by.as_ref()
                    .map(|p| format!(" by {}", names.of(p)))
                    .unwrap_or_default()
            ),
            json!({"type": "removed", "group": group_id.to_hex(), "by": by.map(|p| p.to_hex())}),
        ),
        _ => return None,
    })
}
