/// <reference lib="webworker" />
// One participant: a real nipee client (WebAssembly) with its own IndexedDB database and its
// own relay connections, driven by the page through `Command`s. Everything it reports is
// read from the client; nothing here decides anything about the protocol.
import type {
  IndexedDbStore,
  NipeeClient,
  NostrEvent,
  OpResult,
  Outcome,
  RelayHost,
} from "nipee-wasm";
import type * as NipeeModule from "nipee-wasm";
import type {
  Command,
  EpochChange,
  FromWorker,
  GroupView,
  InitArgs,
  Invitee,
  Request,
  Seen,
  Snapshot,
} from "./protocol";
import { wireError } from "./protocol";
import { npubToHex } from "./bech32";
import { queryRelay } from "./query";

type Pkg = typeof NipeeModule & { default: () => Promise<unknown> };
type HostModule = { RelayHost: typeof RelayHost };
type StoreModule = { IndexedDbStore: typeof IndexedDbStore };

const post = (m: FromWorker) => self.postMessage(m);

let client: NipeeClient | null = null;
let host: RelayHost | null = null;
let store: IndexedDbStore | null = null;
let identity: NipeeModule.Identity | null = null;
let relay = "";
const keyPackages: string[] = [];
const lastEpoch = new Map<string, string>();
let prepared: OpResult[] = [];

function fail(code: string, message: string): Error {
  return Object.assign(new Error(`${code}: ${message}`), { code });
}

function need(): { client: NipeeClient; host: RelayHost } {
  if (!client || !host) throw fail("misuse", "the participant is not started");
  return { client, host };
}

const now = () => Math.floor(Date.now() / 1000);

// ---- what the client did, as the page shows it ----

let snapshotTimer: ReturnType<typeof setTimeout> | null = null;

function scheduleSnapshot() {
  if (snapshotTimer !== null) return;
  snapshotTimer = setTimeout(() => {
    snapshotTimer = null;
    postSnapshot();
  }, 25);
}

function postSnapshot() {
  if (!client) return;
  const groups: GroupView[] = [];
  for (const summary of client.groups()) {
    const view: GroupView = { summary, epoch: null, authenticator: null, tree: [], error: null };
    if (summary.active) {
      try {
        const e = client.epoch(summary.groupId);
        view.epoch = e.epoch;
        view.authenticator = e.authenticator;
        view.tree = client.tree(summary.groupId);
      } catch (e) {
        view.error = wireError(e);
      }
    }
    groups.push(view);
  }
  let outbox = 0;
  try {
    outbox = client.outbox().length;
  } catch (e) {
    post({ type: "error", what: "outbox", error: wireError(e) });
  }
  const snapshot: Snapshot = {
    publicKey: client.publicKey,
    npub: client.npub,
    groups,
    keyPackages: [...keyPackages],
    subscriptions: client.subscriptions().length,
    outbox,
  };
  post({ type: "snapshot", snapshot });
}

/** Reports every group whose epoch or authenticator moved since the last call. */
function checkEpochs(cause: Outcome[]) {
  if (!client) return;
  for (const g of client.groups()) {
    if (!g.active) continue;
    let e: { epoch: number; authenticator: string };
    try {
      e = client.epoch(g.groupId);
    } catch {
      continue;
    }
    const key = `${e.epoch}/${e.authenticator}`;
    if (lastEpoch.get(g.groupId) === key) continue;
    lastEpoch.set(g.groupId, key);
    const change: EpochChange = {
      groupId: g.groupId,
      epoch: e.epoch,
      authenticator: e.authenticator,
      cause: cause.filter((o) => !("groupId" in o) || o.groupId === g.groupId),
      at: Date.now(),
    };
    post({ type: "epoch", change });
  }
}

function seen(s: Seen) {
  post({ type: "seen", seen: s });
}

/**
 * The client as the host sees it, with every call observed: which outer event produced which
 * outcomes (the relay log's inner layers) and when an epoch moved (the timeline).
 */
function observe(real: NipeeClient): NipeeClient {
  const after = (result: OpResult | null, incoming?: NostrEvent) => {
    const outcomes = result?.outcomes ?? [];
    if (incoming) {
      const message = outcomes.find((o) => o.type === "message");
      seen({
        eventId: incoming.id,
        direction: "in",
        hTag: incoming.tags.find((t) => t[0] === "h")?.[1],
        outcomes,
        inner: message && message.type === "message" ? message.event : undefined,
      });
    }
    checkEpochs(outcomes);
    scheduleSnapshot();
  };
  return new Proxy(real, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target) as unknown;
      if (typeof value !== "function") return value;
      const f = value as (...a: unknown[]) => unknown;
      if (prop === "process") {
        return (event: NostrEvent, t: number) => {
          try {
            const r = target.process(event, t);
            after(r, event);
            return r;
          } catch (e) {
            seen({ eventId: event.id, direction: "in", outcomes: [], error: wireError(e) });
            scheduleSnapshot();
            throw e;
          }
        };
      }
      if (prop === "published" || prop === "fetched" || prop === "poll" || prop === "discardPending") {
        return (...a: unknown[]) => {
          const r = f.apply(target, a) as OpResult;
          after(r);
          return r;
        };
      }
      return f.bind(target);
    },
  });
}

/** Notes what this participant knows of the events an operation publishes. */
function noteOwn(r: OpResult) {
  for (const o of r.publish) {
    const inner =
      o.purpose.type === "groupMessage" && r.value && typeof r.value === "object" && "kind" in r.value
        ? (r.value as Seen["inner"])
        : undefined;
    seen({ eventId: o.event.id, direction: "out", purpose: o.purpose, inner, outcomes: [] });
    if (inner && o.purpose.type === "groupMessage") {
      const epoch = lastEpoch.get(o.purpose.groupId)?.split("/")[0];
      post({
        type: "chat",
        line: { groupId: o.purpose.groupId, epoch: Number(epoch ?? 0), event: inner, own: true, outerId: o.event.id },
      });
    }
  }
  checkEpochs(r.outcomes);
}

/** Persists, publishes and follows an operation's result through the host. */
async function run<V>(r: OpResult<V>): Promise<OpResult<V>> {
  const { host } = need();
  noteOwn(r as OpResult);
  const done = await host.run(r);
  // RelayHost resubscribes only after joined/removed/commit outcomes; creating a group has
  // none, and without this its creator never hears the group's events.
  host.resubscribe();
  scheduleSnapshot();
  return done;
}

// ---- KeyPackages from the relay ----

async function keyPackageFor(inv: Invitee): Promise<NostrEvent> {
  const hex = inv.pubkey.startsWith("npub") ? npubToHex(inv.pubkey) : inv.pubkey.toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(hex)) throw fail("malformed", `not a Nostr public key: ${inv.pubkey}`);
  if (inv.keyPackageEventId) {
    const found = await queryRelay(relay, { ids: [inv.keyPackageEventId], kinds: [443] });
    const ev = found[0];
    if (!ev) throw fail("network", `KeyPackage event ${inv.keyPackageEventId.slice(0, 12)}… is not on ${relay}`);
    return ev;
  }
  // NIP-EE: the invitee's kind 10051 names the relays its KeyPackages are on.
  const lists = await queryRelay(relay, { kinds: [10051], authors: [hex], limit: 1 });
  const relays = new Set([relay]);
  for (const t of lists[0]?.tags ?? []) if (t[0] === "relay" && t[1] && /^wss?:\/\//.test(t[1])) relays.add(t[1]);
  const all: NostrEvent[] = [];
  for (const url of relays) {
    try {
      all.push(...(await queryRelay(url, { kinds: [443], authors: [hex], limit: 20 })));
    } catch (e) {
      post({ type: "error", what: `KeyPackage lookup on ${url}`, error: wireError(e) });
    }
  }
  all.sort((a, b) => b.created_at - a.created_at || (a.id < b.id ? -1 : 1));
  const newest = all[0];
  if (!newest) {
    throw fail("misuse", `no KeyPackage (kind 443) of ${inv.pubkey.slice(0, 16)}… on ${[...relays].join(", ")}: it must publish one first`);
  }
  return newest;
}

// ---- commands ----

async function init(args: InitArgs, pkgBase: string): Promise<unknown> {
  relay = args.relay;
  const pkg = (await import(/* @vite-ignore */ `${pkgBase}nipee_wasm.js`)) as Pkg;
  await pkg.default();
  if (typeof pkg.NipeeClient !== "function" || typeof pkg.Identity !== "function") {
    throw fail("unsupported", "this nipee-wasm package has no NipeeClient (built from a tree without the client facade?)");
  }
  const { RelayHost } = (await import(/* @vite-ignore */ `${pkgBase}host.js`)) as HostModule;
  const { IndexedDbStore } = (await import(/* @vite-ignore */ `${pkgBase}storage.js`)) as StoreModule;
  store = await IndexedDbStore.open(args.dbName);
  const rows = await store.load();
  const config = { relays: [relay], clientName: "nipee-visualizer" };
  let real: NipeeClient;
  if (args.start.mode === "open") {
    real = pkg.NipeeClient.open(rows, config);
  } else {
    identity = args.start.mode === "generate" ? pkg.Identity.generate() : pkg.Identity.parse(args.start.secretHex);
    real = pkg.NipeeClient.create(identity, rows, config);
    // Whatever creating the client stored (its identity) is on disk before anything else.
    await store.apply(real.takeWrite());
  }
  client = real;
  host = new RelayHost(observe(real), store, {
    onOutcome: (outcome) => {
      post({ type: "outcome", outcome, at: Date.now() });
      if (outcome.type === "message") {
        post({
          type: "chat",
          line: { groupId: outcome.groupId, epoch: outcome.epoch, event: outcome.event, own: false },
        });
      }
      scheduleSnapshot();
    },
    onError: (what, e) => {
      post({ type: "error", what, error: wireError(e) });
      scheduleSnapshot();
    },
    onTraffic: (t) => {
      post({ type: "traffic", direction: t.direction, relay: t.relay, event: t.event, purpose: t.purpose });
      if (t.direction === "out") seen({ eventId: t.event.id, direction: "out", purpose: t.purpose, outcomes: [] });
    },
    pollMs: 5000,
  });
  await host.start();
  checkEpochs([]);
  postSnapshot();
  return { publicKey: real.publicKey, npub: real.npub };
}

async function handle(c: Command): Promise<unknown> {
  switch (c.cmd) {
    case "init":
      throw fail("misuse", "already started");
    case "publishKeyPackage": {
      const { client } = need();
      const r = await run(client.createKeyPackage(c.lastResort, now()));
      keyPackages.push(r.value.id);
      return { eventId: r.value.id };
    }
    case "publishRelayList": {
      const { client } = need();
      const r = await run(client.relayListEvent(now()));
      return { eventId: r.value.id };
    }
    case "createGroup": {
      const { client } = need();
      const invitees = await Promise.all(c.invitees.map(keyPackageFor));
      const r = await run(
        client.createGroup(
          { name: c.name, description: c.description, admins: c.admins, relays: [relay], invitees },
          now(),
        ),
      );
      return r.value;
    }
    case "invite": {
      const { client } = need();
      const kps = await Promise.all(c.invitees.map(keyPackageFor));
      return (await run(client.invite(c.groupId, kps, now()))).value;
    }
    case "remove":
      return (await run(need().client.remove(c.groupId, c.pubkeys, now()))).value;
    case "rotate":
      return (await run(need().client.rotate(c.groupId, now()))).value;
    case "prepareRotate": {
      // A commit made now and published only on `releasePrepared`: two workers can both
      // commit in the same epoch before either sees the other's commit (a real race).
      // Its write is persisted now, in order with everything else the host writes; only
      // publishing waits.
      const { client, host } = need();
      const r = client.rotate(c.groupId, now());
      noteOwn(r);
      await host.run({ ...r, outcomes: [], publish: [], fetch: [] });
      prepared.push(r);
      return r.value;
    }
    case "releasePrepared": {
      const held = prepared;
      prepared = [];
      for (const r of held) await need().host.run({ ...r, write: [] });
      scheduleSnapshot();
      return held.length;
    }
    case "leave":
      return (await run(need().client.leave(c.groupId, now()))).value;
    case "commitPending":
      return (await run(need().client.commitPendingProposals(c.groupId, now()))).value;
    case "setAdmins":
      return (await run(need().client.updateGroupData(c.groupId, { admins: c.admins }, now()))).value;
    case "send": {
      const r = await run(need().client.sendMessage(c.groupId, c.text, now()));
      return { inner: r.value, outer: r.publish[0]?.event ?? null };
    }
    case "react": {
      const r = await run(need().client.react(c.groupId, c.targetId, c.emoji, now()));
      return { inner: r.value, outer: r.publish[0]?.event ?? null };
    }
    case "tryOpen": {
      // The page hands this participant an event its own subscriptions may no longer bring
      // (a removed member's): the client decides what it can open.
      const { host } = need();
      const observed = host.client;
      const r = observed.process(c.event, now());
      await host.run(r);
      return r.outcomes;
    }
    case "exportSecret": {
      if (!identity) {
        throw fail(
          "unsupported",
          "this participant was reopened from its stored rows; the package offers no export of an opened client's secret",
        );
      }
      return identity.exportHex();
    }
    case "shutdown": {
      host?.stop();
      store?.close();
      host = null;
      client = null;
      store = null;
      return null;
    }
  }
}

let started: Promise<unknown> | null = null;

self.onmessage = async (m: MessageEvent<Request & { pkgBase?: string }>) => {
  const req = m.data;
  try {
    let value: unknown;
    if (req.cmd === "init") {
      if (started) throw fail("misuse", "already started");
      started = init(req.args, req.pkgBase ?? "/pkg/");
      value = await started;
    } else {
      if (started) await started.catch(() => {});
      value = await handle(req);
    }
    post({ id: req.id, ok: true, value });
  } catch (e) {
    post({ id: req.id, ok: false, error: wireError(e) });
    scheduleSnapshot();
  }
};
