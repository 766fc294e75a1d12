// Shared parts of the browser flows: Debian's Chromium through playwright-core, the `@@`
// requests to pytest, polling, screenshots, and the browser problems a flow must not cause.
import assert from "node:assert/strict";
import { createInterface } from "node:readline";

const { chromium } = await import(process.env.PLAYWRIGHT_CORE);
export const BASE = process.env.PGSAGE_URL;
export const ARTIFACTS = process.env.ARTIFACTS;

const stdin = createInterface({ input: process.stdin });
const answers = stdin[Symbol.asyncIterator]();

/** Asks pytest to do `verb argument` (it answers `ok` when done). */
export async function ask(verb, argument) {
  console.log(`@@ ${verb} ${argument}`);
  const { value } = await answers.next();
  assert.equal(value, "ok", `pytest did not ${verb} ${argument}`);
}

export async function until(check, what, tries = 300) {
  for (let i = 0; i < tries; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`never happened: ${what}`);
}

export const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM,
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});

const problems = [];

/** A fresh browser context (its own cookies: one person) with one page. */
export async function newPage(options = {}) {
  const context = await browser.newContext({ viewport: { width: 1360, height: 860 }, ...options });
  const page = await context.newPage();
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (m) => {
    // Only pgsage's pages count: an identity provider's login page is not ours to judge.
    if (!page.url().startsWith(BASE)) return;
    if (m.type() === "error" && !/status of (4|5)\d\d/.test(m.text())) problems.push(`console: ${m.text()}`);
  });
  return page;
}

export const shot = (page, name) => page.screenshot({ path: `${ARTIFACTS}/${name}.png`, fullPage: true });

/** Runs `flows[mode]`, then fails on any page error; exits non-zero with the failed check. */
export async function run(mode, flows) {
  try {
    const flow = flows[mode];
    if (!flow) throw new Error(`unknown flow ${mode}`);
    await flow();
    assert.deepEqual(problems, []);
    console.log(`flow ${mode} passed`);
  } catch (error) {
    for (const context of browser.contexts()) {
      for (const [i, page] of context.pages().entries()) await shot(page, `failed-${mode}-${i}`).catch(() => {});
    }
    console.error(error.stack ?? String(error));
    if (problems.length) console.error(`browser problems:\n${problems.join("\n")}`);
    process.exitCode = 1;
  } finally {
    await browser.close();
    stdin.close();
  }
}
