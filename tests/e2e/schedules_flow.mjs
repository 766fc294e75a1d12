// The Schedules page and "new since last analysis", in the browser. Run by
// tests/e2e/test_ui_schedules.py, which names in PGSAGE_COMPARED a finished analysis whose
// summary compares it with the previous one (one new suggestion, one gone).
import assert from "node:assert/strict";
import { BASE, newPage, run, shot, until } from "./browser.mjs";

async function schedulesFlow() {
  const page = await newPage();
  await page.goto(`${BASE}/`);
  await page.getByRole("link", { name: "Schedules" }).click();
  await page.waitForURL(`${BASE}/schedules`);
  const table = page.getByTestId("schedules-table");
  await table.getByText("No schedules yet.").waitFor();
  const form = page.getByRole("form", { name: "Create a schedule" });
  assert.equal(await form.locator("select[name=target]").inputValue(), "demo");

  // A cron that is not one is refused next to the field, saying why.
  await form.locator("input[name=cron]").fill("every night");
  await form.getByRole("button", { name: "Create schedule" }).click();
  await page.getByTestId("cron-error").waitFor();
  assert.match(await page.getByTestId("cron-error").innerText(), /schedule\.cron has 2 fields/);

  // A nightly schedule: listed with its next run.
  await form.locator("input[name=cron]").fill("0 3 * * *");
  await form.locator("input[name=timeZone]").fill("UTC");
  await form.locator("input[name=displayName]").fill("nightly");
  await form.locator("input[name=MISSING_INDEXES]").check();
  await form.getByRole("button", { name: "Create schedule" }).click();
  const row = table.locator("tr[data-schedule]", { hasText: "nightly" });
  await row.waitFor();
  const text = await row.innerText();
  assert.match(text, /0 3 \* \* \*/);
  assert.match(text, /missing indexes/);
  assert.match(await row.getByTestId("schedule-state").innerText(), /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
  await shot(page, "schedules-01-created");

  // Pause, resume.
  await row.getByRole("button", { name: "Pause" }).click();
  await until(async () => (await row.getAttribute("data-paused")) === "true", "paused");
  assert.equal(await row.getByTestId("schedule-state").innerText(), "paused");
  await row.getByRole("button", { name: "Resume" }).click();
  await until(async () => (await row.getAttribute("data-paused")) === "false", "resumed");

  // Delete, after a confirmation that says its jobs stay.
  await row.getByRole("button", { name: "Delete" }).click();
  const dialog = page.getByTestId("confirm-dialog");
  assert.match(await dialog.innerText(), /The jobs it created, and their audit records, stay/);
  await dialog.getByRole("button", { name: "Delete schedule" }).click();
  await table.getByText("No schedules yet.").waitFor();

  // An analysis compared with the previous one: counts, what is gone, the "new" badge.
  await page.goto(`${BASE}/jobs/${process.env.PGSAGE_COMPARED.split("/")[1]}`);
  const comparison = page.getByTestId("comparison");
  await comparison.waitFor();
  const summary = await comparison.innerText();
  assert.match(summary, /1 new/);
  assert.match(summary, /1 gone/);
  assert.match(await page.getByTestId("comparison-gone").innerText(), /gone: Index on public\.payments \(order_id\)/);
  await until(async () => (await page.locator("tr.suggestion-row").count()) === 2, "two suggestions");
  const fresh = page.locator("tr.suggestion-row", { hasText: "events" });
  const old = page.locator("tr.suggestion-row", { hasText: "customer_id" });
  assert.equal(await fresh.getByTestId("new-badge").innerText(), "new since last analysis");
  assert.equal(await old.getByTestId("new-badge").count(), 0);
  await shot(page, "schedules-02-comparison");
}

await run(process.argv[2], { schedules: schedulesFlow });
