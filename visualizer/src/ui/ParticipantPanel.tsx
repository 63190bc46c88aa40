// One participant: its identity, its actions, its view of the selected group (members, epoch,
// ratchet tree, messages), and every error its client raised, where it happened.
import { useState } from "preact/hooks";
import type { AppState, Participant } from "../state";
import type { ChatLine, Invitee } from "../protocol";
import { Tree } from "./Tree";
import { colourOf, fp, short, time, useAppState } from "./util";

const EMOJI = ["👍", "❤️", "😂"];

function groupBy<T>(items: T[], key: (t: T) => string): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const i of items) m.set(key(i), [...(m.get(key(i)) ?? []), i]);
  return m;
}

function EpochChip({ epoch, authenticator, testid }: { epoch: number | null; authenticator: string | null; testid?: string }) {
  return (
    <span
      class="epoch-chip"
      style={{ background: colourOf(authenticator) }}
      data-testid={testid}
      data-epoch={epoch ?? ""}
      data-fp={fp(authenticator)}
      title={authenticator ? `epoch authenticator ${authenticator}` : "no epoch"}
    >
      epoch {epoch ?? "—"} · <code>{fp(authenticator)}</code>
    </span>
  );
}

export { EpochChip };

function Notes({ state, p }: { state: AppState; p: Participant }) {
  const shown = p.notes.slice(-6).reverse();
  if (shown.length === 0) return null;
  return (
    <div class="notes" role="log" aria-live="polite" aria-label={`${p.name}: errors and events`}>
      {shown.map((n) => (
        <p class={`note note-${n.kind}`} data-testid={`note-${n.kind}`}>
          <span class="muted">{time(n.at)}</span> {n.code && <code class="code">{n.code}</code>} {n.text}
        </p>
      ))}
      <button
        type="button"
        class="link"
        onClick={() => {
          p.notes = [];
          state.changed();
        }}
      >
        Clear
      </button>
    </div>
  );
}

function CreateGroup({ state, p }: { state: AppState; p: Participant }) {
  const others = state.participants.filter((o) => o.id !== p.id && o.snapshot && o.snapshot.publicKey !== p.snapshot?.publicKey);
  const [name, setName] = useState("");
  const [picked, setPicked] = useState<Record<string, boolean>>({});
  const [admins, setAdmins] = useState<Record<string, boolean>>({});
  const [npubs, setNpubs] = useState("");
  const submit = async (e: Event) => {
    e.preventDefault();
    const form = new FormData(e.currentTarget as HTMLFormElement);
    const name = String(form.get("groupName") ?? "");
    const npubs = String(form.get("npubs") ?? "");
    const invitees: Invitee[] = others.filter((o) => picked[o.id]).map((o) => ({ pubkey: o.snapshot!.publicKey }));
    for (const line of npubs.split(/[\s,]+/).filter(Boolean)) invitees.push({ pubkey: line });
    const adminKeys = [p.snapshot!.publicKey, ...others.filter((o) => picked[o.id] && admins[o.id]).map((o) => o.snapshot!.publicKey)];
    const r = (await state.act(p, "create group", {
      cmd: "createGroup",
      name: name.trim() || `${p.name}'s group`,
      description: "made in the nipee visualizer",
      invitees,
      admins: adminKeys,
    })) as { groupId: string } | undefined;
    if (r) {
      state.selectedGroup = r.groupId;
      state.note(p, "info", `created group ${name.trim() || `${p.name}'s group`} with ${invitees.length} invitee(s)`);
      setName((now) => (now === name ? "" : now));
      setPicked({});
      setAdmins({});
      setNpubs((now) => (now === npubs ? "" : now));
    }
  };
  const id = `cg-${p.id}`;
  return (
    <details class="create-group">
      <summary>Create a group…</summary>
      <form onSubmit={submit} aria-label={`${p.name}: create a group`}>
        <label for={`${id}-name`}>Group name</label>
        <input id={`${id}-name`} name="groupName" value={name} onInput={(e) => setName(e.currentTarget.value)} placeholder="e.g. Friends" />
        <fieldset>
          <legend>Invite (their newest KeyPackage is fetched from the relay)</legend>
          {others.length === 0 && <p class="muted">No other participant yet.</p>}
          {others.map((o) => (
            <div class="invitee" key={o.id}>
              <label>
                <input
                  type="checkbox"
                  checked={!!picked[o.id]}
                  onChange={(e) => setPicked({ ...picked, [o.id]: e.currentTarget.checked })}
                />{" "}
                {o.name}
              </label>
              <label class="admin-box">
                <input
                  type="checkbox"
                  checked={!!admins[o.id]}
                  disabled={!picked[o.id]}
                  onChange={(e) => setAdmins({ ...admins, [o.id]: e.currentTarget.checked })}
                />{" "}
                admin
              </label>
            </div>
          ))}
          <label for={`${id}-npubs`}>…and/or paste npubs (one per line)</label>
          <textarea id={`${id}-npubs`} name="npubs" rows={2} value={npubs} onInput={(e) => setNpubs(e.currentTarget.value)} placeholder="npub1…" />
        </fieldset>
        <button type="submit">Create group</button>
      </form>
    </details>
  );
}

function GroupActions({ state, p, groupId }: { state: AppState; p: Participant; groupId: string }) {
  const view = state.view(p, groupId)!;
  const members = view.summary.members;
  const candidates = state.participants.filter(
    (o) => o.snapshot && !members.some((m) => m.pubkey === o.snapshot!.publicKey) && o.id !== p.id,
  );
  const [invitee, setInvitee] = useState("");
  const [npub, setNpub] = useState("");
  const [removee, setRemovee] = useState("");
  const id = `ga-${p.id}`;
  const invite = async (e: Event) => {
    e.preventDefault();
    const form = new FormData(e.currentTarget as HTMLFormElement);
    const npub = String(form.get("npub") ?? "");
    const o = state.byId(String(form.get("invitee") ?? invitee));
    const list: Invitee[] = [];
    if (o?.snapshot) {
      // A second device of a member is invited by its own KeyPackage, not the newest of
      // the identity (which may be the first device's).
      const kp = o.deviceOf ? o.snapshot.keyPackages[o.snapshot.keyPackages.length - 1] : undefined;
      list.push({ pubkey: o.snapshot.publicKey, keyPackageEventId: kp });
    }
    if (npub.trim()) list.push({ pubkey: npub.trim() });
    if (list.length === 0) {
      state.note(p, "error", "invite: pick a participant or paste an npub", "misuse");
      return;
    }
    const r = await state.act(p, "invite", { cmd: "invite", groupId, invitees: list });
    if (r) {
      setInvitee("");
      setNpub((now) => (now === npub ? "" : now));
    }
  };
  const removable = members.filter((m) => !m.own);
  const remove = async (e: Event) => {
    e.preventDefault();
    const key = String(new FormData(e.currentTarget as HTMLFormElement).get("removee") ?? removee) || removable[0]?.pubkey;
    if (!key) return;
    await state.act(p, "remove", { cmd: "remove", groupId, pubkeys: [key] });
  };
  return (
    <div class="group-actions">
      <div class="row">
        <button type="button" onClick={() => state.act(p, "rotate", { cmd: "rotate", groupId })}>
          Rotate own leaf
        </button>
        <button type="button" onClick={() => state.act(p, "commit pending", { cmd: "commitPending", groupId })}>
          Commit pending proposals
        </button>
        <button type="button" onClick={() => state.act(p, "leave", { cmd: "leave", groupId })}>
          Leave
        </button>
      </div>
      <form class="row" onSubmit={invite} aria-label={`${p.name}: invite`}>
        <label for={`${id}-inv`}>Invite</label>
        <select id={`${id}-inv`} name="invitee" value={invitee} onChange={(e) => setInvitee(e.currentTarget.value)}>
          <option value="">(participant)</option>
          {candidates.map((o) => (
            <option value={o.id}>{o.name}</option>
          ))}
        </select>
        <label for={`${id}-npub`} class="sr-only">
          or npub
        </label>
        <input id={`${id}-npub`} name="npub" class="npub-input" placeholder="or npub1…" value={npub} onInput={(e) => setNpub(e.currentTarget.value)} />
        <button type="submit">Invite</button>
      </form>
      <form class="row" onSubmit={remove} aria-label={`${p.name}: remove`}>
        <label for={`${id}-rm`}>Remove</label>
        <select id={`${id}-rm`} name="removee" value={removee} onChange={(e) => setRemovee(e.currentTarget.value)}>
          {removable.map((m) => (
            <option value={m.pubkey}>
              {state.nameOf(m.pubkey)} (leaf {m.leaf})
            </option>
          ))}
        </select>
        <button type="submit" disabled={removable.length === 0}>
          Remove
        </button>
      </form>
    </div>
  );
}

function Chat({ state, p, groupId, active }: { state: AppState; p: Participant; groupId: string; active: boolean }) {
  const [text, setText] = useState("");
  const lines = p.chat.filter((l) => l.groupId === groupId);
  const reactions = new Map<string, ChatLine[]>();
  const messages: ChatLine[] = [];
  for (const l of lines) {
    const target = l.event.kind === 7 ? l.event.tags.find((t) => t[0] === "e")?.[1] : undefined;
    if (target) reactions.set(target, [...(reactions.get(target) ?? []), l]);
    else messages.push(l);
  }
  const send = async (e: Event) => {
    e.preventDefault();
    const text = String(new FormData(e.currentTarget as HTMLFormElement).get("text") ?? "");
    if (!text.trim()) return;
    const r = await state.act(p, "send", { cmd: "send", groupId, text });
    if (r) setText((now) => (now === text ? "" : now));
  };
  const id = `chat-${p.id}`;
  return (
    <div class="chat">
      <ol class="messages" aria-label={`${p.name}: messages`} data-testid="messages">
        {messages.length === 0 && <li class="muted">No messages yet.</li>}
        {messages.map((l) => (
          <li key={l.event.id} class={l.own ? "own" : ""} data-testid="message">
            <span class="sender">{l.own ? "you" : state.nameOf(l.event.pubkey)}</span>{" "}
            <span class="muted">e{l.epoch}</span> <span class="text">{l.event.kind === 9 || l.event.kind === 1 ? l.event.content : `kind ${l.event.kind}: ${l.event.content}`}</span>
            <span class="reactions">
              {[...groupBy(reactions.get(l.event.id) ?? [], (r) => r.event.content)].map(([emoji, rs]) => (
                <span
                  class="reaction"
                  title={rs.map((r) => (r.own ? "you" : state.nameOf(r.event.pubkey))).join(", ")}
                  data-testid="reaction"
                >
                  {emoji}
                  {rs.length > 1 ? ` ${rs.length}` : ""}
                </span>
              ))}
              {active &&
                EMOJI.map((emoji) => (
                  <button
                    type="button"
                    class="react"
                    aria-label={`${p.name}: react ${emoji} to “${short(l.event.content, 20)}”`}
                    onClick={() => state.act(p, "react", { cmd: "react", groupId, targetId: l.event.id, emoji })}
                  >
                    +{emoji}
                  </button>
                ))}
            </span>
          </li>
        ))}
      </ol>
      {active && (
        <form class="row" onSubmit={send} aria-label={`${p.name}: send a message`}>
          <label for={id} class="sr-only">
            Message from {p.name}
          </label>
          <input id={id} name="text" class="grow" value={text} onInput={(e) => setText(e.currentTarget.value)} placeholder={`Message as ${p.name}`} />
          <button type="submit">Send</button>
        </form>
      )}
    </div>
  );
}

export function ParticipantPanel({ p }: { p: Participant }) {
  const state = useAppState();
  const [lastResort, setLastResort] = useState(true);
  const snap = p.snapshot;
  const groupId = state.selectedGroup;
  const view = state.view(p, groupId);
  const removedAt = groupId ? p.removedFrom.get(groupId) : undefined;
  const device = p.deviceOf ? state.byId(p.deviceOf) : null;
  return (
    <section class="panel" aria-labelledby={`h-${p.id}`} data-testid={`participant-${p.name}`} data-status={p.status}>
      <header class="panel-head">
        <h3 id={`h-${p.id}`}>{p.name}</h3>
        <span class={`status status-${p.status}`}>{p.status}{p.busy > 0 ? " · working…" : ""}</span>
        {device && <span class="badge">second device of {device.name}</span>}
      </header>
      {snap && (
        <p class="ident">
          <code title={snap.publicKey}>{short(snap.npub, 18)}</code>{" "}
          <button type="button" class="link" onClick={() => void navigator.clipboard?.writeText(snap.npub)}>
            Copy npub
          </button>{" "}
          <span class="muted">
            traffic ↑{p.traffic.out} ↓{p.traffic.in} · {snap.subscriptions} subscriptions · outbox {snap.outbox}
          </span>
        </p>
      )}
      <Notes state={state} p={p} />
      <div class="row">
        <button
          type="button"
          disabled={p.status !== "ready"}
          onClick={async () => {
            const r = (await state.act(p, "publish KeyPackage", { cmd: "publishKeyPackage", lastResort })) as { eventId: string } | undefined;
            if (r) state.note(p, "info", `published KeyPackage ${short(r.eventId, 12)}`);
          }}
        >
          Publish KeyPackage
        </button>
        <label class="inline">
          <input type="checkbox" checked={lastResort} onChange={(e) => setLastResort(e.currentTarget.checked)} /> last resort
        </label>
        <button type="button" disabled={p.status !== "ready"} onClick={() => state.act(p, "publish relay list", { cmd: "publishRelayList" })}>
          Publish relay list (10051)
        </button>
        <button type="button" onClick={() => void state.restart(p)}>
          Restart worker
        </button>
      </div>
      {p.status === "ready" && <CreateGroup state={state} p={p} />}
      {snap && snap.groups.length > 0 && (
        <p class="groups-of">
          Groups:{" "}
          {snap.groups.map((g) => (
            <button
              type="button"
              class={`link${g.summary.groupId === groupId ? " current" : ""}`}
              aria-pressed={g.summary.groupId === groupId}
              onClick={() => {
                state.selectedGroup = g.summary.groupId;
                state.changed();
              }}
            >
              {g.summary.data?.name ?? fp(g.summary.groupId)}
              {g.summary.active ? "" : " (left)"}
            </button>
          ))}
        </p>
      )}
      {groupId && !view?.summary.active && (
        <p class={removedAt ? "removed" : "muted"} data-testid="not-member">
          {removedAt ? `Removed from ${state.groupName(groupId)} at ${time(removedAt)}: its secrets are deleted.` : `Not a member of ${state.groupName(groupId)}.`}
        </p>
      )}
      {groupId && view?.summary.active && (
        <div class="group">
          <p>
            <EpochChip epoch={view.epoch} authenticator={view.authenticator} testid="epoch" />{" "}
            {view.summary.pendingCommit && <span class="badge">own commit pending</span>}
          </p>
          <ul class="members" aria-label={`${p.name}: members`} data-testid="members">
            {view.summary.members.map((m) => (
              <li key={m.leaf} data-testid="member">
                leaf {m.leaf}: {state.nameOf(m.pubkey)}
                {m.admin && <span class="badge">admin</span>}
                {m.own && <span class="badge own">you</span>}
              </li>
            ))}
          </ul>
          {view.error && (
            <p class="note note-error">
              <code class="code">{view.error.code}</code> {view.error.message}
            </p>
          )}
          <GroupActions state={state} p={p} groupId={groupId} />
          <Tree nodes={view.tree} nameOf={(k) => state.nameOf(k)} label={`${p.name}'s ratchet tree of ${state.groupName(groupId)}`} />
        </div>
      )}
      {groupId && <Chat state={state} p={p} groupId={groupId} active={!!view?.summary.active} />}
      <details class="outcomes">
        <summary>Outcomes ({p.outcomes.length})</summary>
        <ol>
          {p.outcomes.slice(-40).map((o) => (
            <li>
              <span class="muted">{time(o.at)}</span> <code>{o.outcome.type}</code> {describeOutcome(state, o.outcome)}
            </li>
          ))}
        </ol>
      </details>
    </section>
  );
}

export function describeOutcome(state: AppState, o: import("nipee-wasm").Outcome): string {
  switch (o.type) {
    case "message":
      return `from ${state.nameOf(o.event.pubkey)} (leaf ${o.senderLeaf}, epoch ${o.epoch}): kind ${o.event.kind} “${short(o.event.content, 40)}”`;
    case "proposal":
      return `${o.leaveRequest ? "leave request" : "proposal"} from ${state.nameOf(o.sender)}`;
    case "joined":
      return `joined ${state.groupName(o.groupId)} at epoch ${o.epoch}, invited by ${state.nameOf(o.inviter)}`;
    case "commit":
    case "ownCommitConfirmed": {
      const parts = [`epoch ${o.epoch}`, `by ${state.nameOf(o.committer)}`];
      if (o.added.length) parts.push(`added ${o.added.map((k) => state.nameOf(k)).join(", ")}`);
      if (o.removed.length) parts.push(`removed ${o.removed.map((k) => state.nameOf(k)).join(", ")}`);
      if (o.updated.length) parts.push(`updated ${o.updated.map((k) => state.nameOf(k)).join(", ")}`);
      if (o.groupDataChanged) parts.push("group data changed");
      if (o.rolledBackFrom !== null) parts.push(`rolled back from epoch ${o.rolledBackFrom}`);
      if (o.supersededOwn) parts.push("our own commit lost");
      return parts.join(", ");
    }
    case "ownCommitDiscarded":
      return `epoch ${o.epoch}: ${o.reason}`;
    case "removed":
      return `from ${state.groupName(o.groupId)} by ${state.nameOf(o.by)}`;
    case "published":
      return short(o.eventId, 16);
    case "ignored":
      return o.reason;
    default:
      // The package answers `{ type: "other" }` for outcomes newer than this page.
      return "";
  }
}
