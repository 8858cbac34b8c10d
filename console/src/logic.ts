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
