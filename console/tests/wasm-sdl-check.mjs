// node tests/wasm-sdl-check.mjs WASM FILE... : one JSON line per file, as `stratus sdl check --json`
// prints it, computed by the WebAssembly build.
import { readFileSync } from "node:fs";
import { loadStratusWasm } from "../stratus-wasm.mjs";

const [wasm, ...files] = process.argv.slice(2);
const sdl = await loadStratusWasm(readFileSync(wasm));
for (const file of files) {
  const text = readFileSync(file, "utf8");
  console.log(JSON.stringify({ file, ...sdl.check(text) }));
}
