// A host for the nipee client in JavaScript: it moves events between the client and
// relays, persists each operation's write before publishing what it produced, and makes no
// protocol decision of its own. Every decision (what to publish, what counts as an
// acknowledgement, when to read back a commit, what to subscribe to) is the client's.
//
//   const host = new RelayHost(client, store, { onOutcome: (o) => console.log(o) });
//   await host.start();
//   await host.run(client.sendMessage(groupId, "hello", host.now()));

/** One relay connection speaking NIP-01, with reconnects. */
class Relay {
  constructor(url, host) {
    this.url = url;
    this.host = host;
    this.ws = null;
    this.open = false;
    this.waiters = [];
    this.okWaiters = new Map(); // event id -> resolve(answer)
    this.subs = new Map(); // sub id -> { filter, margin, newest, onEvent, onEose }
    this.closed = false;
    this.attempt = 0;
    this.connect();
  }

  connect() {
    if (this.closed) return;
    let ws;
    try {
      ws = new this.host.WebSocket(this.url);
    } catch (e) {
      this.host.error(`connect ${this.url}`, e);
      this.retry();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      this.open = true;
      this.attempt = 0;
      for (const w of this.waiters.splice(0)) w(true);
      for (const [id, s] of this.subs) this.sendReq(id, s);
    };
    ws.onmessage = (m) => this.onMessage(m.data);
    ws.onclose = () => {
      this.open = false;
      for (const [id, resolve] of this.okWaiters) resolve({ relay: this.url, status: "noAnswer" });
      this.okWaiters.clear();
      for (const s of this.subs.values()) s.onClosed?.();
      this.retry();
    };
    ws.onerror = () => {};
  }

  retry() {
    if (this.closed) return;
    const delay = Math.min(30000, 250 * 2 ** this.attempt++) * (0.5 + Math.random() / 2);
    setTimeout(() => this.connect(), delay);
  }

  ready(timeoutMs) {
    if (this.open) return Promise.resolve(true);
    return new Promise((resolve) => {
      this.waiters.push(resolve);
      setTimeout(() => resolve(false), timeoutMs);
    });
  }

  send(msg) {
    if (this.open) this.ws.send(JSON.stringify(msg));
  }

  sendReq(id, s) {
    const filter = { ...s.filter };
    if (s.newest !== null) {
      // Never ask from a point a future-dated event pushed forward.
      const newest = Math.min(s.newest, this.host.now() + 900);
      filter.since = Math.max(0, newest - s.margin);
    }
    this.send(["REQ", id, filter]);
  }

  onMessage(data) {
    let msg;
    try {
      msg = JSON.parse(data);
    } catch {
      return;
    }
    if (!Array.isArray(msg)) return;
    const [type, a, b, c] = msg;
    if (type === "EVENT" && this.subs.has(a) && b && typeof b === "object") {
      const s = this.subs.get(a);
      if (typeof b.created_at === "number") s.newest = Math.max(s.newest ?? 0, b.created_at);
      s.onEvent(b, this.url);
    } else if (type === "EOSE" && this.subs.has(a)) {
      this.subs.get(a).onEose?.(this.url);
    } else if (type === "CLOSED" && this.subs.has(a)) {
      this.subs.get(a).onClosed?.(this.url, b);
    } else if (type === "OK" && this.okWaiters.has(a)) {
      const resolve = this.okWaiters.get(a);
      this.okWaiters.delete(a);
      resolve(b === true ? { relay: this.url, status: "accepted" } : { relay: this.url, status: "rejected", message: String(c ?? "") });
    }
  }

  async publish(event, timeoutMs) {
    if (!(await this.ready(timeoutMs))) return { relay: this.url, status: "noAnswer" };
    return new Promise((resolve) => {
      this.okWaiters.set(event.id, resolve);
      this.send(["EVENT", event]);
      setTimeout(() => {
        if (this.okWaiters.get(event.id) === resolve) {
          this.okWaiters.delete(event.id);
          resolve({ relay: this.url, status: "noAnswer" });
        }
      }, timeoutMs);
    });
  }

  subscribe(id, filter, margin, onEvent, onEose, onClosed) {
    const s = { filter, margin, newest: null, onEvent, onEose, onClosed };
    this.subs.set(id, s);
    this.sendReq(id, s);
  }

  unsubscribe(id) {
    if (this.subs.delete(id)) this.send(["CLOSE", id]);
  }

  close() {
    this.closed = true;
    try {
      this.ws?.close();
    } catch {}
  }
}

function same(a, b) {
  return a.replace(/\/+$/, "").toLowerCase() === b.replace(/\/+$/, "").toLowerCase();
}

let nextSub = 0;

/** Moves events between a nipee client and relays. */
export class RelayHost {
  /**
   * @param client a NipeeClient
   * @param store a MemoryStore or IndexedDbStore (its rows must be the ones the client was
   *   loaded from)
   * @param options { WebSocket?, now?, onOutcome?, onError?, onTraffic?, okTimeoutMs?,
   *   fetchTimeoutMs?, readBackSettleMs?, pollMs?, allowRelay? }
   */
  constructor(client, store, options = {}) {
    this.client = client;
    this.store = store;
    this.WebSocket = options.WebSocket ?? globalThis.WebSocket;
    this.now = options.now ?? (() => Math.floor(Date.now() / 1000));
    this.onOutcome = options.onOutcome ?? (() => {});
    this.onError = options.onError ?? ((what, e) => console.error(what, e));
    this.onTraffic = options.onTraffic ?? (() => {});
    this.okTimeoutMs = options.okTimeoutMs ?? 5000;
    this.fetchTimeoutMs = options.fetchTimeoutMs ?? 5000;
    this.readBackSettleMs = options.readBackSettleMs ?? 2000;
    this.pollMs = options.pollMs ?? 30000;
    // Relays named by others (an invitee's relays) are reached on short-lived connections,
    // and only if this allows them (default: ws/wss URLs only).
    this.allowRelay = options.allowRelay ?? ((url) => /^wss?:\/\//.test(url));
    this.relays = new Map();
    this.subs = new Map(); // key -> { spec, ids: [[relay, id]] }
    this.writes = Promise.resolve();
    this.timer = null;
  }

  error(what, e) {
    this.onError(what, e);
  }

  relay(url) {
    let r = this.relays.get(url);
    if (!r) {
      r = new Relay(url, this);
      this.relays.set(url, r);
    }
    return r;
  }

  /**
   * Connects, subscribes, hands `onOutcome` what the inbox still holds (outcomes an earlier
   * page never acknowledged), republishes what the outbox still holds, starts polling.
   */
  async start() {
    await this.deliver(this.client.inbox());
    this.resubscribe();
    for (const o of this.client.outbox()) this.publishOne(o);
    this.timer = setInterval(() => this.runSafe(() => this.client.poll(this.now())), this.pollMs);
  }

  stop() {
    clearInterval(this.timer);
    for (const r of this.relays.values()) r.close();
    this.relays.clear();
    this.subs.clear();
  }

  /** Holds exactly the subscriptions the client lists. */
  resubscribe() {
    const specs = this.client.subscriptions();
    const wanted = new Map(specs.map((s) => [s.key, s]));
    for (const [key, sub] of this.subs) {
      const spec = wanted.get(key);
      if (!spec || JSON.stringify(spec) !== JSON.stringify(sub.spec)) {
        for (const [relay, id] of sub.ids) relay.unsubscribe(id);
        this.subs.delete(key);
      }
    }
    for (const [key, spec] of wanted) {
      if (this.subs.has(key)) continue;
      const ids = [];
      for (const url of spec.relays) {
        const relay = this.relay(url);
        const id = `nipee-${nextSub++}`;
        relay.subscribe(id, spec.filter, spec.marginSecs, (ev) => this.onRelayEvent(ev, url), null, null);
        ids.push([relay, id]);
      }
      this.subs.set(key, { spec, ids });
    }
  }

  onRelayEvent(event, url) {
    this.onTraffic({ direction: "in", relay: url, event });
    this.runSafe(() => this.client.process(event, this.now()));
  }

  /** Runs a client call; errors go to onError (a hostile event must not stop the host). */
  async runSafe(call) {
    let result;
    try {
      result = call();
    } catch (e) {
      this.error("client", e);
      return null;
    }
    return this.run(result);
  }

  /**
   * Handles an operation's result: persists its write, then publishes its events, reports
   * the relays' answers, performs its reads, and follows whatever those produce.
   */
  async run(result) {
    if (!result) return result;
    const write = result.write;
    this.writes = this.writes.then(() => this.store.apply(write));
    try {
      await this.writes;
    } catch (e) {
      this.error("storage", e);
      throw e;
    }
    await this.deliver(result.outcomes ?? []);
    // The client decides what to hold; an operation may have changed it (a new group, a
    // join, a removal, a new public id).
    this.resubscribe();
    // The events of one kind go out together; a change of kind waits for the earlier
    // run's answers, so a ratchet tree's chunks are stored before the Welcomes that point
    // to them (as the native driver does).
    const runs = [];
    for (const o of result.publish ?? []) {
      const last = runs[runs.length - 1];
      if (last && last[0].event.kind === o.event.kind) last.push(o);
      else runs.push([o]);
    }
    const publishing = (async () => {
      for (const run of runs) await Promise.all(run.map((o) => this.publishOne(o)));
    })();
    await Promise.all([publishing, ...(result.fetch ?? []).map((f) => this.fetchOne(f))]);
    return result;
  }

  /**
   * Hands each outcome to `onOutcome` (awaiting it when it returns a promise), then
   * acknowledges the inbox entries of those it took, persisting that write too. An outcome
   * whose acknowledgement never landed comes again from `start()`: at least once (a
   * message is recognised by its inner event id).
   */
  async deliver(outcomes) {
    const ids = [];
    for (const o of outcomes) {
      await this.onOutcome(o);
      if (o.inboxId !== undefined) ids.push(o.inboxId);
    }
    if (ids.length === 0) return;
    const ack = this.client.acknowledge(ids);
    this.writes = this.writes.then(() => this.store.apply(ack.write));
    try {
      await this.writes;
    } catch (e) {
      this.error("storage", e);
      throw e;
    }
  }

  async publishOne(outgoing) {
    const event = outgoing.event;
    const urls = outgoing.relays.filter((u) => this.relays.has(u) || this.allowRelay(u));
    // Relays we hold no connection to (an invitee's) get a short-lived one, closed after.
    const temporary = urls.filter((u) => !this.relays.has(u));
    const answers = await Promise.all(
      urls.map((u) => {
        this.onTraffic({ direction: "out", relay: u, event, purpose: outgoing.purpose });
        return this.relay(u).publish(event, this.okTimeoutMs);
      }),
    );
    for (const u of temporary) {
      const inUse = [...this.subs.values()].some((s) => s.spec.relays.includes(u));
      if (!inUse) {
        this.relays.get(u)?.close();
        this.relays.delete(u);
      }
    }
    await this.runSafe(() => this.client.published(event.id, answers, this.now()));
  }

  /**
   * Fetches the stored events matching `filter` from `relays`, until each relay sent EOSE
   * or the fetch timeout passed. Returns `{ events, complete }` (the relays that finished).
   * For reads of the application's own (e.g. someone's KeyPackages); the client's own reads
   * arrive as `fetch` requests of an operation's result.
   */
  async query(filter, relays) {
    const events = [];
    const complete = [];
    const seen = new Set();
    await Promise.all(
      relays.map(async (url) => {
        const relay = this.relay(url);
        if (!(await relay.ready(this.fetchTimeoutMs))) return;
        await new Promise((resolve) => {
          const id = `nipee-fetch-${nextSub++}`;
          const done = () => {
            relay.unsubscribe(id);
            resolve();
          };
          relay.subscribe(
            id,
            filter,
            0,
            (ev) => {
              if (!seen.has(ev.id)) {
                seen.add(ev.id);
                events.push(ev);
              }
            },
            () => {
              complete.push(url);
              done();
            },
            done,
          );
          setTimeout(done, this.fetchTimeoutMs);
        });
      }),
    );
    return { events, complete };
  }

  async fetchOne(request) {
    let report = { events: [], complete: [] };
    if (request.type === "readBack") {
      // The client takes a complete read-back that finds nothing as proof that no relay has
      // its commit, and relays may store an event a moment after they read it: when every
      // relay answered without it, ask twice more, readBackSettleMs apart.
      for (let i = 0; i < 3; i++) {
        if (i > 0) await new Promise((r) => setTimeout(r, this.readBackSettleMs));
        report = await this.query(request.filter, request.relays);
        const found = report.events.some((e) => e.id === request.eventId);
        const complete = request.relays.every((u) => report.complete.some((c) => same(c, u)));
        if (found || !complete) break;
      }
    } else {
      report = await this.query(request.filter, request.relays);
    }
    await this.runSafe(() => this.client.fetched(request, report, this.now()));
  }
}

export { same as sameRelay };
