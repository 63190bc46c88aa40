// The browser half of `cargo xtask wasm-bench`: serves the nipee package (target web),
// nostr-tools' browser bundle, bench-page.mjs and the fixtures on 127.0.0.1, runs the
// benchmark in headless Chromium and prints its results as JSON on stdout (progress on
// stderr). The page is cross-origin isolated, which gives performance.now() its finest
// resolution.
//
//   NIPEE_WASM_PKG=target/wasm-pkg node bench.mjs FIXTURES.json
import http from "node:http";
import fs from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";

const here = import.meta.dirname;
const pkg = process.env.NIPEE_WASM_PKG ?? path.resolve(here, "../target/wasm-pkg");
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const fixtures = process.argv[2];
if (!fixtures) {
  console.error("usage: node bench.mjs FIXTURES.json");
  process.exit(2);
}
// nostr-tools' own browser bundle (the package exports no path to it).
const ntDir = path.join(here, "node_modules/nostr-tools");
const nostrTools = path.join(ntDir, "lib/nostr.bundle.js");
const ntVersion = JSON.parse(fs.readFileSync(path.join(ntDir, "package.json"), "utf8")).version;

const TYPES = { ".js": "text/javascript", ".mjs": "text/javascript", ".wasm": "application/wasm", ".json": "application/json" };
const PAGE = `<!doctype html><meta charset="utf-8"><title>nipee wasm bench</title>
<script src="/nostr-tools.js"></script>
<script type="module">
  import init, * as nipee from "/pkg/index.js";
  import { runBench } from "/bench-page.mjs";
  try {
    await init();
    const fx = await (await fetch("/fixtures.json")).json();
    window.bench = { ok: true, results: runBench(nipee, window.NostrTools, fx, (s) => console.log(s)) };
  } catch (e) { window.bench = { ok: false, error: String(e && e.stack || e) }; }
</script>`;

function serve() {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, "http://127.0.0.1");
    const isolated = { "cross-origin-opener-policy": "same-origin", "cross-origin-embedder-policy": "require-corp" };
    if (url.pathname === "/") {
      res.writeHead(200, { "content-type": "text/html", ...isolated });
      return res.end(PAGE);
    }
    let file = null;
    if (url.pathname === "/bench-page.mjs") file = path.join(here, "bench-page.mjs");
    else if (url.pathname === "/nostr-tools.js") file = nostrTools;
    else if (url.pathname === "/fixtures.json") file = fixtures;
    else if (url.pathname.startsWith("/pkg/")) file = path.join(pkg, "web", path.basename(url.pathname));
    if (!file || !fs.existsSync(file)) {
      res.writeHead(404);
      return res.end();
    }
    res.writeHead(200, { "content-type": TYPES[path.extname(file)] ?? "application/octet-stream", ...isolated });
    fs.createReadStream(file).pipe(res);
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

const server = await serve();
const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  args: [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});
let code = 0;
try {
  const page = await browser.newPage();
  page.on("console", (m) => console.error(m.text()));
  page.on("pageerror", (e) => console.error("page error:", e));
  await page.goto(`http://127.0.0.1:${server.address().port}/`);
  await page.waitForFunction(() => window.bench !== undefined, null, { timeout: 600000, polling: 500 });
  const bench = await page.evaluate(() => window.bench);
  const isolated = await page.evaluate(() => window.crossOriginIsolated);
  if (!bench.ok) {
    console.error(bench.error);
    code = 1;
  } else {
    console.log(JSON.stringify({ chromium: browser.version(), nostrTools: ntVersion, crossOriginIsolated: isolated, results: bench.results }));
  }
} finally {
  await browser.close();
  server.close();
}
process.exit(code);
