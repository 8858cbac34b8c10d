// Follows a gateway stream (newline-delimited JSON frames: logs, events, heartbeats) through
// the console server. A stream silent for STALL_MS (the provider sends a heartbeat every 5 s)
// or cut is reopened, as `stratus lease logs --follow` does, and the page is told so.
import { splitFrames } from "./logic";

export const STALL_MS = 20_000;

export interface Frame {
  type: "log" | "event" | "heartbeat";
  [field: string]: unknown;
}

export type StreamState = "connecting" | "live" | "stalled";

/** Runs until `signal` aborts. `url(first)` gives the URL to (re)open; `first` is false on
 * reconnects, so a caller can skip the backlog it already shows. */
export async function follow(
  url: (first: boolean) => Promise<{ url: string; headers: Record<string, string> }>,
  onFrame: (f: Frame) => void,
  onState: (s: StreamState, why?: string) => void,
  signal: AbortSignal,
): Promise<void> {
  let first = true;
  while (!signal.aborted) {
    onState("connecting");
    const attempt = new AbortController();
    const stop = () => attempt.abort();
    signal.addEventListener("abort", stop, { once: true });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => attempt.abort(), STALL_MS);
    };
    let why = "the stream ended";
    try {
      const target = await url(first);
      arm();
      const r = await fetch(target.url, { headers: target.headers, signal: attempt.signal });
      if (!r.ok || !r.body) {
        const body = await r.text();
        throw new Error(body.includes("error") ? JSON.parse(body).error : `${r.status}`);
      }
      first = false;
      onState("live");
      const reader = r.body.getReader();
      const decoder = new TextDecoder();
      let rest = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        arm();
        const split = splitFrames(rest + decoder.decode(value, { stream: true }));
        rest = split.rest;
        for (const f of split.frames) onFrame(f as Frame);
      }
    } catch (e) {
      why = attemptWhy(e, signal);
    } finally {
      clearTimeout(timer);
      // One listener per attempt, not one more for every reconnect.
      signal.removeEventListener("abort", stop);
    }
    if (signal.aborted) return;
    onState("stalled", why);
    await new Promise((done) => setTimeout(done, 2000));
  }
}

function attemptWhy(e: unknown, signal: AbortSignal): string {
  if (signal.aborted) return "closed";
  if (e instanceof DOMException && e.name === "AbortError") return `no data and no heartbeat for ${STALL_MS / 1000} s`;
  return String(e instanceof Error ? e.message : e);
}
