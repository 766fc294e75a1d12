// The UI tells the person when a job they watch finishes. Run by tests/e2e/test_notifications.py
// (dispatcher paused: pytest ends each job when asked, `@@ finish <job> <STATE>`).
// - a job started from the form, its page open: a toast when it ends, live;
// - a job started in this tab while the person is on another page: a toast (by polling) and a
//   browser notification (permission granted: the Notification API records what it is given);
// - a job this tab neither started nor opened: no toast.
// On the way, the Webhooks page adds a destination and lists it.
import assert from "node:assert/strict";
import { ask, BASE, newPage, run, shot, until } from "./browser.mjs";

async function startAnalysis(page) {
  await page.goto(`${BASE}/new`);
  const select = page.locator("select[name=target]");
  await select.waitFor();
  await until(async () => (await select.inputValue()) === "demo", "the demo target is offered");
  await page.getByRole("button", { name: "Start analysis" }).click();
  await page.waitForURL(/\/jobs\/[0-9a-f-]{36}$/);
  return `jobs/${page.url().split("/").pop()}`;
}

async function notifyFlow() {
  const page = await newPage();
  await page.context().addInitScript(() => {
    window.__notes = [];
    window.Notification = class {
      static permission = "granted";
      static requestPermission = async () => "granted";
      constructor(title, options) {
        window.__notes.push({ title, body: options?.body ?? "" });
      }
    };
  });
  const toasts = page.getByTestId("toast");

  // 1. Its page is open: the toast comes with the live update.
  const first = await startAnalysis(page);
  await until(async () => (await page.locator(".live").innerText()).includes("live"), "SSE connected");
  await ask("finish", `${first} SUCCEEDED`);
  await until(async () => (await toasts.count()) === 1, "a toast for the finished job");
  const toast = toasts.first();
  assert.equal(await toast.getAttribute("data-job"), first);
  assert.match(await toast.innerText(), /Analysis of demo succeeded/);
  const titles = async () => (await page.evaluate(() => window.__notes)).map((n) => n.title);
  assert.deepEqual(await titles(), ["pgsage: Analysis of demo succeeded"]);
  await shot(page, "notify-01-toast-on-the-job-page");
  await toast.getByRole("button", { name: "Dismiss" }).click();
  await until(async () => (await toasts.count()) === 0, "the toast dismissed");

  // 2. Started here, then the person went elsewhere: the Webhooks page (add one there).
  const second = await startAnalysis(page);
  await page.getByRole("link", { name: "Webhooks" }).click();
  await page.waitForURL(`${BASE}/webhooks`);
  const form = page.getByRole("form", { name: "Add a webhook" });
  await form.locator("input[name=displayName]").fill("dba chat");
  await form.locator("input[name=url]").fill("https://chat.example.com/hooks/T0/B0/abc");
  await form.locator("select[name=format]").selectOption("SLACK");
  await form.locator("input[name=secret]").fill("a-secret-of-20-chars");
  await form.getByRole("button", { name: "Add webhook" }).click();
  const row = page.locator("tr[data-webhook]", { hasText: "dba chat" });
  await row.waitFor();
  assert.match(await row.innerText(), /signed/);
  assert.doesNotMatch(await page.content(), /a-secret-of-20-chars/);
  await shot(page, "notify-02-webhooks-page");

  // An unwatched job (created by someone else's script) ends first: nothing is said.
  const other = await page.evaluate(async () => {
    const response = await fetch("/v1/jobs", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ target: "demo" }) });
    return (await response.json()).name;
  });
  await ask("finish", `${other} SUCCEEDED`);
  await ask("finish", `${second} FAILED`);
  await until(async () => (await toasts.count()) === 1, "a toast for the job started in this tab", 100);
  assert.equal(await toasts.first().getAttribute("data-job"), second);
  assert.match(await toasts.first().innerText(), /Analysis of demo failed/);
  // (The page was loaded again since the first: its notifications were recorded anew.)
  assert.deepEqual(await titles(), ["pgsage: Analysis of demo failed"]);
  await shot(page, "notify-03-toast-elsewhere");

  // Its Open link leads to the job.
  await toasts.first().getByRole("link", { name: "Open" }).click();
  await page.waitForURL(`${BASE}/jobs/${second.split("/")[1]}`);
  // Still no toast for the unwatched job, some polls later.
  await page.waitForTimeout(2500);
  assert.equal(await page.locator(`[data-testid=toast][data-job="${other}"]`).count(), 0);
}

await run(process.argv[2], { notify: notifyFlow });
