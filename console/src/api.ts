// The node API, through the console server's /api/ proxy (same origin: no CORS needed).

export interface ConsensusStatus {
  engine: string;
  validator?: string;
  peers: string[];
  height: number;
  round: number;
  catching_up: boolean;
}

export interface Status {
  chain_id: string;
  height: number;
  app_hash: string;
  block_time_ms: number;
  latest_block_time_ms: number;
  mempool_txs: number;
  faucet: boolean;
  consensus: ConsensusStatus;
}

export interface BlockInfo {
  height: number;
  time_ms: number;
  app_hash: string;
  tx_hashes: string[];
  certificate?: { engine: string; round: number; signers: string[] };
}

export interface Validator {
  name: string;
  address: string;
  power: number;
}

export interface Template {
  name: string;
  title: string;
  description: string;
  services: string[];
  gpus: string[];
  price: string;
  sdl: string;
}

async function get<T>(path: string): Promise<T> {
  const r = await fetch(path);
  const body = await r.json();
  if (!r.ok) throw new Error(body.error ?? `${path}: ${r.status}`);
  return body as T;
}

export const status = () => get<Status>("api/status");
export const block = (h: number) => get<BlockInfo>(`api/blocks/${h}`);
export const validators = () => get<Validator[]>("api/validators");
export const templates = () => get<Template[]>("templates.json");
