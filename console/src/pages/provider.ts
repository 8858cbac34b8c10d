import { BarController, BarElement, CategoryScale, Chart, Legend, LinearScale, Tooltip } from "chart.js";
import {
  audits,
  benchmarks,
  deployment,
  gatewayGet,
  leases,
  providers,
  provider,
  status,
  type ProviderStatus,
  type ProviderTelemetry,
} from "../api";
import { bytes, costSoFar, formatDec, parseDec } from "../logic";
import { el, every, fact, short, table } from "../ui";

Chart.register(BarController, BarElement, CategoryScale, LinearScale, Legend, Tooltip);

/** Every provider on the ledger: where, which GPUs, whether its gateway answers. */
export async function providersPage(root: HTMLElement): Promise<void> {
  const list = (await providers()).items;
  const reach = await Promise.all(list.map((p) => gatewayGet<ProviderStatus>(p.owner, "status").catch(() => null)));
  root.append(
    el("h1", {}, "Providers"),
    table(
      { id: "providers" },
      ["Provider", "Region", "GPUs (free / total)", "Active leases", "Gateway"],
      list.map((p, i) => {
        const s = reach[i];
        return [
          el("a", { href: `#/provider?address=${p.owner}` }, short(p.owner)),
          p.attributes.find((a) => a.key === "region")?.value ?? "—",
          s?.inventory.gpus.map((g) => `${g.model} ${g.free}/${g.total}`).join(", ") || (s ? "none" : "—"),
          s ? String(s.active_leases) : "—",
          s ? "reachable" : "unreachable",
        ];
      }),
    ),
  );
}

/** One provider: attributes and who audited them, benchmarks, inventory by GPU (free, largest
 * replica that still fits), leases and earnings. */
export async function providerPage(root: HTMLElement, params: URLSearchParams): Promise<void> {
  const address = params.get("address") ?? "";
  const [p, a, b, l, s, st] = await Promise.all([
    provider(address),
    audits(address),
    benchmarks(),
    leases(`provider=${address}`),
    status(),
    gatewayGet<ProviderStatus>(address, "status").catch((e: Error) => e),
  ]);
  const active = l.items.filter((x) => x.state === "active");
  // Each lease's cost so far: a closed one's accrual, an active one's priced up to this block
  // (the ledger settles lazily).
  const costs = await Promise.all(
    l.items.map(async (x) =>
      x.state === "active" ? costSoFar(x, (await deployment(x.id.owner, x.id.dseq)).escrow, s.height) : parseDec(x.accrued),
    ),
  );
  const earned = costs.reduce((x, y) => x + y, 0n);
  const denoms = new Set(l.items.map((x) => x.price.denom));
  root.append(
    el("h1", {}, `Provider ${short(address)}`),
    el(
      "dl",
      { class: "facts" },
      ...fact("Address", address),
      ...fact("Gateway", p.host_uri),
      ...fact("Region", p.attributes.find((x) => x.key === "region")?.value ?? "—"),
      ...fact("Active leases", String(active.length), "active-leases"),
      ...fact("Earned (all leases, to this block)", `${formatDec(earned)} ${[...denoms].join(", ") || ""}`, "earned"),
    ),
  );
  if (st instanceof Error) {
    root.append(el("p", { class: "error" }, `The gateway does not answer: ${st.message}`));
  } else {
    const inv = st.inventory;
    root.append(
      el("h2", {}, "Inventory"),
      el(
        "dl",
        { class: "facts" },
        ...fact("Nodes", String(inv.nodes)),
        ...fact("CPU free", `${inv.cpu_millis_free / 1000} of ${inv.cpu_millis_total / 1000} cores`),
        ...fact("Memory free", `${bytes(inv.memory_free)} of ${bytes(inv.memory_total)}`),
        ...fact("Open bids", String(st.open_bids)),
      ),
      inv.gpus.length === 0
        ? el("p", { class: "muted" }, "No GPUs.")
        : table(
            { id: "gpus" },
            ["GPU", "Memory", "Interface", "Free", "Reserved", "Total", "Largest replica"],
            inv.gpus.map((g) => [g.model, `${g.ram_gi} Gi`, g.interface, String(g.free), String(g.total - g.free), String(g.total), String(g.largest_replica)]),
          ),
    );
    const nodes = inv.by_node ?? [];
    if (nodes.length) {
      root.append(
        el("h3", {}, "Node by node"),
        table(
          { id: "nodes" },
          ["Node", "CPU free", "Memory free", "GPUs free / total", "Largest replica", "Withdrawn"],
          nodes.map((n) => [
            n.name,
            `${n.cpu_millis_free / 1000} of ${n.cpu_millis_total / 1000}`,
            `${bytes(n.memory_free)} of ${bytes(n.memory_total)}`,
            n.gpus.map((g) => `${g.model} ${g.free}/${g.total}`).join(", ") || "none",
            n.gpus.map((g) => `${g.largest_replica} × ${g.model}`).join(", ") || "—",
            String(n.withdrawn),
          ]),
        ),
      );
    }
    if (inv.gpus.length) {
      const canvas = el("canvas", { id: "gpu-chart", "aria-label": "GPUs free and reserved" }) as HTMLCanvasElement;
      root.append(el("div", { class: "chart" }, canvas));
      new Chart(canvas, {
        type: "bar",
        data: {
          labels: inv.gpus.map((g) => g.model),
          datasets: [
            { label: "free", data: inv.gpus.map((g) => g.free), backgroundColor: "#2e7d32" },
            { label: "reserved", data: inv.gpus.map((g) => g.total - g.free), backgroundColor: "#4f7cff" },
            { label: "largest replica", data: inv.gpus.map((g) => g.largest_replica), backgroundColor: "#9a6a00" },
          ],
        },
        options: { animation: false, maintainAspectRatio: false, scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } },
      });
    }
  }
  telemetry(root, address);
  root.append(
    el("h2", {}, "Audited attributes"),
    a.items.length === 0
      ? el("p", { class: "muted" }, "Not audited.")
      : table({ id: "audits" }, ["Auditor", "Attributes"], a.items.map((x) => [short(x.auditor), x.attributes.map((y) => `${y.key}=${y.value}`).join(", ")])),
    el("h2", {}, "Benchmarks"),
  );
  const mine = b.items.filter((x) => x.provider === address);
  root.append(
    mine.length === 0
      ? el("p", { class: "muted" }, "None published.")
      : table(
          { id: "benchmarks" },
          ["GPU", "GPUs", "TFLOPS bf16", "Memory GB/s", "Training tokens/s", "Height"],
          mine.map((x) => [
            x.figures.gpu_model,
            String(x.figures.gpus),
            (x.figures.tflops_bf16_milli / 1000).toFixed(1),
            (x.figures.memory_gbs_milli / 1000).toFixed(0),
            String(x.figures.training_tokens_per_s),
            String(x.height),
          ]),
        ),
    el("h2", {}, "Leases"),
    l.items.length === 0
      ? el("p", { class: "muted" }, "No leases.")
      : table(
          { id: "provider-leases" },
          ["Lease", "Tenant", "State", "Price", "Accrued"],
          l.items.map((x) => [
            `${x.id.dseq}/${x.id.gseq}/${x.id.oseq}`,
            short(x.id.owner),
            x.state,
            `${formatDec(parseDec(x.price.amount), 4)} ${x.price.denom}/block`,
            formatDec(parseDec(x.accrued)),
          ]),
        ),
  );
}

/** The provider's GPUs now (its public `GET /telemetry`): temperature against the slowdown
 * threshold and utilisation, per GPU, refreshed every 5 s; problems listed. */
function telemetry(root: HTMLElement, address: string): void {
  const box = el("div", { id: "telemetry-box" });
  root.append(el("h2", {}, "GPU telemetry"), box);
  let chart: Chart | undefined;
  every(5000, async () => {
    const t = await gatewayGet<ProviderTelemetry>(address, "telemetry").catch(() => null);
    const gpus = t?.nodes.flatMap((n) => n.gpus.map((g, i) => ({ node: n.node, g, problems: n.problems[i] ?? [] }))) ?? [];
    if (!t || gpus.length === 0) {
      box.replaceChildren(el("p", { class: "muted" }, t?.note ? `No GPU figures: ${t.note}.` : "No GPU figures reported."));
      chart = undefined;
      return;
    }
    const labels = gpus.map((x) => `${x.node} #${x.g.index}`);
    const temperature = gpus.map((x) => x.g.temperature_c);
    const utilization = gpus.map((x) => x.g.utilization_pct);
    if (!chart) {
      const canvas = el("canvas", { id: "telemetry-chart", "aria-label": "GPU temperature and utilisation" }) as HTMLCanvasElement;
      const sick = el("ul", { id: "telemetry-problems" });
      box.replaceChildren(el("div", { class: "chart" }, canvas), sick);
      chart = new Chart(canvas, {
        type: "bar",
        data: {
          labels,
          datasets: [
            { label: "temperature °C", data: temperature, backgroundColor: "#c62828" },
            { label: "utilisation %", data: utilization, backgroundColor: "#4f7cff" },
          ],
        },
        options: { animation: false, maintainAspectRatio: false, scales: { y: { beginAtZero: true, suggestedMax: 100 } } },
      });
    } else {
      chart.data.labels = labels;
      chart.data.datasets[0].data = temperature;
      chart.data.datasets[1].data = utilization;
      chart.update();
    }
    const sick = gpus.filter((x) => x.problems.length > 0);
    box.querySelector("#telemetry-problems")?.replaceChildren(
      ...sick.map((x) => el("li", { class: "warning" }, `${x.node} #${x.g.index}: ${x.problems.join("; ")}`)),
      ...(t.note ? [el("li", { class: "muted" }, `Figures ${t.note}.`)] : []),
    );
    box.dataset.gpus = String(gpus.length);
  });
}
