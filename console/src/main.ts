import "./style.css";
import { editorPage } from "./pages/editor";
import { networkPage } from "./pages/network";
import { templatesPage } from "./pages/templates";
import { el } from "./ui";

const pages: Record<string, (root: HTMLElement, params: URLSearchParams) => Promise<void>> = {
  "": networkPage,
  templates: templatesPage,
  editor: editorPage,
};

async function route(): Promise<void> {
  const [path, query] = location.hash.replace(/^#\/?/, "").split("?");
  const name = path in pages ? path : "";
  const root = document.getElementById("page") as HTMLElement;
  const fresh = el("div", {});
  document.querySelectorAll("nav a").forEach((a) => {
    a.toggleAttribute("aria-current", (a.getAttribute("data-page") ?? "") === (name || "network"));
  });
  try {
    await pages[name](fresh, new URLSearchParams(query ?? ""));
  } catch (e) {
    fresh.replaceChildren(el("p", { class: "error", role: "alert" }, `Could not load this page: ${String(e)}`));
  }
  root.replaceChildren(fresh);
  root.dataset.ready = name || "network";
}

window.addEventListener("hashchange", route);
route();
