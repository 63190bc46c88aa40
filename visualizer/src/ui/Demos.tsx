// One click per demonstration; what each step did is logged below the buttons.
import { useState } from "preact/hooks";
import { commitRace, forwardSecrecy, multiDevice, restart } from "../demos";
import { time, useAppState } from "./util";

export function Demos() {
  const state = useAppState();
  const [victim, setVictim] = useState("");
  const [device, setDevice] = useState("");
  const [who, setWho] = useState("");
  const busy = state.demoRunning !== null;
  const ps = state.participants;
  return (
    <div class="demos">
      <div class="demo">
        <button type="button" disabled={busy} onClick={() => void forwardSecrecy(state, victim)}>
          Forward secrecy
        </button>
        <label for="demo-victim">member to remove</label>
        <select id="demo-victim" value={victim} onChange={(e) => setVictim(e.currentTarget.value)}>
          <option value="">(automatic)</option>
          {ps.map((p) => (
            <option value={p.id}>{p.name}</option>
          ))}
        </select>
        <p class="muted">An admin removes a member, sends a message; the removed member's client is handed that event and cannot open it.</p>
      </div>
      <div class="demo">
        <button type="button" disabled={busy} onClick={() => void commitRace(state)}>
          Commit race
        </button>
        <p class="muted">Two admins commit in the same epoch before seeing each other's commit; every member converges on the same branch.</p>
      </div>
      <div class="demo">
        <button type="button" disabled={busy} onClick={() => void multiDevice(state, device)}>
          Multi-device
        </button>
        <label for="demo-device">identity</label>
        <select id="demo-device" value={device} onChange={(e) => setDevice(e.currentTarget.value)}>
          <option value="">(first participant)</option>
          {ps.filter((p) => !p.deviceOf).map((p) => (
            <option value={p.id}>{p.name}</option>
          ))}
        </select>
        <p class="muted">A second worker from the same identity secret joins as a second leaf of the same Nostr key.</p>
      </div>
      <div class="demo">
        <button type="button" disabled={busy} onClick={() => void restart(state, who)}>
          Restart
        </button>
        <label for="demo-restart">participant</label>
        <select id="demo-restart" value={who} onChange={(e) => setWho(e.currentTarget.value)}>
          <option value="">(last member)</option>
          {ps.map((p) => (
            <option value={p.id}>{p.name}</option>
          ))}
        </select>
        <p class="muted">The participant's worker is terminated and recreated from its IndexedDB rows; it is still in the conversation.</p>
      </div>
      {state.demoLog.length > 0 && <ol class="demo-log" aria-live="polite" aria-label="demonstration log" data-testid="demo-log">
        {state.demoLog.map((l) => (
          <li class={`demo-${l.kind}`}>
            <span class="muted">{time(l.at)}</span> {l.text}
          </li>
        ))}
      </ol>}
    </div>
  );
}
