// The page's state: the participants (each a worker holding a real client), what their
// workers reported, and everything the page's own read-only relay subscription saw.
import type {
  ChatLine,
  Command,
  EpochChange,
  FromWorker,
  NostrEvent,
  Outcome,
  Purpose,
  Seen,
  Snapshot,
  Start,
  WireError,
} from "./protocol";
import { RelayWatch } from "./relay-watch";

export type Status = "starting" | "ready" | "stopped" | "failed";

export interface HistoryEntry {
  epoch: number;
  authenticator: string;
  cause: Outcome[];
  at: number;
  /** On a branch a commit race abandoned (replaced by the entry after it). */
  abandoned: boolean;
}

export interface Note {
  at: number;
  kind: "error" | "info" | "failure";
  text: string;
  code?: string;
}

export interface Participant {
  id: string;
  name: string;
  dbName: string;
  relay: string;
  /** The participant whose identity this one shares (a second device). */
  deviceOf: string | null;
  worker: Worker | null;
  status: Status;
  snapshot: Snapshot | null;
  notes: Note[];
  outcomes: { at: number; outcome: Outcome }[];
  chat: ChatLine[];
  seen: Map<string, Seen>;
  history: Map<string, HistoryEntry[]>;
  /** Events handled per group (markers for the timeline that are not epochs). */
  markers: Map<string, { at: number; text: string }[]>;
  traffic: { in: number; out: number };
  busy: number;
  /** Groups this participant was removed from (for the forward-secrecy demonstration). */
  removedFrom: Map<string, number>;
}

export interface LoggedEvent {
  order: number;
  event: NostrEvent;
  receivedAt: number;
  /** The participant whose worker published it, and why. */
  publisher: { id: string; purpose?: Purpose } | null;
}

interface Saved {
  id: string;
  name: string;
  dbName: string;
  relay: string;
  deviceOf: string | null;
}

const SAVED_KEY = "nipee-visualizer/participants";

type Waiter = { resolve: (v: unknown) => void; reject: (e: Error & { code?: string }) => void };

export class AppState {
  participants: Participant[] = [];
  relay: string;
  selectedGroup: string | null = null;
  log: LoggedEvent[] = [];
  logIds = new Set<string>();
  watch: RelayWatch | null = null;
  watchStatus = "connecting";
  demoLog: { at: number; text: string; kind: "step" | "ok" | "fail" }[] = [];
  demoRunning: string | null = null;
  version = 0;
  private listeners = new Set<() => void>();
  private calls = new Map<Worker, Map<number, Waiter>>();
  private nextCall = 1;
  private pendingPublishers = new Map<string, { id: string; purpose?: Purpose }>();

  constructor(relay: string) {
    this.relay = relay;
  }

  subscribe(f: () => void): () => void {
    this.listeners.add(f);
    return () => this.listeners.delete(f);
  }

  changed() {
    this.version++;
    for (const f of this.listeners) f();
  }

  // ---- the relay log ----

  startWatch() {
    this.watch?.close();
    this.log = [];
    this.logIds.clear();
    this.watch = new RelayWatch(this.relay, {
      onEvent: (event) => this.logEvent(event),
      onStatus: (s) => {
        this.watchStatus = s;
        this.changed();
      },
    });
  }

  private logEvent(event: NostrEvent) {
    if (this.logIds.has(event.id)) return;
    this.logIds.add(event.id);
    this.log.push({
      order: this.log.length + 1,
      event,
      receivedAt: Date.now(),
      publisher: this.pendingPublishers.get(event.id) ?? null,
    });
    this.changed();
  }

  setRelay(url: string) {
    this.relay = url;
    this.startWatch();
    this.changed();
  }

  // ---- participants ----

  byId(id: string): Participant | undefined {
    return this.participants.find((p) => p.id === id);
  }

  byPubkey(pubkey: string): Participant[] {
    return this.participants.filter((p) => p.snapshot?.publicKey === pubkey);
  }

  /** A person's display name for a Nostr key: the page's participants, else a short key. */
  nameOf(pubkey: string | null | undefined): string {
    if (!pubkey) return "unknown";
    const ps = this.byPubkey(pubkey);
    if (ps.length === 0) return `outside ${pubkey.slice(0, 8)}…`;
    const first = ps.find((p) => !p.deviceOf) ?? ps[0]!;
    return ps.length > 1 ? `${first.name} (${ps.length} devices)` : first.name;
  }

  restoreSaved(): number {
    let saved: Saved[] = [];
    try {
      saved = JSON.parse(localStorage.getItem(SAVED_KEY) ?? "[]") as Saved[];
    } catch {
      saved = [];
    }
    for (const s of saved) {
      const p = this.blank(s);
      this.participants.push(p);
      void this.startWorker(p, { mode: "open" });
    }
    this.changed();
    return saved.length;
  }

  private save() {
    const saved: Saved[] = this.participants.map(({ id, name, dbName, relay, deviceOf }) => ({
      id,
      name,
      dbName,
      relay,
      deviceOf,
    }));
    localStorage.setItem(SAVED_KEY, JSON.stringify(saved));
  }

  private blank(s: Saved): Participant {
    return {
      ...s,
      worker: null,
      status: "starting",
      snapshot: null,
      notes: [],
      outcomes: [],
      chat: [],
      seen: new Map(),
      history: new Map(),
      markers: new Map(),
      traffic: { in: 0, out: 0 },
      busy: 0,
      removedFrom: new Map(),
    };
  }

  /** Adds a participant with a new identity, or a second device of `deviceOf`. */
  async addParticipant(name: string, deviceOf: Participant | null = null): Promise<Participant> {
    const clean = name.trim();
    if (!clean) throw Object.assign(new Error("misuse: a participant needs a name"), { code: "misuse" });
    if (this.participants.some((p) => p.name === clean)) {
      throw Object.assign(new Error(`misuse: there is already a participant named ${clean}`), { code: "misuse" });
    }
    let start: Start = { mode: "generate" };
    if (deviceOf) {
      const secretHex = (await this.call(deviceOf, { cmd: "exportSecret" })) as string;
      start = { mode: "secret", secretHex };
    }
    const id = `p${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
    const p = this.blank({ id, name: clean, dbName: `nipee-visualizer-${id}`, relay: this.relay, deviceOf: deviceOf?.id ?? null });
    this.participants.push(p);
    this.save();
    this.changed();
    await this.startWorker(p, start);
    return p;
  }

  private async startWorker(p: Participant, start: Start) {
    const worker = new Worker(new URL("./worker.ts", import.meta.url), { type: "module", name: p.name });
    p.worker = worker;
    p.status = "starting";
    this.calls.set(worker, new Map());
    worker.onmessage = (m: MessageEvent<FromWorker>) => this.onWorker(p, worker, m.data);
    worker.onerror = (e) => {
      e.preventDefault();
      this.note(p, "error", `worker: ${e.message || "failed to load"}`, "internal");
      p.status = "failed";
      this.changed();
    };
    this.changed();
    try {
      await this.callWorker(worker, {
        cmd: "init",
        args: { name: p.name, dbName: p.dbName, relay: p.relay, start },
      }, { pkgBase: new URL(`${import.meta.env.BASE_URL}pkg/`, location.href).href });
      p.status = "ready";
    } catch (e) {
      p.status = "failed";
      this.note(p, "error", `start: ${(e as Error).message}`, (e as { code?: string }).code);
    }
    this.changed();
  }

  /** Terminates the participant's worker and starts a new one from its IndexedDB rows. */
  async restart(p: Participant) {
    const old = p.worker;
    if (old) {
      try {
        await this.callWorker(old, { cmd: "shutdown" }, {}, 3000);
      } catch {
        // A worker that does not answer is terminated all the same.
      }
      old.terminate();
      this.dropCalls(old, "the worker was terminated");
    }
    p.worker = null;
    p.status = "stopped";
    this.note(p, "info", "worker terminated; starting a new one from its IndexedDB database");
    this.changed();
    await this.startWorker(p, { mode: "open" });
    if ((p.status as Status) === "ready") this.note(p, "info", "restarted from IndexedDB");
  }

  /** Stops every worker and deletes every participant's database. */
  async resetAll() {
    for (const p of this.participants) {
      if (p.worker) {
        try {
          await this.callWorker(p.worker, { cmd: "shutdown" }, {}, 2000);
        } catch {
          // terminated below
        }
        p.worker.terminate();
        this.dropCalls(p.worker, "reset");
      }
      await new Promise<void>((resolve) => {
        const r = indexedDB.deleteDatabase(p.dbName);
        r.onsuccess = r.onerror = r.onblocked = () => resolve();
      });
    }
    this.participants = [];
    this.selectedGroup = null;
    this.demoLog = [];
    localStorage.removeItem(SAVED_KEY);
    this.changed();
  }

  // ---- calls ----

  private dropCalls(worker: Worker, why: string) {
    const waiting = this.calls.get(worker);
    for (const w of waiting?.values() ?? []) w.reject(Object.assign(new Error(`internal: ${why}`), { code: "internal" }));
    this.calls.delete(worker);
  }

  private callWorker(worker: Worker, c: Command, extra: Record<string, unknown> = {}, timeoutMs = 30000): Promise<unknown> {
    const id = this.nextCall++;
    const waiting = this.calls.get(worker);
    if (!waiting) return Promise.reject(Object.assign(new Error("internal: worker gone"), { code: "internal" }));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        waiting.delete(id);
        reject(Object.assign(new Error(`network: no answer from the worker within ${timeoutMs / 1000} s (${c.cmd})`), { code: "network" }));
      }, timeoutMs);
      waiting.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      worker.postMessage({ ...c, id, ...extra });
    });
  }

  /** Runs a command on a participant's client; the error (with its code) is rethrown. */
  async call(p: Participant, c: Command): Promise<unknown> {
    if (!p.worker || p.status !== "ready") {
      throw Object.assign(new Error(`misuse: ${p.name} is not running (${p.status})`), { code: "misuse" });
    }
    p.busy++;
    this.changed();
    try {
      return await this.callWorker(p.worker, c);
    } finally {
      p.busy--;
      this.changed();
    }
  }

  /** Like `call`, but a failure is shown in the participant's panel and not rethrown. */
  async act(p: Participant, label: string, c: Command): Promise<unknown> {
    try {
      return await this.call(p, c);
    } catch (e) {
      const err = e as Error & { code?: string };
      this.note(p, "error", `${label}: ${err.message}`, err.code);
      return undefined;
    }
  }

  note(p: Participant, kind: Note["kind"], text: string, code?: string) {
    p.notes.push({ at: Date.now(), kind, text, code });
    if (p.notes.length > 200) p.notes.splice(0, p.notes.length - 200);
    this.changed();
  }

  // ---- what workers report ----

  private onWorker(p: Participant, worker: Worker, m: FromWorker) {
    if ("id" in m) {
      const waiting = this.calls.get(worker);
      const w = waiting?.get(m.id);
      if (!w) return;
      waiting!.delete(m.id);
      if (m.ok) w.resolve(m.value);
      else w.reject(Object.assign(new Error(m.error.message), { code: m.error.code }));
      return;
    }
    if (p.worker !== worker) return;
    switch (m.type) {
      case "snapshot":
        p.snapshot = m.snapshot;
        if (!this.selectedGroup) {
          const g = m.snapshot.groups.find((g) => g.summary.active);
          if (g) this.selectedGroup = g.summary.groupId;
        }
        break;
      case "outcome":
        p.outcomes.push({ at: m.at, outcome: m.outcome });
        if (p.outcomes.length > 300) p.outcomes.splice(0, p.outcomes.length - 300);
        this.outcomeMarkers(p, m.outcome, m.at);
        break;
      case "traffic":
        p.traffic[m.direction]++;
        if (m.direction === "out") {
          const who = { id: p.id, purpose: m.purpose };
          this.pendingPublishers.set(m.event.id, who);
          const logged = this.log.find((l) => l.event.id === m.event.id);
          if (logged && !logged.publisher) logged.publisher = who;
        }
        break;
      case "seen":
        this.mergeSeen(p, m.seen);
        break;
      case "epoch":
        this.epochChange(p, m.change);
        break;
      case "chat":
        if (!p.chat.some((l) => l.event.id === m.line.event.id && l.groupId === m.line.groupId)) p.chat.push(m.line);
        break;
      case "error":
        this.errorNote(p, m.what, m.error);
        break;
    }
    this.changed();
  }

  private errorNote(p: Participant, what: string, error: WireError) {
    this.note(p, "error", `${what}: ${error.message}`, error.code);
  }

  private mergeSeen(p: Participant, s: Seen) {
    // An ignored outcome names no group; the event's `h` tag does.
    const group = s.hTag ? this.groupByNostrId(s.hTag) : null;
    for (const o of s.outcomes) {
      if (group && o.type === "ignored" && ["lostRace", "removedMemberCannotUndo", "tooLate"].includes(o.reason)) {
        this.marker(p, group.groupId, Date.now(), `ignored a commit: ${o.reason}`);
      }
    }
    const old = p.seen.get(s.eventId);
    if (!old) {
      p.seen.set(s.eventId, { ...s, outcomes: [...s.outcomes] });
      return;
    }
    old.purpose ??= s.purpose;
    old.inner ??= s.inner;
    old.error ??= s.error;
    old.outcomes.push(...s.outcomes);
  }

  private epochChange(p: Participant, c: EpochChange) {
    let h = p.history.get(c.groupId);
    if (!h) {
      h = [];
      p.history.set(c.groupId, h);
    }
    const last = h[h.length - 1];
    if (last && last.epoch === c.epoch && last.authenticator === c.authenticator) return;
    const rolled = c.cause.find((o) => (o.type === "commit" || o.type === "ownCommitConfirmed") && o.rolledBackFrom !== null);
    if (rolled || (last && c.epoch <= last.epoch)) {
      // The entries after the last one at the epoch before this commit were on the branch
      // the race abandoned.
      for (let i = h.length - 1; i >= 0 && h[i]!.epoch >= c.epoch; i--) h[i]!.abandoned = true;
    }
    h.push({ epoch: c.epoch, authenticator: c.authenticator, cause: c.cause, at: c.at, abandoned: false });
  }

  private marker(p: Participant, groupId: string, at: number, text: string) {
    let m = p.markers.get(groupId);
    if (!m) {
      m = [];
      p.markers.set(groupId, m);
    }
    m.push({ at, text });
  }

  private outcomeMarkers(p: Participant, o: Outcome, at: number) {
    switch (o.type) {
      case "removed":
        p.removedFrom.set(o.groupId, at);
        this.marker(p, o.groupId, at, `removed by ${this.nameOf(o.by)}`);
        break;
      case "ownCommitDiscarded":
        this.marker(p, o.groupId, at, `own commit for epoch ${o.epoch} discarded: ${o.reason}`);
        break;
      case "commit":
      case "ownCommitConfirmed":
        if (o.rolledBackFrom !== null) {
          this.marker(p, o.groupId, at, `rolled back from epoch ${o.rolledBackFrom}: ${this.nameOf(o.committer)}'s commit won the race`);
        }
        if (o.supersededOwn) this.marker(p, o.groupId, at, `own commit for epoch ${o.epoch} lost the race`);
        break;
      default:
        break;
    }
  }

  // ---- views over all participants ----

  /** Every group any participant knows: id → best name. */
  groups(): { groupId: string; name: string }[] {
    const seen = new Map<string, string>();
    for (const p of this.participants) {
      for (const g of p.snapshot?.groups ?? []) {
        if (!seen.has(g.summary.groupId) || !seen.get(g.summary.groupId)) {
          seen.set(g.summary.groupId, g.summary.data?.name ?? "");
        }
      }
    }
    return [...seen].map(([groupId, name]) => ({ groupId, name: name || `group ${groupId.slice(0, 8)}` }));
  }

  groupName(groupId: string): string {
    return this.groups().find((g) => g.groupId === groupId)?.name ?? `group ${groupId.slice(0, 8)}`;
  }

  /** The group whose public id (the `h` tag) is `nostrGroupId`, as `viewer` knows it. */
  groupByNostrId(nostrGroupId: string): { groupId: string; name: string } | null {
    for (const p of this.participants) {
      for (const g of p.snapshot?.groups ?? []) {
        if (g.summary.nostrGroupId === nostrGroupId) {
          return { groupId: g.summary.groupId, name: g.summary.data?.name ?? `group ${g.summary.groupId.slice(0, 8)}` };
        }
      }
    }
    return null;
  }

  view(p: Participant, groupId: string | null) {
    if (!groupId) return null;
    return p.snapshot?.groups.find((g) => g.summary.groupId === groupId) ?? null;
  }

  /** Participants that are active members of `groupId`. */
  members(groupId: string): Participant[] {
    return this.participants.filter((p) => this.view(p, groupId)?.summary.active);
  }
}
