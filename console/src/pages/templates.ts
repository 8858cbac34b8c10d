import { templates, type Template } from "../api";
import { filterTemplates } from "../logic";
import { el } from "../ui";

/** The examples and curated templates, searchable; each opens in the editor. */
export async function templatesPage(root: HTMLElement): Promise<void> {
  const all = await templates();
  const search = el("input", {
    type: "search",
    id: "template-search",
    placeholder: "Search: name, service, GPU…",
    "aria-label": "Search templates",
  }) as HTMLInputElement;
  const grid = el("div", { class: "cards", id: "templates" });
  const render = () => grid.replaceChildren(...filterTemplates(all, search.value).map(card));
  search.addEventListener("input", render);
  render();
  root.append(el("h1", {}, "Templates"), search, grid);
}

function card(t: Template): HTMLElement {
  return el(
    "a",
    { class: "card", href: `#/editor?t=${encodeURIComponent(t.name)}`, "data-template": t.name },
    el("h3", {}, t.title),
    el("p", { class: "description" }, t.description),
    el("p", {}, `Services: ${t.services.join(", ")}`),
    el("p", {}, t.gpus.length ? `GPU: ${t.gpus.join(", ")}` : "CPU only"),
    el("p", { class: "price" }, t.price),
    el("p", { class: "source" }, t.source === "curated" ? "Curated template" : "Stratus example"),
  );
}
