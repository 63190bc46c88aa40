// The checks both runners apply to the nipee-wasm package: one source for
// Node and the browser. Each check returns nothing or throws with a reason.

function eq(actual, expected, what) {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) throw new Error(`${what}: expected ${e}, got ${a}`);
}

function throwsWithCode(f, code, what) {
  let caught = null;
  try {
    f();
  } catch (e) {
    caught = e;
  }
  if (caught === null) throw new Error(`${what}: expected an error, none was thrown`);
  const msg = String(caught.message ?? caught);
  if (!msg.startsWith(`${code}:`)) throw new Error(`${what}: expected code ${code}, got "${msg}"`);
}

export const checks = {
  "varint encodes the RFC 9420 examples": (nipee) => {
    eq(Array.from(nipee.varintEncode(37)), [0x25], "37");
    eq(Array.from(nipee.varintEncode(15293)), [0x7b, 0xbd], "15293");
    eq(Array.from(nipee.varintEncode(494878333)), [0x9d, 0x7f, 0x3e, 0x7d], "494878333");
  },
  "varint decodes the official deserialization headers": (nipee) => {
    const cases = [
      [[0x00], 0], [[0x3f], 63], [[0x40, 0x40], 64], [[0x7f, 0xff], 16383],
      [[0x80, 0x00, 0x40, 0x00], 16384], [[0xbf, 0xff, 0xff, 0xff], 1073741823],
    ];
    for (const [bytes, value] of cases) eq(nipee.varintDecode(new Uint8Array(bytes)), value, `decode ${bytes}`);
  },
  "a non-minimal varint is a malformed error": (nipee) => {
    throwsWithCode(() => nipee.varintDecode(new Uint8Array([0x40, 0x01])), "malformed", "non-minimal");
  },
  "the reserved 0b11 prefix is a malformed error": (nipee) => {
    throwsWithCode(() => nipee.varintDecode(new Uint8Array([0xc0, 0, 0, 0, 0, 0, 0, 1])), "malformed", "0b11");
  },
  "trailing bytes are a malformed error": (nipee) => {
    throwsWithCode(() => nipee.varintDecode(new Uint8Array([0x25, 0x00])), "malformed", "trailing");
  },
  "a length beyond 2^30-1 is a misuse error": (nipee) => {
    throwsWithCode(() => nipee.varintEncode(2 ** 30), "misuse", "too large");
    throwsWithCode(() => nipee.varintEncode(1.5), "misuse", "fraction");
  },
  "the facade reports its version": (nipee) => {
    eq(typeof nipee.version(), "string", "version type");
    if (!/^\d+\.\d+\.\d+/.test(nipee.version())) throw new Error(`version ${nipee.version()}`);
  },
};

// ---- the client, with real cryptography, between in-memory clients ----

const RELAY = "wss://relay.test";
const NOW = 1_800_000_000;

function throwsCode(f, code, what) {
  try {
    f();
  } catch (e) {
    if (e.code !== code) throw new Error(`${what}: expected code ${code}, got ${e.code} (${e.message})`);
    if (!String(e.message).startsWith(`${code}:`)) throw new Error(`${what}: message does not start with the code`);
    return e;
  }
  throw new Error(`${what}: expected an error, none was thrown`);
}

// A tiny world: clients, each with a MemoryStore that receives every operation's write,
// and one relay log. A commit is acknowledged by the group relay when published.
class World {
  constructor(nipee) {
    this.n = nipee;
    this.log = [];
    this.members = [];
  }
  add(name, identity) {
    const client = this.n.NipeeClient.create(identity ?? this.n.Identity.generate(), [], { relays: [RELAY] });
    const m = { name, client, store: new this.n.MemoryStore(), seen: 0, outcomes: [] };
    this.members.push(m);
    return m;
  }
  async run(m, result) {
    await m.store.apply(result.write);
    m.outcomes.push(...result.outcomes);
    for (const o of result.publish) {
      this.log.push(o.event);
      const answers = o.relays.map((relay) => ({ relay, status: "accepted" }));
      await this.run(m, m.client.published(o.event.id, answers, NOW));
    }
    return result;
  }
  async sync(m) {
    const subs = m.client.subscriptions();
    while (m.seen < this.log.length) {
      const ev = this.log[m.seen++];
      const wanted = subs.some((s) => matches(s.filter, ev)) || m.client.subscriptions().some((s) => matches(s.filter, ev));
      if (!wanted) continue;
      try {
        await this.run(m, m.client.process(ev, NOW));
      } catch (e) {
        m.outcomes.push({ type: "error", code: e.code, message: e.message });
      }
    }
  }
  async syncAll() {
    for (let i = 0; i < 10; i++) {
      const before = this.log.length;
      for (const m of this.members) await this.sync(m);
      if (this.log.length === before && this.members.every((m) => m.seen === before)) return;
    }
  }
  texts(m) {
    return m.outcomes.filter((o) => o.type === "message" && o.event.kind === 9).map((o) => o.event.content);
  }
}

function matches(filter, ev) {
  if (filter.kinds && !filter.kinds.includes(ev.kind)) return false;
  for (const [k, vals] of Object.entries(filter)) {
    if (!k.startsWith("#")) continue;
    const name = k.slice(1);
    if (!ev.tags.some((t) => t[0] === name && vals.includes(t[1]))) return false;
  }
  return true;
}

async function threeMembers(n) {
  const w = new World(n);
  const alice = w.add("alice");
  const bob = w.add("bob");
  const carol = w.add("carol");
  const kb = (await w.run(bob, bob.client.createKeyPackage(false, NOW))).value;
  const kc = (await w.run(carol, carol.client.createKeyPackage(true, NOW))).value;
  const created = await w.run(alice, alice.client.createGroup({ name: "friends", invitees: [kb, kc] }, NOW));
  const gid = created.value.groupId;
  await w.syncAll();
  return { w, alice, bob, carol, gid };
}

function sameEpoch(members, gid, what) {
  const auths = members.map((m) => m.client.epoch(gid).authenticator);
  if (new Set(auths).size !== 1) throw new Error(`${what}: members disagree: ${auths.join(" ")}`);
}

export const asyncChecks = {
  "three members chat, react, rotate and remove with real MLS; the removed one reads nothing after": async (n) => {
    const { w, alice, bob, carol, gid } = await threeMembers(n);
    sameEpoch([alice, bob, carol], gid, "after the joins");
    const hello = await w.run(alice, alice.client.sendMessage(gid, "hello all", NOW));
    await w.run(bob, bob.client.react(gid, hello.value.id, "🤙", NOW));
    await w.syncAll();
    eq(w.texts(bob), ["hello all"], "bob reads alice");
    if (!carol.outcomes.some((o) => o.type === "message" && o.event.kind === 7)) throw new Error("carol did not get the reaction");
    await w.run(bob, bob.client.rotate(gid, NOW));
    await w.syncAll();
    sameEpoch([alice, bob, carol], gid, "after bob's rotation");
    await w.run(alice, alice.client.remove(gid, [carol.client.publicKey], NOW));
    await w.syncAll();
    sameEpoch([alice, bob], gid, "after the removal");
    if (!carol.outcomes.some((o) => o.type === "removed")) throw new Error("carol was not told she was removed");
    await w.run(bob, bob.client.sendMessage(gid, "carol is gone", NOW));
    await w.syncAll();
    eq(w.texts(alice).includes("carol is gone"), true, "alice reads bob");
    eq(w.texts(carol).includes("carol is gone"), false, "carol reads after her removal");
    const tree = alice.client.tree(gid);
    if (!tree.some((x) => x.onOwnPath) || !tree.some((x) => x.inLastCommitPath)) throw new Error("tree lacks paths");
    if (!hello.outcomes.length === 0) throw new Error("unreachable");
  },
  "a client reloaded from its stored rows continues the conversation": async (n) => {
    const { w, alice, bob, gid } = await threeMembers(n);
    const rows = await bob.store.load();
    bob.client.free();
    bob.client = n.NipeeClient.open(rows, { relays: [RELAY] });
    await w.run(alice, alice.client.sendMessage(gid, "after the reload", NOW));
    await w.syncAll();
    eq(w.texts(bob), ["after the reload"], "bob after reload");
    await w.run(bob, bob.client.sendMessage(gid, "still here", NOW));
    await w.syncAll();
    eq(w.texts(alice).includes("still here"), true, "alice reads the reloaded bob");
  },
  "a received message waits in the inbox across a reload until it is acknowledged": async (n) => {
    const { w, alice, bob, gid } = await threeMembers(n);
    // This host records outcomes but acknowledges nothing: bob's join (and carol's
    // rotation after her last-resort join) are still kept.
    eq(bob.client.inbox().map((o) => o.type), ["joined", "commit"], "what waits");
    const sent = await w.run(alice, alice.client.sendMessage(gid, "kept", NOW));
    const got = bob.client.process(sent.publish[0].event, NOW);
    await bob.store.apply(got.write);
    const id = got.outcomes[0].inboxId;
    if (typeof id !== "number") throw new Error(`no inboxId on ${JSON.stringify(got.outcomes[0])}`);
    const reload = async () => {
      const rows = await bob.store.load();
      bob.client.free();
      bob.client = n.NipeeClient.open(rows, { relays: [RELAY] });
    };
    await reload();
    const held = bob.client.inbox();
    eq(held.filter((o) => o.type === "message").map((o) => [o.inboxId, o.event.content]), [[id, "kept"]], "after a reload");
    const ack = bob.client.acknowledge(held.map((o) => o.inboxId));
    eq(ack.value, held.length, "acknowledged");
    await bob.store.apply(ack.write);
    eq(bob.client.acknowledge([id]).value, 0, "twice");
    await reload();
    eq(bob.client.inbox(), [], "the plaintext is gone after the acknowledgement");
  },
  "malformed, wrong-group and replayed events give their codes and change nothing": async (n) => {
    const { w, alice, bob, gid } = await threeMembers(n);
    const before = bob.client.epoch(gid).authenticator;
    const m = await w.run(alice, alice.client.sendMessage(gid, "once", NOW));
    const ev = m.publish[0].event;
    await w.syncAll();
    // A replay of a processed event is ignored.
    const again = bob.client.process(ev, NOW);
    eq(again.outcomes[0].type, "ignored", "replay");
    // A tampered event does not verify.
    throwsCode(() => bob.client.process({ ...ev, content: ev.content.slice(0, -4) + "AAAA" }, NOW), "invalid", "tampered");
    // An event for a group nobody knows.
    const other = n.signEvent({ pubkey: n.Identity.parse("11".repeat(32)).publicKey, created_at: NOW, kind: 445,
      tags: [["h", "ab".repeat(32)]], content: "x" }, "11".repeat(32));
    throwsCode(() => bob.client.process(other, NOW), "invalid", "unknown group");
    // Wrong kind; bad arguments.
    const note = n.signEvent({ pubkey: n.Identity.parse("11".repeat(32)).publicKey, created_at: NOW, kind: 1, tags: [], content: "x" }, "11".repeat(32));
    throwsCode(() => bob.client.process(note, NOW), "malformed", "kind 1");
    throwsCode(() => bob.client.sendMessage("zz", "x", NOW), "malformed", "bad group id");
    throwsCode(() => bob.client.sendMessage(gid, "x", 1.5), "misuse", "fractional now");
    eq(bob.client.epoch(gid).authenticator, before, "state unchanged");
  },
  "nostr primitives: sign and verify, NIP-44, gift wrap, NIP-19": async (n) => {
    const a = n.Identity.generate();
    const b = n.Identity.generate();
    const unsigned = { pubkey: a.publicKey, created_at: NOW, kind: 1, tags: [["t", "x"]], content: "hi" };
    const ev = n.signEvent(unsigned, a.exportHex());
    eq(ev.id, n.eventId(unsigned), "id");
    n.verifyEvent(ev);
    throwsCode(() => n.verifyEvent({ ...ev, content: "tampered" }), "invalid", "tampered signature");
    const ct = n.nip44Encrypt(a.exportNsec(), b.npub, "secret text");
    eq(n.nip44Decrypt(b.exportHex(), a.publicKey, ct), "secret text", "nip44");
    const conversation = new n.Nip44Conversation(b.exportNsec(), a.npub);
    eq(conversation.decrypt(ct), "secret text", "nip44 with a cached key");
    eq(n.nip44Decrypt(a.exportHex(), b.publicKey, conversation.encrypt("back")), "back", "nip44 cached key, reply");
    throwsCode(() => conversation.decrypt(ct.slice(0, -4) + "AAAA"), "invalid", "nip44 tampered MAC");
    conversation.free();
    const wrap = n.giftWrap({ pubkey: a.publicKey, created_at: NOW, kind: 14, tags: [], content: "dm" }, a.exportHex(), b.publicKey, NOW);
    const opened = n.unwrapGiftWrap(wrap, b.exportHex());
    eq([opened.sender, opened.rumor.content], [a.publicKey, "dm"], "gift wrap");
    eq(n.nip19Decode(a.npub), { type: "npub", value: a.publicKey }, "npub");
    eq(n.nip19Encode({ type: "npub", value: a.publicKey }), a.npub, "npub encode");
  },
};

// Browser only: IndexedDB.
export const browserChecks = {
  "a client persisted in IndexedDB is the same client after the page drops it": async (n) => {
    const name = `nipee-check-${Math.random()}`;
    const store = await n.IndexedDbStore.open(name);
    const w = new World(n);
    const alice = w.add("alice");
    const bob = w.add("bob");
    bob.store = store;
    const kb = (await w.run(bob, bob.client.createKeyPackage(false, NOW))).value;
    const gid = (await w.run(alice, alice.client.createGroup({ name: "g", invitees: [kb] }, NOW))).value.groupId;
    await w.syncAll();
    const before = bob.client.epoch(gid);
    bob.client.free();
    store.close();
    const again = await n.IndexedDbStore.open(name);
    bob.store = again;
    bob.client = n.NipeeClient.open(await again.load(), { relays: [RELAY] });
    eq(bob.client.epoch(gid), before, "epoch after reload");
    await w.run(alice, alice.client.sendMessage(gid, "from the other side", NOW));
    await w.syncAll();
    eq(w.texts(bob), ["from the other side"], "bob after reload from IndexedDB");
    again.close();
    await n.IndexedDbStore.destroy(name);
  },
};

// Runs every check against a loaded module; returns [{name, ok, error}].
export async function runAll(nipee, extra = {}) {
  const out = [];
  for (const [name, f] of Object.entries(checks)) {
    try {
      f(nipee);
      out.push({ name, ok: true });
    } catch (e) {
      out.push({ name, ok: false, error: String(e.message ?? e) });
    }
  }
  for (const [name, f] of Object.entries({ ...asyncChecks, ...extra })) {
    try {
      await f(nipee);
      out.push({ name, ok: true });
    } catch (e) {
      out.push({ name, ok: false, error: String(e.stack ?? e.message ?? e) });
    }
  }
  return out;
}
