//! Client settings and the numbers the core keeps (documented in docs/NIP-EE.md).

use nipee_nostr::nip44::LengthPrefix;

use crate::profile::Profile;

/// How many past epochs' group-event keys and MLS decryption secrets are kept by default,
/// for late application messages.
pub const DEFAULT_RETAINED_EPOCHS: usize = 5;
/// The fewest retained epochs the client accepts (commit races need at least the epochs a
/// rollback may reach).
pub const MIN_RETAINED_EPOCHS: usize = 3;
/// How many epochs back a commit race may roll the group by default.
pub const DEFAULT_ROLLBACK_EPOCHS: usize = 2;
/// How far in the future a group event's `created_at` may lie and still be processed at
/// once (seconds). A group event dated further ahead waits in the buffer until our clock
/// reaches it (see [`MAX_HELD_FUTURE_SECS`]).
pub const DEFAULT_MAX_FUTURE_SKEW_SECS: u64 = 900;
/// How far ahead of our clock a group event may be dated and still wait in the buffer
/// (seconds); one dated further ahead is refused with `Error::FromTheFuture`.
pub const MAX_HELD_FUTURE_SECS: u64 = 86_400;
/// How long an own commit may stay pending, unconfirmed, before `Client::poll`
/// expires it (seconds).
pub const DEFAULT_PENDING_TTL_SECS: u64 = 3_600;
/// How long a member removed by a commit keeps the state of the epoch it was removed from,
/// in case a competing commit for that epoch wins the race and the member is still in the
/// group (seconds).
pub const DEFAULT_REMOVED_STATE_SECS: u64 = 3_600;
/// How many events per group wait for a later epoch by default.
pub const DEFAULT_MAX_BUFFERED_PER_GROUP: usize = 256;
/// How long processed-event marks are kept by default (seconds): 30 days.
pub const DEFAULT_PROCESSED_RETENTION_SECS: u64 = 30 * 86_400;
/// The `since` margin hosts should use for the gift-wrap subscription: NIP-59 backdates
/// gift wraps by up to two days; one hour more for clock skew.
pub const GIFT_WRAP_MARGIN_SECS: u64 = 2 * 86_400 + 3_600;
/// The `since` margin for group events.
pub const GROUP_EVENT_MARGIN_SECS: u64 = 600;

/// Client settings.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientConfig {
    /// Our relays: written into KeyPackage events and new groups, and where KeyPackages
    /// and relay lists are published.
    pub relays: Vec<String>,
    /// The `client` tag of KeyPackage events.
    pub client_name: Option<String>,
    /// How many past epochs are kept for late messages (at least
    /// [`MIN_RETAINED_EPOCHS`]).
    pub retained_epochs: usize,
    /// How many epochs back a commit race may roll the group (1 ..= `retained_epochs`).
    pub rollback_epochs: usize,
    /// See [`DEFAULT_MAX_FUTURE_SKEW_SECS`].
    pub max_future_skew_secs: u64,
    /// See [`DEFAULT_PENDING_TTL_SECS`].
    pub pending_ttl_secs: u64,
    /// See [`DEFAULT_REMOVED_STATE_SECS`].
    pub removed_state_secs: u64,
    /// See [`DEFAULT_MAX_BUFFERED_PER_GROUP`].
    pub max_buffered_per_group: usize,
    /// See [`DEFAULT_PROCESSED_RETENTION_SECS`].
    pub processed_retention_secs: u64,
    /// Bind our commits to their kind-445 event (created_at and signer in the MLS
    /// authenticated data), so that copies of them under other timestamps or signers are
    /// recognised. On by default.
    pub bind_commits: bool,
    /// The wire formats of new groups and KeyPackages.
    pub profile: Profile,
    /// Classic-only NIP-44: every NIP-44 encryption we do (kind-445 content in the NIP-EE
    /// profile, the seal and the gift wrap of Welcomes in both profiles) uses only the
    /// 2-byte length prefix, which every NIP-44 v2 implementation reads (nostr-mls and
    /// rust-nostr 0.43 read nothing else). Anything longer than 65 535 bytes then fails,
    /// before any state changes, with `Error::ClassicNip44TooLarge`: in practice a Welcome
    /// to a group too large for such peers (see docs/NIP-EE.md). Off by default: the
    /// extended prefix above 65 535 bytes lets large groups be joined.
    pub classic_nip44: bool,
    /// Send the ratchet tree out of band (nipee's own extension, [`crate::tree_transfer`]):
    /// the GroupInfo of our Welcomes leaves the tree out; it is published once, encrypted,
    /// as chunk events, and each invitee's rumor points at it. Inviting n members then
    /// costs O(n) bytes instead of O(n²), and groups far larger than a relay's event size
    /// limit can be joined. Only nipee clients can join from such a Welcome (nostr-mls and
    /// MDK cannot): off by default. Joining from one works whatever this says.
    pub ratchet_tree_out_of_band: bool,
    /// Most Welcome gift wraps handed out at once (a batch also ends at
    /// [`MAX_BATCH_BYTES`](crate::client::MAX_BATCH_BYTES) of them): inviting many members
    /// produces one batch, and the host's report on its last wrap the next, so memory and
    /// the outbox hold one batch whatever the number of invitees. Default
    /// [`DEFAULT_WELCOME_BATCH`](crate::client::DEFAULT_WELCOME_BATCH).
    pub welcome_batch: usize,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            relays: Vec::new(),
            client_name: Some("nipee".to_owned()),
            retained_epochs: DEFAULT_RETAINED_EPOCHS,
            rollback_epochs: DEFAULT_ROLLBACK_EPOCHS,
            max_future_skew_secs: DEFAULT_MAX_FUTURE_SKEW_SECS,
            pending_ttl_secs: DEFAULT_PENDING_TTL_SECS,
            removed_state_secs: DEFAULT_REMOVED_STATE_SECS,
            max_buffered_per_group: DEFAULT_MAX_BUFFERED_PER_GROUP,
            processed_retention_secs: DEFAULT_PROCESSED_RETENTION_SECS,
            bind_commits: true,
            profile: Profile::NipEe,
            classic_nip44: false,
            ratchet_tree_out_of_band: false,
            welcome_batch: super::DEFAULT_WELCOME_BATCH,
        }
    }
}

impl ClientConfig {
    /// A default config with these relays.
    pub fn with_relays<I, S>(relays: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        ClientConfig {
            relays: relays.into_iter().map(Into::into).collect(),
            ..ClientConfig::default()
        }
    }

    /// The NIP-44 length-prefix policy of our encryptions (see
    /// [`ClientConfig::classic_nip44`]).
    pub fn nip44_prefix(&self) -> LengthPrefix {
        if self.classic_nip44 {
            LengthPrefix::Classic
        } else {
            LengthPrefix::Extended
        }
    }

    /// The config with every number inside its allowed range.
    pub(crate) fn normalized(mut self) -> Self {
        self.retained_epochs = self.retained_epochs.clamp(MIN_RETAINED_EPOCHS, 64);
        self.rollback_epochs = self.rollback_epochs.clamp(1, self.retained_epochs);
        self.max_buffered_per_group = self.max_buffered_per_group.clamp(1, 65_536);
        self.relays.sort();
        self.relays.dedup();
        self
    }
}
