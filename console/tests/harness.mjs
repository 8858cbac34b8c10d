// What the browser tests share: Debian's Chromium launched as these machines need it
// (playwright-core), and how a check passes or fails.
import { mkdirSync } from "node:fs";
import { chromium } from "playwright-core";

/** The screenshot directory made, and a headless Chromium. */
export async function launch(shots) {
  mkdirSync(shots, { recursive: true });
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--disable-quic", "--no-first-run"],
  });
}

/** Prints `ok WHAT`, or throws (the script exits non-zero) naming what failed. */
export function check(ok, what) {
  if (!ok) throw new Error(`failed: ${what}`);
  console.log(`ok ${what}`);
}

/** Runs `f` and prints how long it took. */
export async function timed(what, f) {
  const t0 = Date.now();
  await f();
  const ms = Date.now() - t0;
  console.log(`${what} in ${ms} ms`);
  return ms;
}
