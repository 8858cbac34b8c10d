import {
  allAudits,
  benchmarks,
  bids,
  deployment,
  gatewayGet,
  gatewayPut,
  providers,
  type Audit,
  type Bid,
  type Decision,
  type Provider,
} from "../api";
import { bidRows, formatDec, parseDec } from "../logic";
import { button, el, every, fact, short, table } from "../ui";
import { currentKey, gatewayToken, signAndSubmit } from "../wallet";
import { ok, stratusWasm } from "../wasm";
import { keptSdl } from "./editor";
import { closeButton } from "./lease";

/** A deployment: its bids as they arrive (with what each provider offers), every provider's
 * reason for not bidding, accepting a bid (lease + manifest), its leases, closing it. */
export async function deploymentPage(root: HTMLElement, params: URLSearchParams): Promise<void> {
  const key = currentKey();
  const owner = params.get("owner") ?? key?.address;
  const dseq = Number(params.get("dseq"));
  if (!owner || !Number.isInteger(dseq) || dseq <= 0) {
    root.append(el("p", { class: "error" }, "Which deployment? Open one from the editor after deploying, or give ?dseq=N&owner=ADDRESS."));
    return;
  }
  const mine = owner === key?.address;
  const info = await deployment(owner, dseq);
  const state = el("dd", { id: "deployment-state" }, info.deployment.state);
  const balance = el("dd", { id: "escrow" }, "");
  root.append(
    el("h1", {}, `Deployment ${dseq}`),
    el("dl", { class: "facts" }, ...fact("Owner", owner), el("dt", {}, "State"), state, el("dt", {}, "Escrow balance"), balance),
  );
  const out = el("div", { id: "deployment-result", "aria-live": "polite" });
  const bidBox = el("div", { id: "bids-box", class: "reserve" });
  const declineBox = el("div", { id: "declines-box", class: "reserve" });
  const leaseBox = el("div", { id: "leases-box" });
  const settled = el("div", { id: "settlement-box" });
  root.append(el("h2", {}, "Bids"), bidBox, el("h2", {}, "Providers that declined"), declineBox, el("h2", {}, "Leases"), leaseBox);
  const close = closeButton(dseq, out, settled);
  close.hidden = !mine;
  root.append(el("p", { class: "actions" }, close));
  root.append(out, settled);

  const [list, published, vouched] = await Promise.all([
    providers(),
    benchmarks(),
    allAudits().catch(() => ({ items: [] as Audit[] })),
  ]);
  const audited: Record<string, string[]> = {};
  for (const a of vouched.items) (audited[a.provider] ??= []).push(short(a.auditor));

  const accept = (b: Bid) =>
    button("Accept", { "data-accept": b.id.provider }, out, async () => {
      await signAndSubmit([{ type: "create_lease", bid: b.id }]);
      await sendManifest(owner, dseq, b.id.provider);
      location.hash = `#/lease?dseq=${dseq}&gseq=${b.id.gseq}&oseq=${b.id.oseq}&provider=${b.id.provider}`;
    });

  // Tables are rebuilt only when what they show changed, so focus and clicks are not lost.
  let shown = "";
  every(1000, async () => {
    const [d, b] = await Promise.all([deployment(owner, dseq), bids(owner, dseq)]);
    state.textContent = d.deployment.state;
    close.hidden = !mine || d.deployment.state !== "active";
    balance.textContent = `${formatDec(parseDec(d.escrow.balance))} ${d.escrow.denom} of ${d.escrow.total_deposited} deposited`;
    const rows = bidRows(b.items, list.items, audited, published.items);
    const now = JSON.stringify([rows, d.deployment.state, d.leases.map((l) => [l.id, l.state])]);
    if (now === shown) return;
    shown = now;
    bidBox.replaceChildren(
      rows.length === 0
        ? el("p", { class: "muted" }, "Waiting for bids… providers answer within a block or two.")
        : table(
            { id: "bids", class: "fixed" },
            ["Provider", "State", "Price", "GPU", "Region", "Audited by", "Benchmarks", ""],
            rows.map((r, i) => [
              el("a", { href: `#/provider?address=${r.provider}` }, short(r.provider)),
              r.state,
              r.price,
              r.gpu,
              r.region,
              r.audited,
              r.benchmark,
              mine && b.items[i].state === "open" && d.deployment.state === "active" ? accept(b.items[i]) : "",
            ]),
          ),
    );
    leaseBox.replaceChildren(
      d.leases.length === 0
        ? el("p", { class: "muted" }, "No lease yet.")
        : table(
            { id: "leases" },
            ["Lease", "Provider", "State", "Price"],
            d.leases.map((l) => [
              el(
                "a",
                { href: `#/lease?dseq=${dseq}&gseq=${l.id.gseq}&oseq=${l.id.oseq}&provider=${l.id.provider}&owner=${owner}` },
                `${l.id.dseq}/${l.id.gseq}/${l.id.oseq}`,
              ),
              short(l.id.provider),
              l.state,
              `${formatDec(parseDec(l.price.amount), 4)} ${l.price.denom}/block`,
            ]),
          ),
    );
  });

  if (mine) {
    let shownDeclines = "";
    every(3000, async () => {
      const answers = await Promise.all(list.items.map((p) => decisions(p, owner, dseq)));
      // The latest decision per provider and order: a provider may decide again as things change.
      const latest = new Map(answers.flat().map((x) => [`${x.provider}/${x.order.gseq}/${x.order.oseq}`, x]));
      const declined = [...latest.values()].filter((x) => x.bid === null);
      const now = JSON.stringify(declined.map((x) => [x.provider, x.order, x.reason]));
      if (now === shownDeclines) return;
      shownDeclines = now;
      declineBox.replaceChildren(
        declined.length === 0
          ? el("p", { class: "muted" }, "None so far.")
          : table(
              { id: "declines" },
              ["Provider", "Order", "Why not"],
              declined.map((x) => [short(x.provider), `${x.order.gseq}/${x.order.oseq}`, x.reason]),
            ),
      );
    });
  } else {
    declineBox.replaceChildren(el("p", { class: "muted" }, "Only the owner can read providers' decisions."));
  }
}

/** A provider's decisions on this deployment; an unreachable one says so as its reason. */
async function decisions(p: Provider, owner: string, dseq: number): Promise<Decision[]> {
  try {
    const token = await gatewayToken(p.owner, "decisions", dseq);
    return await gatewayGet<Decision[]>(p.owner, `decisions/${owner}/${dseq}`, token);
  } catch (e) {
    return [{ order: { gseq: 0, oseq: 0 }, provider: p.owner, height: 0, bid: null, reason: `unreachable: ${e instanceof Error ? e.message : e}` }];
  }
}

/** Hands the provider the deployment's manifest (from the SDL this browser deployed). */
export async function sendManifest(owner: string, dseq: number, provider: string): Promise<void> {
  const sdl = keptSdl(owner, dseq);
  if (!sdl) throw new Error(`this browser did not deploy ${dseq}: send its manifest with \`stratus lease send-manifest ${dseq} SDL\``);
  const w = await stratusWasm();
  const { manifest } = ok(w.deploymentCreate({ sdl, dseq, deposit: "0uact" }));
  const token = await gatewayToken(provider, "send_manifest", dseq);
  await gatewayPut(provider, `deployment/${owner}/${dseq}/manifest`, token, manifest);
}
