// A one-shot NIP-01 read: REQ a filter, collect until EOSE, close.
import type { NostrEvent } from "nipee-wasm";

function fail(message: string): Error {
  return Object.assign(new Error(`network: ${message}`), { code: "network" });
}

export function queryRelay(url: string, filter: Record<string, unknown>, timeoutMs = 5000): Promise<NostrEvent[]> {
  return new Promise((resolve, reject) => {
    const events: NostrEvent[] = [];
    let done = false;
    let ws: WebSocket;
    try {
      ws = new WebSocket(url);
    } catch (e) {
      reject(fail(`cannot connect to ${url}: ${String(e)}`));
      return;
    }
    const finish = (err?: Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      try {
        ws.close();
      } catch {
        // already closed
      }
      if (err) reject(err);
      else resolve(events);
    };
    const timer = setTimeout(() => finish(fail(`${url} did not answer within ${timeoutMs} ms`)), timeoutMs);
    const sub = `q-${Math.random().toString(36).slice(2, 10)}`;
    ws.onopen = () => ws.send(JSON.stringify(["REQ", sub, filter]));
    ws.onerror = () => finish(fail(`cannot reach ${url}`));
    ws.onclose = () => finish(fail(`${url} closed the connection`));
    ws.onmessage = (m) => {
      let msg: unknown;
      try {
        msg = JSON.parse(String(m.data));
      } catch {
        return;
      }
      if (!Array.isArray(msg) || msg[1] !== sub) return;
      if (msg[0] === "EVENT" && msg[2] && typeof msg[2] === "object") events.push(msg[2] as NostrEvent);
      else if (msg[0] === "EOSE") finish();
      else if (msg[0] === "CLOSED") finish(fail(`${url} refused the read: ${String(msg[2] ?? "")}`));
    };
  });
}
