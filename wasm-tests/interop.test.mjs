// Interop over a real relay: Chromium pages running the nipee package (browser WebSocket,
// IndexedDB) and the native `nipee` command (a separate process) in one group through a
// local nostr-rs-relay. The browser creates the group and invites the CLI user (an admin),
// the CLI user invites a second browser member, messages go both ways, each side rotates,
// and the first page is reloaded from IndexedDB in the middle and stays in the conversation.
//
// Needs NIPEE_RELAY_BIN (nostr-rs-relay) and NIPEE_CLI_BIN (the `nipee` binary); `cargo
// xtask test-all` sets both.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import fs from "node:fs";
import os from "node:os";
import net from "node:net";
import path from "node:path";
import { spawn, execFile } from "node:child_process";
import { promisify } from "node:util";
import { chromium } from "playwright-core";

const exec = promisify(execFile);
const here = import.meta.dirname;
const pkg = process.env.NIPEE_WASM_PKG ?? path.resolve(here, "../target/wasm-pkg");
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const RELAY_BIN = process.env.NIPEE_RELAY_BIN;
const CLI = process.env.NIPEE_CLI_BIN;

const TYPES = { ".js": "text/javascript", ".mjs": "text/javascript", ".wasm": "application/wasm", ".html": "text/html" };

// The page: loads the package, opens (or creates) a client over IndexedDB, runs a host.
const PAGE = `<!doctype html><meta charset="utf-8"><title>nipee interop</title>
<script type="module">
  import init, * as n from "/pkg/index.js";
  await init();
  window.n = n;
  window.log = { outcomes: [], errors: [] };
  window.start = async (name, relay, extra) => {
    const store = await n.IndexedDbStore.open("interop-" + name);
    const rows = await store.load();
    const config = { relays: [relay], ...(extra ?? {}) };
    const client = rows.length ? n.NipeeClient.open(rows, config) : n.NipeeClient.create(n.Identity.generate(), [], config);
    const host = new n.RelayHost(client, store, {
      onOutcome: (o) => window.log.outcomes.push(o),
      onError: (what, e) => window.log.errors.push(what + ": " + (e?.message ?? e)),
      okTimeoutMs: 4000, fetchTimeoutMs: 4000, pollMs: 2000,
    });
    await host.start();
    window.client = client; window.host = host; window.relay = relay;
    return { pubkey: client.publicKey, npub: client.npub };
  };
  window.texts = () => window.log.outcomes.filter((o) => o.type === "message" && o.event.kind === 9).map((o) => o.event.content);
  window.epoch = (gid) => window.client.epoch(gid);
  window.ready = true;
</script>`;

function serve() {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, "http://127.0.0.1");
    if (url.pathname === "/") {
      res.writeHead(200, { "content-type": "text/html" });
      return res.end(PAGE);
    }
    if (url.pathname.startsWith("/pkg/")) {
      const file = path.join(pkg, "web", path.basename(url.pathname));
      if (fs.existsSync(file)) {
        res.writeHead(200, { "content-type": TYPES[path.extname(file)] ?? "application/octet-stream" });
        return fs.createReadStream(file).pipe(res);
      }
    }
    res.writeHead(404);
    res.end();
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on("error", reject);
  });
}

async function startRelay() {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "nipee-interop-relay-"));
  const config = path.join(dir, "config.toml");
  fs.writeFileSync(config, `[info]\nrelay_url = "ws://127.0.0.1:${port}/"\nname = "interop"\n[database]\nengine = "sqlite"\ndata_directory = "${dir}"\n[network]\naddress = "127.0.0.1"\nport = ${port}\n[options]\nreject_future_seconds = 1800\n[limits]\nmax_event_bytes = 262144\nmax_ws_message_bytes = 262144\nmax_ws_frame_bytes = 262144\n[authorization]\nnip42_auth = false\n`);
  const child = spawn(RELAY_BIN, ["--config", config, "--db", dir], { stdio: "ignore" });
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise((resolve) => {
      const s = net.connect(port, "127.0.0.1", () => { s.end(); resolve(true); });
      s.on("error", () => resolve(false));
    });
    if (ok) return { child, dir, url: `ws://127.0.0.1:${port}` };
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill();
  throw new Error("nostr-rs-relay did not start");
}

let server, browser, relay, cliDir;

async function cli(...args) {
  return cliIn(cliDir, ...args);
}

async function cliIn(dir, ...args) {
  const { stdout } = await exec(CLI, ["--data-dir", dir, "--relay", relay.url, ...args], { timeout: 60000 });
  return stdout.trim();
}

async function waitFor(page, fn, arg, what, timeout = 30000) {
  try {
    await page.waitForFunction(fn, arg, { timeout, polling: 250 });
  } catch (e) {
    const log = await page.evaluate(() => window.log);
    throw new Error(`${what}: ${e.message}\nerrors: ${JSON.stringify(log.errors)}\noutcomes: ${JSON.stringify(log.outcomes.map((o) => o.type + (o.reason ? ":" + o.reason : "")))}`);
  }
}

before(async () => {
  assert.ok(RELAY_BIN && fs.existsSync(RELAY_BIN), "NIPEE_RELAY_BIN must name nostr-rs-relay");
  assert.ok(CLI && fs.existsSync(CLI), "NIPEE_CLI_BIN must name the nipee binary");
  relay = await startRelay();
  server = await serve();
  cliDir = fs.mkdtempSync(path.join(os.tmpdir(), "nipee-interop-cli-"));
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
});

after(async () => {
  await browser?.close();
  server?.close();
  relay?.child.kill();
  if (relay) fs.rmSync(relay.dir, { recursive: true, force: true });
  if (cliDir) fs.rmSync(cliDir, { recursive: true, force: true });
});

test("a browser and the nipee CLI share a group through nostr-rs-relay", { timeout: 240000 }, async () => {
  const { port } = server.address();
  const origin = `http://127.0.0.1:${port}/`;
  const ctxA = await browser.newContext();
  const ctxB = await browser.newContext();
  const alice = await ctxA.newPage();
  const bob = await ctxB.newPage();
  const consoleErrors = [];
  for (const p of [alice, bob]) p.on("pageerror", (e) => consoleErrors.push(String(e)));
  await alice.goto(origin);
  await bob.goto(origin);
  await alice.waitForFunction(() => window.ready === true);
  await bob.waitForFunction(() => window.ready === true);
  const a = await alice.evaluate((r) => window.start("alice", r), relay.url);
  const b = await bob.evaluate((r) => window.start("bob", r), relay.url);

  // The CLI user: an identity and a KeyPackage on the relay.
  const carolNpub = await cli("identity", "new");
  await cli("keypackage", "publish");
  const carolHex = (await alice.evaluate((npub) => window.n.nip19Decode(npub).value, carolNpub));

  // Alice (browser) creates the group with carol (CLI) as member and admin.
  const gid = await alice.evaluate(async (carol) => {
    const { events } = await window.host.query({ kinds: [443], authors: [carol] }, [window.relay]);
    if (events.length === 0) throw new Error("no KeyPackage of the CLI user on the relay");
    const r = await window.host.run(window.client.createGroup({ name: "interop", admins: [carol], invitees: [events[0]] }, window.host.now()));
    return r.value.groupId;
  }, carolHex);
  await cli("sync");
  const groups = JSON.parse((await cli("--json", "groups")).split("\n")[0]);
  assert.ok(JSON.stringify(groups).includes(gid.slice(0, 8)), `the CLI joined: ${JSON.stringify(groups)}`);

  // Messages both ways.
  await alice.evaluate(async (g) => window.host.run(window.client.sendMessage(g, "hello from the browser", window.host.now())), gid);
  const synced = await cli("--json", "sync");
  assert.ok(synced.includes("hello from the browser"), `the CLI reads the browser: ${synced}`);
  await cli("send", "interop", "hello from the CLI");
  await waitFor(alice, () => window.texts().includes("hello from the CLI"), null, "alice reads the CLI");

  // The CLI user (an admin) invites bob, a second browser member.
  await bob.evaluate(async () => window.host.run(window.client.createKeyPackage(false, window.host.now())));
  await cli("group", "invite", "interop", b.npub);
  await waitFor(bob, (g) => window.client.groups().some((x) => x.groupId === g && x.active), gid, "bob joins from the CLI's Welcome");

  // A rotate on each side.
  await alice.evaluate(async (g) => window.host.run(window.client.rotate(g, window.host.now())), gid);
  await cli("group", "rotate", "interop");

  // Alice's page is reloaded in the middle: her client comes back from IndexedDB.
  await alice.reload();
  await alice.waitForFunction(() => window.ready === true);
  await alice.evaluate((r) => window.start("alice", r), relay.url);
  await cli("send", "interop", "after the reload");
  await bob.evaluate(async (g) => window.host.run(window.client.sendMessage(g, "hello from bob", window.host.now())), gid);
  await waitFor(alice, () => window.texts().includes("after the reload") && window.texts().includes("hello from bob"), null, "alice after her reload");
  await waitFor(bob, () => window.texts().includes("after the reload"), null, "bob reads the CLI");

  // Everyone ends on one epoch.
  await cli("sync");
  const members = await cli("--json", "groups");
  const ea = await alice.evaluate((g) => window.epoch(g), gid);
  await waitFor(bob, ([g, auth]) => window.epoch(g).authenticator === auth, [gid, ea.authenticator], "bob on alice's epoch");
  assert.ok(members.includes(`"epoch":${ea.epoch}`) || members.includes(`"epoch": ${ea.epoch}`), `CLI epoch: ${members} vs ${ea.epoch}`);
  assert.deepEqual(consoleErrors, []);
  for (const p of [alice, bob]) {
    const errors = await p.evaluate(() => window.log.errors);
    console.log("host errors:", JSON.stringify(errors));
  }
  await ctxA.close();
  await ctxB.close();
});

test("a browser invites the CLI user with the ratchet tree out of band", { timeout: 120000 }, async () => {
  const { port } = server.address();
  const ctx = await browser.newContext();
  const dave = await ctx.newPage();
  const consoleErrors = [];
  dave.on("pageerror", (e) => consoleErrors.push(String(e)));
  await dave.goto(`http://127.0.0.1:${port}/`);
  await dave.waitForFunction(() => window.ready === true);
  await dave.evaluate((r) => window.start("dave", r, { ratchetTreeOutOfBand: true }), relay.url);
  const erinDir = fs.mkdtempSync(path.join(os.tmpdir(), "nipee-interop-erin-"));
  try {
    const erinNpub = await cliIn(erinDir, "identity", "new");
    await cliIn(erinDir, "keypackage", "publish");
    const erinHex = await dave.evaluate((npub) => window.n.nip19Decode(npub).value, erinNpub);
    // Dave's host publishes the tree's chunks (kind 447) and the wrap pointing to them.
    const gid = await dave.evaluate(async (erin) => {
      const { events } = await window.host.query({ kinds: [443], authors: [erin] }, [window.relay]);
      if (events.length === 0) throw new Error("no KeyPackage of the CLI user on the relay");
      const r = await window.host.run(window.client.createGroup({ name: "oob", invitees: [events[0]] }, window.host.now()));
      return r.value.groupId;
    }, erinHex);
    const chunks = await dave.evaluate(async () => (await window.host.query({ kinds: [447] }, [window.relay])).events.length);
    assert.ok(chunks >= 1, "the tree went out of band");
    assert.deepEqual(await dave.evaluate(() => window.client.outbox()), [], "everything published");
    // The CLI user fetches the tree and joins.
    await cliIn(erinDir, "sync");
    const groups = await cliIn(erinDir, "--json", "groups");
    assert.ok(groups.includes(gid.slice(0, 8)), `the CLI joined: ${groups}`);
    await cliIn(erinDir, "send", "oob", "joined from the tree out of band");
    await waitFor(dave, () => window.texts().includes("joined from the tree out of band"), null, "dave reads the CLI");
    assert.deepEqual(consoleErrors, []);
  } finally {
    fs.rmSync(erinDir, { recursive: true, force: true });
    await ctx.close();
  }
});
