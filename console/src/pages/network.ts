import { Chart, LinearScale, LineController, LineElement, PointElement, CategoryScale, Tooltip } from "chart.js";
import { block, status, validators, type BlockInfo } from "../api";
import { blockIntervals } from "../logic";
import { el, fact, short, table } from "../ui";

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
      : table(
          { id: "validators" },
          ["Name", "Address", "Voting power", "Connected"],
          set.map((v) => [
            v.name,
            short(v.address),
            String(v.power),
            v.address === c.validator ? "this node" : connected.has(v.address) ? "yes" : "no",
          ]),
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
    table(
      { id: "blocks" },
      ["Height", "Time", "Transactions", "Decided by"],
      blocks.map((b) => [
        String(b.height),
        new Date(b.time_ms).toLocaleTimeString(),
        String(b.tx_hashes.length),
        certificate(b),
      ]),
    ),
    el("h2", {}, "Recent transactions"),
    recentTransactions(blocks),
  );
}

function recentTransactions(blocks: BlockInfo[]): HTMLElement {
  const rows = blocks.flatMap((b) => b.tx_hashes.map((h) => ({ height: b.height, hash: h }))).slice(0, 20);
  if (rows.length === 0) return el("p", { id: "transactions" }, "No transactions in the last blocks.");
  return table({ id: "transactions" }, ["Height", "Transaction"], rows.map((r) => [String(r.height), r.hash]));
}

function certificate(b: BlockInfo): string {
  const c = b.certificate;
  if (!c) return "—";
  return c.engine === "bft" ? `${c.signers.length} validators, round ${c.round}` : `solo (${short(c.signers[0] ?? "")})`;
}
