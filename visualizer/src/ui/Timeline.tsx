// The epoch timeline of the selected group: per participant, every epoch it reached with the
// epoch authenticator's fingerprint; equal authenticators draw equal colours, so agreement
// (and a branch a commit race abandoned) is visible at a glance.
import type { AppState, HistoryEntry } from "../state";
import { colourOf, fp, time, useAppState } from "./util";

function causeText(state: AppState, h: HistoryEntry): string {
  const parts: string[] = [];
  for (const o of h.cause) {
    if (o.type === "joined") parts.push(`joined, invited by ${state.nameOf(o.inviter)}`);
    else if (o.type === "commit" || o.type === "ownCommitConfirmed") {
      const who = o.type === "ownCommitConfirmed" ? "own commit" : `commit by ${state.nameOf(o.committer)}`;
      const what = [
        o.added.length ? `+${o.added.map((k) => state.nameOf(k)).join(",")}` : "",
        o.removed.length ? `−${o.removed.map((k) => state.nameOf(k)).join(",")}` : "",
        o.updated.length && !o.added.length && !o.removed.length ? "update" : "",
        o.groupDataChanged ? "group data" : "",
      ]
        .filter(Boolean)
        .join(" ");
      parts.push(`${who}${what ? ` (${what})` : ""}${o.rolledBackFrom !== null ? `, rolled back from epoch ${o.rolledBackFrom}` : ""}`);
    }
  }
  return parts.join("; ");
}

/** Whether every active member on the page shows the same epoch and authenticator. */
export function agreement(state: AppState, groupId: string) {
  const views = state.members(groupId).map((p) => state.view(p, groupId)!);
  const keys = new Set(views.map((v) => `${v.epoch}/${v.authenticator}`));
  const first = views[0];
  return { count: views.length, agree: views.length > 0 && keys.size === 1, epoch: first?.epoch ?? null, authenticator: first?.authenticator ?? null };
}

export function Timeline() {
  const state = useAppState();
  const groupId = state.selectedGroup;
  if (!groupId) return <p class="muted">No group yet: create one from a participant's panel.</p>;
  const rows = state.participants.filter((p) => (p.history.get(groupId)?.length ?? 0) > 0 || p.markers.has(groupId));
  const a = agreement(state, groupId);
  return (
    <div class="timeline" data-testid="timeline">
      <p data-testid="agreement" data-agree={a.agree ? "yes" : "no"}>
        {a.count === 0
          ? "No active member on this page."
          : a.agree
            ? `All ${a.count} members on this page agree: epoch ${a.epoch}, authenticator ${fp(a.authenticator)}.`
            : `Members disagree for now (${a.count} members): they converge as commits arrive.`}
      </p>
      <table>
        <caption class="sr-only">Epochs per participant of {state.groupName(groupId)}</caption>
        <tbody>
          {rows.map((p) => {
            const entries = p.history.get(groupId) ?? [];
            const markers = p.markers.get(groupId) ?? [];
            const items = [
              ...entries.map((h) => ({ at: h.at, h, m: null as null | { text: string } })),
              ...markers.map((m) => ({ at: m.at, h: null as HistoryEntry | null, m })),
            ].sort((x, y) => x.at - y.at);
            return (
              <tr key={p.id} data-testid={`timeline-${p.name}`}>
                <th scope="row">{p.name}</th>
                <td>
                  <ol class="epochs">
                    {items.map((it) =>
                      it.h ? (
                        <li
                          class={`epoch-chip${it.h.abandoned ? " abandoned" : ""}`}
                          style={{ background: colourOf(it.h.authenticator) }}
                          title={`${time(it.h.at)} · authenticator ${it.h.authenticator}${causeText(state, it.h) ? ` · ${causeText(state, it.h)}` : ""}`}
                          data-testid={it.h.abandoned ? "abandoned-epoch" : "epoch-entry"}
                        >
                          e{it.h.epoch} <code>{fp(it.h.authenticator)}</code>
                          {it.h.abandoned && <span class="lost"> lost race, rolled back</span>}
                          <span class="cause">{causeText(state, it.h)}</span>
                        </li>
                      ) : (
                        <li class="marker" data-testid="timeline-marker">
                          {it.m!.text}
                        </li>
                      ),
                    )}
                  </ol>
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
