// node tests/browser.mjs CONSOLE_URL SCREENSHOT_DIR
// Drives the console in Debian's Chromium (playwright-core): the network page, the templates
// gallery and its search, a template opened in the editor, a diagnostic for an invalid edit, phone
// width and the dark theme. Saves a screenshot of each; exits non-zero on the first failure.
import { check, launch, timed } from "./harness.mjs";

const [url, shots] = process.argv.slice(2);
const browser = await launch(shots);
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await timed("network page ready", async () => {
    await page.goto(url);
    await page.waitForSelector('main[data-ready="network"] #blocks tbody tr', { timeout: 15000 });
  });
  const facts = await page.textContent(".facts");
  check(facts.includes("Height") && facts.includes("Consensus"), "the network page shows the chain's facts");
  check((await page.textContent("#validators")).includes("Solo chain"), "the network page says who validates");
  check((await page.$$("#transactions tbody tr")).length >= 1, "the network page lists recent transactions");
  await page.screenshot({ path: `${shots}/network.png`, fullPage: true });

  await timed("templates page ready", async () => {
    await page.click('nav a[data-page="templates"]');
    await page.waitForSelector('main[data-ready="templates"] [data-template]');
  });
  check((await page.$$("[data-template]")).length >= 4, "the gallery lists the templates");
  await page.fill("#template-search", "h100 trainer");
  const found = await page.$$eval("[data-template]", (cards) => cards.map((c) => c.getAttribute("data-template")));
  check(found.length === 1 && found[0] === "gpu-training", `search finds the H100 training template (${found})`);
  await page.screenshot({ path: `${shots}/templates.png`, fullPage: true });

  await timed("editor page ready (parser loaded, template checked)", async () => {
    await page.click('[data-template="gpu-training"]');
    await page.waitForSelector('main[data-ready="editor"] #diagnostics li.ok');
  });
  const groups = await page.textContent("#groups");
  check(groups.includes("nvidia h100") && groups.includes("uact/block"), "the editor previews the groups");
  await page.screenshot({ path: `${shots}/editor.png`, fullPage: true });

  // An invalid edit: a port out of range gets the parser's diagnostic, with line and column.
  await page.$eval("#sdl", (t) => {
    t.value = t.value.replace(/port: \d+/, "port: 70000");
    t.dispatchEvent(new Event("input"));
  });
  await page.waitForSelector("#diagnostics li.error");
  const diag = await page.textContent("#diagnostics li.error");
  check(/^\d+:\d+: .*70000 is outside 1\.\.65535/.test(diag), `the diagnostic names line, column and rule: ${diag}`);
  await page.screenshot({ path: `${shots}/editor-error.png`, fullPage: true });

  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(`${url}#/templates`);
  await page.waitForSelector('main[data-ready="templates"] [data-template]');
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth + 1);
  check(!overflow, "readable at phone width (no horizontal scroll)");
  await page.screenshot({ path: `${shots}/templates-phone.png`, fullPage: true });

  await page.setViewportSize({ width: 1280, height: 800 });
  await page.emulateMedia({ colorScheme: "dark" });
  await page.goto(url);
  await page.waitForSelector('main[data-ready="network"] #blocks tbody tr');
  const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  check(bg !== "rgb(255, 255, 255)", `dark theme (${bg})`);
  await page.screenshot({ path: `${shots}/network-dark.png`, fullPage: true });

  // Keyboard: Tab reaches the navigation.
  await page.keyboard.press("Tab");
  await page.keyboard.press("Tab");
  const focused = await page.evaluate(() => document.activeElement?.textContent);
  check(["Network", "Templates", "SDL editor", "Stratus"].includes(focused), `keyboard focus reaches the navigation (${focused})`);

  check(errors.length === 0, `no script errors ${errors.join("; ")}`);
} finally {
  await browser.close();
}
