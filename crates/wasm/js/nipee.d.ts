// Types of the nipee WebAssembly package: the generated bindings (`NipeeClient`,
// `Identity`, the Nostr primitives) and the plain JavaScript beside them (`RelayHost`,
// `MemoryStore`, `IndexedDbStore`).
//
// Every method that can fail throws an `Error` whose `code` is one of `ErrorCode` and whose
// message starts with that code. A failed call changes nothing.

export type ErrorCode =
  | "malformed"
  | "invalid"
  | "misuse"
  | "storage"
  | "unsupported"
  | "network"
  | "internal";

export interface NipeeError extends Error {
  code: ErrorCode;
}

/** A signed Nostr event (NIP-01). */
export interface NostrEvent {
  id: string;
  pubkey: string;
  created_at: number;
  kind: number;
  tags: string[][];
  content: string;
  sig: string;
}

/** An unsigned event with its id (an inner event of a group message, a rumor). */
export interface UnsignedEvent {
  id: string;
  pubkey: string;
  created_at: number;
  kind: number;
  tags: string[][];
  content: string;
}

/** One stored row. `key` is hex, `value` base64. */
export interface Row {
  table: string;
  key: string;
  value: string;
}

/** One step of a storage write; a write is applied atomically, in order. */
export type WriteStep =
  | { op: "put"; row: Row }
  | { op: "delete"; table: string; key: string }
  | { op: "deletePrefix"; table: string; prefix: string };

export interface CommitInfo {
  groupId: string;
  epoch: number;
  committer: string | null;
  added: string[];
  removed: string[];
  updated: string[];
  groupDataChanged: boolean;
  /** The new group data, when it changed. */
  groupData: GroupData | null;
  /** When this commit replaced one applied before (a commit race): the epoch reached on the abandoned branch. */
  rolledBackFrom: number | null;
  supersededOwn: boolean;
}

export type IgnoreReason =
  | "duplicate"
  | "lostRace"
  | "removedMemberCannotUndo"
  | "tooLate"
  | "notAMember"
  | "heldForPendingCommit"
  | "buffered"
  | "notForUs"
  | "awaitingRatchetTree"
  | "other";

export interface GroupData {
  nostrGroupId: string;
  name: string;
  description: string;
  admins: string[];
  relays: string[];
}

/**
 * What happened. `eventId` names the relay event an outcome came from, when one did.
 * `inboxId` is set on what the client keeps in its inbox (every outcome but `published`
 * and `ignored`) until `client.acknowledge([inboxId])`: delivery is at least once, and a
 * message seen twice has the same `event.id`.
 */
export type Outcome = OutcomeBody & { eventId?: string; inboxId?: number };

export type OutcomeBody =
  | { type: "message"; groupId: string; epoch: number; senderLeaf: number; event: UnsignedEvent }
  | { type: "proposal"; groupId: string; sender: string | null; leaveRequest: boolean }
  | { type: "joined"; groupId: string; nostrGroupId: string; epoch: number; inviter: string; keyPackageEventId: string }
  | ({ type: "commit" } & CommitInfo)
  | ({ type: "ownCommitConfirmed" } & CommitInfo)
  | { type: "ownCommitDiscarded"; groupId: string; epoch: number; reason: string }
  | { type: "removed"; groupId: string; by: string | null }
  | { type: "published"; eventId: string }
  | { type: "ignored"; reason: IgnoreReason }
  | { type: "other" };

export type Purpose =
  | { type: "keyPackage" }
  | { type: "relayList" }
  | { type: "keyPackageDeletion" }
  | { type: "welcome"; groupId: string; invitee: string }
  | { type: "groupMessage"; groupId: string }
  | { type: "commit"; groupId: string; epoch: number }
  | { type: "ratchetTree"; groupId: string }
  | { type: "other" };

/** An event to publish to `relays`. Report the relays' answers with `client.published`. */
export interface Outgoing {
  event: NostrEvent;
  relays: string[];
  purpose: Purpose;
}

/** A read to perform; report it with `client.fetched(request, { events, complete })`. */
export type FetchRequest =
  | {
      /** Read back our own commit whose publication no group relay acknowledged. */
      type: "readBack";
      groupId: string;
      eventId: string;
      relays: string[];
      filter: Record<string, unknown>;
    }
  | {
      /** Fetch the chunks of a ratchet tree sent out of band, for a waiting Welcome. */
      type: "ratchetTree";
      welcomeId: string;
      treeId: string;
      relays: string[];
      filter: Record<string, unknown>;
    };

export type RelayAnswer =
  | { relay: string; status: "accepted" }
  | { relay: string; status: "rejected"; message: string }
  | { relay: string; status: "noAnswer" };

/**
 * The result of every operation: persist `write` first, then publish `publish`, perform
 * `fetch`, and show `outcomes`.
 */
export interface OpResult<V = unknown> {
  value: V;
  outcomes: Outcome[];
  publish: Outgoing[];
  fetch: FetchRequest[];
  write: WriteStep[];
}

export interface Member {
  leaf: number;
  pubkey: string;
  admin: boolean;
  own: boolean;
}

export interface GroupSummary {
  groupId: string;
  nostrGroupId: string;
  /** The name (kept for a group we left). */
  name: string;
  data: GroupData | null;
  epoch: number;
  members: Member[];
  active: boolean;
  pendingCommit: boolean;
}

export interface TreeNode {
  index: number;
  leaf: boolean;
  blank: boolean;
  /** First 8 bytes of the HPKE public key, hex. */
  publicKey: string | null;
  parentHash: string | null;
  unmergedLeaves: number[];
  /** The member's Nostr key (leaves). */
  member: string | null;
  inLastCommitPath: boolean;
  onOwnPath: boolean;
}

export interface Subscription {
  key: string;
  filter: Record<string, unknown>;
  relays: string[];
  marginSecs: number;
}

export interface ClientConfig {
  relays: string[];
  clientName?: string;
  /** The profile of new groups and KeyPackages ("nip-ee" by default); stored groups keep theirs. */
  profile?: "nip-ee" | "marmot";
  /** Only NIP-44's classic 2-byte length prefix (peers such as nostr-mls 0.43 read no more):
   * a Welcome or message that does not fit fails with a `misuse` error and changes nothing. */
  classicNip44?: boolean;
  /** Send the ratchet tree of our Welcomes out of band (nipee's own extension): one
   * encrypted copy for all invitees instead of one per invitee. Only nipee clients can
   * join from such a Welcome. */
  ratchetTreeOutOfBand?: boolean;
}

export class Identity {
  static generate(): Identity;
  /** From an nsec or 64 hex characters. */
  static parse(secret: string): Identity;
  readonly publicKey: string;
  readonly npub: string;
  exportNsec(): string;
  exportHex(): string;
  free(): void;
}

export class NipeeClient {
  /** A client for `identity` over the rows its store holds (`[]` for a new store). */
  static create(identity: Identity, rows: Row[], config: ClientConfig): NipeeClient;
  /** The client whose identity `rows` hold. */
  static open(rows: Row[], config: ClientConfig): NipeeClient;
  readonly publicKey: string;
  readonly npub: string;
  /** The identity's secret, hex (to set up a second device). Handle with care. */
  exportSecretHex(): string;
  rows(): Row[];
  takeWrite(): WriteStep[];

  /** `now` is unix seconds, passed in by the host: the client never reads a clock. */
  createKeyPackage(lastResort: boolean, now: number): OpResult<NostrEvent>;
  relayListEvent(now: number): OpResult<NostrEvent>;
  createGroup(
    params: { name: string; description?: string; admins?: string[]; relays?: string[]; invitees: NostrEvent[] },
    now: number,
  ): OpResult<{ groupId: string }>;
  invite(groupId: string, keyPackageEvents: NostrEvent[], now: number): OpResult<{ epoch: number; eventId: string }>;
  remove(groupId: string, pubkeys: string[], now: number): OpResult<{ epoch: number; eventId: string }>;
  rotate(groupId: string, now: number): OpResult<{ epoch: number; eventId: string }>;
  leave(groupId: string, now: number): OpResult<null>;
  commitPendingProposals(groupId: string, now: number): OpResult<{ epoch: number; eventId: string }>;
  updateGroupData(
    groupId: string,
    update: { name?: string; description?: string; relays?: string[]; admins?: string[]; nostrGroupId?: string },
    now: number,
  ): OpResult<{ epoch: number; eventId: string }>;
  sendMessage(groupId: string, text: string, now: number): OpResult<UnsignedEvent>;
  react(groupId: string, targetId: string, emoji: string, now: number): OpResult<UnsignedEvent>;
  sendEvent(groupId: string, inner: { kind: number; content: string; tags?: string[][] }, now: number): OpResult<UnsignedEvent>;

  process(event: NostrEvent, now: number): OpResult<null>;
  published(eventId: string, answers: RelayAnswer[], now: number): OpResult<null>;
  fetched(request: FetchRequest, report: { events: NostrEvent[]; complete: string[] }, now: number): OpResult<null>;
  discardPending(groupId: string, now: number): OpResult<null>;
  poll(now: number): OpResult<null>;

  groups(): GroupSummary[];
  members(groupId: string): Member[];
  epoch(groupId: string): { epoch: number; authenticator: string };
  tree(groupId: string): TreeNode[];
  subscriptions(): Subscription[];
  outbox(): Outgoing[];
  /** Outcomes not acknowledged yet (decrypted messages among them), oldest first. */
  inbox(): Outcome[];
  /** Deletes the inbox entries the application has taken; persist the result's `write`. */
  acknowledge(inboxIds: number[]): OpResult<number>;
  free(): void;
}

export interface Store {
  load(): Promise<Row[]>;
  apply(write: WriteStep[]): Promise<void>;
}

export class MemoryStore implements Store {
  constructor(rows?: Row[]);
  load(): Promise<Row[]>;
  apply(write: WriteStep[]): Promise<void>;
}

export class IndexedDbStore implements Store {
  static open(name: string, indexedDB?: IDBFactory): Promise<IndexedDbStore>;
  static destroy(name: string, indexedDB?: IDBFactory): Promise<void>;
  load(): Promise<Row[]>;
  apply(write: WriteStep[]): Promise<void>;
  close(): void;
}

export interface Traffic {
  direction: "in" | "out";
  relay: string;
  event: NostrEvent;
  purpose?: Purpose;
}

export interface RelayHostOptions {
  WebSocket?: typeof WebSocket;
  now?: () => number;
  /** Called for every outcome; once it returned (or its promise resolved) the host
   * acknowledges the outcome's inbox entry. Unacknowledged ones come again at `start()`. */
  onOutcome?: (o: Outcome) => void | Promise<void>;
  onError?: (what: string, e: unknown) => void;
  onTraffic?: (t: Traffic) => void;
  okTimeoutMs?: number;
  fetchTimeoutMs?: number;
  /** When a read-back of an unacknowledged commit finds it on none of the relays that all
   * answered, ask twice more this far apart (relays may store an event a moment after they
   * read it). Default 2000. */
  readBackSettleMs?: number;
  pollMs?: number;
  allowRelay?: (url: string) => boolean;
}

/** Moves events between a client and relays; makes no protocol decision of its own. */
export class RelayHost {
  constructor(client: NipeeClient, store: Store, options?: RelayHostOptions);
  readonly client: NipeeClient;
  now(): number;
  start(): Promise<void>;
  stop(): void;
  /** Persists the result's write, then publishes, reads, and follows what that produces. */
  run<V>(result: OpResult<V>): Promise<OpResult<V>>;
  /** Fetches stored events matching `filter` from `relays` until EOSE or the timeout. */
  query(filter: Record<string, unknown>, relays: string[]): Promise<{ events: NostrEvent[]; complete: string[] }>;
  resubscribe(): void;
}

/** Initialises the WebAssembly module (web target; Node loads it synchronously). */
export default function init(input?: RequestInfo | URL | Response | BufferSource | WebAssembly.Module): Promise<unknown>;

/** The NIP-01 id of an unsigned event. */
export function eventId(unsigned: Omit<UnsignedEvent, "id">): string;
/** Signs an unsigned event with a secret (hex or nsec). */
export function signEvent(unsigned: Omit<UnsignedEvent, "id">, secret: string): NostrEvent;
/** Verifies an event's id and signature; throws `invalid`/`malformed` otherwise. */
export function verifyEvent(event: NostrEvent): NostrEvent;
/** NIP-44 v2 encryption from `secret` to `peer` (hex or npub). */
export function nip44Encrypt(secret: string, peer: string, plaintext: string): string;
/** NIP-44 v2 decryption. */
export function nip44Decrypt(secret: string, peer: string, payload: string): string;
/**
 * A NIP-44 v2 conversation key between our secret (hex or nsec) and a peer (hex or npub),
 * derived once for many messages (`nip44Encrypt`/`nip44Decrypt` derive it on every call).
 * Secret: call `free()` when done (the key is zeroized).
 */
export class Nip44Conversation {
  constructor(secret: string, peer: string);
  encrypt(plaintext: string): string;
  decrypt(payload: string): string;
  free(): void;
}
/** NIP-59 gift wrap of a rumor authored by `secret`'s key to `recipient`. */
export function giftWrap(rumor: Omit<UnsignedEvent, "id">, secret: string, recipient: string, now: number): NostrEvent;
/** NIP-59 unwrap. */
export function unwrapGiftWrap(event: NostrEvent, secret: string): { rumor: UnsignedEvent; sender: string };
/** NIP-19 encoding: npub, nsec, note, nprofile, nevent. */
export function nip19Encode(v: { type: "npub" | "nsec" | "note" | "nprofile" | "nevent"; value: string; relays?: string[] }): string;
/** NIP-19 decoding; `value` is hex. */
export function nip19Decode(s: string): { type: string; value: string; relays?: string[] };
/** The package version. */
export function version(): string;
