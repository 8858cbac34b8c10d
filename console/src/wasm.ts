// Stratus's own code compiled to WebAssembly (crates/wasm), loaded once: the SDL parser, and the
// wallet (keys from mnemonics, transactions and gateway tokens signed as the CLI signs them).
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
export interface Key {
  secret_key: string;
  public_key: string;
  address: string;
}
/** Every wallet call answers its result or `{error}`. */
export type Answer<T> = T & { error?: string };

export interface Stratus {
  check(text: string): Report;
  groups(text: string): unknown[] | null;
  keyFromMnemonic(mnemonic: string): Answer<Key>;
  keyFromSecret(secret: string): Answer<Key>;
  mnemonicNew(entropyHex: string): Answer<{ mnemonic: string }>;
  deploymentCreate(input: { sdl: string; dseq: number; deposit: string; gang?: boolean }): Answer<{
    msg: unknown;
    version: string;
    manifest: unknown;
  }>;
  txSign(input: {
    secret_key: string;
    chain_id: string;
    sequence: number;
    params?: unknown;
    memo?: string;
    msgs: unknown[];
  }): Answer<{ tx: string; hash: string }>;
  placementPreview(input: { sdl: string; providers: unknown[]; audits: unknown[]; aliases: unknown[] }): Answer<{
    groups: { group: string; fit: string[]; refused: { provider: string; reason: string }[] }[];
  }>;
  tokenSign(input: {
    secret_key: string;
    provider: string;
    scopes: string[];
    dseq?: number;
    now_ms: number;
    lifetime_ms: number;
  }): Answer<{ token: string }>;
}

let loaded: Promise<Stratus> | undefined;

export function stratusWasm(): Promise<Stratus> {
  loaded ??= fetch("sdl.wasm")
    .then((r) => r.arrayBuffer())
    .then((b) => loadStratusWasm(b) as Promise<Stratus>);
  return loaded;
}

/** The result, or an Error carrying the wallet's sentence. */
export function ok<T>(a: Answer<T>): T {
  if (a.error) throw new Error(a.error);
  return a;
}
