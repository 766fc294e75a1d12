// Browser flows of identity and access: the header's "who am I", the audit page (filters,
// pages, chain verification) and API tokens. Run by tests/e2e/test_access.py.
import assert from "node:assert/strict";
import { ask, BASE, newPage, run, shot, until } from "./browser.mjs";

/** `datetime-local` text for `ms` (the browser's and node's local time zone alike). */
function localInput(ms) {
  const d = new Date(ms);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** Every state-changing request the page sends must be JSON (the gateway's CSRF defence). */
function watchWrites(page) {
  const writes = [];
  page.on("request", (r) => {
    if (!["GET", "HEAD"].includes(r.method())) writes.push(`${r.method()} ${new URL(r.url()).pathname} ${r.headers()["content-type"] ?? "(none)"}`);
  });
  return writes;
}

async function localFlow() {
  const user = process.env.PGSAGE_USER;
  const approvals = Number(process.env.APPROVALS);
  const staging = Number(process.env.STAGING_APPROVALS);
  const page = await newPage({ permissions: ["clipboard-read", "clipboard-write"] });
  const writes = watchWrites(page);

  // The header: who, how (local mode, clearly), and no sign-in or sign-out without OIDC.
  await page.goto(`${BASE}/`);
  const identity = page.getByTestId("identity");
  await until(async () => (await identity.innerText()).includes("local mode"), "the identity in the header");
  assert.equal((await identity.innerText()).trim(), `${user} (local mode, every role)`);
  assert.equal(await identity.getByRole("button").count(), 0, "no Sign in / Sign out in local mode");
  await page.getByRole("link", { name: "New analysis" }).first().waitFor();
  await shot(page, "access-01-local-header");

  // The audit page: filter by action, page through, then by target, actor and time.
  await page.getByRole("link", { name: "Audit", exact: true }).click();
  await page.waitForURL(`${BASE}/audit`);
  const rows = page.getByTestId("audit-list").locator("tbody tr");
  const count = (n, what) => until(async () => (await rows.count()) === n, `${what}: ${n} rows`);
  const filterBy = async (values) => {
    for (const name of ["actor", "target", "action", "from", "to"]) await page.locator(`input[name=${name}]`).fill(values[name] ?? "");
    await page.getByRole("button", { name: "Filter" }).click();
  };
  await count(25, "the newest page of everything");

  await filterBy({ action: "suggestion.approve" });
  await page.waitForURL(/\/audit\?action=suggestion.approve$/);
  await count(25, "approvals, first page");
  assert.deepEqual(new Set(await rows.evaluateAll((trs) => trs.map((tr) => tr.dataset.action))), new Set(["suggestion.approve"]));
  assert.equal(await page.getByTestId("audit-page").innerText(), "Page 1");
  await page.getByRole("button", { name: "Older →" }).click();
  await count(approvals + staging - 25, "approvals, second page");
  assert.equal(await page.getByTestId("audit-page").innerText(), "Page 2");
  assert.ok(await page.getByRole("button", { name: "Older →" }).isDisabled(), "no third page");
  await page.getByRole("button", { name: "← Newer" }).click();
  await count(25, "back to the first page");
  await shot(page, "access-02-audit-approvals");

  await filterBy({ target: "staging", action: "suggestion.approve" });
  await count(staging, "approvals on staging");
  const targets = await rows.evaluateAll((trs) => trs.map((tr) => tr.children[4].textContent));
  assert.deepEqual(new Set(targets), new Set(["staging"]));

  await filterBy({ actor: user, action: "suggestion.approve" });
  await count(25, "the local user's approvals");
  assert.deepEqual(new Set(await rows.evaluateAll((trs) => trs.map((tr) => tr.dataset.actor))), new Set([user]));
  await filterBy({ actor: "nobody-at-all" });
  await page.getByText("No audit records match.").waitFor();
  assert.equal(await rows.count(), 0);

  const hourAgo = localInput(Date.now() - 3600_000);
  await filterBy({ action: "suggestion.approve", to: hourAgo });
  await page.getByText("No audit records match.").waitFor();
  await filterBy({ action: "suggestion.approve", from: hourAgo });
  await count(25, "approvals of the last hour");
  // The filter is in the address: a reload (or a shared link) shows the same records.
  await page.reload();
  assert.equal(await page.locator("input[name=action]").inputValue(), "suggestion.approve");
  await count(25, "approvals of the last hour after a reload");
  await shot(page, "access-03-audit-filtered");

  await tokensFlow(page);

  // An admin deletes a finished job, confirmed first; its audit records stay.
  const job = process.env.JOB;
  await page.goto(`${BASE}/${job}`);
  await page.getByRole("button", { name: "Delete", exact: true }).click();
  const dialog = page.getByTestId("confirm-dialog");
  assert.match(await dialog.innerText(), /audit records stay/);
  await dialog.getByRole("button", { name: "Delete job" }).click();
  await page.waitForURL(`${BASE}/`);
  assert.equal(await page.evaluate(async (name) => (await fetch(`/v1/${name}`)).status, job), 404);
  await page.goto(`${BASE}/audit?action=suggestion.approve`);
  await count(25, "approvals still audited after the job is gone");

  assert.ok(writes.some((w) => w.startsWith("DELETE ")), writes.join("\n"));
  for (const write of writes) assert.match(write, / application\/json$/, `every write is JSON: ${write}`);
}

async function verifyFlow() {
  const page = await newPage();
  await page.goto(`${BASE}/audit?action=suggestion.approve`);
  const rows = page.getByTestId("audit-list").locator("tbody tr");
  await until(async () => (await rows.count()) > 0, "approvals listed");
  await page.getByRole("button", { name: "Verify chain" }).click();
  const result = page.getByTestId("verify-result");
  await result.waitFor();
  assert.equal(await result.getAttribute("data-intact"), "true", await result.innerText());
  assert.match(await result.innerText(), /^Intact: \d+ records checked/);
  // Someone with access to the job store rewrites history: the chain names the record.
  const victim = await rows.last().getAttribute("data-record");
  await ask("tamper", victim);
  await page.getByRole("button", { name: "Verify chain" }).click();
  await until(async () => (await result.getAttribute("data-intact")) === "false", "the tampering found");
  const text = await result.innerText();
  assert.match(text, /altered/, text);
  assert.ok(text.includes(victim), `${text} names ${victim}`);
  await shot(page, "access-04-verify-tampered");
}

async function tokensFlow(page) {
  await page.getByRole("link", { name: "API tokens" }).click();
  await page.waitForURL(`${BASE}/tokens`);
  const table = page.getByTestId("tokens-table");
  await table.waitFor();
  await page.locator("input[name=displayName]").fill("e2e-ci");
  const bindings = page.getByTestId("binding");
  await bindings.nth(0).getByLabel("Role").selectOption("OPERATOR");
  await bindings.nth(0).getByLabel("Target pattern").fill("staging-*");
  await page.getByRole("button", { name: "+ another role" }).click();
  await bindings.nth(1).getByLabel("Role").selectOption("VIEWER");
  await bindings.nth(1).getByLabel("Target pattern").fill("*");
  await page.locator("select[name=expiry]").selectOption("90");
  await page.getByRole("button", { name: "Create token" }).click();

  // The secret, once, with a copy button and a warning.
  const panel = page.getByTestId("token-secret-panel");
  await panel.waitFor();
  assert.match(await panel.innerText(), /you will not see it again/);
  const secret = (await page.getByTestId("token-secret").innerText()).trim();
  assert.match(secret, /^pgs_\S{20,}$/);
  await panel.getByRole("button", { name: "Copy" }).click();
  await panel.getByText("copied", { exact: true }).waitFor();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), secret);
  const row = table.locator("tr", { hasText: "e2e-ci" });
  await row.waitFor();
  assert.match(await row.innerText(), /operator on staging-\*, viewer on every target/);
  assert.equal(await row.getAttribute("data-status"), "active");
  const expires = await row.locator("td").nth(3).innerText();
  assert.ok(expires.trim() && expires !== "—", "an expiry is shown");
  assert.ok(!(await table.innerText()).includes(secret), "the list never shows the secret");
  await shot(page, "access-05-token-created");

  // Gone once dismissed, and never in what the list API answers.
  await panel.getByRole("button", { name: "I have copied it" }).click();
  await until(async () => !(await page.content()).includes(secret), "the secret gone from the page");
  await page.reload();
  await table.locator("tr", { hasText: "e2e-ci" }).waitFor();
  assert.ok(!(await page.content()).includes(secret), "not shown again after a reload");
  const listed = await page.evaluate(async () => (await fetch("/v1/apiTokens?showInactive=true")).text());
  assert.ok(listed.includes("e2e-ci") && !listed.includes(secret), "the API lists it without the secret");

  // Revoke, confirmed first: gone from the active list, shown as revoked with all tokens.
  await table.locator("tr", { hasText: "e2e-ci" }).getByRole("button", { name: "Revoke" }).click();
  const dialog = page.getByTestId("confirm-dialog");
  assert.match(await dialog.innerText(), /Revoke token “e2e-ci”\?/);
  await dialog.getByRole("button", { name: "Revoke token" }).click();
  await until(async () => (await table.locator("tr", { hasText: "e2e-ci" }).count()) === 0, "the revoked token leaves the active list");
  await page.getByLabel("show revoked and expired").check();
  const revoked = table.locator("tr", { hasText: "e2e-ci" });
  await revoked.waitFor();
  assert.equal(await revoked.getAttribute("data-status"), "revoked");
  assert.equal(await revoked.getByRole("button", { name: "Revoke" }).count(), 0);
  await shot(page, "access-06-token-revoked");
}

/** Signs in through the gateway's OIDC login at the provider's login page, as `login`. */
async function signIn(page, login) {
  await page.goto(`${BASE}/`);
  const prompt = page.getByTestId("sign-in-prompt");
  await prompt.waitFor();
  await page.getByTestId("identity").getByRole("button", { name: "Sign in" }).click();
  await page.locator("input[name=login]").fill(login);
  await page.locator("input[name=password]").fill("any password");
  await page.locator("button[type=submit]").click();
  await page.waitForURL(`${BASE}/`);
  await until(async () => (await page.getByTestId("identity-how").count()) === 1, `${login} signed in`);
}

/** What the job service answers a write the UI would not offer (the server decides too). */
async function tryWrite(page, path, body) {
  return page.evaluate(
    async ([p, b]) => {
      const r = await fetch(p, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(b) });
      const json = await r.json();
      return { status: r.status, grpc: json.error?.status ?? "", reason: json.error?.details?.find((d) => d.reason)?.reason ?? "", message: json.error?.message ?? "" };
    },
    [path, body],
  );
}

async function oidcFlow() {
  const otto = await newPage();
  const rita = await newPage();

  // Not signed in: a prompt to sign in (no error), and the header offers Sign in.
  await otto.goto(`${BASE}/`);
  await otto.getByTestId("sign-in-prompt").waitFor();
  assert.equal(await otto.getByRole("alert").count(), 0, "no error shown for a missing session");

  // Otto, an operator, signs in and starts an analysis of the two-person target.
  await signIn(otto, "otto-operator");
  assert.equal(await otto.getByTestId("identity-name").innerText(), "Otto");
  assert.equal(await otto.getByTestId("identity-how").innerText(), "(OIDC)");
  assert.equal(await otto.getByTestId("identity-roles").innerText(), "operator on every target");
  // The session is an HttpOnly cookie: nothing in the page can read a token.
  assert.equal(await otto.evaluate(() => document.cookie), "", "no cookie readable by scripts");
  assert.equal(await otto.evaluate(() => localStorage.length + sessionStorage.length), 0, "nothing stored by the page");
  await otto.getByRole("link", { name: "New analysis" }).first().click();
  await otto.getByRole("button", { name: "Start analysis" }).click();
  await otto.waitForURL(/\/jobs\/[0-9a-f-]{36}$/);
  const jobPath = new URL(otto.url()).pathname;
  await ask("run", `jobs/${jobPath.split("/").pop()}`);
  const ottoRow = (title) => otto.locator("tr.suggestion-row", { hasText: title });
  await until(async () => (await otto.locator("tr.suggestion-row").count()) === 3, "three suggestions listed");
  await shot(otto, "oidc-01-operator-job");

  // Rita, a reviewer, signs in: she may approve, not start analyses or apply.
  await signIn(rita, "rita-reviewer");
  assert.equal(await rita.getByTestId("identity-roles").innerText(), "reviewer on every target");
  assert.equal(await rita.getByRole("link", { name: "New analysis", exact: true }).count(), 1, "only the nav link");
  await rita.goto(`${BASE}/new`);
  const start = rita.getByRole("button", { name: "Start analysis" });
  await until(async () => (await start.getAttribute("title")) === "needs the operator role on demo", "start disabled for a reviewer");
  assert.ok(await start.isDisabled());
  await rita.goto(`${BASE}${jobPath}`);
  const ritaRow = (title) => rita.locator("tr.suggestion-row", { hasText: title });
  for (const title of ["customer_id", "events"]) {
    await ritaRow(title).getByRole("button", { name: "Approve" }).click();
    await until(async () => (await ritaRow(title).locator(".badge").first().innerText()) === "approved", `Rita approved ${title}`);
  }
  const ritaApply = ritaRow("customer_id").locator("button[data-action=APPLY]");
  assert.ok(await ritaApply.isDisabled(), "Apply is disabled for a reviewer");
  assert.equal(await ritaApply.getAttribute("title"), "needs the operator role on demo");
  assert.equal(await ritaRow("customer_id").getByTestId("two-person-note").count(), 0, "the role, not the rule, stops her");
  const remove = rita.getByRole("button", { name: "Delete", exact: true });
  assert.ok(await remove.isDisabled(), "Delete is disabled for a reviewer");
  assert.equal(await remove.getAttribute("title"), "needs the admin role on demo");
  await shot(rita, "oidc-02-reviewer-approved");
  const suggestionA = await ritaRow("customer_id").getAttribute("data-suggestion");
  const refused = await tryWrite(rita, "/v1/jobs", { kind: "APPLY", target: "demo", suggestion: suggestionA });
  assert.equal(refused.status, 403, JSON.stringify(refused));
  assert.equal(refused.grpc, "PERMISSION_DENIED");

  // Otto applies what Rita approved: a different person, so the two-person rule allows it.
  await otto.reload();
  await until(async () => (await ottoRow("customer_id").locator(".badge").first().innerText()) === "approved", "Otto sees the approval");
  const ottoApply = ottoRow("customer_id").locator("button[data-action=APPLY]");
  await until(async () => !(await ottoApply.isDisabled()), "Apply enabled for the operator");
  await ottoApply.click();
  await otto.getByTestId("confirm-dialog").getByRole("button", { name: "Apply on demo" }).click();
  await ottoRow("customer_id").getByTestId("action-running").waitFor();
  await shot(otto, "oidc-03-operator-applies");

  // Otto approves the other one himself: on a two-person target he cannot apply it.
  await ottoRow("order_id").getByRole("button", { name: "Approve" }).click();
  await until(async () => (await ottoRow("order_id").locator(".badge").first().innerText()) === "approved", "Otto approved");
  const own = ottoRow("order_id").locator("button[data-action=APPLY]");
  await until(async () => await own.isDisabled(), "Apply disabled for the approver");
  assert.match(await own.getAttribute("title"), /^two-person rule on demo: you approved this suggestion/);
  await ottoRow("order_id").getByTestId("two-person-note").waitFor();
  await shot(otto, "oidc-04-two-person");
  const suggestionB = await ottoRow("order_id").getAttribute("data-suggestion");
  const twoPerson = await tryWrite(otto, "/v1/jobs", { kind: "APPLY", target: "demo", suggestion: suggestionB });
  assert.equal(twoPerson.status, 403, JSON.stringify(twoPerson));
  assert.equal(twoPerson.reason, "TWO_PERSON_RULE");

  // A page that does not know yet (Otto edited and re-approved the events index elsewhere):
  // Apply looks possible, the job service refuses, and the row says why in plain words.
  const staleApply = ottoRow("events").locator("button[data-action=APPLY]");
  assert.ok(!(await staleApply.isDisabled()), "approved by Rita as far as this page knows");
  const suggestionC = await ottoRow("events").getAttribute("data-suggestion");
  const reapproved = await otto.evaluate(async (name) => {
    const write = async (method, path, body) =>
      (await fetch(path, { method, headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) })).json();
    const before = await (await fetch(`/v1/${name}`)).json();
    const sql = "CREATE INDEX CONCURRENTLY events_kind_id_idx ON public.events (kind, id)";
    const edited = await write("PATCH", `/v1/${name}?updateMask=editedSql`, { editedSql: sql, etag: before.etag });
    return (await write("POST", `/v1/${name}:approve`, { etag: edited.etag })).state;
  }, suggestionC);
  assert.equal(reapproved, "APPROVED");
  await staleApply.click();
  await otto.getByTestId("confirm-dialog").getByRole("button", { name: "Apply on demo" }).click();
  const refusal = otto.locator("tr.detail-row").getByRole("alert");
  await refusal.waitFor();
  assert.match(await refusal.innerText(), /^Not allowed: two-person rule: target 'demo' needs two people: .* was approved by Otto, so someone else must apply it/);
  // The row catches up: Otto approved it, so Apply is now disabled for him.
  await until(async () => await staleApply.isDisabled(), "Apply disabled once the page knows");
  assert.match(await staleApply.getAttribute("title"), /^two-person rule on demo/);
  await shot(otto, "oidc-05-two-person-refused");

  // The audit page shows who did what, as the provider named them.
  await otto.goto(`${BASE}/audit?action=suggestion.approve`);
  const approvals = otto.getByTestId("audit-list").locator("tbody tr");
  await until(async () => (await approvals.count()) === 4, "every approval audited");
  assert.deepEqual(new Set(await approvals.evaluateAll((trs) => trs.map((tr) => tr.dataset.actor))), new Set(["Rita", "Otto"]));
  assert.match(await approvals.first().innerText(), /signed in with OIDC/);

  // Neither may verify the audit chain or manage API tokens (admins only).
  const verify = otto.getByRole("button", { name: "Verify chain" });
  const admins = "needs the admin role on every target";
  await until(async () => (await verify.getAttribute("title")) === admins, "Verify chain says it needs an admin");
  assert.ok(await verify.isDisabled());
  assert.equal(await otto.getByRole("link", { name: "API tokens" }).count(), 0);
  await otto.goto(`${BASE}/tokens`);
  await until(
    async () => (await otto.getByTestId("tokens-denied").count()) === 1,
    "the tokens page says who may manage tokens",
  );
  assert.equal(await otto.getByTestId("tokens-denied").innerText(), "Managing API tokens needs the admin role on every target.");
  await otto.goto(`${BASE}/`);

  // Sign out: the session ends here and at the provider (which asks), the prompt is back.
  await otto.getByTestId("identity").getByRole("button", { name: "Sign out" }).click();
  await otto.waitForURL((url) => !url.href.startsWith(BASE));
  await otto.getByRole("button", { name: /yes, sign me out/i }).click();
  await otto.waitForURL(`${BASE}/`);
  await otto.getByTestId("sign-in-prompt").waitFor();
  assert.equal(await otto.evaluate(async () => (await fetch("/v1/caller")).status), 401);
}

await run(process.argv[2], { local: localFlow, verify: verifyFlow, oidc: oidcFlow });
