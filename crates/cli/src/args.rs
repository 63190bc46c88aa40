//! The command line, declared with clap's derive API.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use clap_complete::Shell;

const AFTER_HELP: &str = "\
GROUP is a group's name, or a unique prefix of its id or of its public nostr_group_id (see `nipee groups`).
NPUB is an npub, a hex public key, or a petname (see `nipee petname`).

Exit codes:
  0  success
  1  protocol or input error (unknown group, refused by the group's rules, a discarded commit)
  2  usage error (a mistyped command or option)
  3  relay failure or timeout (also: a commit still pending; the next `nipee sync` settles it)
  4  storage failure (the data directory or its database)

Examples:
  nipee --relay wss://relay.example identity new
  nipee keypackage publish
  nipee group create friends --invite npub1...
  nipee chat friends";

/// NIP-EE end-to-end encrypted group messaging over Nostr relays.
#[derive(Debug, Parser)]
#[command(name = "nipee", version, after_help = AFTER_HELP, propagate_version = true)]
#[command(arg_required_else_help = true)]
pub struct Cli {
    /// The data directory (identity, groups, config). Default: the platform's data
    /// directory, e.g. ~/.local/share/nipee.
    #[arg(long, global = true, env = "NIPEE_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// A relay to use; repeat for several. Given once, the list is remembered in the
    /// data directory's config.json.
    #[arg(long = "relay", global = true, value_name = "URL")]
    pub relays: Vec<String>,

    /// Print one JSON object per line on standard output (for scripts).
    #[arg(long, global = true)]
    pub json: bool,

    /// The wire formats of new groups and KeyPackages: `nip-ee` (nostr-mls, the default)
    /// or `marmot` (MDK / White Noise). Given once, it is remembered in config.json;
    /// existing groups keep the profile they were made with, and invitations of either
    /// profile are accepted.
    #[arg(long, global = true, value_enum, value_name = "PROFILE")]
    pub profile: Option<ProfileArg>,

    /// Send the ratchet tree of our invitations out of band (`on`): one encrypted copy
    /// for all invitees instead of one inside every invitee's Welcome, so large groups can
    /// be created through relays with common size limits. Only nipee clients can join
    /// from such an invitation (not nostr-mls or MDK). Given once, it is remembered in
    /// config.json; `off` (the default) goes back.
    #[arg(long, global = true, value_enum, value_name = "on|off")]
    pub tree_out_of_band: Option<Switch>,

    /// How the database keeps a transaction recoverable: `wal` (the default: SQLite's
    /// write-ahead log, two more files beside nipee.db) or `delete` (SQLite's rollback
    /// journal: one file between commands, for filesystems where the WAL does not work,
    /// such as network shares). Both are durable once a command returns. Given once, it
    /// is remembered in config.json.
    #[arg(long, global = true, value_enum, value_name = "wal|delete")]
    pub journal: Option<JournalArg>,

    #[command(subcommand)]
    pub command: Command,
}

/// The database's journal mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum JournalArg {
    /// SQLite's write-ahead log.
    Wal,
    /// SQLite's rollback journal.
    Delete,
}

impl JournalArg {
    /// Its name in config.json.
    pub fn name(self) -> &'static str {
        match self {
            JournalArg::Wal => "wal",
            JournalArg::Delete => "delete",
        }
    }
}

/// A remembered on/off setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Switch {
    /// On.
    On,
    /// Off.
    Off,
}

/// The wire-format profiles, as `--profile` spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProfileArg {
    /// NIP-EE as nostr-mls writes it.
    NipEe,
    /// Marmot as MDK (White Noise) writes it.
    Marmot,
}

impl ProfileArg {
    /// The client core's profile.
    pub fn profile(self) -> nipee::Profile {
        match self {
            ProfileArg::NipEe => nipee::Profile::NipEe,
            ProfileArg::Marmot => nipee::Profile::Marmot,
        }
    }
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create, import, export or show this data directory's Nostr identity.
    #[command(subcommand)]
    Identity(IdentityCommand),

    /// Publish KeyPackages so others can invite you.
    #[command(subcommand)]
    Keypackage(KeypackageCommand),

    /// Create groups and change them (members, name, description, relays, admins).
    #[command(subcommand)]
    Group(GroupCommand),

    /// List the groups (local state; `--sync` first fetches what the relays have).
    #[command(after_help = "Examples:\n  nipee groups\n  nipee groups --sync --json")]
    Groups {
        /// Sync with the relays first (joins groups you were invited to).
        #[arg(long)]
        sync: bool,
    },

    /// List a group's members and admins.
    #[command(after_help = "Examples:\n  nipee members friends\n  nipee members 3fa2 --sync")]
    Members {
        /// The group (name or id prefix).
        group: String,
        /// Sync with the relays first.
        #[arg(long)]
        sync: bool,
    },

    /// Send a text message to a group.
    #[command(
        after_help = "Examples:\n  nipee send friends \"hello everyone\"\n  nipee send 3fa2 hi"
    )]
    Send {
        /// The group (name or id prefix).
        group: String,
        /// The message; several words are joined with spaces.
        #[arg(required = true, num_args = 1..)]
        text: Vec<String>,
    },

    /// React to a message (NIP-25).
    #[command(after_help = "Examples:\n  nipee react friends 5c1e...9a \"+\"")]
    React {
        /// The group (name or id prefix).
        group: String,
        /// The id of the message (hex, as `listen --json` prints it).
        event_id: String,
        /// The reaction, e.g. "+" or an emoji.
        emoji: String,
    },

    /// Print messages and group changes as they arrive.
    #[command(
        after_help = "Exits 3 when --timeout passes before --count messages arrived.\n\nExamples:\n  nipee listen\n  nipee listen --count 1 --timeout 30 --json"
    )]
    Listen {
        /// Stop after this many messages.
        #[arg(long, value_name = "N")]
        count: Option<usize>,
        /// Stop after this many seconds.
        #[arg(long, value_name = "SECONDS")]
        timeout: Option<u64>,
    },

    /// An interactive chat in one group (type /help inside).
    #[command(
        after_help = "Inside the chat: /invite NPUB, /remove NPUB, /rotate, /members, /leave, /quit, /help.\nOther lines are sent as messages.\n\nExamples:\n  nipee chat friends"
    )]
    Chat {
        /// The group (name or id prefix).
        group: String,
    },

    /// Show the identity, the relays and their connection state, and the groups (synced
    /// when a relay is reachable).
    #[command(after_help = "Examples:\n  nipee status\n  nipee status --offline --json")]
    Status {
        /// Do not connect to the relays: show the groups as last synced.
        #[arg(long)]
        offline: bool,
    },

    /// Fetch and process what the relays hold: Welcomes, messages, commits; resend what
    /// is queued; settle pending commits.
    #[command(after_help = "Examples:\n  nipee sync")]
    Sync,

    /// Show or change the remembered relays.
    #[command(subcommand)]
    Relays(RelaysCommand),

    /// Local names for public keys, usable wherever an NPUB is expected.
    #[command(subcommand)]
    Petname(PetnameCommand),

    /// Print a shell completion script.
    #[command(
        after_help = "Examples:\n  nipee completions bash > ~/.local/share/bash-completion/completions/nipee\n  nipee completions zsh > ~/.zfunc/_nipee\n  nipee completions fish > ~/.config/fish/completions/nipee.fish"
    )]
    Completions {
        /// The shell.
        shell: Shell,
    },
}

/// `nipee identity …`
#[derive(Debug, Subcommand)]
pub enum IdentityCommand {
    /// Generate a new identity in the data directory.
    #[command(
        after_help = "Examples:\n  nipee identity new\n  nipee --data-dir /tmp/alice identity new"
    )]
    New,
    /// Store an existing secret key (nsec or hex). The secret is read from standard input,
    /// a file or an environment variable, never from the command line.
    #[command(
        after_help = "Examples:\n  nipee identity import < key.txt\n  nipee identity import --file key.txt\n  NIPEE_NSEC=nsec1... nipee identity import --env NIPEE_NSEC"
    )]
    Import(ImportArgs),
    /// Print the secret key (nsec), after a confirmation.
    #[command(
        after_help = "Examples:\n  nipee identity export\n  nipee identity export --yes > key.txt"
    )]
    Export {
        /// Do not ask (for scripts).
        #[arg(long)]
        yes: bool,
    },
    /// Print the public key (npub).
    #[command(after_help = "Examples:\n  nipee identity show")]
    Show,
}

/// Where `identity import` reads the secret from.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Read the secret from this file.
    #[arg(long, value_name = "PATH", conflicts_with = "env")]
    pub file: Option<PathBuf>,
    /// Read the secret from this environment variable.
    #[arg(long, value_name = "VAR")]
    pub env: Option<String>,
    /// Refused: a secret typed on the command line ends up in shell history and in the
    /// process list.
    #[arg(hide = true, num_args = 0.., trailing_var_arg = true, allow_hyphen_values = true)]
    pub refused_secret: Vec<String>,
}

/// `nipee keypackage …`
#[derive(Debug, Subcommand)]
pub enum KeypackageCommand {
    /// Publish a fresh KeyPackage and your KeyPackage relay list.
    #[command(
        after_help = "Examples:\n  nipee keypackage publish\n  nipee keypackage publish --last-resort"
    )]
    Publish {
        /// A last-resort KeyPackage, which may be used by several invitations.
        #[arg(long)]
        last_resort: bool,
    },
}

/// `nipee group …`
#[derive(Debug, Subcommand)]
pub enum GroupCommand {
    /// Create a group (you are its admin), inviting the given people.
    #[command(
        after_help = "Examples:\n  nipee group create friends\n  nipee group create friends --description \"weekend plans\" --invite npub1... --invite bob"
    )]
    Create {
        /// The group's name.
        name: String,
        /// The group's description.
        #[arg(long, default_value = "")]
        description: String,
        /// Invite this person (repeat for several).
        #[arg(long = "invite", value_name = "NPUB")]
        invite: Vec<String>,
    },
    /// Add people to a group (admins only).
    #[command(after_help = "Examples:\n  nipee group invite friends npub1... bob")]
    Invite {
        /// The group (name or id prefix).
        group: String,
        /// Who to add.
        #[arg(required = true, value_name = "NPUB")]
        members: Vec<String>,
    },
    /// Remove people from a group (admins only).
    #[command(after_help = "Examples:\n  nipee group remove friends bob")]
    Remove {
        /// The group (name or id prefix).
        group: String,
        /// Who to remove.
        #[arg(required = true, value_name = "NPUB")]
        members: Vec<String>,
    },
    /// Rotate your keys in a group (a new leaf and signature key).
    #[command(after_help = "Examples:\n  nipee group rotate friends")]
    Rotate {
        /// The group (name or id prefix).
        group: String,
    },
    /// Ask to leave a group: in a nip-ee group an admin commits your removal; in a Marmot group
    /// that requires SelfRemove any member may commit it (an admin steps down first).
    #[command(after_help = "Examples:\n  nipee group leave friends")]
    Leave {
        /// The group (name or id prefix).
        group: String,
    },
    /// Rename a group (admins only).
    #[command(after_help = "Examples:\n  nipee group rename friends \"old friends\"")]
    Rename {
        /// The group (name or id prefix).
        group: String,
        /// The new name.
        name: String,
    },
    /// Change a group's description (admins only).
    #[command(after_help = "Examples:\n  nipee group describe friends \"weekend plans\"")]
    Describe {
        /// The group (name or id prefix).
        group: String,
        /// The new description.
        text: String,
    },
    /// Replace a group's relays (admins only).
    #[command(
        after_help = "Examples:\n  nipee group relays friends wss://relay.one wss://relay.two"
    )]
    Relays {
        /// The group (name or id prefix).
        group: String,
        /// The new relay list.
        #[arg(required = true, value_name = "URL")]
        urls: Vec<String>,
    },
    /// Add or remove admins (admins only).
    #[command(subcommand)]
    Admins(AdminsCommand),
    /// Commit the proposals received in this epoch (e.g. members asking to leave).
    #[command(after_help = "Examples:\n  nipee group commit-proposals friends")]
    CommitProposals {
        /// The group (name or id prefix).
        group: String,
    },
}

/// `nipee group admins …`
#[derive(Debug, Subcommand)]
pub enum AdminsCommand {
    /// Make members admins.
    #[command(after_help = "Examples:\n  nipee group admins add friends bob")]
    Add {
        /// The group (name or id prefix).
        group: String,
        /// Who.
        #[arg(required = true, value_name = "NPUB")]
        members: Vec<String>,
    },
    /// Take admin rights away.
    #[command(after_help = "Examples:\n  nipee group admins remove friends bob")]
    Remove {
        /// The group (name or id prefix).
        group: String,
        /// Who.
        #[arg(required = true, value_name = "NPUB")]
        members: Vec<String>,
    },
}

/// `nipee relays …`
#[derive(Debug, Subcommand)]
pub enum RelaysCommand {
    /// List the remembered relays.
    #[command(after_help = "Examples:\n  nipee relays list")]
    List,
    /// Remember more relays.
    #[command(after_help = "Examples:\n  nipee relays add wss://relay.example")]
    Add {
        /// Relay URLs (ws:// or wss://).
        #[arg(required = true, value_name = "URL")]
        urls: Vec<String>,
    },
    /// Forget relays.
    #[command(after_help = "Examples:\n  nipee relays remove wss://relay.example")]
    Remove {
        /// Relay URLs.
        #[arg(required = true, value_name = "URL")]
        urls: Vec<String>,
    },
}

/// `nipee petname …`
#[derive(Debug, Subcommand)]
pub enum PetnameCommand {
    /// Name a public key.
    #[command(after_help = "Examples:\n  nipee petname set bob npub1...")]
    Set {
        /// The name (no spaces).
        name: String,
        /// The npub or hex public key.
        npub: String,
    },
    /// Forget a name.
    #[command(after_help = "Examples:\n  nipee petname remove bob")]
    Remove {
        /// The name.
        name: String,
    },
    /// List the names.
    #[command(after_help = "Examples:\n  nipee petname list")]
    List,
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use clap::CommandFactory;
    use clap::error::ErrorKind;

    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("nipee").chain(args.iter().copied()))
    }

    fn command(args: &[&str]) -> Command {
        parse(args)
            .unwrap_or_else(|e| panic!("{args:?}: {e}"))
            .command
    }

    fn kind(args: &[&str]) -> ErrorKind {
        match parse(args) {
            Ok(c) => panic!("{args:?} parsed as {c:?}"),
            Err(e) => e.kind(),
        }
    }

    #[test]
    fn the_command_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_options_go_before_or_after_the_command() {
        let cli = parse(&["--data-dir", "/d", "groups", "--json", "--relay", "ws://a"]).unwrap();
        assert_eq!(cli.data_dir.as_deref(), Some(std::path::Path::new("/d")));
        assert!(cli.json);
        assert_eq!(cli.relays, ["ws://a"]);
        assert!(matches!(cli.command, Command::Groups { sync: false }));
    }

    #[test]
    fn identity_commands_parse() {
        assert!(matches!(
            command(&["identity", "new"]),
            Command::Identity(IdentityCommand::New)
        ));
        assert!(matches!(
            command(&["identity", "show"]),
            Command::Identity(IdentityCommand::Show)
        ));
        assert!(matches!(
            command(&["identity", "export", "--yes"]),
            Command::Identity(IdentityCommand::Export { yes: true })
        ));
        let Command::Identity(IdentityCommand::Import(a)) =
            command(&["identity", "import", "--env", "K"])
        else {
            panic!("not an import");
        };
        assert_eq!(a.env.as_deref(), Some("K"));
        assert!(a.file.is_none() && a.refused_secret.is_empty());
    }

    #[test]
    fn import_takes_the_file_or_the_environment_not_both() {
        assert_eq!(
            kind(&["identity", "import", "--file", "f", "--env", "K"]),
            ErrorKind::ArgumentConflict
        );
    }

    #[test]
    fn a_secret_on_the_import_command_line_is_captured_only_to_be_refused() {
        let Command::Identity(IdentityCommand::Import(a)) =
            command(&["identity", "import", "nsec1xyz"])
        else {
            panic!("not an import");
        };
        assert_eq!(a.refused_secret, ["nsec1xyz"]);
    }

    #[test]
    fn group_commands_parse_with_their_arguments() {
        let Command::Group(GroupCommand::Create {
            name,
            description,
            invite,
        }) = command(&[
            "group",
            "create",
            "friends",
            "--description",
            "d",
            "--invite",
            "a",
            "--invite",
            "b",
        ])
        else {
            panic!("not a create");
        };
        assert_eq!((name.as_str(), description.as_str()), ("friends", "d"));
        assert_eq!(invite, ["a", "b"]);
        assert!(matches!(
            command(&["group", "invite", "g", "a", "b"]),
            Command::Group(GroupCommand::Invite { members, .. }) if members.len() == 2
        ));
        assert!(matches!(
            command(&["group", "rename", "g", "new name"]),
            Command::Group(GroupCommand::Rename { name, .. }) if name == "new name"
        ));
        assert!(matches!(
            command(&["group", "admins", "add", "g", "bob"]),
            Command::Group(GroupCommand::Admins(AdminsCommand::Add { .. }))
        ));
        assert!(matches!(
            command(&["group", "admins", "remove", "g", "bob"]),
            Command::Group(GroupCommand::Admins(AdminsCommand::Remove { .. }))
        ));
        assert!(matches!(
            command(&["group", "relays", "g", "wss://a", "wss://b"]),
            Command::Group(GroupCommand::Relays { urls, .. }) if urls.len() == 2
        ));
        assert!(matches!(
            command(&["group", "commit-proposals", "g"]),
            Command::Group(GroupCommand::CommitProposals { .. })
        ));
        for c in ["rotate", "leave"] {
            assert!(matches!(command(&["group", c, "g"]), Command::Group(_)));
        }
    }

    #[test]
    fn the_profile_is_a_global_option_with_two_values() {
        assert_eq!(parse(&["groups"]).unwrap().profile, None);
        assert_eq!(
            parse(&["--profile", "marmot", "groups"]).unwrap().profile,
            Some(ProfileArg::Marmot)
        );
        assert_eq!(
            parse(&["groups", "--profile", "nip-ee"]).unwrap().profile,
            Some(ProfileArg::NipEe)
        );
        assert_eq!(ProfileArg::Marmot.profile(), nipee::Profile::Marmot);
        assert_eq!(
            kind(&["--profile", "mls", "groups"]),
            ErrorKind::InvalidValue
        );
    }

    #[test]
    fn the_out_of_band_tree_is_a_global_switch() {
        assert_eq!(parse(&["groups"]).unwrap().tree_out_of_band, None);
        assert_eq!(parse(&["groups"]).unwrap().journal, None);
        assert_eq!(
            parse(&["--journal", "delete", "groups"]).unwrap().journal,
            Some(JournalArg::Delete)
        );
        assert!(parse(&["--journal", "truncate", "groups"]).is_err());
        assert_eq!(
            parse(&["--tree-out-of-band", "on", "groups"])
                .unwrap()
                .tree_out_of_band,
            Some(Switch::On)
        );
        assert_eq!(
            parse(&["groups", "--tree-out-of-band", "off"])
                .unwrap()
                .tree_out_of_band,
            Some(Switch::Off)
        );
        assert_eq!(
            kind(&["--tree-out-of-band", "yes", "groups"]),
            ErrorKind::InvalidValue
        );
    }

    #[test]
    fn commands_that_need_people_refuse_an_empty_list() {
        for args in [
            &["group", "invite", "g"][..],
            &["group", "remove", "g"],
            &["group", "admins", "add", "g"],
            &["group", "relays", "g"],
            &["send", "g"],
        ] {
            assert_eq!(kind(args), ErrorKind::MissingRequiredArgument, "{args:?}");
        }
    }

    #[test]
    fn message_commands_parse() {
        assert!(matches!(
            command(&["send", "g", "hello", "there"]),
            Command::Send { text, .. } if text.join(" ") == "hello there"
        ));
        assert!(matches!(
            command(&["react", "g", "ab", "+"]),
            Command::React { emoji, .. } if emoji == "+"
        ));
        assert!(matches!(
            command(&["listen", "--count", "2", "--timeout", "5"]),
            Command::Listen {
                count: Some(2),
                timeout: Some(5)
            }
        ));
        assert!(matches!(command(&["chat", "g"]), Command::Chat { .. }));
        assert!(matches!(
            command(&["status", "--offline"]),
            Command::Status { offline: true }
        ));
        assert!(matches!(command(&["sync"]), Command::Sync));
    }

    #[test]
    fn bad_numbers_and_unknown_commands_are_usage_errors_with_a_suggestion() {
        assert_eq!(
            kind(&["listen", "--count", "many"]),
            ErrorKind::ValueValidation
        );
        let e = parse(&["grups"]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidSubcommand);
        assert!(e.to_string().contains("groups"), "{e}");
        assert_eq!(e.exit_code(), 2);
    }

    #[test]
    fn completions_are_offered_for_the_common_shells() {
        for shell in ["bash", "zsh", "fish"] {
            assert!(matches!(
                command(&["completions", shell]),
                Command::Completions { .. }
            ));
        }
        assert_eq!(kind(&["completions", "tcsh"]), ErrorKind::InvalidValue);
    }

    #[test]
    fn every_command_has_help_with_examples() {
        fn walk(c: &clap::Command, path: &str) {
            let path = format!("{path} {}", c.get_name());
            if c.get_subcommands().next().is_none() {
                let help = c
                    .get_after_help()
                    .map(|h| h.to_string())
                    .unwrap_or_default();
                assert!(help.contains("Examples:"), "{path} has no examples");
            }
            for s in c.get_subcommands().filter(|s| s.get_name() != "help") {
                walk(s, &path);
            }
        }
        walk(&Cli::command(), "");
    }

    #[test]
    fn help_documents_the_exit_codes() {
        let help = Cli::command().render_long_help().to_string();
        for line in [
            "0  success",
            "2  usage error",
            "3  relay failure",
            "4  storage failure",
        ] {
            assert!(help.contains(line), "{line}");
        }
    }
}
