import "./style.css";
import { deploymentPage } from "./pages/deployment";
import { editorPage } from "./pages/editor";
import { jobPage, jobsPage } from "./pages/jobs";
import { keyPage } from "./pages/key";
import { leasePage } from "./pages/lease";
import { networkPage } from "./pages/network";
import { providerPage, providersPage } from "./pages/provider";
import { templatesPage } from "./pages/templates";
import { el, leavePage } from "./ui";
import { currentKey } from "./wallet";

const pages: Record<string, (root: HTMLElement, params: URLSearchParams) => Promise<void>> = {
  "": networkPage,
  templates: templatesPage,
  editor: editorPage,
  key: keyPage,
  deployment: deploymentPage,
  lease: leasePage,
  providers: providersPage,
  provider: providerPage,
  jobs: jobsPage,
  job: jobPage,
};

/** Which navigation entry a page belongs to. */
const section: Record<string, string> = { deployment: "deployments", lease: "deployments", provider: "providers", job: "jobs" };

async function route(): Promise<void> {
  const [path, query] = location.hash.replace(/^#\/?/, "").split("?");
  const name = path in pages ? path : "";
  const root = document.getElementById("page") as HTMLElement;
  leavePage();
  // Not ready until the new page is rendered (tests and screen readers wait for this).
  delete root.dataset.ready;
  const fresh = el("div", {});
  const here = section[name] ?? (name || "network");
  document.querySelectorAll("nav a").forEach((a) => {
    a.toggleAttribute("aria-current", (a.getAttribute("data-page") ?? "") === here);
  });
  const who = document.getElementById("who");
  const key = currentKey();
  if (who) who.textContent = key ? `${key.address.slice(0, 14)}…${key.address.slice(-4)}` : "no key";
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
