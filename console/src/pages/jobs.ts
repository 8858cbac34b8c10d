import { CategoryScale, Chart, Legend, LinearScale, LineController, LineElement, PointElement, Tooltip } from "chart.js";
import { job, jobs, type Job } from "../api";
import { leaseShort, memberEvents } from "../logic";
import { el, every, fact, table } from "../ui";

Chart.register(CategoryScale, LinearScale, LineController, LineElement, PointElement, Legend, Tooltip);

/** The training jobs this console's home runs. */
export async function jobsPage(root: HTMLElement): Promise<void> {
  const list = await jobs();
  root.append(
    el("h1", {}, "Training jobs"),
    list.length === 0
      ? el("p", { class: "muted" }, "No training jobs here yet: start one with `stratus train up JOB.toml` (see docs/training.md).")
      : table(
          { id: "jobs" },
          ["Job", "State", "Step", "Loss", "Members", "Replacements", "Paid"],
          list.map((j) => [
            el("a", { href: `#/job?name=${j.job}` }, j.job),
            j.state,
            String(j.step),
            j.loss === null ? "—" : j.loss.toFixed(4),
            String(j.members.filter((m) => m.state === "running" || m.state === "joined").length),
            String(j.replacements),
            j.paid,
          ]),
        ),
  );
}

/** One job: state, members and replacements, loss and throughput curves, checkpoints, cost. */
export async function jobPage(root: HTMLElement, params: URLSearchParams): Promise<void> {
  const name = params.get("name") ?? "";
  const first = await job(name);
  const facts = el("dl", { class: "facts", id: "job-facts" });
  const members = el("div", { id: "members-box" });
  const lossCanvas = el("canvas", { id: "loss-chart", "aria-label": "Training loss by step" }) as HTMLCanvasElement;
  const speedCanvas = el("canvas", { id: "throughput-chart", "aria-label": "Tokens per second by step" }) as HTMLCanvasElement;
  const events = el("ul", { id: "job-events" });
  root.append(
    el("h1", {}, `Training job ${name}`),
    facts,
    el("h2", {}, "Members"),
    members,
    el("h2", {}, "Loss"),
    el("div", { class: "chart" }, lossCanvas),
    el("h2", {}, "Throughput (tokens/s)"),
    el("div", { class: "chart" }, speedCanvas),
    el("h2", {}, "Membership and checkpoints"),
    events,
  );
  const line = (canvas: HTMLCanvasElement, label: string, color: string) =>
    new Chart(canvas, {
      type: "line",
      data: { labels: [] as string[], datasets: [{ label, data: [] as number[], borderColor: color, pointRadius: 0, tension: 0.1 }] },
      options: { animation: false, maintainAspectRatio: false, scales: { x: { title: { display: true, text: "step" } } } },
    });
  const loss = line(lossCanvas, "loss (nats/byte)", "#4f7cff");
  const speed = line(speedCanvas, "tokens/s", "#2e7d32");
  let shown = -1;
  const render = (j: Job) => {
    const s = j.status;
    facts.replaceChildren(
      ...fact("State", s.error ? `${s.state}: ${s.error}` : s.state, "job-state"),
      ...fact("Step", String(s.step), "job-step"),
      ...fact("Loss", s.loss === null ? "—" : s.loss.toFixed(4)),
      ...fact("Validation loss", s.val_loss === undefined ? "—" : s.val_loss.toFixed(4)),
      ...fact("Replacements", String(s.replacements), "job-replacements"),
      ...fact("Last heal", s.last_heal_s === undefined ? "—" : `${s.last_heal_s} s`),
      ...fact("Checkpoints", s.checkpoint || "none"),
      ...fact("Deployment", el("a", { href: `#/deployment?dseq=${s.dseq}` }, String(s.dseq))),
      ...fact("Paid so far", s.paid),
    );
    members.replaceChildren(
      table(
        { id: "members" },
        ["Role", "Provider", "Lease", "State"],
        s.members.map((m) => [m.role, m.provider, leaseShort(m.lease), m.state]),
      ),
    );
    if (j.rounds.length !== shown) {
      shown = j.rounds.length;
      loss.data.labels = j.rounds.map((r) => String(r.step));
      loss.data.datasets[0].data = j.rounds.map((r) => r.loss);
      loss.update();
      lossCanvas.dataset.points = String(j.rounds.length);
      speed.data.labels = j.rounds.map((r) => String(r.step));
      speed.data.datasets[0].data = j.rounds.map((r) => Math.round(r.tokens_per_s));
      speed.update();
      events.replaceChildren(...memberEvents(j.events).map((t) => el("li", {}, t)));
    }
  };
  render(first);
  every(2000, async () => render(await job(name)));
}
