// Every NIP-EE event on the relay, in order, each opened layer by layer as far as the chosen
// participant can: the outer event anyone can read; what its client made of it (a Welcome
// for a group, an MLS commit or application message and its inner event) only if it could.
import { useState } from "preact/hooks";
import type { AppState, LoggedEvent, Participant } from "../state";
import { describeOutcome } from "./ParticipantPanel";
import { KIND_NAMES, fp, short, time, useAppState } from "./util";

function tag(ev: LoggedEvent["event"], name: string): string | undefined {
  return ev.tags.find((t) => t[0] === name)?.[1];
}

function Layers({ state, l, viewer }: { state: AppState; l: LoggedEvent; viewer: Participant | null }) {
  const ev = l.event;
  const layers = [];
  if (ev.kind === 443) {
    layers.push(<p>Public: the KeyPackage of {state.nameOf(ev.pubkey)} (MLS KeyPackage, {ev.content.length} characters of content), usable by anyone to invite them.</p>);
  } else if (ev.kind === 10051) {
    const relays = ev.tags.filter((t) => t[0] === "relay").map((t) => t[1]);
    layers.push(<p>Public: {state.nameOf(ev.pubkey)} publishes KeyPackages on {relays.join(", ") || "no relay"}.</p>);
  } else if (ev.kind === 5) {
    layers.push(<p>Public: {state.nameOf(ev.pubkey)} deletes {ev.tags.filter((t) => t[0] === "e").map((t) => short(t[1] ?? "", 10)).join(", ")} (a used KeyPackage).</p>);
  } else if (ev.kind === 1059) {
    const to = tag(ev, "p");
    layers.push(
      <p>
        Gift wrap (NIP-59) from a one-time key to {state.nameOf(to)}: only that key's owner can unwrap it.
      </p>,
    );
  } else if (ev.kind === 445) {
    const h = tag(ev, "h") ?? "";
    const g = state.groupByNostrId(h);
    layers.push(
      <p>
        Group event for {g ? g.name : `group ${short(h, 10)}`} (h tag), signed by a one-time key; content NIP-44-encrypted under the
        group's exporter secret: only members of the epoch can open it.
      </p>,
    );
  }
  if (!viewer) return <>{layers}</>;
  const seen = viewer.seen.get(ev.id);
  const me = viewer.snapshot?.publicKey;
  const name = viewer.name;
  if (ev.kind === 1059) {
    if (seen?.direction === "out" && seen.purpose?.type === "welcome") {
      layers.push(
        <p class="layer">
          {name} sent it: a Welcome for {state.nameOf(seen.purpose.invitee)} to {state.groupName(seen.purpose.groupId)}.
        </p>,
      );
    } else if (tag(ev, "p") !== me) {
      layers.push(<p class="layer closed">{name} cannot open it: it is addressed to someone else.</p>);
    }
  }
  if (seen) {
    if (seen.direction === "out" && seen.purpose) {
      const pu = seen.purpose;
      const what =
        pu.type === "commit"
          ? `an MLS commit creating epoch ${pu.epoch} of ${state.groupName(pu.groupId)}`
          : pu.type === "groupMessage"
            ? `an MLS application message in ${state.groupName(pu.groupId)}`
            : pu.type === "welcome"
              ? `a Welcome for ${state.nameOf(pu.invitee)}`
              : pu.type === "keyPackage"
                ? "its KeyPackage"
                : pu.type === "relayList"
                  ? "its KeyPackage relay list"
                  : "the deletion of a used KeyPackage";
      if (pu.type !== "welcome") layers.push(<p class="layer">{name} published it: {what}.</p>);
    }
    for (const o of seen.outcomes) {
      if (o.type === "ignored" && o.reason === "duplicate") {
        // Our own event coming back, or one delivered again after a reconnect or restart.
        if (seen.direction === "in" && seen.outcomes.length === 1) {
          layers.push(<p class="layer muted">{name} received it again: already handled (duplicate).</p>);
        }
        continue;
      }
      let text: string;
      if (o.type === "joined") text = `a Welcome: ${name} joined ${state.groupName(o.groupId)} at epoch ${o.epoch}`;
      else if (o.type === "message") text = `MLS application message, epoch ${o.epoch}, sender leaf ${o.senderLeaf}`;
      else if (o.type === "commit" || o.type === "ownCommitConfirmed") text = `MLS commit: ${describeOutcome(state, o)}`;
      else if (o.type === "proposal") text = `MLS proposal: ${describeOutcome(state, o)}`;
      else if (o.type === "ignored") text = `not applied: ${o.reason}`;
      else text = `${o.type}: ${describeOutcome(state, o)}`;
      layers.push(
        <p class={`layer${o.type === "ignored" ? " closed" : ""}`}>
          {name} opened it → {text}
        </p>,
      );
    }
    if (seen.error) {
      layers.push(
        <p class="layer closed">
          {name} failed: <code class="code">{seen.error.code}</code> {seen.error.message}
        </p>,
      );
    }
    if (seen.inner) {
      layers.push(
        <div class="layer">
          <p>Inner event (unsigned, as {name} sees it):</p>
          <pre>{JSON.stringify(seen.inner, null, 2)}</pre>
        </div>,
      );
    }
  } else if (ev.kind === 445 || (ev.kind === 1059 && tag(ev, "p") === me)) {
    layers.push(<p class="layer closed">{name}'s client has not handled this event (not subscribed to it, or not a member when it was sent).</p>);
  }
  return <>{layers}</>;
}

/** In a word, what `viewer` made of the event (for the log's one-line summary). */
function verdict(state: AppState, l: LoggedEvent, viewer: Participant | null): { text: string; ok: boolean } | null {
  if (!viewer) return null;
  const seen = viewer.seen.get(l.event.id);
  if (!seen) {
    if (l.event.kind === 445 || l.event.kind === 1059) return { text: `${viewer.name}: cannot open`, ok: false };
    return null;
  }
  if (seen.error) return { text: `${viewer.name}: ${seen.error.code}`, ok: false };
  const o = seen.outcomes.find((x) => !(x.type === "ignored" && x.reason === "duplicate") && x.type !== "published");
  if (o?.type === "joined") return { text: `${viewer.name}: Welcome to ${state.groupName(o.groupId)}`, ok: true };
  if (o?.type === "message") return { text: `${viewer.name}: message, epoch ${o.epoch}`, ok: true };
  if (o?.type === "commit" || o?.type === "ownCommitConfirmed") return { text: `${viewer.name}: commit → epoch ${o.epoch}`, ok: true };
  if (o?.type === "proposal") return { text: `${viewer.name}: proposal`, ok: true };
  if (o?.type === "removed") return { text: `${viewer.name}: removed`, ok: true };
  if (o?.type === "ignored") return { text: `${viewer.name}: ignored (${o.reason})`, ok: false };
  if (seen.direction === "out" && seen.purpose) {
    const p = seen.purpose;
    const what = p.type === "commit" ? `own commit → epoch ${p.epoch}` : p.type === "groupMessage" ? "own message" : p.type === "welcome" ? `Welcome for ${state.nameOf(p.invitee)}` : p.type;
    return { text: `${viewer.name}: ${what}`, ok: true };
  }
  return null;
}

export function RelayLog() {
  const state = useAppState();
  const [viewerId, setViewerId] = useState("");
  const [kinds, setKinds] = useState("all");
  const viewer = state.byId(viewerId) ?? null;
  const shown = state.log.filter((l) => kinds === "all" || String(l.event.kind) === kinds);
  return (
    <div class="relay-log">
      <div class="row">
        <label for="log-viewer">Open as</label>
        <select id="log-viewer" value={viewerId} onChange={(e) => setViewerId(e.currentTarget.value)}>
          <option value="">nobody (outer layer only)</option>
          {state.participants.map((p) => (
            <option value={p.id}>{p.name}</option>
          ))}
        </select>
        <label for="log-kinds">Kinds</label>
        <select id="log-kinds" value={kinds} onChange={(e) => setKinds(e.currentTarget.value)}>
          <option value="all">all</option>
          {[443, 10051, 1059, 445, 5].map((k) => (
            <option value={String(k)}>
              {k} {KIND_NAMES[k]}
            </option>
          ))}
        </select>
        <span class="muted" data-testid="log-count">
          {state.log.length} events · page subscription: {state.watchStatus}
        </span>
      </div>
      <ol class="log" aria-label="events on the relay">
        {shown.map((l) => {
          const pub = l.publisher ? state.byId(l.publisher.id) : null;
          const v = verdict(state, l, viewer);
          return (
            <li key={l.event.id} data-kind={l.event.kind} data-testid="log-entry">
              <details>
                <summary>
                  <span class="order">#{l.order}</span> <span class={`kind k${l.event.kind}`}>{l.event.kind}</span>{" "}
                  {KIND_NAMES[l.event.kind] ?? "event"} <code>{fp(l.event.id)}</code>{" "}
                  <span class="muted">
                    {time(l.receivedAt)}
                    {pub ? ` · published by ${pub.name}${l.publisher?.purpose ? ` (${l.publisher.purpose.type})` : ""}` : ""}
                  </span>{" "}
                  {v && <span class={`verdict ${v.ok ? "open" : "closed"}`}>{v.text}</span>}
                </summary>
                <div class="layers">
                  <Layers state={state} l={l} viewer={viewer} />
                  <details>
                    <summary>Outer event JSON</summary>
                    <pre>{JSON.stringify(l.event, null, 2)}</pre>
                  </details>
                </div>
              </details>
            </li>
          );
        })}
      </ol>
    </div>
  );
}
