// The page's own read-only subscription: every NIP-EE event on the relay, in the order the
// relay delivers them, independent of any participant.
import type { NostrEvent } from "nipee-wasm";

export const LOGGED_KINDS = [443, 10051, 1059, 445, 5];

export class RelayWatch {
  private ws: WebSocket | null = null;
  private closed = false;
  private newest = 0;
  private attempt = 0;

  constructor(
    private readonly url: string,
    private readonly on: { onEvent: (e: NostrEvent) => void; onStatus: (s: string) => void },
  ) {
    this.connect();
  }

  private connect() {
    if (this.closed) return;
    let ws: WebSocket;
    try {
      ws = new WebSocket(this.url);
    } catch (e) {
      this.on.onStatus(`invalid relay URL: ${String(e)}`);
      return;
    }
    this.ws = ws;
    this.on.onStatus("connecting");
    ws.onopen = () => {
      this.attempt = 0;
      this.on.onStatus("connected");
      const filter: Record<string, unknown> = { kinds: LOGGED_KINDS, limit: 1000 };
      // After a reconnect, ask again from a little before the newest event seen (gift wraps
      // are backdated, so stored ones arrive out of order either way).
      if (this.newest) filter.since = this.newest - 60;
      ws.send(JSON.stringify(["REQ", "visualizer-log", filter]));
    };
    const stored: NostrEvent[] = [];
    let live = false;
    ws.onmessage = (m) => {
      let msg: unknown;
      try {
        msg = JSON.parse(String(m.data));
      } catch {
        return;
      }
      if (!Array.isArray(msg)) return;
      if (msg[0] === "EVENT" && msg[2] && typeof msg[2] === "object") {
        const ev = msg[2] as NostrEvent;
        this.newest = Math.max(this.newest, Math.min(ev.created_at, Math.floor(Date.now() / 1000)));
        if (live) this.on.onEvent(ev);
        else stored.push(ev);
      } else if (msg[0] === "EOSE") {
        // Stored events come newest first; list them oldest first, then live ones as they come.
        stored.sort((a, b) => a.created_at - b.created_at);
        for (const ev of stored.splice(0)) this.on.onEvent(ev);
        live = true;
      } else if (msg[0] === "CLOSED" || msg[0] === "NOTICE") {
        this.on.onStatus(`relay says: ${String(msg[msg.length - 1])}`);
      }
    };
    ws.onerror = () => {};
    ws.onclose = () => {
      if (this.closed) return;
      this.on.onStatus("disconnected, retrying");
      const delay = Math.min(10000, 500 * 2 ** this.attempt++);
      setTimeout(() => this.connect(), delay);
    };
  }

  close() {
    this.closed = true;
    this.ws?.close();
  }
}
