//! What the client core hands to its host: outcomes of incoming events, events to publish,
//! reads to perform, and read-only views of groups.

use nipee_nostr::{Event, EventId, Filter, PublicKey, UnsignedEvent};

use crate::group_data::NostrGroupData;
use crate::ids::{GroupId, NostrGroupId};

/// Why an event changed nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum IgnoreReason {
    /// This event (same id), or a commit with the same authenticated MLS content, was
    /// processed before.
    Duplicate,
    /// A commit that lost a race against the commit applied for its epoch.
    LostRace,
    /// A late commit that would undo a removal, sent by a member that removal removed.
    RemovedMemberCannotUndo,
    /// A late commit from outside the race window, or for an epoch further back than the
    /// client rolls back.
    TooLate,
    /// A group we are no longer a member of.
    NotAMember,
    /// A commit for our current epoch held until our own pending commit's fate is known.
    HeldForPendingCommit,
    /// An event no retained key opens yet: kept until a later epoch arrives.
    Buffered,
    /// A Welcome for a KeyPackage this client does not hold (another device of the same
    /// identity made it).
    NotForUs,
    /// A Welcome whose ratchet tree is sent out of band: kept until the tree's chunks are
    /// fetched (see [`FetchRequest::RatchetTree`]).
    AwaitingRatchetTree,
}

/// What a commit did, as every member sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CommitInfo {
    /// The MLS group.
    pub group_id: GroupId,
    /// The epoch the commit created.
    pub epoch: u64,
    /// Who committed (Nostr key), when a member did.
    pub committer: Option<PublicKey>,
    /// Members added (Nostr keys).
    pub added: Vec<PublicKey>,
    /// Members removed (Nostr keys).
    pub removed: Vec<PublicKey>,
    /// Members who updated their leaf (the committer's path update included).
    pub updated: Vec<PublicKey>,
    /// The group data changed (name, description, admins, relays, image, nostr_group_id).
    pub group_data_changed: bool,
    /// The new group data, when it changed.
    pub group_data: Option<NostrGroupData>,
    /// When the commit replaced one applied before (a commit race): the epoch we had
    /// reached on the abandoned branch.
    pub rolled_back_from: Option<u64>,
    /// Our own pending commit for the same epoch lost and was dropped.
    pub superseded_own: bool,
}

/// What processing an event (or a host's report) did.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Outcome {
    /// A decrypted application message.
    Message {
        /// The MLS group.
        group_id: GroupId,
        /// The epoch it was sent in.
        epoch: u64,
        /// The sender's leaf.
        sender_leaf: u32,
        /// The inner event (its pubkey is the MLS sender's identity, checked).
        event: UnsignedEvent,
        /// The exact application data it was decoded from.
        application_data: Vec<u8>,
    },
    /// A proposal was received and stored for a later commit (e.g. a member leaving).
    Proposal {
        /// The MLS group.
        group_id: GroupId,
        /// Who proposed (Nostr key).
        sender: Option<PublicKey>,
        /// A member asked to leave (a Remove of its own leaf, or a SelfRemove).
        leave_request: bool,
    },
    /// We joined a group from a Welcome.
    Joined {
        /// The MLS group.
        group_id: GroupId,
        /// The group's public id.
        nostr_group_id: NostrGroupId,
        /// The epoch we joined at.
        epoch: u64,
        /// Who added us (Nostr key).
        inviter: PublicKey,
        /// The KeyPackage event the Welcome consumed.
        key_package_event_id: EventId,
    },
    /// Another member's commit was applied.
    Commit(CommitInfo),
    /// Our own commit was confirmed (a group relay acknowledged it, or it came back) and
    /// merged.
    OwnCommitConfirmed(CommitInfo),
    /// Our own commit was dropped: no group relay has it, or a competing commit won.
    OwnCommitDiscarded {
        /// The MLS group.
        group_id: GroupId,
        /// The epoch it would have created.
        epoch: u64,
        /// Why.
        reason: &'static str,
    },
    /// A commit removed us; the group's secrets are deleted.
    Removed {
        /// The MLS group.
        group_id: GroupId,
        /// Who removed us (Nostr key), when known.
        by: Option<PublicKey>,
    },
    /// An event published by us reached a relay and left the outbox.
    Published {
        /// The event id.
        event_id: EventId,
    },
    /// Nothing changed.
    Ignored(IgnoreReason),
}

/// Why an event is to be published, and what the host reports back.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Purpose {
    /// A KeyPackage (kind 443).
    KeyPackage,
    /// Our KeyPackage relay list (kind 10051).
    RelayList,
    /// A NIP-09 deletion of a consumed KeyPackage.
    KeyPackageDeletion,
    /// A gift-wrapped Welcome for an invitee.
    Welcome {
        /// The MLS group.
        group_id: GroupId,
        /// The invitee.
        invitee: PublicKey,
    },
    /// An application message or a proposal (kind 445).
    GroupMessage {
        /// The MLS group.
        group_id: GroupId,
    },
    /// Our commit (kind 445): report every relay's answer with
    /// [`Client::published`](crate::Client::published); only an acknowledgement from one of
    /// the group's relays confirms it.
    Commit {
        /// The MLS group.
        group_id: GroupId,
        /// The epoch it creates.
        epoch: u64,
    },
    /// A chunk of a ratchet tree sent out of band for a commit's invitees
    /// ([`crate::tree_transfer`]), to the group's relays.
    RatchetTree {
        /// The MLS group.
        group_id: GroupId,
    },
}

/// An event to publish. It stays in the client's outbox (and is listed by
/// [`Client::outbox`](crate::Client::outbox) after a restart) until the host reports that a
/// relay took it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// The signed event.
    pub event: Event,
    /// Where to publish it. Relays that are not among the host's own connections (an
    /// invitee's relays) should be reached over short-lived, filtered connections.
    pub relays: Vec<String>,
    /// Why.
    pub purpose: Purpose,
}

/// One relay's answer to a publish.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RelayAnswer {
    /// `OK true` (including `duplicate:`: the relay already has it).
    Accepted {
        /// The relay URL.
        relay: String,
    },
    /// `OK false` with the relay's message.
    Rejected {
        /// The relay URL.
        relay: String,
        /// The message (with its machine-readable prefix).
        message: String,
    },
    /// No answer (timeout, disconnect, not connected).
    NoAnswer {
        /// The relay URL.
        relay: String,
    },
}

impl RelayAnswer {
    /// The relay URL.
    pub fn relay(&self) -> &str {
        match self {
            RelayAnswer::Accepted { relay }
            | RelayAnswer::Rejected { relay, .. }
            | RelayAnswer::NoAnswer { relay } => relay,
        }
    }
}

/// A read the core asks the host to perform: fetch `filter` from `relays` and report with
/// [`Client::fetched`](crate::Client::fetched).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FetchRequest {
    /// Read back our own commit whose publication no group relay acknowledged.
    ReadBack {
        /// The MLS group.
        group_id: GroupId,
        /// The commit event id.
        event_id: EventId,
        /// The group's relays.
        relays: Vec<String>,
    },
    /// Fetch the chunks of a ratchet tree sent out of band, for a Welcome that waits for
    /// them ([`crate::tree_transfer`]).
    RatchetTree {
        /// The gift wrap of the Welcome.
        welcome: EventId,
        /// The tree's id (the chunk events' `x` tag).
        tree_id: [u8; 32],
        /// The group's relays, from the Welcome.
        relays: Vec<String>,
    },
}

impl FetchRequest {
    /// The filter to send.
    pub fn filter(&self) -> Filter {
        match self {
            FetchRequest::ReadBack { event_id, .. } => Filter::new().ids([*event_id]),
            FetchRequest::RatchetTree { tree_id, .. } => {
                crate::tree_transfer::chunk_filter(tree_id)
            }
        }
    }

    /// The relays to ask.
    pub fn relays(&self) -> &[String] {
        match self {
            FetchRequest::ReadBack { relays, .. } | FetchRequest::RatchetTree { relays, .. } => {
                relays
            }
        }
    }
}

/// What the host learnt from a [`FetchRequest`].
#[derive(Debug, Clone, Default)]
pub struct FetchReport {
    /// Events received (verified by the host's relay layer).
    pub events: Vec<Event>,
    /// Relays that answered completely (sent EOSE).
    pub complete: Vec<String>,
}

/// What an operation or an incoming event asks of the host, besides its own result.
#[derive(Debug, Clone, Default)]
#[must_use = "publish what it lists and perform its reads"]
pub struct Effects {
    /// What happened, in order (events released from the buffer come after the one that
    /// released them).
    pub outcomes: Vec<Outcome>,
    /// For each outcome, the id of the event it came from (`None` for an outcome of an
    /// operation or a report); as long as `outcomes`.
    pub sources: Vec<Option<EventId>>,
    /// Events to publish now (already in the outbox, already persisted).
    pub publish: Vec<Outgoing>,
    /// Reads to perform.
    pub fetch: Vec<FetchRequest>,
    /// For each outcome, the inbox entry that keeps it until the host acknowledges it
    /// (`None` for what the inbox does not keep: ignored events, publication reports); as
    /// long as `outcomes`. See [`Client::inbox`](crate::Client::inbox).
    pub inbox: Vec<Option<crate::InboxId>>,
}

impl Effects {
    /// The first outcome, or `Ignored` when nothing happened.
    pub fn outcome(&self) -> Outcome {
        self.outcomes
            .first()
            .cloned()
            .unwrap_or(Outcome::Ignored(IgnoreReason::Duplicate))
    }

    pub(crate) fn push(&mut self, o: Outcome) {
        self.push_kept(o, None);
    }

    /// Adds an outcome the inbox keeps under `id`.
    pub(crate) fn push_kept(&mut self, o: Outcome, id: Option<crate::InboxId>) {
        let n = self.outcomes.len();
        self.sources.resize(n, None);
        self.inbox.resize(n, None);
        self.outcomes.push(o);
        self.sources.push(None);
        self.inbox.push(id);
    }

    pub(crate) fn extend(&mut self, other: Effects) {
        let n = other.outcomes.len();
        let mine = self.outcomes.len();
        self.sources.resize(mine, None);
        self.inbox.resize(mine, None);
        self.outcomes.extend(other.outcomes);
        let mut sources = other.sources;
        sources.resize(n, None);
        self.sources.extend(sources);
        let mut inbox = other.inbox;
        inbox.resize(n, None);
        self.inbox.extend(inbox);
        self.publish.extend(other.publish);
        self.fetch.extend(other.fetch);
    }

    /// Marks every outcome without a source as coming from `id`.
    pub(crate) fn sourced_by(mut self, id: EventId) -> Self {
        self.sources.resize(self.outcomes.len(), None);
        for s in &mut self.sources {
            if s.is_none() {
                *s = Some(id);
            }
        }
        self
    }

    /// The inbox entries this call wrote, in order: acknowledge them
    /// ([`Client::acknowledge`](crate::Client::acknowledge)) once the application has taken
    /// the outcomes.
    pub fn kept(&self) -> Vec<crate::InboxId> {
        self.inbox.iter().flatten().copied().collect()
    }

    /// The outcomes with their source event ids.
    pub fn with_sources(&self) -> impl Iterator<Item = (&Outcome, Option<&EventId>)> {
        self.outcomes
            .iter()
            .enumerate()
            .map(|(i, o)| (o, self.sources.get(i).and_then(Option::as_ref)))
    }
}

/// Our commit, built and persisted, to publish; its fate is reported with
/// [`Client::published`](crate::Client::published).
#[derive(Debug, Clone)]
#[must_use = "publish the commit event and report the relays' answers"]
pub struct PendingCommit {
    /// The MLS group.
    pub group_id: GroupId,
    /// The epoch the commit creates.
    pub epoch: u64,
    /// The commit event and where to publish it.
    pub outgoing: Outgoing,
}

/// A member of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberInfo {
    /// Leaf index.
    pub leaf: u32,
    /// Nostr key (the credential identity).
    pub pubkey: PublicKey,
    /// Whether the current group data lists it as an admin.
    pub admin: bool,
    /// Whether this leaf is ours.
    pub own: bool,
}

/// What is known about a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSummary {
    /// The MLS group id.
    pub group_id: GroupId,
    /// The public id (`h` tag) now.
    pub nostr_group_id: NostrGroupId,
    /// The group's name (also for a group we left).
    pub name: String,
    /// The group data (absent for a group we left: its state is deleted).
    pub data: Option<NostrGroupData>,
    /// The current epoch.
    pub epoch: u64,
    /// Members (empty for a group we left).
    pub members: Vec<MemberInfo>,
    /// Whether we are a member.
    pub active: bool,
    /// Whether an own commit awaits its relays' answer.
    pub pending_commit: bool,
    /// The group's wire-format profile (unknown for a group we left).
    pub profile: Option<crate::profile::Profile>,
}

/// A subscription the host should hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionSpec {
    /// A stable name (`"gift-wraps"`, `"group:<hex group id>"`), to tell which changed.
    pub key: String,
    /// The filter.
    pub filter: Filter,
    /// Relays to hold it on; empty means the host's own relays.
    pub relays: Vec<String>,
    /// The `since` margin to use when re-subscribing after a reconnect (seconds).
    pub margin_secs: u64,
}

/// A node of a member's ratchet tree, for tools that draw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeNode {
    /// Node index (leaves are even).
    pub index: u32,
    /// Blank or not.
    pub blank: bool,
    /// First 8 bytes of the HPKE public key, hex.
    pub public_key_fingerprint: Option<String>,
    /// Parent hash, hex.
    pub parent_hash: Option<String>,
    /// Unmerged leaves (parents).
    pub unmerged_leaves: Vec<u32>,
    /// The member's Nostr key (leaves).
    pub member: Option<PublicKey>,
    /// Replaced by the last commit's path.
    pub in_last_commit_path: bool,
    /// On our own leaf's path.
    pub on_own_path: bool,
}
