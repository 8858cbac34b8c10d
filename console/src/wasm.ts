// The real SDL parser (crates/wasm), loaded once.
// @ts-ignore: a plain ES module shared with the Node tests
import { loadStratusWasm } from "../stratus-wasm.mjs";

export interface Diagnostic {
  line: number;
  column: number;
  message: string;
}
export interface Report {
  valid: boolean;
  errors: Diagnostic[];
  warnings: Diagnostic[];
}
export interface Parser {
  check(text: string): Report;
  groups(text: string): unknown[] | null;
}

let parser: Promise<Parser> | undefined;

export function sdlParser(): Promise<Parser> {
  parser ??= fetch("sdl.wasm")
    .then((r) => r.arrayBuffer())
    .then((b) => loadStratusWasm(b) as Promise<Parser>);
  return parser;
}
