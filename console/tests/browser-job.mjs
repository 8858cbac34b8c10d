// node tests/browser-job.mjs CONSOLE_URL SCREENSHOT_DIR JOB
// A training job's page in Debian's Chromium (playwright-core), for a job `stratus train up` ran
// on the devnet and that lost a worker: listed on the Training page, its members with the
// replacement, the loss and throughput curves drawn, what happened to its members.
import { check, launch, timed } from "./harness.mjs";

const [url, shots, job] = process.argv.slice(2);
const browser = await launch(shots);
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(`${url}#/jobs`);
  await page.waitForSelector('main[data-ready="jobs"] #jobs tbody tr');
  check((await page.textContent("#jobs")).includes(job), `the Training page lists ${job}`);
  await timed("job page ready", async () => {
    await page.click(`#jobs a[href$="${job}"]`);
    await page.waitForSelector('main[data-ready="job"] #members tbody tr');
  });
  const members = await page.$$("#members tbody tr");
  check(members.length >= 5, `the members include the replacement (${members.length} rows)`);
  check((await page.textContent("#job-replacements")).trim() === "1", "one replacement");
  const points = Number(await page.getAttribute("#loss-chart", "data-points"));
  check(points >= 10, `the loss curve is drawn (${points} rounds)`);
  const story = await page.textContent("#job-events");
  check(/left/.test(story) && /joined/.test(story), "the page tells which worker left and which joined");
  await page.screenshot({ path: `${shots}/job.png`, fullPage: true });
  check(errors.length === 0, `no script errors ${errors.join("; ")}`);
} finally {
  await browser.close();
}
