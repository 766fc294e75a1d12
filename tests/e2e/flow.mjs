// Browser flows of the pgsage UI, driven by playwright-core on Debian's Chromium.
// Run by tests/e2e (pytest), which starts the stack and passes PGSAGE_URL. When a flow needs
// what the dispatcher does (run a job), it prints `@@ run <job>` and waits for `ok` on stdin.
// Exits non-zero with the failed check; saves screenshots under ARTIFACTS.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { createInterface } from "node:readline";

const { chromium } = await import(process.env.PLAYWRIGHT_CORE);
const BASE = process.env.PGSAGE_URL;
const ARTIFACTS = process.env.ARTIFACTS;
const mode = process.argv[2];

const stdin = createInterface({ input: process.stdin });
const answers = stdin[Symbol.asyncIterator]();
async function ask(verb, argument) {
  console.log(`@@ ${verb} ${argument}`);
  const { value } = await answers.next();
  assert.equal(value, "ok", `pytest did not ${verb} ${argument}`);
}

async function until(check, what, tries = 300) {
  for (let i = 0; i < tries; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`never happened: ${what}`);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM,
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});
const context = await browser.newContext({ viewport: { width: 1360, height: 860 }, acceptDownloads: true });
const page = await context.newPage();
const problems = [];
page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
page.on("console", (m) => { if (m.type() === "error" && !/status of (4|5)\d\d/.test(m.text())) problems.push(`console: ${m.text()}`); });
const shot = (name) => page.screenshot({ path: `${ARTIFACTS}/${name}.png`, fullPage: true });
const row = (title) => page.locator("tr.suggestion-row", { hasText: title });
const state = (title) => row(title).locator(".badge").first().innerText();

async function mainFlow() {
  // New analysis: the target comes from ListTargets.
  await page.goto(`${BASE}/`);
  await page.getByRole("link", { name: "New analysis" }).first().click();
  await page.waitForURL(`${BASE}/new`);
  const select = page.locator("select[name=target]");
  await select.waitFor();
  assert.equal(await select.inputValue(), "demo");
  await page.locator("input[name=DUPLICATE_INDEXES]").uncheck();
  await page.locator("input[name=budget]").fill("25");
  await shot("01-new-analysis");
  await page.getByRole("button", { name: "Start analysis" }).click();
  await page.waitForURL(/\/jobs\/[0-9a-f-]{36}$/);
  const job = `jobs/${page.url().split("/").pop()}`;
  await page.getByText("Waiting for a worker").waitFor();
  const facts = await page.locator(".facts").first().innerText();
  assert.match(facts, /missing indexes, unused indexes/);
  assert.match(facts, /25\.0 MB/);
  await until(async () => (await page.locator(".live").innerText()).includes("live"), "SSE connected");
  await shot("02-job-pending");

  // The job runs; the page follows it live over Server-Sent Events, without a reload.
  await ask("run", job);
  await until(async () => (await page.locator("h1 .badge").innerText()) === "succeeded", "job succeeded on the page");
  await until(async () => (await page.locator("tr.suggestion-row").count()) === 3, "three suggestions listed");
  await shot("03-job-finished");

  // Approve one, dismiss another (with a reason).
  await row("customer_id").getByRole("button", { name: "Approve" }).click();
  await until(async () => (await state("customer_id")) === "approved", "approved");
  await row("events_kind").getByRole("button", { name: "Dismiss" }).click();
  await row("events_kind").getByLabel("Reason for dismissing").fill("the nightly report uses it");
  await row("events_kind").getByRole("button", { name: "Dismiss" }).click();
  await until(async () => (await state("events_kind")) === "dismissed", "dismissed");

  // Filters: each shows only its state, and the counts follow.
  for (const [filter, titles] of [["pending", ["order_id"]], ["approved", ["customer_id"]], ["dismissed", ["events_kind"]]]) {
    await page.locator(`button[data-filter=${filter}]`).click();
    const rows = page.locator("tr.suggestion-row");
    await until(
      async () => (await rows.count()) === titles.length && (await rows.first().innerText()).includes(titles[0]),
      `${filter} filter shows ${titles}`,
    );
  }
  assert.match(await page.locator("button[data-filter=pending]").innerText(), /1$/);
  await page.locator("button[data-filter=all]").click();
  await until(async () => (await page.locator("tr.suggestion-row").count()) === 3, "all filter");

  // A benchmark that found a slower query: badges on the row, the chart and that query.
  assert.equal(await row("order_id").getByTestId("regression-badge").count(), 1);
  assert.equal(await row("customer_id").getByTestId("regression-badge").count(), 0);
  await row("order_id").locator("button.disclosure").click();
  const chart = page.getByTestId("benchmark-chart");
  await chart.waitFor();
  assert.match(await chart.innerText(), /sandbox target demo_sandbox/);
  assert.match(await chart.getByTestId("bench-index-size").innerText(), /^25\.5 MB$/);
  const queries = chart.getByTestId("bench-query");
  assert.equal(await queries.count(), 2);
  assert.equal(await queries.nth(0).getByTestId("regression-badge").count(), 0);
  assert.equal(await queries.nth(1).getByTestId("regression-badge").count(), 1);
  assert.match(await queries.nth(0).innerText(), /519× faster[\s\S]*41\.50 ms ± 1\.20[\s\S]*0\.080 ms ± 0\.010/);
  assert.match(await queries.nth(0).innerText(), /5,120 buffers[\s\S]*index not used[\s\S]*4 buffers[\s\S]*index used/);
  assert.match(await queries.nth(1).innerText(), /55 % slower/);
  await chart.screenshot({ path: `${ARTIFACTS}/04a-regression-chart.png` });

  // Edit SQL: a statement of the wrong kind is refused, and the reason shows under the editor.
  await page.getByRole("button", { name: "edit" }).click();
  const editor = page.getByLabel("Edited SQL");
  await editor.fill("DROP TABLE public.order_items");
  await page.getByRole("button", { name: "Save SQL" }).click();
  const sqlError = page.getByTestId("sql-error");
  await sqlError.waitFor();
  assert.ok((await sqlError.innerText()).length > 10);
  await shot("04-edit-refused");
  const edited = "CREATE INDEX CONCURRENTLY order_items_order_id_product_id_idx ON public.order_items (order_id, product_id)";
  await editor.fill(edited);
  await page.getByRole("button", { name: "Save SQL" }).click();
  await until(async () => (await page.getByLabel("Edited SQL").count()) === 0, "editor closed");
  await page.getByText("edited by a reviewer").waitFor();
  assert.match(await row("order_id").innerText(), /edited/);

  // Someone else changes the suggestion meanwhile: the conflict is explained, reload fixes it.
  const name = await row("order_id").getAttribute("data-suggestion");
  await ask("touch", name);
  await row("order_id").getByRole("button", { name: "Approve" }).click();
  const conflict = page.getByText("changed by someone else");
  await conflict.waitFor();
  await shot("05-conflict");
  await page.getByRole("button", { name: "Reload suggestion" }).click();
  await until(async () => (await conflict.count()) === 0, "conflict gone after reload");
  await row("order_id").getByRole("button", { name: "Approve" }).click();
  await until(async () => (await state("order_id")) === "approved", "approved after reload");
  await shot("06-reviewed");

  // The patch: both approved statements, the edited SQL in place of the original.
  const [download] = await Promise.all([page.waitForEvent("download"), page.getByTestId("download-patch").click()]);
  const script = await readFile(await download.path(), "utf8");
  const statements = script.split("\n").filter((l) => l && !l.startsWith("--"));
  assert.deepEqual(statements.sort(), [`${edited};`, "CREATE INDEX CONCURRENTLY orders_customer_id_idx ON public.orders (customer_id);"].sort());
  assert.match(download.suggestedFilename(), /^pgsage-.*\.sql$/);
  console.log("patch ok");

  // History: the job is there, and the state filter finds it.
  await page.getByRole("link", { name: "Jobs" }).first().click();
  await page.locator("button[data-state=SUCCEEDED]").click();
  await until(async () => (await page.locator("[data-testid=jobs-table] tbody tr").count()) === 1, "succeeded filter");
  assert.match(await page.locator("button[data-state=SUCCEEDED]").innerText(), /1$/);
  await shot("07-jobs");
}

async function historyFlow() {
  // No reachable target: the form says so plainly, with the reason.
  await page.goto(`${BASE}/new`);
  const note = page.getByTestId("no-targets");
  await note.waitFor();
  const text = await note.innerText();
  assert.match(text, /No target database can be reached/);
  assert.match(text, /demo:/);
  assert.ok(!(await page.getByRole("button", { name: "Start analysis" }).isEnabled()));
  await shot("08-no-target");

  // Pagination: 25 per page, newest first.
  await page.goto(`${BASE}/`);
  const rows = page.locator("[data-testid=jobs-table] tbody tr");
  await until(async () => (await rows.count()) === 25, "first page full");
  assert.match(await page.locator("button[data-state=ALL]").innerText(), /27$/);
  await page.getByRole("button", { name: "Older →" }).click();
  await until(async () => (await rows.count()) === 2, "second page");
  await page.getByText("Page 2").waitFor();
  await page.getByRole("button", { name: "← Newer" }).click();
  await until(async () => (await rows.count()) === 25, "back to the first page");
  await page.locator("button[data-state=CANCELLED]").click();
  await until(async () => (await rows.count()) === 2, "cancelled filter");
  await shot("09-history");
}

async function analysisFlow() {
  // Changes are audited under the verified caller: here, local mode's OS user, shown in the header.
  await page.goto(`${BASE}/new`);
  const me = page.getByTestId("identity-name");
  await me.waitFor();
  const caller = await me.innerText();
  // A real analysis of the demo target, run by the dispatcher on the optimizer.
  const select = page.locator("select[name=target]");
  await select.waitFor();
  assert.equal(await select.inputValue(), "demo");
  await page.locator("input[name=budget]").fill("");
  await page.getByRole("button", { name: "Start analysis" }).click();
  await page.waitForURL(/\/jobs\/[0-9a-f-]{36}$/);
  await until(async () => (await page.locator("h1 .badge").innerText()) === "succeeded", "the analysis finished", 1200);
  const rows = page.locator("tr.suggestion-row");
  const counted = page.locator(".facts > div", { hasText: "Suggestions" }).locator("dd");
  const total = Number(await counted.innerText());
  assert.ok(total >= 2, `the analysis found ${total} suggestions`);
  await until(async () => (await rows.count()) === total, "every suggestion listed");
  await page.getByText("Workload improvement").waitFor();
  await shot("10-analysis-finished");

  const first = await rows.nth(0).getAttribute("data-suggestion");
  const second = await rows.nth(1).getAttribute("data-suggestion");
  const byName = (name) => page.locator(`tr[data-suggestion="${name}"]`);
  assert.match(await byName(first).innerText(), /create index/);

  // Benchmark the top create-index suggestion (a sampled copy on the demo target): the row
  // says queued / benchmarking while the job runs, then the chart opens in its details.
  await byName(first).locator("button[data-action=BENCHMARK]").click();
  const step = byName(first).getByTestId("action-running");
  const chart = page.getByTestId("benchmark-chart");
  const seen = new Set();
  await until(async () => {
    const text = await step.innerText({ timeout: 50 }).catch(() => "");
    if (text) seen.add(text.split(":")[0]);
    return (await chart.count()) === 1;
  }, "the benchmark chart", 1200);
  assert.ok([...seen].some((t) => /queued|benchmarking/.test(t)), `the row showed the benchmark's progress: ${[...seen]}`);
  console.log(`benchmark steps shown: ${[...seen].join(" | ")}`);
  await byName(first).getByTestId("action-done").waitFor();
  assert.match(await byName(first).innerText(), /benchmarked/);
  assert.match(await chart.getByTestId("bench-environment").innerText(), /demo/);
  assert.match(await chart.getByTestId("bench-index-size").innerText(), /\d+(\.\d)? (B|kB|MB)/);
  const measured = chart.locator("[data-testid=bench-query]:not([data-skipped])");
  assert.ok((await measured.count()) >= 1, "at least one query measured");
  const ms = /^\d+(\.\d+)? ms/;
  assert.match(await measured.first().getByTestId("median-before").innerText(), ms);
  assert.match(await measured.first().getByTestId("median-after").innerText(), ms);
  const used = [];
  for (let i = 0; i < (await measured.count()); i++) used.push(await measured.nth(i).getByTestId("index-after").innerText());
  assert.ok(used.includes("index used"), `the index was used by a measured query: ${used}`);
  assert.equal(await measured.first().getByTestId("index-before").innerText(), "index not used");
  await chart.scrollIntoViewIfNeeded();
  await chart.screenshot({ path: `${ARTIFACTS}/12-benchmark-chart.png` });
  await shot("12-benchmark");
  await byName(first).locator("button.disclosure").click();
  await until(async () => (await chart.count()) === 0, "details closed");

  // Approve the first (the biggest gain), dismiss the second.
  await byName(first).getByRole("button", { name: "Approve" }).click();
  await until(async () => (await byName(first).locator(".badge").first().innerText()) === "approved", "approved");
  await byName(second).getByRole("button", { name: "Dismiss" }).click();
  await byName(second).getByRole("button", { name: "Dismiss" }).click();
  await until(async () => (await byName(second).locator(".badge").first().innerText()) === "dismissed", "dismissed");
  for (const [filter, count] of [["approved", 1], ["dismissed", 1], ["pending", total - 2], ["all", total]]) {
    await page.locator(`button[data-filter=${filter}]`).click();
    await until(async () => (await rows.count()) === count, `${filter} shows ${count}`);
  }
  await page.locator("button[data-filter=approved]").click();
  await until(async () => (await rows.count()) === 1, "approved only");
  await rows.first().locator("button.disclosure").click();
  const sql = (await page.locator("pre.sql").first().innerText()).trim();
  await shot("11-analysis-reviewed");

  const [download] = await Promise.all([page.waitForEvent("download"), page.getByTestId("download-patch").click()]);
  const script = await readFile(await download.path(), "utf8");
  const statements = script.split("\n").filter((l) => l && !l.startsWith("--"));
  assert.deepEqual(statements, [sql.endsWith(";") ? sql : `${sql};`]);
  console.log("patch ok");

  // Apply the approved suggestion on the demo target, confirmed in a dialog that shows the
  // exact statement and the target, then roll it back the same way.
  await page.locator("button[data-filter=all]").click();
  await until(async () => (await rows.count()) === total, "all listed");
  const badge = (name) => byName(name).locator(".badge").first().innerText();
  const dialog = page.getByTestId("confirm-dialog");
  await byName(first).locator("button[data-action=APPLY]").click();
  await dialog.waitFor();
  assert.equal((await dialog.getByTestId("confirm-sql").innerText()).trim(), sql.replace(/;$/, ""));
  assert.equal(await dialog.getByTestId("confirm-target").innerText(), "demo");
  await dialog.screenshot({ path: `${ARTIFACTS}/13-confirm-apply.png` });
  await dialog.getByRole("button", { name: "Cancel" }).click();
  await until(async () => (await dialog.count()) === 0, "dialog cancelled");
  assert.equal(await badge(first), "approved", "cancelling the dialog runs nothing");
  await byName(first).locator("button[data-action=APPLY]").click();
  // The dialog says how long the change may run: the target's timeouts (no build timeout,
  // a 1 s lock timeout by default), which the person may change before confirming.
  const timeouts = dialog.getByTestId("confirm-timeouts");
  await until(async () => (await dialog.getByTestId("lock-timeout").inputValue()) === "1", "the target's lock timeout");
  assert.match(await timeouts.innerText(), /no build timeout/);
  assert.equal(await dialog.getByTestId("build-timeout").inputValue(), "");
  await dialog.getByTestId("lock-timeout").fill("30");
  await dialog.getByRole("button", { name: "Apply on demo" }).click();
  await until(async () => (await badge(first)) === "applied", "applied", 1200);
  await page.locator("button[data-filter=applied]").click();
  await until(async () => (await rows.count()) === 1, "the applied filter shows it");
  await shot("14-applied");

  // The audit trail in the details: the state changes and the statement executed on demo,
  // under the verified caller (local mode's OS user).
  const audit = page.getByTestId("audit-list");
  if ((await audit.count()) === 0) await byName(first).locator("button.disclosure").click();
  const executed = audit.locator("tr[data-action='statement.execute']");
  await until(async () => (await executed.count()) >= 1, "the executed statement in the audit list");
  const executions = (await executed.allInnerTexts()).join("\n");
  assert.ok(executions.includes("CREATE INDEX CONCURRENTLY"), executions);
  assert.match(executions, /SET lock_timeout = 30000/); // the dialog's lock timeout, sent with the job
  assert.match(executions, /SET statement_timeout = 0/); // no build timeout
  // The apply job ran them on behalf of the caller who asked for it.
  assert.ok(new RegExp(`pgsage:jobs/[0-9a-f-]{36}\\s*for ${caller}`).test(executions), executions);
  await audit.scrollIntoViewIfNeeded();
  await audit.screenshot({ path: `${ARTIFACTS}/15-audit-list.png` });
  // Older pages load with "More"; the caller's own changes carry their verified name.
  const listed = async () => audit.locator("tbody tr").count();
  for (let pages = 0; (await audit.getByRole("button", { name: "More" }).count()) > 0 && pages < 20; pages++) {
    const before = await listed();
    await audit.getByRole("button", { name: "More" }).click();
    await until(async () => (await listed()) > before, "another page of the audit trail");
  }
  const mine = (await audit.locator(`tbody tr[data-actor="${caller}"]`).allInnerTexts()).join("\n");
  assert.match(mine, /suggestion\.approve\b[\s\S]*pending → approved/, mine);
  assert.match(mine, /local mode/, mine);
  assert.doesNotMatch(mine, /unauthenticated/, mine);

  await page.locator("button[data-filter=all]").click();
  await until(async () => (await rows.count()) === total, "all listed again");
  await byName(first).locator("button[data-action=ROLLBACK]").click();
  await dialog.waitFor();
  assert.match(await dialog.getByTestId("confirm-sql").innerText(), /^DROP INDEX CONCURRENTLY/);
  await dialog.screenshot({ path: `${ARTIFACTS}/16-confirm-rollback.png` });
  await dialog.getByRole("button", { name: "Roll back on demo" }).click();
  await until(async () => (await badge(first)) === "rolled back", "rolled back", 1200);
  await until(
    async () => (await executed.allInnerTexts()).join("\n").includes("DROP INDEX CONCURRENTLY"),
    "the rollback statement in the audit list",
  );
  await shot("17-rolled-back");
  console.log("apply and rollback ok");

  // The history lists the benchmark, apply and rollback jobs next to the analysis, and the
  // VERIFY job the apply scheduled (the rollback cancelled it while it waited).
  await page.getByRole("link", { name: "Jobs" }).first().click();
  const jobRows = page.locator("[data-testid=jobs-table] tbody tr");
  await until(async () => (await jobRows.count()) === 5, "five jobs in the history");
  await until(
    async () => (await jobRows.allInnerTexts()).some((t) => /verify/i.test(t)),
    "the VERIFY job the apply scheduled, in the history",
  );
  await shot("18-history-after-rollback");
  await jobRows.first().locator("a").first().click();
  await page.waitForURL(/\/jobs\/[0-9a-f-]{36}$/);
  await until(async () => (await page.locator("h1 .badge").first().innerText()) === "succeeded", "the rollback job page");
  // A change job's page: the suggestion it acted on, its statement, and what it recorded.
  const change = page.getByTestId("change-job");
  await change.waitFor();
  await until(async () => /^DROP INDEX CONCURRENTLY/.test(await change.locator("pre.sql").innerText()), "the rollback statement shown");
  assert.equal(await change.locator(".badge").first().innerText(), "rolled back");
  const recorded = change.locator("tr[data-action='statement.execute']");
  await until(async () => (await recorded.count()) >= 2, "the job's statements listed");
  assert.equal(await page.getByTestId("job-creator").innerText(), caller);
  assert.equal(await page.getByTestId("download-patch").count(), 0);
  await shot("19-rollback-job");
}

async function unconfiguredFlow() {
  // PGSAGE_URL is "<base>#jobs/<id>" here: an analysis that already succeeded.
  const [base, job] = BASE.split("#");
  await page.goto(`${base}/${job}`);
  const rows = page.locator("tr.suggestion-row");
  await until(async () => (await rows.count()) >= 1, "suggestions listed");
  const first = rows.first();
  await first.locator("button[data-action=BENCHMARK]").click();
  const alert = page.locator(".detail-row [role=alert]").first();
  await until(async () => (await alert.count()) === 1, "the failed benchmark explained", 1200);
  const text = await alert.innerText();
  assert.match(text, /^Benchmark failed: /, text);
  assert.match(text, /nowhere to benchmark/, text);
  assert.match(text, /sandbox = "<target>"/, text);
  assert.match(text, /benchmark_sampling = true/, text);
  assert.equal(await page.getByTestId("benchmark-chart").count(), 0);
  // The row offers Benchmark again, and the suggestion itself is unchanged.
  await first.locator("button[data-action=BENCHMARK]").waitFor();
  assert.equal(await first.locator(".badge").first().innerText(), "pending");
  await shot("18-benchmark-not-configured");

  // Apply on a target whose config forbids it: confirmed, then refused with the reason.
  await first.getByRole("button", { name: "Approve" }).click();
  await until(async () => (await first.locator(".badge").first().innerText()) === "approved", "approved");
  await first.locator("button[data-action=APPLY]").click();
  await page.getByTestId("confirm-dialog").getByRole("button", { name: "Apply on demo" }).click();
  await until(async () => /^Apply failed: /.test(await alert.innerText().catch(() => "")), "the refused apply explained", 1200);
  const refused = await alert.innerText();
  assert.match(refused, /does not allow apply/, refused);
  assert.match(refused, /apply_allowed = true/, refused);
  // The suggestion is APPLY_FAILED with its reason on the row, in its details and its audit trail.
  await until(async () => (await first.locator(".badge").first().innerText()) === "apply failed", "apply failed");
  assert.match(await first.getByTestId("failure-reason").innerText(), /does not allow apply/);
  await first.locator("button.disclosure").click();
  assert.match(await page.getByTestId("detail-failure").innerText(), /^Apply failed: .*does not allow apply/);
  const audit = page.getByTestId("audit-list");
  await until(async () => (await audit.locator("tbody tr", { hasText: "apply failed" }).count()) >= 1, "the failure audited");
  assert.equal(await audit.locator("tr[data-action='statement.execute']").count(), 0, "no statement ran on the target");
  await shot("19-apply-not-allowed");
}

try {
  if (mode === "main") await mainFlow();
  else if (mode === "unconfigured") await unconfiguredFlow();
  else if (mode === "analysis") await analysisFlow();
  else if (mode === "history") await historyFlow();
  else throw new Error(`unknown flow ${mode}`);
  assert.deepEqual(problems, []);
  console.log(`flow ${mode} passed`);
} catch (error) {
  await shot(`failed-${mode}`).catch(() => {});
  console.error(error.stack ?? String(error));
  if (problems.length) console.error(`browser problems:\n${problems.join("\n")}`);
  process.exitCode = 1;
} finally {
  await browser.close();
  stdin.close();
}
