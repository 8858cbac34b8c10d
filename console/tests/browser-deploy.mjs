// node tests/browser-deploy.mjs CONSOLE_URL SCREENSHOT_DIR MNEMONIC [DEVNET_PID]
// The tenant's whole path in Debian's Chromium (playwright-core), against a devnet with providers:
// import a key from its mnemonic, pick a template, deploy it from the editor (signed in the page),
// watch bids arrive and read why the other providers declined, accept a bid, see the lease run
// and its logs stream, close the deployment and see the settlement; then the provider dashboard.
// With DEVNET_PID, the devnet (node, providers and console server) is frozen with SIGSTOP while
// the logs stream: the page must say the stream stalled, and resume by itself after SIGCONT.
// Screenshots of each page; exits non-zero on the first failure.
import { check, launch, timed } from "./harness.mjs";

const [url, shots, mnemonic, devnetPid] = process.argv.slice(2);
const browser = await launch(shots);
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  // Nothing the page sends may carry the secret: watch every request body.
  const sent = [];
  page.on("request", (r) => sent.push(`${r.url()} ${r.postData() ?? ""}`));

  await timed("key page ready", async () => {
    await page.goto(`${url}#/key`);
    await page.waitForSelector('main[data-ready="key"] #mnemonic');
  });
  await page.fill("#mnemonic", "abandon abandon abandon");
  await page.click("#import");
  await page.waitForSelector("#key-result .error");
  check((await page.textContent("#key-result")).includes("invalid mnemonic"), "a bad mnemonic is refused with the reason");
  // A raw private key (what `stratus keys export` prints for one) imports too; then forget it.
  await page.fill("#mnemonic", "07".repeat(32));
  await page.click("#import");
  await page.waitForSelector('main[data-ready="key"] #address');
  check((await page.textContent("#address")).startsWith("stratus1"), "a hex private key imports");
  await page.click("#forget");
  await page.waitForSelector('main[data-ready="key"] #mnemonic');
  check(await page.evaluate(() => sessionStorage.getItem("stratus.key") === null), "forgetting a key removes it from the tab");
  await page.fill("#mnemonic", mnemonic);
  await page.click("#import");
  await page.waitForSelector('main[data-ready="key"] #address');
  const address = (await page.textContent("#address")).trim();
  check(address.startsWith("stratus1"), `the key imports to its address ${address}`);
  check(/\d+ uact/.test(await page.textContent("#balances")), "the key page shows the balances");
  await page.screenshot({ path: `${shots}/key.png`, fullPage: true });

  await page.goto(`${url}#/templates`);
  await page.waitForSelector('main[data-ready="templates"] [data-template]');
  await page.click('[data-template="hello"]');
  await page.waitForSelector('main[data-ready="editor"] #diagnostics li.ok');
  // Only providers in eu-central may bid: the others decline, and say why.
  await page.$eval("#sdl", (t) => {
    t.value = t.value.replace("    anywhere:\n", "    anywhere:\n      attributes:\n        region: eu-central\n");
    t.dispatchEvent(new Event("input"));
  });
  await page.waitForSelector("#diagnostics li.ok");
  // Before deploying, the editor says who may bid and why the others may not.
  await page.waitForFunction(() => /region=eu-central/.test(document.querySelector("#placement")?.textContent ?? ""));
  const placement = await page.textContent("#placement");
  check((await page.$$("#placement ul.reasons li")).length === 2 && placement.includes("needs attribute region=eu-central"),
    `the editor previews who may bid: ${placement.slice(0, 200)}`);
  await page.screenshot({ path: `${shots}/editor-placement.png`, fullPage: true });
  await timed("deploy (sign, submit, block) and deployment page ready", async () => {
    await page.click("#deploy");
    await page.waitForSelector('main[data-ready="deployment"]', { timeout: 30000 });
  });
  const dseq = Number(new URL(page.url().replace("#/", "")).searchParams.get("dseq"));
  check(dseq > 0, `deployed from the browser as deployment ${dseq}`);

  // Layout shift while bids stream in, measured by the browser itself.
  await page.evaluate(() => {
    window.__shift = 0;
    new PerformanceObserver((l) => {
      for (const e of l.getEntries()) if (!e.hadRecentInput) window.__shift += e.value;
    }).observe({ type: "layout-shift", buffered: false });
  });
  await page.waitForSelector("#bids tbody tr", { timeout: 30000 });
  const bidText = await page.textContent("#bids");
  check(bidText.includes("uact/block") && bidText.includes("eu-central"), "bids arrive with price and region");
  await page.waitForSelector("#declines tbody tr", { timeout: 30000 });
  const declines = await page.textContent("#declines");
  check(/region/i.test(declines), `providers that declined say why: ${declines.slice(0, 200)}`);
  const shift = await page.evaluate(() => window.__shift);
  check(shift < 0.1, `no layout shift while bids stream in (cumulative ${shift.toFixed(4)})`);
  await page.screenshot({ path: `${shots}/deployment.png`, fullPage: true });

  await timed("accept (lease tx, manifest) and lease page ready", async () => {
    await page.click("[data-accept]");
    await page.waitForSelector('main[data-ready="lease"]', { timeout: 30000 });
  });
  await page.waitForFunction(() => document.querySelector("#lease-state")?.textContent === "active");
  await page.waitForFunction(() => /running/.test(document.querySelector("#run-state")?.textContent ?? ""), null, { timeout: 60000 });
  await page.waitForSelector("#services a[href^='http']");
  check((await page.textContent("#services")).includes("web"), "the lease page lists the service and its URI");
  await page.waitForFunction(() => (document.querySelector("#logs")?.textContent ?? "").length > 0, null, { timeout: 30000 });
  check((await page.textContent("#log-state")).includes("live"), "the logs stream live");
  if (devnetPid) {
    // A stream that goes silent without closing (what Akash users saw as logs silently stalling).
    process.kill(Number(devnetPid), "SIGSTOP");
    try {
      await page.waitForFunction(() => /stalled/.test(document.querySelector("#log-state")?.textContent ?? ""), null, { timeout: 40000 });
      check(/no data and no heartbeat/.test(await page.textContent("#log-state")), `a silent stream is called stalled: ${await page.textContent("#log-state")}`);
    } finally {
      process.kill(Number(devnetPid), "SIGCONT");
    }
    await page.waitForFunction(() => /live/.test(document.querySelector("#log-state")?.textContent ?? ""), null, { timeout: 40000 });
    check((await page.textContent("#log-state")).includes("live"), "the log stream reconnects by itself when the provider answers again");
  }
  await page.waitForSelector("#events li");
  await page.waitForFunction(() => /^\d+\.\d\d uact/.test(document.querySelector("#cost")?.textContent ?? ""));
  await page.screenshot({ path: `${shots}/lease.png`, fullPage: true });

  await page.click("#close-deployment");
  await page.waitForSelector("#settlement tbody tr", { timeout: 30000 });
  const settlementText = await page.textContent("#settlement");
  check(settlementText.includes("refunded to") && settlementText.includes("to provider"), `the settlement is shown: ${settlementText.slice(0, 300)}`);
  await page.waitForFunction(() => /closed/.test(document.querySelector("#lease-state")?.textContent ?? ""));
  await page.waitForFunction(() => /ended/.test(document.querySelector("#log-state")?.textContent ?? ""));
  check((await page.textContent("#log-state")).includes("lease is closed"), "the log stream ends with the lease, not retried forever");
  await page.screenshot({ path: `${shots}/settlement.png`, fullPage: true });

  await timed("providers page ready", async () => {
    await page.goto(`${url}#/providers`);
    await page.waitForSelector('main[data-ready="providers"] #providers tbody tr');
  });
  check((await page.$$("#providers tbody tr")).length === 3, "the providers page lists the devnet's three providers");
  await page.click("#providers a >> nth=0");
  await page.waitForSelector('main[data-ready="provider"] .facts');
  await page.screenshot({ path: `${shots}/providers.png`, fullPage: true });
  await page.goto(`${url}#/providers`);
  await page.waitForSelector('main[data-ready="providers"] #providers tbody tr');
  const hrefs = await page.$$eval("#providers a", (a) => a.map((x) => x.getAttribute("href")));
  for (const href of hrefs) {
    const address = new URLSearchParams(href.split("?")[1]).get("address");
    await page.goto(`${url}${href}`);
    // A hash change renders after goto returns: wait for this provider's page, not the last one's.
    await page.waitForFunction(
      (a) => document.querySelector('main[data-ready="provider"] .facts dd')?.textContent === a,
      address,
    );
    if (await page.$("#gpus")) break;
  }
  check((await page.textContent("#gpus")).includes("h100") || (await page.textContent("#gpus")).includes("rtx4090"), "a GPU provider's inventory lists free, reserved and largest replica");
  check((await page.$$("#nodes tbody tr")).length >= 1, "the inventory is shown node by node");
  await page.waitForSelector("#telemetry-box[data-gpus]");
  const telemetry = await page.textContent("#telemetry-box");
  check(Number(await page.getAttribute("#telemetry-box", "data-gpus")) >= 4 && telemetry.includes("replayed"),
    "the GPU telemetry is charted, and says its figures are replayed on a devnet");
  await page.screenshot({ path: `${shots}/provider.png`, fullPage: true });

  // Phone width: the live pages scroll their wide tables inside, never the page sideways.
  await page.setViewportSize({ width: 390, height: 844 });
  for (const [name, hash] of [["deployment", `#/deployment?dseq=${dseq}`], ["providers", "#/providers"]]) {
    await page.goto(`${url}${hash}`);
    await page.waitForSelector(`main[data-ready="${name}"]`);
    await page.waitForTimeout(1500);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth + 1);
    check(!overflow, `${name} page readable at phone width (no horizontal scroll)`);
    await page.screenshot({ path: `${shots}/${name}-phone.png`, fullPage: true });
  }
  await page.setViewportSize({ width: 1280, height: 800 });

  const secret = await page.evaluate(() => JSON.parse(sessionStorage.getItem("stratus.key")).secret_key);
  check(!sent.some((s) => s.includes(secret) || s.includes(mnemonic.split(" ").slice(0, 4).join(" "))), "neither the secret key nor the mnemonic left the page");
  check(errors.length === 0, `no script errors ${errors.join("; ")}`);
} finally {
  await browser.close();
}
