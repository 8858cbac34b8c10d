import { Chart, LinearScale, LineController, LineElement, PointElement, CategoryScale, Tooltip } from "chart.js";
import { block, status, validators, type BlockInfo } from "../api";
import { blockIntervals } from "../logic";
import { el, short } from "../ui";

Chart.register(LinearScale, LineController, LineElement, PointElement, CategoryScale, Tooltip);

/** Height, block time, validators and peers, recent blocks with their certificates. */
export async function networkPage(root: HTMLElement): Promise<void> {
  const s = await status();
  const c = s.consensus;
  root.append(
    el("h1", {}, "Network"),
    el(
      "dl",
      { class: "facts" },
      ...fact("Chain", s.chain_id),
      ...fact("Height", String(s.height)),
      ...fact("Target block time", `${s.block_time_ms} ms`),
      ...fact("Consensus", c.engine === "bft" ? "Tendermint BFT" : "solo"),
      ...fact("This node's validator", c.validator ?? "—"),
      ...fact("Peers", c.peers.length ? c.peers.map(short).join(", ") : "none"),
      ...fact("In sync", c.catching_up ? "catching up" : "yes"),
      ...fact("Mempool", `${s.mempool_txs} transactions`),
    ),
  );
  const set = await validators();
  const connected = new Set([...c.peers, c.validator ?? ""]);
  root.append(
    el("h2", {}, "Validators"),
    set.length === 0
      ? el("p", { id: "validators" }, `Solo chain: this node decides every block${c.validator ? `, signing with ${short(c.validator)}` : ""}.`)
      : el(
          "table",
          { id: "validators" },
          el("thead", {}, el("tr", {}, ...["Name", "Address", "Voting power", "Connected"].map((h) => el("th", {}, h)))),
          el(
            "tbody",
            {},
            ...set.map((v) =>
              el(
                "tr",
                {},
                el("td", {}, v.name),
                el("td", {}, short(v.address)),
                el("td", {}, String(v.power)),
                el("td", {}, v.address === c.validator ? "this node" : connected.has(v.address) ? "yes" : "no"),
              ),
            ),
          ),
        ),
  );
  const from = Math.max(1, s.height - 19);
  const blocks: BlockInfo[] = [];
  for (let h = s.height; h >= from; h--) blocks.push(await block(h));
  const canvas = el("canvas", { id: "block-times", "aria-label": "Seconds between blocks" }) as HTMLCanvasElement;
  root.append(el("h2", {}, "Seconds between blocks"), el("div", { class: "chart" }, canvas));
  const intervals = blockIntervals(blocks);
  new Chart(canvas, {
    type: "line",
    data: {
      labels: intervals.map((i) => String(i.height)),
      datasets: [{ data: intervals.map((i) => i.seconds), borderColor: "#4f7cff", tension: 0.2 }],
    },
    options: { animation: false, maintainAspectRatio: false, scales: { y: { beginAtZero: true } } },
  });
  root.append(
    el("h2", {}, "Recent blocks"),
    el(
      "table",
      { id: "blocks" },
      el("thead", {}, el("tr", {}, ...["Height", "Time", "Transactions", "Decided by"].map((h) => el("th", {}, h)))),
      el(
        "tbody",
        {},
        ...blocks.map((b) =>
          el(
            "tr",
            {},
            el("td", {}, String(b.height)),
            el("td", {}, new Date(b.time_ms).toLocaleTimeString()),
            el("td", {}, String(b.tx_hashes.length)),
            el("td", {}, certificate(b)),
          ),
        ),
      ),
    ),
    el("h2", {}, "Recent transactions"),
    recentTransactions(blocks),
  );
}

function recentTransactions(blocks: BlockInfo[]): HTMLElement {
  const rows = blocks.flatMap((b) => b.tx_hashes.map((h) => ({ height: b.height, hash: h }))).slice(0, 20);
  if (rows.length === 0) return el("p", { id: "transactions" }, "No transactions in the last blocks.");
  return el(
    "table",
    { id: "transactions" },
    el("thead", {}, el("tr", {}, el("th", {}, "Height"), el("th", {}, "Transaction"))),
    el("tbody", {}, ...rows.map((r) => el("tr", {}, el("td", {}, String(r.height)), el("td", { class: "mono" }, r.hash)))),
  );
}

function fact(name: string, value: string): HTMLElement[] {
  return [el("dt", {}, name), el("dd", {}, value)];
}

function certificate(b: BlockInfo): string {
  const c = b.certificate;
  if (!c) return "—";
  return c.engine === "bft" ? `${c.signers.length} validators, round ${c.round}` : `solo (${short(c.signers[0] ?? "")})`;
}
