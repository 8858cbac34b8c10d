/** A DOM element with attributes and children (strings become text). */
export function el(tag: string, attrs: Record<string, string>, ...children: (Node | string)[]): HTMLElement {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  e.append(...children);
  return e;
}

/** `stratus1abcdef…wxyz` */
export function short(address: string): string {
  return address.length > 20 ? `${address.slice(0, 14)}…${address.slice(-4)}` : address;
}

/** A table with a header row; `attrs` go on the table. */
export function table(attrs: Record<string, string>, headers: string[], rows: (Node | string)[][]): HTMLElement {
  return el(
    "table",
    attrs,
    el("thead", {}, el("tr", {}, ...headers.map((h) => el("th", {}, h)))),
    el("tbody", {}, ...rows.map((r) => el("tr", {}, ...r.map((v) => el("td", {}, v))))),
  );
}
