/** A DOM element with attributes and children (strings become text). */
export function el(tag: string, attrs: Record<string, string>, ...children: (Node | string)[]): HTMLElement {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  e.append(...children);
  return e;
}

export { short } from "./logic";

/** A table with a header row; `attrs` go on the table, which scrolls sideways inside its own box
 * when it is wider than the screen (the page itself never does). */
export function table(attrs: Record<string, string>, headers: string[], rows: (Node | string)[][]): HTMLElement {
  return el(
    "div",
    { class: "table-scroll" },
    el(
      "table",
      attrs,
      el("thead", {}, el("tr", {}, ...headers.map((h) => el("th", {}, h)))),
      el("tbody", {}, ...rows.map((r) => el("tr", {}, ...r.map((v) => el("td", {}, v))))),
    ),
  );
}

/** A term and its value for a `<dl class="facts">`; `id` names the value for tests. */
export function fact(name: string, value: string | Node, id?: string): HTMLElement[] {
  return [el("dt", {}, name), el("dd", id ? { id } : {}, value)];
}

/** A button that runs `action` once at a time, showing its error (or nothing) in `out`. */
export function button(label: string, attrs: Record<string, string>, out: HTMLElement, action: () => Promise<void>): HTMLButtonElement {
  const b = el("button", { type: "button", ...attrs }, label) as HTMLButtonElement;
  b.addEventListener("click", async () => {
    b.disabled = true;
    out.replaceChildren();
    try {
      await action();
    } catch (e) {
      out.replaceChildren(el("p", { class: "error", role: "alert" }, e instanceof Error ? e.message : String(e)));
    } finally {
      b.disabled = false;
    }
  });
  return b;
}

let current = new AbortController();

/** Aborted when the user leaves the page: live pages stop polling and streaming. */
export function pageSignal(): AbortSignal {
  return current.signal;
}

/** Called by the router on every navigation. */
export function leavePage(): void {
  current.abort();
  current = new AbortController();
}

/** Runs `f` now and then every `ms` until the page is left; errors are shown by `f` itself. */
export function every(ms: number, f: () => Promise<void>): void {
  const signal = pageSignal();
  const tick = async () => {
    if (signal.aborted) return;
    try {
      await f();
    } catch {
      // The next tick tries again; `f` reports what it could not load.
    }
    if (!signal.aborted) setTimeout(tick, ms);
  };
  void tick();
}
