import { render } from "preact";
import { AppState } from "./state";
import { App } from "./ui/App";
import { StateContext } from "./ui/util";
import "./style.css";

/** The relay: `?relay=` first, then the `/config.json` the server wrote, else nothing. */
async function relayUrl(): Promise<{ relay: string; problem: string | null }> {
  const q = new URLSearchParams(location.search).get("relay");
  if (q) return { relay: q, problem: null };
  try {
    const r = await fetch(`${import.meta.env.BASE_URL}config.json`, { cache: "no-store" });
    if (r.ok) {
      const c = (await r.json()) as { relay?: string };
      if (c.relay) return { relay: c.relay, problem: null };
    }
  } catch {
    // no config: the field stays empty
  }
  return { relay: "", problem: "No relay configured: enter a relay URL above (or start with `cargo xtask visualizer`)." };
}

async function packageProblem(): Promise<string | null> {
  try {
    const r = await fetch(`${import.meta.env.BASE_URL}pkg/nipee_wasm.js`, { method: "HEAD" });
    // A server that answers every path with the app's page (a dev fallback) is not serving it.
    if (r.ok && (r.headers.get("content-type") ?? "").includes("javascript")) return null;
  } catch {
    // reported below
  }
  return "The nipee-wasm package is not served under /pkg/: build it with `cargo xtask wasm` and rebuild the app.";
}

async function main() {
  const { relay, problem } = await relayUrl();
  const state = new AppState(relay);
  const pkg = await packageProblem();
  if (relay) state.startWatch();
  if (!pkg) state.restoreSaved();
  const root = document.getElementById("app")!;
  render(
    <StateContext.Provider value={state}>
      <App problem={pkg ?? problem} />
    </StateContext.Provider>,
    root,
  );
  (window as unknown as { nipeeVisualizer: AppState }).nipeeVisualizer = state;
}

void main();
