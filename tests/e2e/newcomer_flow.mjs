// What a newcomer stumbled on, page by page. Run by tests/e2e/test_ui_newcomer.py, which
// stores the jobs and names them in PGSAGE_ANALYSIS, PGSAGE_LATER, PGSAGE_FAILED,
// PGSAGE_BENCHMARK_JOB and PGSAGE_PRIOR (the suggestion decided before).
import assert from "node:assert/strict";
import { BASE, newPage, run, shot, until } from "./browser.mjs";

const env = (name) => process.env[`PGSAGE_${name}`];
const id = (name) => name.split("/")[1];

async function newcomerFlow() {
  const page = await newPage();
  const rows = page.locator("tr.suggestion-row");
  const row = (title) => page.locator("tr.suggestion-row", { hasText: title });
  await page.goto(`${BASE}/jobs/${id(env("ANALYSIS"))}`);
  const me = await page.getByTestId("identity-name").innerText();
  await until(async () => (await rows.count()) === 3, "three suggestions listed");

  // The summary's cost: thousands separators and its unit.
  assert.equal(await page.getByTestId("summary-cost").innerText(), "1,234,568 → 12,345 planner cost units");

  // A drop no query uses offers no Benchmark (nothing to time); the index does.
  const drop = row("events_kind_idx");
  await drop.getByRole("button", { name: "Approve" }).waitFor();
  assert.equal(await drop.locator("button[data-action=BENCHMARK]").count(), 0);
  assert.equal(await drop.getByTestId("no-benchmark").innerText(), "nothing to benchmark: no query uses it");
  assert.equal(await row("customer_id").locator("button[data-action=BENCHMARK]").count(), 1);

  // "Rolled back" is a filter of its own.
  const rolledBack = page.locator("button[data-filter=rolled_back]");
  assert.match(await rolledBack.innerText(), /^Rolled back\s*1$/i);
  await rolledBack.click();
  await until(async () => (await rows.count()) === 1 && (await rows.first().innerText()).includes("product_id"), "the rolled back filter");
  assert.equal(await rows.first().locator(".badge").first().innerText(), "rolled back");
  await page.locator("button[data-filter=all]").click();
  await until(async () => (await rows.count()) === 3, "all listed again");

  // The chart: a legend, a time axis, labelled parameter values, and the sample it ran on
  // with the measured size scaled to the whole table next to the estimate.
  await row("customer_id").locator("button.disclosure").click();
  const chart = page.getByTestId("benchmark-chart");
  await chart.waitFor();
  const legend = await chart.getByTestId("bench-legend").innerText();
  assert.match(legend, /before: without the index/);
  assert.match(legend, /after: with the index/);
  assert.match(legend, /run-to-run spread/);
  const axis = chart.getByTestId("bench-axis");
  assert.equal(await axis.count(), 1);
  const ticks = await axis.locator(".bench-tick").allInnerTexts();
  assert.equal(ticks[0], "0");
  assert.ok(ticks.length >= 3, `ticks ${ticks}`);
  assert.ok(Number(ticks.at(-1)) >= 13, `the axis reaches past 12.4 ± 0.6 ms: ${ticks}`);
  assert.match(await axis.innerText(), /ms/);
  assert.equal(await chart.getByTestId("bench-values").innerText(), "measured with $1 = 4211, $2 = 'shipped'");
  const sample = chart.getByTestId("bench-sample");
  const sampleText = await sample.innerText();
  assert.match(sampleText, /10% sample/);
  assert.match(sampleText, /measured 1\.0 MB on it/);
  assert.equal(await sample.getByTestId("bench-scaled-size").innerText(), "10.0 MB");
  assert.equal(await sample.getByTestId("bench-estimate").innerText(), "9.0 MB");
  await chart.screenshot({ path: `${process.env.ARTIFACTS}/30-chart-legend-axis-sample.png` });

  // The audit trail: the benchmark's statements fold under one row; shown, each statement is
  // one row with its outcome (its start folded in), times to the millisecond, whole actors.
  const audit = page.getByTestId("audit-list");
  const batch = audit.locator("tr[data-action='statement.batch']");
  await until(async () => (await batch.count()) === 1, "the benchmark's statements folded");
  assert.equal(await audit.locator("tr[data-action='statement.execute']").count(), 0, "folded until shown");
  assert.equal(await batch.getByTestId("batch-count").innerText(), "4 statements");
  assert.equal(await batch.getByTestId("batch-outcome").innerText(), "succeeded");
  await batch.getByRole("button", { name: "show" }).click();
  const statements = audit.locator("tr[data-action='statement.execute']");
  await until(async () => (await statements.count()) === 4, "one row per statement");
  assert.equal(await audit.locator("tr[data-outcome=STARTED]").count(), 0, "starts folded into their outcome");
  const texts = await statements.allInnerTexts();
  assert.ok(texts.every((t) => /succeeded/.test(t)), texts.join("\n---\n"));
  assert.ok(texts[3].includes("CREATE SCHEMA") && texts[0].includes("DROP SCHEMA"), "newest first");
  const actor = statements.first().locator(".actor-name");
  assert.equal(await actor.innerText(), `pgsage:${env("BENCHMARK_JOB")}`);
  assert.ok(await actor.evaluate((e) => e.scrollWidth <= e.clientWidth + 1), "the whole actor is visible");
  const times = await audit.locator("tbody tr td:first-child").allInnerTexts();
  assert.ok(times.every((t) => /\d{2}:\d{2}:\d{2}\.\d{3}/.test(t)), `sub-second times: ${times}`);
  const approval = audit.locator("tr[data-action='suggestion.approve']");
  assert.match(await approval.innerText(), /pending → approved/);
  await audit.scrollIntoViewIfNeeded();
  await audit.screenshot({ path: `${process.env.ARTIFACTS}/31-audit-one-row-per-statement.png` });

  // Decided before: by whom, when and in which job.
  await page.goto(`${BASE}/jobs/${id(env("LATER"))}`);
  await until(async () => (await rows.count()) === 1, "the later suggestion");
  assert.match(await rows.first().innerText(), /decided before/);
  await rows.first().locator("button.disclosure").click();
  const prior = page.getByTestId("prior-decision");
  await prior.waitFor();
  await until(async () => (await prior.getByTestId("prior-actor").count()) === 1, "who decided");
  assert.equal(await prior.getByTestId("prior-actor").innerText(), me);
  assert.equal(await prior.getByTestId("prior-state").innerText(), "approved");
  assert.match(await prior.getByTestId("prior-time").innerText(), /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}$/);
  const link = prior.locator(`a[href="/jobs/${id(env("ANALYSIS"))}"]`);
  assert.equal(await link.count(), 1, "links the job it was decided in");
  await shot(page, "32-decided-before");

  // A failed analysis says it failed, and offers no patch.
  await page.goto(`${BASE}/jobs/${id(env("FAILED"))}`);
  await until(async () => (await page.locator("h1 .badge").innerText()) === "failed", "the failed job");
  assert.match(await page.getByTestId("job-failed").innerText(), /^The job failed: /);
  const empty = page.locator("[data-testid=suggestions-table] td.empty");
  await empty.waitFor();
  assert.match(await empty.innerText(), /failed before it suggested anything/);
  assert.doesNotMatch(await page.locator("main").innerText(), /found nothing to suggest/);
  assert.equal(await page.getByTestId("download-patch").count(), 0);
  assert.match(await page.getByTestId("job-progress").innerText(), /^failed at 0 %/);
  await shot(page, "33-failed-job");

  // A finished change job is done, in the history and on its page, not "0 %".
  await page.goto(`${BASE}/`);
  const history = page.locator("[data-testid=jobs-table] tbody tr");
  await until(async () => (await history.count()) === 4, "four jobs");
  const change = history.filter({ hasText: "benchmark" });
  assert.equal(await change.count(), 1);
  assert.equal(await change.getByTestId("job-done").innerText(), "done");
  assert.doesNotMatch(await change.innerText(), /0 %/);
  await page.goto(`${BASE}/jobs/${id(env("BENCHMARK_JOB"))}`);
  await until(async () => (await page.getByTestId("job-progress").innerText().catch(() => "")) === "done", "the change job done");
  await page.getByTestId("change-job").getByTestId("benchmark-chart").waitFor();

  // The "API" link opens interactive docs (self-hosted), and "Try it" calls the API.
  await page.getByRole("link", { name: "API", exact: true }).click();
  await page.waitForURL(`${BASE}/api`);
  const docs = page.getByTestId("api-docs");
  await docs.getByRole("heading", { name: "pgsage REST API" }).waitFor();
  const listTargets = docs.locator("details[data-operation=ListTargets]");
  await listTargets.locator(":scope > summary").click();
  await listTargets.getByRole("button", { name: "Try it" }).click();
  await listTargets.getByRole("button", { name: "Send GET" }).click();
  const answer = listTargets.getByTestId("api-answer");
  await answer.waitFor();
  assert.equal(await answer.getByTestId("api-status").innerText(), "HTTP 200");
  assert.match(await answer.locator("pre").innerText(), /"name": "demo"/);
  const getJob = docs.locator("details[data-operation=GetJob]");
  await getJob.locator(":scope > summary").click();
  await getJob.getByRole("button", { name: "Try it" }).click();
  await getJob.locator("input[name=job]").fill(id(env("FAILED")));
  await getJob.getByRole("button", { name: "Send GET" }).click();
  await until(async () => /"state": "FAILED"/.test(await getJob.getByTestId("api-answer").innerText().catch(() => "")), "GetJob answered");
  await shot(page, "34-api-docs");
}

await run(process.argv[2], { newcomer: newcomerFlow });
