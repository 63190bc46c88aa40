// What the page and a participant's worker say to each other. The worker holds the real
// client; everything the page shows about a participant arrives in these messages.
import type {
  GroupSummary,
  NostrEvent,
  Outcome,
  Purpose,
  TreeNode,
  UnsignedEvent,
} from "nipee-wasm";

export type { GroupSummary, NostrEvent, Outcome, Purpose, TreeNode, UnsignedEvent };

/** How a worker starts: a new identity, a given secret (a second device), or its stored rows. */
export type Start =
  | { mode: "generate" }
  | { mode: "secret"; secretHex: string }
  | { mode: "open" };

export interface InitArgs {
  name: string;
  dbName: string;
  relay: string;
  start: Start;
}

/** Commands the page sends; each gets one `Reply` with the same `id`. */
export type Command =
  | { cmd: "init"; args: InitArgs }
  | { cmd: "publishKeyPackage"; lastResort: boolean }
  | { cmd: "publishRelayList" }
  | { cmd: "createGroup"; name: string; description: string; invitees: Invitee[]; admins: string[] }
  | { cmd: "invite"; groupId: string; invitees: Invitee[] }
  | { cmd: "remove"; groupId: string; pubkeys: string[] }
  | { cmd: "rotate"; groupId: string }
  | { cmd: "prepareRotate"; groupId: string }
  | { cmd: "releasePrepared" }
  | { cmd: "leave"; groupId: string }
  | { cmd: "commitPending"; groupId: string }
  | { cmd: "setAdmins"; groupId: string; admins: string[] }
  | { cmd: "send"; groupId: string; text: string }
  | { cmd: "react"; groupId: string; targetId: string; emoji: string }
  | { cmd: "tryOpen"; event: NostrEvent }
  | { cmd: "exportSecret" }
  | { cmd: "shutdown" };

/** Someone to invite: a Nostr key (hex or npub), optionally one exact KeyPackage event. */
export interface Invitee {
  pubkey: string;
  keyPackageEventId?: string;
}

export type Request = Command & { id: number };

export interface WireError {
  code: string;
  message: string;
}

export type Reply = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: WireError };

/** Per group, what the client's read-only views return. */
export interface GroupView {
  summary: GroupSummary;
  epoch: number | null;
  authenticator: string | null;
  tree: TreeNode[];
  error: WireError | null;
}

export interface Snapshot {
  publicKey: string;
  npub: string;
  groups: GroupView[];
  keyPackages: string[];
  subscriptions: number;
  outbox: number;
}

/** What one participant could make of one event: filled in as its client handles it. */
export interface Seen {
  eventId: string;
  direction: "in" | "out";
  /** The event's `h` tag (a group event's public group id). */
  hTag?: string;
  purpose?: Purpose;
  /** The inner event of a group message this participant sent or decrypted. */
  inner?: UnsignedEvent;
  outcomes: Outcome[];
  error?: WireError;
}

/** A change of a group's epoch or authenticator, with what caused it. */
export interface EpochChange {
  groupId: string;
  epoch: number;
  authenticator: string;
  /** The outcomes of the call that moved the epoch (commit, joined, rollback...). */
  cause: Outcome[];
  at: number;
}

/** A chat line as this participant knows it. */
export interface ChatLine {
  groupId: string;
  epoch: number;
  event: UnsignedEvent;
  own: boolean;
  outerId?: string;
}

export type WorkerEvent =
  | { type: "snapshot"; snapshot: Snapshot }
  | { type: "outcome"; outcome: Outcome; at: number }
  | { type: "traffic"; direction: "in" | "out"; relay: string; event: NostrEvent; purpose?: Purpose }
  | { type: "seen"; seen: Seen }
  | { type: "epoch"; change: EpochChange }
  | { type: "chat"; line: ChatLine }
  | { type: "error"; what: string; error: WireError };

export type FromWorker = Reply | WorkerEvent;

export function wireError(e: unknown): WireError {
  if (e && typeof e === "object") {
    const any = e as { code?: unknown; message?: unknown };
    const message = typeof any.message === "string" ? any.message : String(e);
    const code = typeof any.code === "string" ? any.code : (/^([a-z]+):/.exec(message)?.[1] ?? "error");
    return { code, message };
  }
  return { code: "error", message: String(e) };
}
