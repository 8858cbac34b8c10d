// The user's key, kept in this browser tab only (sessionStorage: gone when the tab closes) and
// never sent anywhere: transactions and gateway tokens are signed here, by the CLI's own code
// compiled to WebAssembly, and only signatures leave the page.
import { account, params, status, submitTx, type Submitted } from "./api";
import { ok, stratusWasm, type Key } from "./wasm";

const STORE = "stratus.key";

export function currentKey(): Key | null {
  const text = sessionStorage.getItem(STORE);
  return text ? (JSON.parse(text) as Key) : null;
}

export function forgetKey(): void {
  sessionStorage.removeItem(STORE);
}

/** Imports a key as `stratus keys import` does: from its mnemonic (derived the CLI keyring's way)
 * or from a hex private key (what `stratus keys export` prints for an imported raw key). */
export async function importKey(text: string): Promise<Key> {
  const w = await stratusWasm();
  const trimmed = text.trim();
  const key = ok(/^[0-9a-fA-F]{64}$/.test(trimmed) ? w.keyFromSecret(trimmed.toLowerCase()) : w.keyFromMnemonic(trimmed));
  sessionStorage.setItem(STORE, JSON.stringify(key));
  return key;
}

/** A fresh 24-word mnemonic from the browser's cryptographic randomness. */
export async function newMnemonic(): Promise<string> {
  const entropy = crypto.getRandomValues(new Uint8Array(32));
  const hex = Array.from(entropy, (b) => b.toString(16).padStart(2, "0")).join("");
  return ok((await stratusWasm()).mnemonicNew(hex)).mnemonic;
}

function needKey(): Key {
  const key = currentKey();
  if (!key) throw new Error("no key in this tab: import one on the Key page first");
  return key;
}

/** Signs `msgs` with the tab's key (the chain's default fee, the account's next sequence),
 * submits them and waits for the block; a transaction that failed in its block throws the
 * ledger's sentence. */
export async function signAndSubmit(msgs: unknown[]): Promise<Submitted> {
  const key = needKey();
  const [s, a, p, w] = await Promise.all([status(), account(key.address), params(), stratusWasm()]);
  const signed = ok(
    w.txSign({ secret_key: key.secret_key, chain_id: s.chain_id, sequence: a.next_sequence, params: p, msgs }),
  );
  const result = await submitTx(signed.tx);
  if (result.error) throw new Error(`transaction ${result.hash} failed at height ${result.height}: ${result.error}`);
  return result;
}

const tokens = new Map<string, { token: string; until: number }>();
const LIFETIME_MS = 10 * 60 * 1000;

/** A gateway token for `provider` with `scope` on deployment `dseq`, reused while fresh. */
export async function gatewayToken(provider: string, scope: string, dseq: number): Promise<string> {
  const key = needKey();
  const id = `${key.address}/${provider}/${scope}/${dseq}`;
  const now = Date.now();
  const cached = tokens.get(id);
  if (cached && cached.until > now + 60_000) return cached.token;
  const w = await stratusWasm();
  const { token } = ok(
    w.tokenSign({ secret_key: key.secret_key, provider, scopes: [scope], dseq, now_ms: now, lifetime_ms: LIFETIME_MS }),
  );
  tokens.set(id, { token, until: now + LIFETIME_MS });
  return token;
}
