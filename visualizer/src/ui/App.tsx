import { useState } from "preact/hooks";
import { Demos } from "./Demos";
import { ParticipantPanel } from "./ParticipantPanel";
import { RelayLog } from "./RelayLog";
import { Timeline } from "./Timeline";
import { TreeLegend } from "./Tree";
import { useAppState } from "./util";

function RelayBar() {
  const state = useAppState();
  const [url, setUrl] = useState(state.relay);
  return (
    <form
      class="row relay-bar"
      onSubmit={(e) => {
        e.preventDefault();
        state.setRelay(String(new FormData(e.currentTarget).get("relay") ?? url).trim());
      }}
    >
      <label for="relay-url">Relay</label>
      <input id="relay-url" name="relay" class="grow" value={url} onInput={(e) => setUrl(e.currentTarget.value)} placeholder="ws://127.0.0.1:7777" />
      <button type="submit">Use relay</button>
      <span class={`status ${state.watchStatus === "connected" ? "status-ready" : "status-starting"}`} data-testid="relay-status">
        {state.watchStatus}
      </span>
      <span class="muted">New participants use this relay; existing ones keep theirs.</span>
    </form>
  );
}

function AddParticipant() {
  const state = useAppState();
  const [name, setName] = useState("");
  const [error, setError] = useState<string | null>(null);
  return (
    <form
      class="row"
      aria-label="add a participant"
      onSubmit={async (e) => {
        e.preventDefault();
        setError(null);
        // The field's value now, not the last rendered one (a fast typist or a test).
        const typed = String(new FormData(e.currentTarget).get("name") ?? name);
        try {
          await state.addParticipant(typed);
          // Clear the field only if nobody typed something else meanwhile.
          setName((now) => (now === typed ? "" : now));
        } catch (err) {
          setError((err as Error).message);
        }
      }}
    >
      <label for="new-name">Name</label>
      <input id="new-name" name="name" value={name} onInput={(e) => setName(e.currentTarget.value)} placeholder="e.g. Alice" />
      <button type="submit">Add participant</button>
      <button
        type="button"
        class="danger"
        onClick={() => {
          if (confirm("Stop every participant and delete their databases?")) void state.resetAll();
        }}
      >
        Reset everything
      </button>
      {error && (
        <p class="note note-error" role="alert">
          {error}
        </p>
      )}
    </form>
  );
}

function GroupPicker() {
  const state = useAppState();
  const groups = state.groups();
  if (groups.length === 0) return null;
  return (
    <div class="row">
      <label for="group-pick">Group shown</label>
      <select
        id="group-pick"
        value={state.selectedGroup ?? ""}
        onChange={(e) => {
          state.selectedGroup = e.currentTarget.value || null;
          state.changed();
        }}
      >
        {groups.map((g) => (
          <option value={g.groupId}>
            {g.name} ({g.groupId.slice(0, 8)})
          </option>
        ))}
      </select>
    </div>
  );
}

export function App({ problem }: { problem: string | null }) {
  const state = useAppState();
  return (
    <>
      <header class="top">
        <h1>nipee visualizer</h1>
        <p class="muted">
          Real NIP-EE: each participant is the nipee client compiled to WebAssembly in its own Web Worker, with its own IndexedDB
          database, talking to a real relay. Nothing here is simulated.
        </p>
        <RelayBar />
        {problem && (
          <p class="note note-error" role="alert">
            {problem}
          </p>
        )}
      </header>
      <main>
        <section aria-labelledby="h-participants">
          <h2 id="h-participants">Participants</h2>
          <AddParticipant />
          <GroupPicker />
          <TreeLegend />
          <div class="panels">
            {state.participants.map((p) => (
              <ParticipantPanel key={p.id} p={p} />
            ))}
          </div>
        </section>
        <section aria-labelledby="h-timeline">
          <h2 id="h-timeline">Epoch timeline</h2>
          <Timeline />
        </section>
        <section aria-labelledby="h-demos">
          <h2 id="h-demos">Demonstrations</h2>
          <Demos />
        </section>
        <section aria-labelledby="h-log">
          <h2 id="h-log">Relay log</h2>
          <RelayLog />
        </section>
      </main>
    </>
  );
}
