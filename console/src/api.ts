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
  source: string;
  sdl: string;
}

export interface Coin {
  denom: string;
  amount: string;
}
export interface DecCoin {
  denom: string;
  amount: string;
}
export interface Page<T> {
  items: T[];
  next: string | null;
}
export interface Account {
  address: string;
  next_sequence: number;
  balances: Coin[];
}
export interface Attribute {
  key: string;
  value: string;
}
export interface Provider {
  owner: string;
  host_uri: string;
  attributes: Attribute[];
  info: { tls_sha256: string };
}
export interface BidId {
  owner: string;
  dseq: number;
  gseq: number;
  oseq: number;
  provider: string;
}
export type LeaseId = BidId;
export interface Bid {
  id: BidId;
  state: string;
  price: DecCoin;
  created_at: number;
  offer: { resource_id: number; count: number; attributes: Attribute[] }[];
  close_reason: string | null;
}
export interface Lease {
  id: LeaseId;
  state: string;
  price: DecCoin;
  created_at: number;
  paying_since: number | null;
  closed_at: number | null;
  close_reason: string | null;
  accrued: string;
  withdrawn: number;
}
export interface Escrow {
  denom: string;
  state: string;
  balance: string;
  settled_at: number;
  total_rate: string;
  total_deposited: number;
  total_transferred: string;
  total_returned: string;
}
export interface DeploymentInfo {
  deployment: { id: { owner: string; dseq: number }; state: string; denom: string; created_at: number };
  groups: { id: { gseq: number }; state: string; spec: { name: string } }[];
  orders: { id: { gseq: number; oseq: number }; state: string; bid_count: number }[];
  leases: Lease[];
  escrow: Escrow;
}
export interface Audit {
  provider: string;
  auditor: string;
  attributes: Attribute[];
}
export interface Benchmark {
  provider: string;
  height: number;
  figures: { gpu_model: string; gpus: number; tflops_bf16_milli: number; memory_gbs_milli: number; training_tokens_per_s: number };
}
export interface Event {
  kind: string;
  [field: string]: unknown;
}
export interface Submitted {
  hash: string;
  committed: boolean;
  height?: number;
  error?: string;
  events: Event[];
}
export interface Decision {
  order: { gseq: number; oseq: number };
  provider: string;
  height: number;
  bid: DecCoin | null;
  reason: string;
}
export interface GpuAvailability {
  model: string;
  ram_gi: number;
  interface: string;
  total: number;
  free: number;
  largest_replica: number;
}
export interface ProviderStatus {
  address: string;
  version: string;
  height: number;
  active_leases: number;
  open_bids: number;
  inventory: {
    nodes: number;
    cpu_millis_total: number;
    cpu_millis_free: number;
    memory_total: number;
    memory_free: number;
    gpus: GpuAvailability[];
    by_node?: {
      name: string;
      cpu_millis_total: number;
      cpu_millis_free: number;
      memory_total: number;
      memory_free: number;
      gpus: GpuAvailability[];
      withdrawn: number;
    }[];
  };
}
export interface ServiceStatus {
  name: string;
  available: number;
  total: number;
  uris: string[];
  image: string;
}
export interface LeaseGpu {
  service: string;
  replica: number;
  node: string;
  sample: { index: number; model: string; temperature_c: number; power_w: number; utilization_pct: number };
  problems: string[];
}
export interface LeaseStatus {
  state: string;
  message: string | null;
  services: ServiceStatus[];
  gpus?: LeaseGpu[];
}

async function answer<T>(path: string, r: Response): Promise<T> {
  const text = await r.text();
  let body: { error?: string } | undefined;
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error(`${path}: ${r.status} ${text.slice(0, 200)}`);
  }
  if (!r.ok) throw new Error(body?.error ?? `${path}: ${r.status}`);
  return body as T;
}

async function get<T>(path: string, init?: RequestInit): Promise<T> {
  return answer<T>(path, await fetch(path, init));
}

async function send<T>(method: string, path: string, body: unknown, headers: Record<string, string> = {}): Promise<T> {
  const r = await fetch(path, {
    method,
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
  return answer<T>(path, r);
}

export const status = () => get<Status>("api/status");
export const block = (h: number) => get<BlockInfo>(`api/blocks/${h}`);
export const validators = () => get<Validator[]>("api/validators");
export const templates = () => get<Template[]>("templates.json");
export const params = () => get<unknown>("api/params");
export const account = (address: string) => get<Account>(`api/accounts/${address}`);
export const deployment = (owner: string, dseq: number) => get<DeploymentInfo>(`api/deployments/${owner}/${dseq}`);
export const bids = (owner: string, dseq: number) => get<Page<Bid>>(`api/bids?owner=${owner}&dseq=${dseq}&limit=1000`);
export const leases = (query: string) => get<Page<Lease>>(`api/leases?${query}&limit=1000`);
export const providers = () => get<Page<Provider>>("api/providers?limit=1000");
export const provider = (address: string) => get<Provider>(`api/providers/${address}`);
export const audits = (address: string) => get<Page<Audit>>(`api/audits?provider=${address}`);
/** Every provider's audits, in one request (the node's largest page). */
export const allAudits = () => get<Page<Audit>>("api/audits?limit=1000");
export const benchmarks = () => get<Page<Benchmark>>("api/benchmarks?limit=1000");
export const faucet = (address: string) => send<Submitted>("POST", "api/faucet", { address });
/** Submits a signed transaction and waits until its block is committed. */
export const submitTx = (tx: string) => send<Submitted>("POST", "api/txs?wait=commit", { tx });

/** A provider's gateway, through the console server (which pins the provider's certificate). */
export const gatewayGet = <T>(provider: string, path: string, token?: string) =>
  get<T>(`gateway/${provider}/${path}`, token ? { headers: { authorization: `Bearer ${token}` } } : undefined);
export const gatewayPut = <T>(provider: string, path: string, token: string, body: unknown) =>
  send<T>("PUT", `gateway/${provider}/${path}`, body, { authorization: `Bearer ${token}` });

export interface JobMember {
  role: string;
  provider: string;
  lease: string;
  state: string;
}
export interface JobStatus {
  job: string;
  state: string;
  step: number;
  loss: number | null;
  members: JobMember[];
  replacements: number;
  paid: string;
  error?: string;
  dseq: number;
  checkpoint: string;
  seconds_to_first_step?: number;
  last_heal_s?: number;
  val_loss?: number;
}
export interface Round {
  step: number;
  loss: number;
  tokens_per_s: number;
  members: number;
  round_s: number;
}
export interface Job {
  status: JobStatus;
  rounds: Round[];
  events: { type: string; event?: string; name?: string; reason?: string; message?: string; round?: number; step?: number }[];
}
/** Training jobs this console's home runs (`stratus train up`). */
export const jobs = () => get<JobStatus[]>("jobs.json");
export const job = (name: string) => get<Job>(`jobs/${name}.json`);

export interface GpuSample {
  index: number;
  model: string;
  temperature_c: number;
  slowdown_temperature_c: number | null;
  power_w: number;
  power_limit_w: number | null;
  utilization_pct: number;
  memory_used_bytes: number;
  memory_total_bytes: number;
}
export interface ProviderTelemetry {
  time_ms: number;
  nodes: { node: string; gpus: GpuSample[]; problems: string[][] }[];
  note: string | null;
}
