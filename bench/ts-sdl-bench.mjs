// Times the official TS SDK on SDL files: YAML load, validateSDL, generateManifest and
// generateManifestVersion, the same work `stratus bench sdl` times. Prints files_per_s=<n>.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { validateSDL, generateManifest, generateManifestVersion } from "@akashnetwork/chain-sdk";
const require = createRequire(import.meta.url);
const yaml = require("js-yaml");

const files = process.argv.slice(2).map((f) => readFileSync(f, "utf8"));
const minSeconds = Number(process.env.BENCH_SECONDS ?? "3");

async function once(text) {
  let input;
  try { input = yaml.load(text); } catch { return false; }
  if (validateSDL(input, "mainnet")) return false;
  const result = generateManifest(input, "mainnet");
  if (!result.ok) return false;
  await generateManifestVersion(result.value.groups);
  return true;
}

for (const f of files) await once(f); // warm up the JIT
let parsed = 0, valid = 0;
const start = process.hrtime.bigint();
let elapsed = 0;
while (elapsed < minSeconds) {
  for (const f of files) { valid += (await once(f)) ? 1 : 0; parsed++; }
  elapsed = Number(process.hrtime.bigint() - start) / 1e9;
}
console.log(`ts_files=${parsed} ts_valid=${valid} ts_seconds=${elapsed.toFixed(3)}`);
console.log(`files_per_s=${(parsed / elapsed).toFixed(1)}`);
