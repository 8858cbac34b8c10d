// Plain functions behind the pages (unit-tested with Vitest).

export interface GroupRow {
  group: string;
  count: number;
  cpu: string;
  memory: string;
  gpu: string;
  price: string;
}

interface Resource {
  cpu?: { units?: { val?: string } };
  memory?: { size?: { val?: string } };
  gpu?: { units?: { val?: string }; attributes?: { key: string }[] | null };
}
interface Group {
  name: string;
  resources: { resource: Resource; count: number; price: { denom: string; amount: string } }[];
}

/** Bytes as Akash writes them (Mi/Gi), for the preview. */
export function bytes(n: number): string {
  const units = ["", "Ki", "Mi", "Gi", "Ti"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1 && n % 1024 === 0) {
    n /= 1024;
    i++;
  }
  return `${n}${units[i]}`;
}

/** GPU models asked for: `vendor/nvidia/model/h100/...` → `nvidia h100`. */
export function gpuModels(attrs: { key: string }[] | null | undefined): string[] {
  return (attrs ?? []).map((a) => {
    const parts = a.key.split("/");
    const vendor = parts[1] ?? "";
    const model = parts[3] ?? "*";
    return `${vendor} ${model}`.trim();
  });
}

/** One row per resource unit of each group: what the ledger will auction. */
export function groupRows(groups: unknown[] | null): GroupRow[] {
  if (!groups) return [];
  return (groups as Group[]).flatMap((g) =>
    g.resources.map((r) => {
      const gpus = Number(r.resource.gpu?.units?.val ?? "0");
      const models = gpuModels(r.resource.gpu?.attributes);
      const price = Number(r.price.amount);
      return {
        group: g.name,
        count: r.count,
        cpu: `${Number(r.resource.cpu?.units?.val ?? "0") / 1000}`,
        memory: bytes(Number(r.resource.memory?.size?.val ?? "0")),
        gpu: gpus === 0 ? "none" : `${gpus} × ${models.length ? models.join(" or ") : "any"}`,
        price: `${Number.isInteger(price) ? price : price.toFixed(4)} ${r.price.denom}/block`,
      };
    }),
  );
}

/** Templates whose name, title, services or GPUs contain every word of the query. */
export function filterTemplates<T extends { name: string; title: string; services: string[]; gpus: string[] }>(
  list: T[],
  query: string,
): T[] {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  return list.filter((t) => {
    const hay = [t.name, t.title, ...t.services, ...t.gpus].join(" ").toLowerCase();
    return words.every((w) => hay.includes(w));
  });
}

/** Seconds between consecutive blocks, oldest first. */
export function blockIntervals(blocks: { height: number; time_ms: number }[]): { height: number; seconds: number }[] {
  const sorted = [...blocks].sort((a, b) => a.height - b.height);
  return sorted.slice(1).map((b, i) => ({ height: b.height, seconds: (b.time_ms - sorted[i].time_ms) / 1000 }));
}

/** Newline-delimited JSON: the complete frames in `text`, and the unfinished rest. Blank lines
 * are skipped; a line that is not JSON becomes `{type: "garbled", line}` rather than an error. */
export function splitFrames(text: string): { frames: Record<string, unknown>[]; rest: string } {
  const lines = text.split("\n");
  const rest = lines.pop() ?? "";
  const frames = lines
    .filter((l) => l.trim() !== "")
    .map((l) => {
      try {
        return JSON.parse(l) as Record<string, unknown>;
      } catch {
        return { type: "garbled", line: l };
      }
    });
  return { frames, rest };
}

const SCALE = 10n ** 18n;

/** The ledger's 18-decimal fixed point (`"5.000000000000000000"`) as an exact integer of 1e-18. */
export function parseDec(text: string): bigint {
  const [whole, frac = ""] = text.trim().split(".");
  const negative = whole.startsWith("-");
  const units = BigInt(whole.replace("-", "") || "0") * SCALE + BigInt((frac + "0".repeat(18)).slice(0, 18));
  return negative ? -units : units;
}

/** An exact 1e-18 amount with `places` decimals, rounded down (what has surely been paid). */
export function formatDec(units: bigint, places = 2): string {
  const whole = units / SCALE;
  if (places === 0) return whole.toString();
  const frac = ((units % SCALE) * 10n ** BigInt(places)) / SCALE;
  return `${whole}.${frac.toString().padStart(places, "0")}`;
}

/** What a lease has cost so far: accrued at the escrow's last settlement plus its price for
 * every block since (the ledger settles lazily), exact. A closed lease cost what it accrued. */
export function costSoFar(
  lease: { state: string; price: { amount: string }; accrued: string; paying_since: number | null },
  escrow: { settled_at: number },
  height: number,
): bigint {
  const accrued = parseDec(lease.accrued);
  if (lease.state !== "active" || lease.paying_since === null) return accrued;
  const since = Math.max(escrow.settled_at, lease.paying_since);
  return accrued + parseDec(lease.price.amount) * BigInt(Math.max(0, height - since));
}

export interface SettlementRow {
  what: string;
  amount: string;
}

/** The settlement a close produced, from its transaction's events, in the order they happened. */
export function settlement(events: { kind: string; [k: string]: unknown }[]): SettlementRow[] {
  const coin = (c: unknown) => {
    const x = c as { amount: string; denom: string };
    return `${x.amount} ${x.denom}`;
  };
  return events.flatMap((e): SettlementRow[] => {
    switch (e.kind) {
      case "lease_closed":
        return [
          { what: `lease ${leaseName(e.id)}: ${e.blocks} blocks accrued`, amount: `${formatDec(parseDec(String(e.accrued)))}` },
          { what: `lease ${leaseName(e.id)}: paid from escrow`, amount: coin(e.paid) },
        ];
      case "lease_withdrawn":
        return [
          { what: `to provider ${short(String((e.lease as { provider: string }).provider))}`, amount: coin(e.to_provider) },
          { what: "take rate (community pool)", amount: coin(e.take) },
        ];
      case "escrow_refunded":
        return [{ what: `refunded to ${short(String(e.depositor))}`, amount: coin(e.amount) }];
      case "deployment_closed":
        return [{ what: `deployment closed (${e.reason})`, amount: "" }];
      default:
        return [];
    }
  });
}

function leaseName(id: unknown): string {
  const l = id as { dseq: number; gseq: number; oseq: number };
  return `${l.dseq}/${l.gseq}/${l.oseq}`;
}

/** `stratus1abcdef…wxyz` */
export function short(address: string): string {
  return address.length > 20 ? `${address.slice(0, 14)}…${address.slice(-4)}` : address;
}

export interface BidRow {
  provider: string;
  state: string;
  price: string;
  gpu: string;
  region: string;
  audited: string;
  benchmark: string;
}

/** One row per bid: who, for how much, with which GPUs, where, vouched for by whom, measured how. */
export function bidRows(
  bids: { id: { provider: string; gseq: number }; state: string; price: { denom: string; amount: string } }[],
  providers: { owner: string; attributes: { key: string; value: string }[] }[],
  audited: Record<string, string[]>,
  benchmarks: { provider: string; figures: { gpu_model: string; tflops_bf16_milli: number; training_tokens_per_s: number } }[],
): BidRow[] {
  const byOwner = new Map(providers.map((p) => [p.owner, p]));
  return bids.map((b) => {
    const p = byOwner.get(b.id.provider);
    const attrs = p?.attributes ?? [];
    const models = [
      ...new Set(
        attrs
          .map((a) => a.key.match(/^capabilities\/gpu\/vendor\/([^/]+)\/model\/([^/]+)$/))
          .filter((m): m is RegExpMatchArray => m !== null)
          .map((m) => `${m[1]} ${m[2]}`),
      ),
    ];
    const figures = benchmarks
      .filter((x) => x.provider === b.id.provider)
      .map((x) => `${x.figures.gpu_model}: ${(x.figures.tflops_bf16_milli / 1000).toFixed(0)} TFLOPS bf16, ${x.figures.training_tokens_per_s} tok/s`);
    return {
      provider: b.id.provider,
      state: b.state,
      price: `${formatDec(parseDec(b.price.amount), 4)} ${b.price.denom}/block`,
      gpu: models.length ? models.join(", ") : "none",
      region: attrs.find((a) => a.key === "region")?.value ?? "—",
      audited: (audited[b.id.provider] ?? []).join(", ") || "not audited",
      benchmark: figures.join("; ") || "none published",
    };
  });
}

/** What happened to the job's members, oldest first, in words. Runs of the same warning (its
 * numbers aside) become one line with the count and the last one. */
export function memberEvents(
  events: { type: string; event?: string; name?: string; reason?: string; message?: string; round?: number; step?: number }[],
): string[] {
  const out: string[] = [];
  let run: { shape: string; first: string; last: string; count: number } | null = null;
  const flush = () => {
    if (run) out.push(run.count === 1 ? `warning: ${run.first}` : `warning (${run.count} times): ${run.first} … last: ${run.last}`);
    run = null;
  };
  for (const e of events) {
    if (e.type === "warning") {
      const message = String(e.message);
      const shape = message.replace(/\d+/g, "N");
      if (run && run.shape === shape) {
        run.count += 1;
        run.last = message;
      } else {
        flush();
        run = { shape, first: message, last: message, count: 1 };
      }
      continue;
    }
    flush();
    switch (e.type) {
      case "member":
        out.push(`round ${e.round}: ${e.name ?? "a worker"} ${e.event}${e.reason ? ` (${e.reason})` : ""}`);
        break;
      case "resumed":
        out.push(`round ${e.round}: resumed from the checkpoint at step ${e.step}`);
        break;
      case "started":
        out.push(`round ${e.round}: training started`);
        break;
    }
  }
  flush();
  return out;
}

/** `owner/dseq/gseq/oseq/provider` → `dseq/gseq/oseq`. */
export function leaseShort(lease: string): string {
  const parts = lease.split("/");
  return parts.length === 5 ? parts.slice(1, 4).join("/") : lease;
}
