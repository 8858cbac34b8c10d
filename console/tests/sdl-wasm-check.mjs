// node tests/sdl-wasm-check.mjs WASM FILE... : one JSON line per file, as `stratus sdl check --json`
// prints it, computed by the WebAssembly build.
import { readFileSync } from "node:fs";
import { loadSdl } from "../sdl-wasm.mjs";

const [wasm, ...files] = process.argv.slice(2);
const sdl = await loadSdl(readFileSync(wasm));
for (const file of files) {
  const text = readFileSync(file, "utf8");
  console.log(JSON.stringify({ file, ...sdl.check(text) }));
}
