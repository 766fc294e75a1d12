// The verification of an applied suggestion in the UI: its verdict on the row, the
// Verification section with the per-query numbers, and "Verify now" starting a VERIFY job.
// Run by tests/integration/verification/test_verify_after_apply.py, which applies and verifies the suggestion
// first and passes PGSAGE_URL, JOB (jobs/<id>), TITLE and QUERY.
import assert from "node:assert/strict";

const { chromium } = await import(process.env.PLAYWRIGHT_CORE);
const BASE = process.env.PGSAGE_URL;
const ARTIFACTS = process.env.ARTIFACTS;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
});
const page = await (await browser.newContext({ viewport: { width: 1360, height: 900 } })).newPage();
const problems = [];
page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
try {
  await page.goto(`${BASE}/${process.env.JOB}`);
  const row = page.locator("tr.suggestion-row", { hasText: process.env.TITLE });
  await row.waitFor();
  assert.equal((await row.getByTestId("verdict-badge").innerText()).trim(), "improved");
  await row.locator("button.disclosure").click();
  const section = page.getByTestId("verification");
  await section.waitFor();
  assert.match(await section.getByTestId("verdict-reason").innerText(), /significantly faster/);
  const table = section.getByTestId("verification-queries");
  const first = table.locator("tbody tr").filter({ hasText: process.env.QUERY });
  assert.equal(await first.count(), 1, "the affected query is in the table");
  const cells = await first.locator("td").allInnerTexts();
  assert.match(cells[1], /^\d+ \/ 100$/, `calls before / after: ${cells[1]}`);
  assert.equal(cells.at(-1).trim(), "faster");
  await page.screenshot({ path: `${ARTIFACTS}/verification.png`, fullPage: true });
  await section.getByRole("button", { name: "Verify now" }).click();
  await section.getByTestId("verify-started").waitFor();
  assert.deepEqual(problems, []);
  console.log("verification flow passed");
} finally {
  await browser.close();
}
