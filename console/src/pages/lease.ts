import { Chart, LinearScale, LineController, LineElement, PointElement, CategoryScale, Legend, Tooltip } from "chart.js";
import { deployment, gatewayGet, status, type Event, type LeaseStatus } from "../api";
import { costSoFar, formatDec, parseDec, settlement } from "../logic";
import { follow, type Frame } from "../stream";
import { button, el, every, fact, pageSignal, short, table } from "../ui";
import { currentKey, gatewayToken, signAndSubmit } from "../wallet";

Chart.register(LinearScale, LineController, LineElement, PointElement, CategoryScale, Legend, Tooltip);

const MAX_LOG_LINES = 2000;

/** Shows a close's settlement (paid, to the provider, take, refunded) in `box`. */
export function showSettlement(box: HTMLElement, events: Event[]): void {
  const rows = settlement(events);
  box.replaceChildren(
    el("h2", {}, "Settlement"),
    table({ id: "settlement" }, ["", "Amount"], rows.map((r) => [r.what, r.amount])),
  );
}

/** "Close deployment": closes it (every lease, refunding the escrow) and shows the settlement. */
export function closeButton(dseq: number, out: HTMLElement, settled: HTMLElement): HTMLButtonElement {
  return button("Close deployment", { id: "close-deployment" }, out, async () => {
    const result = await signAndSubmit([{ type: "close_deployment", dseq }]);
    showSettlement(settled, result.events);
  });
}

/** A lease: its state on the ledger and at the provider, cost so far, services and URIs, GPU
 * telemetry, logs and events streaming (reopened when they stall), and closing it. */
export async function leasePage(root: HTMLElement, params: URLSearchParams): Promise<void> {
  const key = currentKey();
  const owner = params.get("owner") ?? key?.address ?? "";
  const dseq = Number(params.get("dseq"));
  const gseq = Number(params.get("gseq") ?? "1");
  const oseq = Number(params.get("oseq") ?? "1");
  const provider = params.get("provider") ?? "";
  const path = `lease/${owner}/${dseq}/${gseq}/${oseq}`;
  const ledgerState = el("dd", { id: "lease-state" }, "…");
  const runState = el("dd", { id: "run-state" }, "…");
  const cost = el("dd", { id: "cost" }, "…");
  const price = el("dd", {}, "…");
  root.append(
    el("h1", {}, `Lease ${dseq}/${gseq}/${oseq}`),
    el(
      "dl",
      { class: "facts" },
      ...fact("Provider", el("a", { href: `#/provider?address=${provider}` }, short(provider))),
      el("dt", {}, "On the ledger"),
      ledgerState,
      el("dt", {}, "At the provider"),
      runState,
      el("dt", {}, "Price"),
      price,
      el("dt", {}, "Cost so far"),
      cost,
    ),
  );
  const services = el("div", { id: "services-box" });
  const gpus = el("div", { id: "gpus-box" });
  const logState = el("span", { id: "log-state", class: "muted" }, "");
  const logs = el("pre", { id: "logs", tabindex: "0", "aria-label": "Logs" });
  const events = el("ul", { id: "events" });
  const out = el("div", { id: "lease-result", "aria-live": "polite" });
  const settled = el("div", { id: "settlement-box" });
  root.append(el("h2", {}, "Services"), services, el("h2", {}, "GPUs"), gpus);
  root.append(el("h2", {}, "Logs ", logState), logs, el("h2", {}, "Events"), events);
  const close = closeButton(dseq, out, settled);
  close.hidden = owner !== key?.address;
  root.append(el("p", { class: "actions" }, close));
  root.append(out, settled);

  // The streams stop with the page, or when the lease closes (nothing more will be written).
  const streams = new AbortController();
  pageSignal().addEventListener("abort", () => streams.abort(), { once: true });
  let chart: Chart | undefined;
  every(1000, async () => {
    const [d, s] = await Promise.all([deployment(owner, dseq), status()]);
    const lease = d.leases.find((l) => l.id.gseq === gseq && l.id.oseq === oseq && l.id.provider === provider);
    if (!lease) {
      ledgerState.textContent = "no such lease";
      return;
    }
    ledgerState.textContent = lease.close_reason ? `${lease.state} (${lease.close_reason})` : lease.state;
    close.hidden = owner !== key?.address || d.deployment.state !== "active";
    if (lease.state !== "active" && !streams.signal.aborted) {
      streams.abort();
      logState.textContent = "ended: the lease is closed";
    }
    price.textContent = `${formatDec(parseDec(lease.price.amount), 4)} ${lease.price.denom}/block`;
    cost.textContent = `${formatDec(costSoFar(lease, d.escrow, s.height))} ${lease.price.denom} (escrow left: ${formatDec(parseDec(d.escrow.balance))})`;
  });
  if (!key || owner !== key.address) {
    runState.textContent = "only the owner sees the provider's side";
    return;
  }
  every(3000, async () => {
    let st: LeaseStatus;
    try {
      st = await gatewayGet<LeaseStatus>(provider, `${path}/status`, await gatewayToken(provider, "status", dseq));
    } catch (e) {
      runState.textContent = `unknown (${e instanceof Error ? e.message : e})`;
      return;
    }
    runState.textContent = st.message ? `${st.state}: ${st.message}` : st.state;
    services.replaceChildren(
      table(
        { id: "services" },
        ["Service", "Image", "Replicas", "URIs"],
        st.services.map((x) => [
          x.name,
          x.image,
          `${x.available}/${x.total}`,
          el("span", {}, ...x.uris.map((u) => el("a", { href: u, target: "_blank", rel: "noopener" }, u))),
        ]),
      ),
    );
    const g = st.gpus ?? [];
    if (g.length === 0) {
      gpus.replaceChildren(el("p", { class: "muted" }, "This lease has no GPUs (or its provider reports no telemetry)."));
      return;
    }
    if (!chart) {
      const canvas = el("canvas", { id: "gpu-temperature", "aria-label": "GPU temperature, °C" }) as HTMLCanvasElement;
      gpus.replaceChildren(el("div", { class: "chart" }, canvas));
      chart = new Chart(canvas, {
        type: "line",
        data: { labels: [], datasets: g.map((x) => ({ label: `${x.node} #${x.sample.index} ${x.sample.model}`, data: [] as number[] })) },
        options: { animation: false, maintainAspectRatio: false, scales: { y: { title: { display: true, text: "°C" } } } },
      });
    }
    chart.data.labels?.push(new Date().toLocaleTimeString());
    g.forEach((x, i) => chart?.data.datasets[i]?.data.push(x.sample.temperature_c));
    chart.update();
  });

  const signal = streams.signal;
  const open = (what: "logs" | "events", scope: string) => async (first: boolean) => ({
    url: `gateway/${provider}/${path}/${what}?follow=true${what === "logs" ? `&tail=${first ? 200 : 0}` : ""}`,
    headers: { authorization: `Bearer ${await gatewayToken(provider, scope, dseq)}` },
  });
  void follow(
    open("logs", "logs"),
    (f: Frame) => {
      if (f.type !== "log") return;
      logs.append(`${f.service}[${f.replica}] ${f.line}\n`);
      while (logs.childNodes.length > MAX_LOG_LINES) logs.firstChild?.remove();
      logs.scrollTop = logs.scrollHeight;
    },
    (s, why) => {
      logState.textContent = s === "live" ? "● live" : s === "connecting" ? "connecting…" : `stalled (${why}); reconnecting`;
    },
    signal,
  );
  void follow(
    open("events", "events"),
    (f: Frame) => {
      if (f.type !== "event") return;
      events.prepend(el("li", {}, `${new Date(Number(f.time_ms)).toLocaleTimeString()} ${f.kind}: ${f.message}`));
    },
    // An events stream starts from the lease's first event: a reopened one replaces the list.
    (s) => {
      if (s === "connecting") events.replaceChildren();
    },
    signal,
  );
}
