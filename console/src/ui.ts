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
