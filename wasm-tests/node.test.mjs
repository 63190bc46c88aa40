// The nipee-wasm package (target nodejs) loaded in Node.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import path from "node:path";
import { checks } from "./checks.mjs";

const pkg = process.env.NIPEE_WASM_PKG ?? path.resolve(import.meta.dirname, "../target/wasm-pkg");
const require = createRequire(import.meta.url);
const nipee = require(path.join(pkg, "nodejs", "nipee_wasm.js"));

for (const [name, check] of Object.entries(checks)) {
  test(`node: ${name}`, () => {
    assert.doesNotThrow(() => check(nipee));
  });
}
