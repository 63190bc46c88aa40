// The visualizer driven through its UI in headless Chromium, against the real package and a
// real relay (started by `cargo xtask visualizer --test`, which passes their addresses).
// Every assertion reads what the page shows.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";
import os from "node:os";
import { execFile } from "node:child_process";
import { promisify } from "node:util";

const here = import.meta.dirname;
const URL_ = process.env.VISUALIZER_URL;
const SHOTS = process.env.VISUALIZER_SHOTS ?? path.resolve(here, "../../target/visualizer-shots");
// When set, the screenshots the README shows are copied there.
const DOCS = process.env.VISUALIZER_DOCS;
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
// The native command line client, and the relay the page uses (both set by xtask).
const CLI = process.env.NIPEE_CLI_BIN;
const RELAY = process.env.VISUALIZER_RELAY;
const exec = promisify(execFile);
const DOC_SHOTS = ["02-group.png", "04-rotate-tree.png", "05-commit-race.png", "07-forward-secrecy.png", "07-forward-secrecy-log.png", "08-relay-log.png"];

let browser;
let page;
const problems = [];
let broken = null;

function stage(name, body, timeout = 120000) {
  test(name, { timeout }, async (t) => {
    if (broken) {
      t.skip(`an earlier stage failed: ${broken}`);
      return;
    }
    try {
      await body();
    } catch (e) {
      broken = name;
      await shot(`failed-${name.replace(/\W+/g, "-")}.png`).catch(() => {});
      throw e;
    }
  });
}

async function shot(name, locator) {
  fs.mkdirSync(SHOTS, { recursive: true });
  const file = path.join(SHOTS, name);
  if (locator) await locator.screenshot({ path: file });
  else await page.screenshot({ path: file, fullPage: true });
  if (DOCS && DOC_SHOTS.includes(name)) {
    fs.mkdirSync(DOCS, { recursive: true });
    fs.copyFileSync(file, path.join(DOCS, name));
  }
}

const panel = (name) => page.getByTestId(`participant-${name}`);

/** Presses Tab until `locator` has the focus: proves it is reachable by keyboard alone. */
async function tabTo(locator, max = 80) {
  for (let i = 0; i < max; i++) {
    if (await locator.evaluate((el) => el === document.activeElement)) return;
    await page.keyboard.press("Tab");
  }
  assert.fail(`not reachable with Tab: ${locator}`);
}

/** Waits until the named participants show the same epoch and authenticator; returns it. */
async function agree(names, { epoch, timeout = 30000 } = {}) {
  await page.waitForFunction(
    ({ names, epoch }) => {
      const chips = names.map((n) => document.querySelector(`[data-testid="participant-${n}"] [data-testid="epoch"]`));
      if (chips.some((c) => !c)) return false;
      const keys = chips.map((c) => `${c.dataset.epoch}/${c.dataset.fp}`);
      return keys.every((k) => k === keys[0]) && chips[0].dataset.fp !== "—" && (epoch === undefined || chips[0].dataset.epoch === String(epoch));
    },
    { names, epoch },
    { timeout },
  );
  const chip = panel(names[0]).getByTestId("epoch");
  return { epoch: Number(await chip.getAttribute("data-epoch")), fp: await chip.getAttribute("data-fp") };
}

async function waitForMessage(name, text, timeout = 20000) {
  await panel(name).getByTestId("message").filter({ hasText: text }).first().waitFor({ timeout });
}

async function demo(button, timeout = 60000) {
  const before = await page.getByTestId("demo-log").locator("li").count();
  await page.getByRole("button", { name: button, exact: true }).click();
  const done = page.getByTestId("demo-log").locator("li").filter({ hasText: new RegExp(`^\\S+ ${button}(: done\\.| stopped:)`) });
  await done.last().waitFor({ timeout });
  const lines = (await page.getByTestId("demo-log").locator("li").allInnerTexts()).slice(before);
  const failed = lines.filter((l) => / stopped: /.test(l));
  assert.deepEqual(failed, [], `the ${button} demonstration failed:\n${lines.join("\n")}`);
  return lines;
}

before(async () => {
  assert.ok(URL_, "VISUALIZER_URL is not set: run this through `cargo xtask visualizer --test`");
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
  });
  const context = await browser.newContext({ viewport: { width: 1500, height: 1000 } });
  page = await context.newPage();
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(`console: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  await page.goto(URL_);
  await page.getByTestId("relay-status").filter({ hasText: "connected" }).waitFor({ timeout: 15000 });
});

after(async () => {
  await browser?.close();
});

stage("three participants are added by name, the first with the keyboard alone", async () => {
  await tabTo(page.locator("#new-name"));
  await page.keyboard.type("Alice");
  await page.keyboard.press("Enter");
  for (const name of ["Bob", "Carol"]) {
    await page.getByLabel("Name", { exact: true }).fill(name);
    await page.getByRole("button", { name: "Add participant" }).click();
  }
  for (const name of ["Alice", "Bob", "Carol"]) {
    await page.locator(`[data-testid="participant-${name}"][data-status="ready"]`).waitFor({ timeout: 30000 });
  }
  await shot("01-participants.png");
});

stage("each publishes a KeyPackage, which the relay log lists", async () => {
  for (const name of ["Alice", "Bob", "Carol"]) {
    await panel(name).getByRole("button", { name: "Publish KeyPackage" }).click();
    await panel(name).getByText("published KeyPackage").waitFor({ timeout: 15000 });
  }
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="log-entry"][data-kind="443"]').length >= 3, null, { timeout: 15000 });
});

stage("Alice creates a group with Bob (admin) and Carol, with the keyboard alone", async () => {
  const alice = panel("Alice");
  await tabTo(alice.locator("summary", { hasText: "Create a group" }));
  await page.keyboard.press("Enter");
  await tabTo(alice.getByLabel("Group name"));
  await page.keyboard.type("Friends");
  await tabTo(alice.getByRole("checkbox", { name: "Bob" }));
  await page.keyboard.press("Space");
  await tabTo(alice.locator(".invitee", { hasText: "Bob" }).getByRole("checkbox", { name: "admin" }));
  await page.keyboard.press("Space");
  await tabTo(alice.getByRole("checkbox", { name: "Carol" }));
  await page.keyboard.press("Space");
  await tabTo(alice.getByRole("button", { name: "Create group" }));
  await page.keyboard.press("Enter");
  const e = await agree(["Alice", "Bob", "Carol"]);
  for (const name of ["Alice", "Bob", "Carol"]) {
    assert.equal(await panel(name).getByTestId("member").count(), 3, `${name} lists three members`);
  }
  assert.match(e.fp, /^[0-9a-f]{8}$/);
  await shot("02-group.png", page.locator(".panels"));
});

stage("they chat and react; every member reads every message", async () => {
  await panel("Alice").getByPlaceholder("Message as Alice").fill("Hello from Alice");
  await panel("Alice").getByRole("button", { name: "Send" }).click();
  await waitForMessage("Bob", "Hello from Alice");
  await waitForMessage("Carol", "Hello from Alice");
  await panel("Bob").getByPlaceholder("Message as Bob").fill("Hi Alice, Bob here");
  await panel("Bob").getByPlaceholder("Message as Bob").press("Enter");
  await waitForMessage("Alice", "Hi Alice, Bob here");
  await waitForMessage("Carol", "Hi Alice, Bob here");
  await panel("Carol").getByRole("button", { name: "Carol: react 👍 to “Hello from Alice”" }).click();
  await panel("Alice").getByTestId("reaction").filter({ hasText: "👍" }).first().waitFor({ timeout: 15000 });
  await shot("03-chat.png", page.locator(".panels"));
});

stage("Carol rotates her leaf: a new epoch everyone agrees on, her path replaced in every tree", async () => {
  const before = await agree(["Alice", "Bob", "Carol"]);
  await panel("Carol").getByRole("button", { name: "Rotate own leaf" }).click();
  const after = await agree(["Alice", "Bob", "Carol"], { epoch: before.epoch + 1 });
  assert.notEqual(after.fp, before.fp);
  for (const name of ["Alice", "Bob", "Carol"]) {
    assert.ok((await panel(name).locator("svg.tree .node.commit").count()) > 0, `${name}'s tree highlights the replaced path`);
  }
  // The same keys in every member's tree.
  const keys = await page.$$eval("[data-testid^=participant-] svg.tree", (svgs) =>
    svgs.map((s) => [...s.querySelectorAll(".node")].map((n) => n.getAttribute("data-key")).join(",")),
  );
  assert.equal(new Set(keys).size, 1, "all three trees hold the same public keys");
  await shot("04-rotate-tree.png", panel("Carol"));
});

stage("commit race demonstration: two admins commit in the same epoch, everyone converges", async () => {
  const before = await agree(["Alice", "Bob", "Carol"]);
  await demo("Commit race");
  const after = await agree(["Alice", "Bob", "Carol"], { epoch: before.epoch + 1 });
  assert.match(after.fp, /^[0-9a-f]{8}$/);
  // The losing side is visible in the timeline: an abandoned branch or a lost-race marker.
  const lost = await page.locator('[data-testid="abandoned-epoch"], [data-testid="timeline-marker"]').count();
  assert.ok(lost > 0, "the timeline shows the commit that lost the race");
  await shot("05-commit-race.png", page.locator("section", { has: page.locator("#h-timeline") }));
});

stage("Alice removes Carol", async () => {
  const before = await agree(["Alice", "Bob", "Carol"]);
  const select = panel("Alice").getByLabel("Remove", { exact: true });
  await select.selectOption(await select.locator("option", { hasText: "Carol" }).getAttribute("value"));
  await panel("Alice").getByRole("button", { name: "Remove", exact: true }).click();
  await panel("Carol").getByTestId("not-member").filter({ hasText: "Removed from" }).waitFor({ timeout: 20000 });
  await agree(["Alice", "Bob"], { epoch: before.epoch + 1 });
  assert.equal(await panel("Bob").getByTestId("member").count(), 2);
  await shot("06-removed.png", page.locator(".panels"));
});

stage("forward secrecy demonstration: the removed member cannot read the next message", async () => {
  await demo("Forward secrecy");
  const text = await panel("Bob").getByTestId("message").filter({ hasText: "Only for current members" }).first().innerText();
  assert.match(text, /Only for current members/);
  await panel("Carol").getByTestId("note-failure").filter({ hasText: "cannot read" }).waitFor({ timeout: 5000 });
  assert.equal(await panel("Carol").getByTestId("message").filter({ hasText: "Only for current members" }).count(), 0);
  await shot("07-forward-secrecy.png", page.locator(".panels"));
  await shot("07-forward-secrecy-log.png", page.getByTestId("demo-log"));
});

stage("restart demonstration: Bob's worker is recreated from IndexedDB and still in the conversation", async () => {
  await page.getByLabel("participant", { exact: true }).selectOption({ label: "Bob" });
  await demo("Restart");
  await waitForMessage("Bob", "Still there, Bob?");
  await waitForMessage("Alice", "Yes: restarted from IndexedDB");
  await agree(["Alice", "Bob"]);
});

stage("multi-device demonstration: a second device of Alice joins as a second leaf of her key", async () => {
  await page.getByLabel("identity", { exact: true }).selectOption({ label: "Alice" });
  const lines = await demo("Multi-device");
  assert.ok(lines.some((l) => /Alice's key now holds 2 leaves/.test(l)), lines.join("\n"));
  await waitForMessage("Alice", "Hello from Alice's phone");
  await waitForMessage("Bob", "Hello from Alice's phone");
  await agree(["Alice", "Bob", "Alice's phone"]);
  assert.equal(await panel("Bob").getByTestId("member").filter({ hasText: "Alice" }).count(), 2);
  await shot("10-multi-device.png", page.locator(".panels"));
});

stage("an outside client (another browser) is invited by npub and shows up as a member", async () => {
  // A second, isolated browser context: its own storage, its own workers, the same relay.
  const other = await browser.newContext({ viewport: { width: 1200, height: 900 } });
  const page2 = await other.newPage();
  page2.on("console", (m) => {
    if (m.type() === "error") problems.push(`console (second browser): ${m.text()}`);
  });
  page2.on("pageerror", (e) => problems.push(`page error (second browser): ${e.message}`));
  try {
    await page2.goto(URL_);
    await page2.locator("#new-name").fill("Dave");
    await page2.locator("#new-name").press("Enter");
    const dave = page2.getByTestId("participant-Dave");
    await dave.and(page2.locator('[data-status="ready"]')).waitFor({ timeout: 30000 });
    await dave.getByRole("button", { name: "Publish KeyPackage" }).click();
    await dave.getByText("published KeyPackage").waitFor({ timeout: 15000 });
    const npub = await page2.evaluate(() => window.nipeeVisualizer.participants[0].snapshot.npub);
    await panel("Alice").getByLabel("or npub").fill(npub);
    await panel("Alice").getByRole("button", { name: "Invite", exact: true }).click();
    await dave.getByTestId("epoch").waitFor({ timeout: 20000 });
    await panel("Bob").getByTestId("member").filter({ hasText: "outside" }).waitFor({ timeout: 20000 });
    const ours = await agree(["Alice", "Bob"]);
    await page2.waitForFunction(
      (fp) => document.querySelector('[data-testid="participant-Dave"] [data-testid="epoch"]')?.dataset.fp === fp,
      ours.fp,
      { timeout: 20000 },
    );
    await dave.getByPlaceholder("Message as Dave").fill("Hello from another browser");
    await dave.getByRole("button", { name: "Send" }).click();
    await waitForMessage("Bob", "Hello from another browser");
  } finally {
    await other.close();
  }
});

stage("a native nipee CLI user joins the page's group through the relay and the page shows its messages", async () => {
  assert.ok(CLI && fs.existsSync(CLI), "NIPEE_CLI_BIN must name the nipee binary");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "nipee-visualizer-cli-"));
  const cli = async (...args) =>
    (await exec(CLI, ["--data-dir", dir, "--relay", RELAY, ...args], { timeout: 60000 })).stdout.trim();
  try {
    const npub = await cli("identity", "new");
    await cli("keypackage", "publish");
    await panel("Alice").getByLabel("or npub").fill(npub);
    await panel("Alice").getByRole("button", { name: "Invite", exact: true }).click();
    await panel("Bob").getByTestId("member").filter({ hasText: "outside" }).nth(1).waitFor({ timeout: 20000 });
    await cli("sync");
    const groups = await cli("--json", "groups");
    assert.ok(groups.includes('"active":true'), `the CLI joined: ${groups}`);
    await cli("send", JSON.parse(groups.split("\n")[0]).name ?? "Friends", "Hello from the command line");
    await waitForMessage("Bob", "Hello from the command line");
    await waitForMessage("Alice", "Hello from the command line");
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

stage("the relay log opens events as far as the chosen participant can", async () => {
  await page.getByLabel("Open as").selectOption({ label: "Bob" });
  const message = page.getByTestId("log-entry").filter({ has: page.locator(".k445") });
  assert.ok((await message.count()) > 0);
  // Open every 445 until one shows an inner event Bob decrypted.
  let found = false;
  for (let i = 0; i < (await message.count()) && !found; i++) {
    const entry = message.nth(i);
    await entry.locator("summary").first().click();
    if ((await entry.getByText("Inner event (unsigned").count()) > 0) found = true;
    else await entry.locator("summary").first().click();
  }
  assert.ok(found, "Bob's view of some kind 445 event shows its inner event");
  const wraps = page.getByTestId("log-entry").filter({ has: page.locator(".k1059") });
  assert.ok((await wraps.count()) >= 2, "two gift-wrapped Welcomes");
  let welcome = false;
  for (let i = 0; i < (await wraps.count()) && !welcome; i++) {
    await wraps.nth(i).locator("summary").first().click();
    if ((await wraps.nth(i).getByText("a Welcome: Bob joined").count()) > 0) welcome = true;
  }
  assert.ok(welcome, "Bob's view shows the gift wrap that was his Welcome");
  await shot("08-relay-log.png", page.locator("section", { has: page.locator("#h-log") }));
});

stage("Bob leaves; Alice commits his leave request", async () => {
  const before = await agree(["Alice", "Bob"]);
  await panel("Bob").getByRole("button", { name: "Leave" }).click();
  await panel("Alice").getByRole("button", { name: "Commit pending proposals" }).click();
  await panel("Bob").getByTestId("not-member").waitFor({ timeout: 20000 });
  await agree(["Alice", "Alice's phone"], { epoch: before.epoch + 1 });
  assert.equal(await panel("Alice").getByTestId("member").filter({ hasText: "Bob" }).count(), 0);
});

stage("no console errors", async () => {
  await shot("09-whole-page.png");
  assert.deepEqual(problems, []);
});
