// The nipee package (target nodejs) loaded in Node: the same checks as in the browser.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { checks, asyncChecks, runAll } from "./checks.mjs";

const pkg = process.env.NIPEE_WASM_PKG ?? path.resolve(import.meta.dirname, "../target/wasm-pkg");
let results;

before(async () => {
  const nipee = await import(pathToFileURL(path.join(pkg, "nodejs", "index.mjs")).href);
  results = await runAll(nipee);
});

for (const name of [...Object.keys(checks), ...Object.keys(asyncChecks)]) {
  test(`node: ${name}`, () => {
    const r = results.find((x) => x.name === name);
    assert.ok(r, `check ${name} did not run`);
    assert.ok(r.ok, r.error);
  });
}
