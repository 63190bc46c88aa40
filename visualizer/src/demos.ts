// The demonstrations: each one click, each driving the real clients through the same commands
// the buttons use, and each reporting what the clients did (never what they should have).
import type { AppState, Participant } from "./state";
import type { NostrEvent, Outcome, UnsignedEvent } from "./protocol";
import { agreement } from "./ui/Timeline";
import { fp } from "./ui/util";

export class DemoError extends Error {}

function waitFor(state: AppState, cond: () => boolean, what: string, timeoutMs = 30000): Promise<void> {
  return new Promise((resolve, reject) => {
    if (cond()) return resolve();
    const timer = setTimeout(() => {
      off();
      reject(new DemoError(`gave up after ${timeoutMs / 1000} s waiting for ${what}`));
    }, timeoutMs);
    const off = state.subscribe(() => {
      if (cond()) {
        clearTimeout(timer);
        off();
        resolve();
      }
    });
  });
}

function say(state: AppState, text: string, kind: "step" | "ok" | "fail" = "step") {
  state.demoLog.push({ at: Date.now(), text, kind });
  state.changed();
}

function isAdmin(state: AppState, p: Participant, groupId: string): boolean {
  return !!state.view(p, groupId)?.summary.members.find((m) => m.own)?.admin;
}

function needGroup(state: AppState): string {
  const g = state.selectedGroup;
  if (!g || state.members(g).length === 0) {
    throw new DemoError("select a group with members on this page first (create one from a participant's panel)");
  }
  return g;
}

async function converge(state: AppState, groupId: string, what: string, epoch?: number) {
  await waitFor(
    state,
    () => {
      const a = agreement(state, groupId);
      return a.agree && (epoch === undefined || a.epoch === epoch);
    },
    what,
  );
  const a = agreement(state, groupId);
  say(state, `All ${a.count} members agree: epoch ${a.epoch}, authenticator ${fp(a.authenticator)}.`, "ok");
}

function hasLine(p: Participant, groupId: string, text: string) {
  return p.chat.some((l) => l.groupId === groupId && l.event.content === text);
}

async function run(state: AppState, name: string, body: () => Promise<void>) {
  if (state.demoRunning) {
    say(state, `${state.demoRunning} is still running`, "fail");
    return;
  }
  state.demoRunning = name;
  say(state, `— ${name} —`);
  try {
    await body();
    say(state, `${name}: done.`, "ok");
  } catch (e) {
    const err = e as Error & { code?: string };
    say(state, `${name} stopped: ${err.code ? `[${err.code}] ` : ""}${err.message}`, "fail");
  } finally {
    state.demoRunning = null;
    state.changed();
  }
}

/** A removed member is handed the next message and its client cannot open it. */
export function forwardSecrecy(state: AppState, victimId: string) {
  return run(state, "Forward secrecy", async () => {
    const g = needGroup(state);
    let victim = state.participants.find((p) => p.removedFrom.has(g) && p.status === "ready" && !state.view(p, g)?.summary.active);
    if (!victim) {
      const members = state.members(g);
      const admin = members.find((p) => isAdmin(state, p, g));
      if (!admin) throw new DemoError("no admin of this group on the page");
      victim =
        state.byId(victimId) ??
        [...members].reverse().find((p) => p.snapshot?.publicKey !== admin.snapshot?.publicKey);
      if (!victim || victim.snapshot?.publicKey === admin.snapshot?.publicKey) {
        throw new DemoError("needs a member other than the admin to remove");
      }
      say(state, `${admin.name} removes ${victim.name}.`);
      await state.call(admin, { cmd: "remove", groupId: g, pubkeys: [victim.snapshot!.publicKey] });
      const v = victim;
      await waitFor(state, () => v.removedFrom.has(g), `${v.name} to process its removal`);
      say(state, `${victim.name}'s client processed the commit that removed it and deleted the group's secrets.`);
    } else {
      say(state, `${victim.name} was removed earlier; using it.`);
    }
    const members = state.members(g);
    const sender = members.find((p) => isAdmin(state, p, g)) ?? members[0];
    if (!sender) throw new DemoError("nobody is left in the group to send");
    await converge(state, g, "the remaining members to agree");
    const text = `Only for current members (${new Date().toLocaleTimeString(undefined, { hour12: false })})`;
    const sent = (await state.call(sender, { cmd: "send", groupId: g, text })) as { inner: UnsignedEvent; outer: NostrEvent | null };
    if (!sent.outer) throw new DemoError("the send produced no event to publish");
    say(state, `${sender.name} sends “${text}” (kind 445 ${fp(sent.outer.id)}).`);
    for (const w of members.filter((p) => p !== sender)) {
      await waitFor(state, () => hasLine(w, g, text), `${w.name} to decrypt the message`);
      say(state, `${w.name} decrypts it.`, "ok");
    }
    const v = victim;
    say(state, `${v.name} is handed the same kind 445 event and tries to open it…`);
    let outcome: string;
    let read = false;
    try {
      const outcomes = (await state.call(v, { cmd: "tryOpen", event: sent.outer })) as Outcome[];
      read = outcomes.some((o) => o.type === "message");
      outcome = outcomes.map((o) => (o.type === "ignored" ? `ignored (${o.reason})` : o.type)).join(", ") || "no outcome";
    } catch (e) {
      const err = e as Error & { code?: string };
      outcome = `error [${err.code}] ${err.message}`;
    }
    if (read || hasLine(v, g, text)) {
      state.note(v, "error", `forward secrecy broken: ${v.name} read a message sent after its removal`);
      throw new DemoError(`${v.name} read the message: forward secrecy failed`);
    }
    state.note(v, "failure", `cannot read the message sent after its removal: ${outcome}`);
    say(state, `${v.name} cannot read it: ${outcome}.`, "ok");
  });
}

/** Two admins commit in the same epoch; every member converges on one branch. */
export function commitRace(state: AppState) {
  return run(state, "Commit race", async () => {
    const g = needGroup(state);
    const members = state.members(g);
    const admins = members.filter((p) => isAdmin(state, p, g));
    const a = admins[0];
    if (!a) throw new DemoError("no admin of this group on the page");
    let b = admins.find((p) => p !== a && p.snapshot?.publicKey !== a.snapshot?.publicKey);
    if (!b) {
      b = members.find((p) => p.snapshot?.publicKey !== a.snapshot?.publicKey);
      if (!b) throw new DemoError("needs a second member");
      const current = state.view(a, g)?.summary.data?.admins ?? [a.snapshot!.publicKey];
      say(state, `${b.name} is not an admin: ${a.name} makes it one first (a group-data commit).`);
      await state.call(a, { cmd: "setAdmins", groupId: g, admins: [...current, b.snapshot!.publicKey] });
      const bb = b;
      await waitFor(state, () => isAdmin(state, bb, g), `${bb.name} to become admin`);
    }
    await converge(state, g, "all members to agree before the race");
    const start = agreement(state, g).epoch ?? 0;
    say(state, `${a.name} and ${b.name} both commit a leaf rotation in epoch ${start}, before either has seen the other's commit.`);
    await Promise.all([state.call(a, { cmd: "prepareRotate", groupId: g }), state.call(b, { cmd: "prepareRotate", groupId: g })]);
    await Promise.all([state.call(a, { cmd: "releasePrepared" }), state.call(b, { cmd: "releasePrepared" })]);
    say(state, `Both commits (for epoch ${start + 1}) are on the relay.`);
    await converge(state, g, `all members to converge on one commit for epoch ${start + 1}`, start + 1);
    const last = state.members(g)[0]?.history.get(g)?.at(-1);
    const winner = last?.cause.find((o) => o.type === "commit" || o.type === "ownCommitConfirmed");
    const winnerName =
      winner && winner.type === "ownCommitConfirmed"
        ? state.members(g)[0]!.name
        : winner && winner.type === "commit"
          ? state.nameOf(winner.committer)
          : "one commit";
    const losers = [a, b].filter((p) => (p.markers.get(g) ?? []).length > 0 || (p.history.get(g) ?? []).some((h) => h.abandoned));
    say(
      state,
      `${winnerName}'s commit won; ${losers.length ? `${losers.map((p) => p.name).join(" and ")} ${losers.length > 1 ? "show" : "shows"} the losing branch in the timeline` : "the losing commit was ignored"}.`,
      "ok",
    );
  });
}

/** One identity, two leaves: a second device joins from the same secret. */
export function multiDevice(state: AppState, firstId: string) {
  return run(state, "Multi-device", async () => {
    const first = state.byId(firstId) ?? state.participants.find((p) => !p.deviceOf && p.status === "ready");
    if (!first) throw new DemoError("add a participant first");
    let name = `${first.name}'s phone`;
    for (let i = 2; state.participants.some((p) => p.name === name); i++) name = `${first.name}'s phone ${i}`;
    say(state, `A new worker “${name}” starts from ${first.name}'s identity secret, with its own IndexedDB database.`);
    const dev = await state.addParticipant(name, first);
    if (dev.status !== "ready") throw new DemoError(`${name} did not start`);
    const kp = (await state.call(dev, { cmd: "publishKeyPackage", lastResort: true })) as { eventId: string };
    say(state, `${name} publishes its own KeyPackage (${fp(kp.eventId)}), signed by the same Nostr key.`);
    const g = state.selectedGroup;
    if (!g || !state.view(first, g)?.summary.active) {
      say(state, `${first.name} is in no selected group: invite ${name} from any group's panel.`, "ok");
      return;
    }
    const inviter = isAdmin(state, first, g) ? first : state.members(g).find((p) => isAdmin(state, p, g));
    if (!inviter) throw new DemoError("no admin of the selected group on the page");
    say(state, `${inviter.name} invites that exact KeyPackage to ${state.groupName(g)}.`);
    await state.call(inviter, {
      cmd: "invite",
      groupId: g,
      invitees: [{ pubkey: dev.snapshot!.publicKey, keyPackageEventId: kp.eventId }],
    });
    await waitFor(state, () => !!state.view(dev, g)?.summary.active, `${name} to join`);
    await converge(state, g, "all members to agree");
    const leaves = state.view(first, g)!.summary.members.filter((m) => m.pubkey === first.snapshot!.publicKey);
    say(state, `${first.name}'s key now holds ${leaves.length} leaves (${leaves.map((m) => m.leaf).join(", ")}).`, "ok");
    const text = `Hello from ${name}`;
    await state.call(dev, { cmd: "send", groupId: g, text });
    await waitFor(state, () => hasLine(first, g, text), `${first.name} to read its other device's message`);
    say(state, `${first.name}'s first device reads “${text}”.`, "ok");
  });
}

/** A participant's worker is terminated and recreated from IndexedDB, still in the group. */
export function restart(state: AppState, whoId: string) {
  return run(state, "Restart", async () => {
    const g = needGroup(state);
    const members = state.members(g);
    const p = state.byId(whoId) && state.view(state.byId(whoId)!, g)?.summary.active ? state.byId(whoId)! : members[members.length - 1];
    if (!p) throw new DemoError("no member to restart");
    const before = state.view(p, g)!;
    say(state, `${p.name}'s worker is terminated (epoch ${before.epoch}, authenticator ${fp(before.authenticator)}).`);
    await state.restart(p);
    if (p.status !== "ready") throw new DemoError(`${p.name} did not come back`);
    await waitFor(state, () => state.view(p, g)?.epoch != null, `${p.name}'s snapshot`);
    const after = state.view(p, g)!;
    say(
      state,
      `A new worker reopened ${p.name} from IndexedDB: epoch ${after.epoch}, authenticator ${fp(after.authenticator)}${after.authenticator === before.authenticator ? " (unchanged)" : ""}.`,
      "ok",
    );
    const other = members.find((o) => o !== p && o.status === "ready");
    if (!other) return;
    const text = `Still there, ${p.name}?`;
    await state.call(other, { cmd: "send", groupId: g, text });
    await waitFor(state, () => hasLine(p, g, text), `${p.name} to read a new message`);
    const reply = `Yes: restarted from IndexedDB at epoch ${after.epoch}`;
    await state.call(p, { cmd: "send", groupId: g, text: reply });
    await waitFor(state, () => hasLine(other, g, reply), `${other.name} to read the reply`);
    say(state, `${p.name} reads “${text}” and answers; ${other.name} reads the answer.`, "ok");
  });
}
