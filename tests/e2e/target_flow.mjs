// The target page, in the browser. Run by tests/e2e/test_ui_target_page.py, which applies and
// verifies an index on target "shop" first and passes TITLE (the applied suggestion),
// OPEN_TITLE (an open one), ANALYSIS (jobs/<id>) and PERCENT (the headline's figure).
import assert from "node:assert/strict";
import { BASE, newPage, run, shot } from "./browser.mjs";

async function targetFlow() {
  const page = await newPage();

  // The Targets entry of the header lists the targets; each links to its page.
  await page.goto(`${BASE}/`);
  await page.getByRole("link", { name: "Targets" }).click();
  await page.waitForURL(`${BASE}/targets`);
  const targets = page.getByTestId("targets-table");
  await targets.getByRole("link", { name: "shop" }).click();
  await page.waitForURL(`${BASE}/targets/shop`);

  // The headline: the figure from the verdict, and the sentence saying what it counts.
  const headline = page.getByTestId("headline");
  await headline.waitFor();
  assert.equal(await page.getByTestId("headline-figure").innerText(), `${process.env.PERCENT} % less time`);
  const sentence = await headline.innerText();
  assert.match(sentence, /1 verified change \(1 improved\): the statements they touch take [\d.]+% less time \(\d+\.\dx faster\)/);
  assert.match(sentence, /saved per hour/);

  // The workload charts: a point per interval between snapshots.
  for (const chart of ["chart-time", "chart-calls"]) {
    const dots = await page.getByTestId(chart).locator("circle").count();
    assert.ok(dots >= 3, `${chart}: ${dots} points`);
  }

  // The applied change: its verdict, its reason, and the before/after bars of its query.
  const change = page.getByTestId("applied-change").filter({ hasText: process.env.TITLE });
  assert.equal((await change.getByTestId("verdict-badge").innerText()).trim(), "improved");
  assert.match(await change.getByTestId("applied-reason").innerText(), /significantly faster/);
  const bars = change.getByTestId("before-after-chart");
  assert.ok((await bars.locator("rect.bar-before").count()) >= 1);
  assert.ok((await bars.locator("rect.bar-after").count()) >= 1);
  assert.match(await bars.innerText(), /SELECT count\(\*\) FROM t_orders/);

  // The open suggestion with its estimated gain, the schedule, the analysis.
  const open = page.getByTestId("open-suggestions").locator("tr", { hasText: process.env.OPEN_TITLE });
  assert.match(await open.innerText(), /12\.5 %/);
  assert.match(await page.getByTestId("target-schedules").innerText(), /0 3 \* \* \*.*nightly/);
  const analysisId = process.env.ANALYSIS.split("/")[1];
  assert.equal(await page.getByTestId("target-analyses").locator(`a[href="/jobs/${analysisId}"]`).count(), 1);
  await shot(page, "target-01-page");

  // From the jobs: a job's target links to its page.
  await page.getByRole("link", { name: "Jobs" }).click();
  await page.waitForURL(`${BASE}/`);
  await page.getByTestId("jobs-table").getByRole("link", { name: "shop" }).first().click();
  await page.waitForURL(`${BASE}/targets/shop`);
  await page.getByTestId("headline").waitFor();

  // A target nobody knows: said plainly.
  await page.goto(`${BASE}/targets/nowhere`);
  await page.getByText("Not found: targets/nowhere does not exist.").waitFor();
  console.log("target flow passed");
}

await run(process.argv[2], { target: targetFlow });
