//! `nipee chat GROUP`: an interactive, line-based chat in one group.
//!
//! The line editor (rustyline) runs on a thread of its own and hands each line to the
//! async side, then waits for it to be handled before showing the prompt again. Incoming
//! messages are printed through the editor's external printer, which redraws the line
//! being typed below them instead of mangling it.
//!
//! The async side holds the group's subscription itself instead of calling
//! `Driver::listen`: `listen` keeps the driver borrowed until its callback says stop, and
//! its callback only runs when an event arrives, so a typed line could only be sent by
//! cancelling `listen` mid-way, which can drop outcomes that were already processed (and
//! so never shown). Here each event is processed to the end before the next line or event
//! is looked at.

use std::time::Duration;

use nipee::{GroupId, SubscriptionSpec};
use nipee_driver::{CommitResult, Driver, unix_now};
use nipee_relay::discovery::check_relay_url;
use nipee_relay::{RelayUrl, SubscribeOptions, Subscription, SubscriptionItem};
use nipee_sqlite::SqliteStorage;
use rustyline::ExternalPrinter;
use rustyline::error::ReadlineError;
use tokio::sync::mpsc;

use crate::commands::POLL_EVERY;
use crate::commands::{Ctx, find_group, parse_people};
use crate::output::{Fail, Names, describe, group_name};

const HELP: &str = "\
/invite NPUB…   add people (admins)
/remove NPUB…   remove people (admins)
/rotate         rotate your keys
/members        list the members
/leave          ask to leave the group, and quit
/quit           quit (also Ctrl-D)
Any other line is sent as a message.";

/// Where chat output goes: above the line being edited, or plainly.
enum Printer {
    Editor(Box<dyn ExternalPrinter>),
    Plain,
}

impl Printer {
    fn print(&mut self, text: impl Into<String>) {
        let text = text.into();
        if let Printer::Editor(p) = self
            && p.print(format!("{text}\n")).is_ok()
        {
            return;
        }
        println!("{text}");
    }
}

/// A typed line and the channel to tell the editor thread whether to go on.
struct Typed {
    line: Option<String>,
    go_on: std::sync::mpsc::Sender<bool>,
}

/// Starts the editor thread; returns its printer and the stream of typed lines.
fn start_editor(
    prompt: String,
) -> Result<(Printer, mpsc::Receiver<Typed>, std::thread::JoinHandle<()>), Fail> {
    let mut editor = rustyline::DefaultEditor::new()
        .map_err(|e| Fail::input(format!("cannot start the line editor: {e}")))?;
    let printer = match editor.create_external_printer() {
        Ok(p) => Printer::Editor(Box::new(p)),
        Err(_) => Printer::Plain,
    };
    let (tx, rx) = mpsc::channel(1);
    let thread = std::thread::spawn(move || {
        loop {
            let (go_on, wait) = std::sync::mpsc::channel();
            let line = match editor.readline(&prompt) {
                Ok(l) => {
                    if !l.trim().is_empty() {
                        // History lives in memory only: typed messages are not written
                        // to disk in the clear.
                        let _ = editor.add_history_entry(l.as_str());
                    }
                    Some(l)
                }
                Err(ReadlineError::Interrupted | ReadlineError::Eof) => None,
                Err(_) => None,
            };
            let last = line.is_none();
            if tx.blocking_send(Typed { line, go_on }).is_err() || last {
                return;
            }
            if !matches!(wait.recv(), Ok(true)) {
                return;
            }
        }
    });
    Ok((printer, rx, thread))
}

/// The chat session's state.
struct Chat {
    d: Driver<SqliteStorage>,
    gid: GroupId,
    names: Names,
    printer: Printer,
    config: crate::config::Config,
}

pub async fn run(ctx: &mut Ctx, group: &str) -> Result<(), Fail> {
    let d = ctx.connect_synced().await?;
    let gid = find_group(d.client(), group)?;
    let name = group_name(d.client(), &gid);
    let members = d.client().members(&gid)?.len();
    let (printer, mut lines, thread) = start_editor(format!("{name}> "))?;
    let mut chat = Chat {
        names: ctx.names(Some(d.client().public_key())),
        d,
        gid,
        printer,
        config: ctx.config.clone(),
    };
    chat.printer.print(format!(
        "chatting in {name} ({members} members); /help for commands, /quit to leave the chat"
    ));
    chat.show_inbox()?;
    let result = chat.run(&mut lines).await;
    drop(lines);
    let _ = thread.join();
    result
}

/// The group's subscription spec, while we are a member.
fn spec_of(d: &Driver<SqliteStorage>, gid: &GroupId) -> Option<SubscriptionSpec> {
    let key = format!("group:{}", gid.to_hex());
    d.client()
        .subscriptions()
        .into_iter()
        .find(|s| s.key == key)
}

/// Subscribes to `spec` on its relays (adding allowed ones to the pool, as the driver does).
fn subscribe(d: &Driver<SqliteStorage>, spec: &SubscriptionSpec) -> Result<Subscription, Fail> {
    let pool = d.pool();
    let same = |a: &RelayUrl, b: &str| {
        a.as_str()
            .trim_end_matches('/')
            .eq_ignore_ascii_case(b.trim_end_matches('/'))
    };
    let mut relays = Vec::new();
    for url in &spec.relays {
        if let Some(r) = pool.relays().into_iter().find(|r| same(r, url)) {
            relays.push(r);
        } else if check_relay_url(url, d.allow_private_group_relays).is_ok()
            && let Ok(r) = pool.add_relay(url)
        {
            relays.push(r);
        }
    }
    let mut options = SubscribeOptions::new().margin(Duration::from_secs(spec.margin_secs));
    if !relays.is_empty() {
        options = options.relays(relays);
    }
    Ok(pool.subscribe_with(vec![spec.filter.clone()], options)?)
}

async fn next_item(sub: &mut Option<(SubscriptionSpec, Subscription)>) -> Option<SubscriptionItem> {
    match sub {
        Some((_, s)) => s.next_item().await,
        None => std::future::pending().await,
    }
}

enum Event {
    Typed(Option<Typed>),
    Relay(Option<Box<SubscriptionItem>>),
    Tick,
}

impl Chat {
    async fn run(&mut self, lines: &mut mpsc::Receiver<Typed>) -> Result<(), Fail> {
        let mut sub: Option<(SubscriptionSpec, Subscription)> = None;
        let mut tick = tokio::time::interval(POLL_EVERY);
        tick.tick().await;
        loop {
            match spec_of(&self.d, &self.gid) {
                Some(spec) if sub.as_ref().map(|(s, _)| s) != Some(&spec) => {
                    let s = subscribe(&self.d, &spec)?;
                    sub = Some((spec, s));
                }
                Some(_) => {}
                None => sub = None,
            }
            let event = tokio::select! {
                t = lines.recv() => Event::Typed(t),
                item = next_item(&mut sub) => Event::Relay(item.map(Box::new)),
                _ = tick.tick() => Event::Tick,
            };
            match event {
                Event::Typed(None) => return Ok(()),
                Event::Typed(Some(t)) => {
                    let go_on = match t.line {
                        Some(line) => self.handle_line(line.trim()).await?,
                        None => false,
                    };
                    // What the command did (a commit confirmed, a sync's messages).
                    self.show_inbox()?;
                    let _ = t.go_on.send(go_on);
                    if !go_on {
                        return Ok(());
                    }
                }
                Event::Relay(Some(item)) => {
                    if let SubscriptionItem::Event { event, .. } = *item {
                        self.incoming(&event).await?;
                    }
                }
                Event::Relay(None) => {
                    // The subscription ended: subscribe again after a pause.
                    sub = None;
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Event::Tick => {
                    let effects = self.d.client_mut().poll(unix_now(), &mut rand::rng())?;
                    self.d.run(effects).await?;
                    self.show_inbox()?;
                }
            }
        }
    }

    /// Processes one event to the end and shows what it did.
    async fn incoming(&mut self, event: &nipee_nostr::Event) -> Result<(), Fail> {
        let processed = self
            .d
            .client_mut()
            .process(event, unix_now(), &mut rand::rng());
        match processed {
            Ok(effects) => {
                self.d.run(effects).await?;
                self.show_inbox()
            }
            Err(e) if e.kind().as_str() == "storage" => Err(e.into()),
            // A relay may send anything; what does not process is skipped.
            Err(_) => Ok(()),
        }
    }

    /// Prints what the client's inbox holds and acknowledges it (the terminal is the
    /// application here): what the last event or command did, and at the start what
    /// earlier commands read without showing it.
    fn show_inbox(&mut self) -> Result<(), Fail> {
        let inbox = self.d.inbox()?;
        for entry in &inbox {
            if let Some((text, _)) = describe(self.d.client(), &self.names, &entry.outcome) {
                self.printer.print(text);
            }
        }
        self.d
            .acknowledge(&inbox.iter().map(|e| e.id).collect::<Vec<_>>())?;
        Ok(())
    }

    /// Handles a typed line; `false` ends the chat.
    async fn handle_line(&mut self, line: &str) -> Result<bool, Fail> {
        let (command, rest) = line.split_once(' ').unwrap_or((line, ""));
        let args: Vec<String> = rest.split_whitespace().map(str::to_owned).collect();
        let result = match command {
            "" => Ok(()),
            "/quit" | "/exit" => return Ok(false),
            "/help" => {
                self.printer.print(HELP);
                Ok(())
            }
            "/members" => self.members(),
            "/invite" | "/remove" if args.is_empty() => Err(Fail::usage(format!(
                "{command} needs at least one npub or petname"
            ))),
            "/invite" => match parse_people(&self.config, &args) {
                Ok(people) => {
                    self.printer.print("… fetching KeyPackages and inviting");
                    let r = self.d.invite(&self.gid, &people).await;
                    self.commit("invite", r)
                }
                Err(e) => Err(e),
            },
            "/remove" => match parse_people(&self.config, &args) {
                Ok(people) => {
                    let r = self.d.remove(&self.gid, &people).await;
                    self.commit("remove", r)
                }
                Err(e) => Err(e),
            },
            "/rotate" => {
                let r = self.d.rotate(&self.gid).await;
                self.commit("rotate", r)
            }
            "/leave" => match self.d.leave(&self.gid).await {
                Ok(()) => {
                    self.printer
                        .print("asked to leave: the next commit of the request removes you");
                    return Ok(false);
                }
                Err(e) => Err(e.into()),
            },
            c if c.starts_with('/') => Err(Fail::usage(format!(
                "unknown command {c}: type /help (to send a line starting with /, begin it with //)"
            ))),
            _ => {
                let text = line
                    .strip_prefix("//")
                    .map_or(line.to_owned(), |t| format!("/{t}"));
                self.d
                    .send_text(&self.gid, &text)
                    .await
                    .map(|_| ())
                    .map_err(Fail::from)
            }
        };
        match result {
            Ok(()) => Ok(true),
            Err(e) if e.code == crate::output::EXIT_STORAGE => Err(e),
            Err(e) => {
                self.printer.print(format!("error: {}", e.message));
                Ok(true)
            }
        }
    }

    fn members(&mut self) -> Result<(), Fail> {
        let members = self.d.client().members(&self.gid)?;
        for m in members {
            let mut flags = Vec::new();
            if m.admin {
                flags.push("admin");
            }
            let who = self.names.of(&m.pubkey);
            self.printer.print(format!(
                "  {who}  {}{}",
                m.pubkey.to_bech32(),
                if flags.is_empty() {
                    String::new()
                } else {
                    format!("  ({})", flags.join(", "))
                }
            ));
        }
        Ok(())
    }

    fn commit(
        &mut self,
        action: &str,
        r: Result<CommitResult, nipee_driver::Error>,
    ) -> Result<(), Fail> {
        match r? {
            CommitResult::Confirmed { epoch } => {
                self.printer
                    .print(format!("{action}: done (epoch {epoch})"));
                Ok(())
            }
            CommitResult::Pending => {
                self.printer.print(format!(
                    "{action}: published but not yet confirmed by a group relay; the next sync settles it"
                ));
                Ok(())
            }
            CommitResult::Discarded { reason } => {
                Err(Fail::input(format!("{action} was discarded: {reason}")))
            }
            other => Err(Fail::input(format!("{action}: {other:?}"))),
        }
    }
}
