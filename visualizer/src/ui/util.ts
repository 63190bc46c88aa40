// Small helpers for the views.
import { useEffect, useState } from "preact/hooks";
import { createContext } from "preact";
import { useContext } from "preact/hooks";
import type { AppState } from "../state";

export const StateContext = createContext<AppState | null>(null);

/** The app state, re-rendering the caller (at most once a frame) when it changes. */
export function useAppState(): AppState {
  const state = useContext(StateContext);
  if (!state) throw new Error("no app state");
  const [, setVersion] = useState(0);
  const rendered = state.version;
  useEffect(() => {
    let frame = 0;
    // A change between this render and the subscription below must not be lost.
    if (state.version !== rendered) setVersion(state.version);
    const off = state.subscribe(() => {
      if (frame) return;
      frame = requestAnimationFrame(() => {
        frame = 0;
        setVersion(state.version);
      });
    });
    return () => {
      off();
      if (frame) cancelAnimationFrame(frame);
    };
  }, [state]);
  return state;
}

/** The first 8 hex characters: how fingerprints are shown everywhere. */
export function fp(hex: string | null | undefined): string {
  return hex ? hex.slice(0, 8) : "—";
}

/** A colour derived from a hex string: equal values, equal colours. */
export function colourOf(hex: string | null | undefined, light = 82): string {
  if (!hex) return "transparent";
  const n = parseInt(hex.slice(0, 6), 16);
  const hue = n % 360;
  const sat = 55 + ((n >> 9) % 30);
  return `hsl(${hue} ${sat}% ${light}%)`;
}

export function short(s: string, n = 10): string {
  return s.length > n + 1 ? `${s.slice(0, n)}…` : s;
}

export function time(ms: number): string {
  const d = new Date(ms);
  return d.toLocaleTimeString(undefined, { hour12: false });
}

export const KIND_NAMES: Record<number, string> = {
  443: "KeyPackage",
  10051: "KeyPackage relays",
  1059: "gift wrap",
  445: "group event",
  5: "deletion",
  9: "chat message",
  7: "reaction",
};
