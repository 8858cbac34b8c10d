import { allAudits, deployment, params, providers, status, templates, type Audit, type Provider } from "../api";
import { groupRows } from "../logic";
import { button, el, short, table } from "../ui";
import { currentKey, signAndSubmit } from "../wallet";
import { ok, stratusWasm } from "../wasm";

/** The SDL a deployment was made from, kept in this browser for sending its manifest. */
export function keptSdl(owner: string, dseq: number): string | null {
  return localStorage.getItem(`stratus.sdl.${owner}.${dseq}`);
}

/** The current height if the owner has no deployment there, else the next free one (as the CLI). */
async function freeDseq(owner: string): Promise<number> {
  let dseq = Math.max(1, (await status()).height);
  for (;;) {
    const taken = await deployment(owner, dseq).then(
      () => true,
      () => false,
    );
    if (!taken) return dseq;
    dseq += 1;
  }
}

/** SDL editor: diagnostics from the real parser as you type, and the groups it produces. */
export async function editorPage(root: HTMLElement, params: URLSearchParams): Promise<void> {
  const parser = await stratusWasm();
  const name = params.get("t");
  const start = name ? (await templates()).find((t) => t.name === name)?.sdl : undefined;
  const text = el("textarea", { id: "sdl", spellcheck: "false", "aria-label": "SDL" }) as HTMLTextAreaElement;
  text.value = start ?? 'version: "2.0"\n';
  const diagnostics = el("ul", { id: "diagnostics", "aria-live": "polite" });
  const preview = el("div", { id: "groups" });
  const bidders = el("div", { id: "bidders" });
  // The providers on the ledger, their audits and the chain's auditor aliases, once: what the
  // placement preview checks each edit against.
  const market = loadMarket();
  const update = () => {
    const report = parser.check(text.value);
    diagnostics.replaceChildren(
      ...report.errors.map((d) => el("li", { class: "error" }, `${d.line}:${d.column}: ${d.message}`)),
      ...report.warnings.map((d) => el("li", { class: "warning" }, `${d.line}:${d.column}: warning: ${d.message}`)),
    );
    if (report.valid) diagnostics.prepend(el("li", { class: "ok" }, "valid"));
    const rows = groupRows(report.valid ? parser.groups(text.value) : null);
    preview.replaceChildren(
      table(
        {},
        ["Group", "Count", "CPU", "Memory", "GPU", "Price"],
        rows.map((r) => [r.group, String(r.count), r.cpu, r.memory, r.gpu, r.price]),
      ),
    );
  };
  const previewBidders = async () => {
    const m = await market;
    if (!m || !parser.check(text.value).valid) {
      bidders.replaceChildren();
      return;
    }
    const answer = parser.placementPreview({ sdl: text.value, ...m });
    if (answer.error) return;
    bidders.replaceChildren(
      table(
        { id: "placement" },
        ["Group", "Providers that may bid", "The others, and why not"],
        answer.groups.map((g) => [
          g.group,
          g.fit.length ? g.fit.map(short).join(", ") : "none: no provider on the ledger meets this placement",
          el("ul", { class: "reasons" }, ...g.refused.map((r) => el("li", {}, `${short(r.provider)}: ${r.reason}`))),
        ]),
      ),
    );
  };
  text.addEventListener("input", update);
  text.addEventListener("input", () => void previewBidders());
  update();
  void previewBidders();
  const key = currentKey();
  const out = el("div", { id: "deploy-result", "aria-live": "polite" });
  const deposit = el("input", { id: "deposit", type: "text", value: "5000000uact", "aria-label": "Deposit" }) as HTMLInputElement;
  const deploy = key
    ? el(
        "div",
        { class: "deploy" },
        el("label", { for: "deposit" }, "Escrow deposit "),
        deposit,
        " ",
        button("Deploy", { id: "deploy" }, out, async () => {
          const dseq = await freeDseq(key.address);
          const w = await stratusWasm();
          const made = ok(w.deploymentCreate({ sdl: text.value, dseq, deposit: deposit.value.trim() }));
          await signAndSubmit([made.msg]);
          localStorage.setItem(`stratus.sdl.${key.address}.${dseq}`, text.value);
          location.hash = `#/deployment?dseq=${dseq}`;
        }),
        out,
      )
    : el("p", {}, "To deploy, ", el("a", { href: "#/key" }, "import or make a key"), " first.");
  root.append(
    el("h1", {}, name ? `SDL editor — ${name}` : "SDL editor"),
    el(
      "div",
      { class: "editor" },
      text,
      el("div", {}, el("h2", {}, "Diagnostics"), diagnostics, el("h2", {}, "Groups"), preview, el("h2", {}, "Who may bid"), bidders, el("h2", {}, "Deploy"), deploy),
    ),
  );
}

/** Providers, their audits and the auditor aliases; `null` when the node cannot be reached (the
 * editor still checks SDL offline). */
async function loadMarket(): Promise<{ providers: Provider[]; audits: Audit[]; aliases: unknown[] } | null> {
  try {
    const [list, all, p] = await Promise.all([
      providers(),
      allAudits(),
      params() as Promise<{ auditor_aliases?: unknown[] }>,
    ]);
    return { providers: list.items, audits: all.items, aliases: p.auditor_aliases ?? [] };
  } catch {
    return null;
  }
}
