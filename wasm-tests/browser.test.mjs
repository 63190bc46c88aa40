// The nipee-wasm package (target web) loaded in headless Chromium, served from
// a local HTTP server on 127.0.0.1; the same checks as in Node run in the page.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import fs from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";
import { checks, asyncChecks, browserChecks } from "./checks.mjs";

const here = import.meta.dirname;
const pkg = process.env.NIPEE_WASM_PKG ?? path.resolve(here, "../target/wasm-pkg");
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";

const TYPES = { ".js": "text/javascript", ".mjs": "text/javascript", ".wasm": "application/wasm", ".html": "text/html" };
const PAGE = `<!doctype html><meta charset="utf-8"><title>nipee wasm tests</title>
<script type="module">
  import init, * as nipee from "/pkg/index.js";
  import { runAll, browserChecks } from "/checks.mjs";
  try { await init(); window.results = await runAll(nipee, browserChecks); }
  catch (e) { window.results = [{ name: "load", ok: false, error: String(e) }]; }
</script>`;

function serve() {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, "http://127.0.0.1");
    let file = null;
    if (url.pathname === "/") {
      res.writeHead(200, { "content-type": "text/html" });
      return res.end(PAGE);
    }
    if (url.pathname === "/checks.mjs") file = path.join(here, "checks.mjs");
    else if (url.pathname.startsWith("/pkg/")) {
      const name = path.basename(url.pathname);
      file = path.join(pkg, "web", name);
    }
    if (!file || !fs.existsSync(file)) {
      res.writeHead(404);
      return res.end();
    }
    res.writeHead(200, { "content-type": TYPES[path.extname(file)] ?? "application/octet-stream" });
    fs.createReadStream(file).pipe(res);
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

let server, browser, results;

before(async () => {
  server = await serve();
  const { port } = server.address();
  // Playwright gives every launch a fresh, empty profile directory.
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
  });
  const page = await browser.newPage();
  page.on("pageerror", (e) => console.error("page error:", e));
  await page.goto(`http://127.0.0.1:${port}/`);
  await page.waitForFunction(() => window.results !== undefined, null, { timeout: 120000 });
  results = await page.evaluate(() => window.results);
});

after(async () => {
  await browser?.close();
  server?.close();
});

test("chromium: the package loads", () => {
  const load = results.find((r) => r.name === "load");
  assert.equal(load, undefined, load?.error);
});

for (const name of [...Object.keys(checks), ...Object.keys(asyncChecks), ...Object.keys(browserChecks)]) {
  test(`chromium: ${name}`, () => {
    const r = results.find((x) => x.name === name);
    assert.ok(r, `check ${name} did not run in the page`);
    assert.ok(r.ok, r.error);
  });
}
