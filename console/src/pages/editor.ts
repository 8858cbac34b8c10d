import { templates } from "../api";
import { groupRows } from "../logic";
import { sdlParser } from "../sdl";
import { el, table } from "../ui";

/** SDL editor: diagnostics from the real parser as you type, and the groups it produces. */
export async function editorPage(root: HTMLElement, params: URLSearchParams): Promise<void> {
  const parser = await sdlParser();
  const name = params.get("t");
  const start = name ? (await templates()).find((t) => t.name === name)?.sdl : undefined;
  const text = el("textarea", { id: "sdl", spellcheck: "false", "aria-label": "SDL" }) as HTMLTextAreaElement;
  text.value = start ?? 'version: "2.0"\n';
  const diagnostics = el("ul", { id: "diagnostics", "aria-live": "polite" });
  const preview = el("div", { id: "groups" });
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
  text.addEventListener("input", update);
  update();
  root.append(
    el("h1", {}, name ? `SDL editor — ${name}` : "SDL editor"),
    el("div", { class: "editor" }, text, el("div", {}, el("h2", {}, "Diagnostics"), diagnostics, el("h2", {}, "Groups"), preview)),
  );
}
