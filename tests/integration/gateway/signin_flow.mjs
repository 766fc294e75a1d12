// Signs in through the test OpenID provider's real login page in Chromium, then reports what
// the browser holds and sees as one JSON line (`@@result {...}`) for test_signin.py.
//   env: PGSAGE_URL (the gateway), LOGIN (the account), PLAYWRIGHT_CORE, CHROMIUM
const { chromium } = await import(process.env.PLAYWRIGHT_CORE);

const base = process.env.PGSAGE_URL;
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage"],
});
const result = {};
try {
  const context = await browser.newContext();
  const page = await context.newPage();
  // Unsigned: the session says so.
  await page.goto(`${base}/auth/session`);
  result.before = JSON.parse(await page.locator("body").innerText());
  // Sign in: the gateway sends us to the provider's login page.
  await page.goto(`${base}/auth/login?next=${encodeURIComponent("/jobs/abc?tab=1")}`);
  result.loginPage = page.url();
  await page.locator('input[name="login"]').fill(process.env.LOGIN);
  await page.locator('input[name="password"]').fill("any password");
  await page.locator("button[type=submit]").click();
  await page.waitForURL((url) => url.toString().startsWith(`${base}/jobs/abc`), { timeout: 20000 });
  result.landed = page.url();
  result.cookies = await context.cookies(base);
  const json = async (path, init) => page.evaluate(async ([p, i]) => {
    const r = await fetch(p, i);
    return { status: r.status, body: await r.json() };
  }, [path, init]);
  result.session = await json("/auth/session");
  result.caller = await json("/v1/caller");
  // JavaScript cannot read the HttpOnly session cookie.
  result.documentCookie = await page.evaluate(() => document.cookie);
  result.logout = await json("/auth/logout", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: "{}",
  });
  result.after = await json("/auth/session");
  result.cookiesAfter = await context.cookies(base);
  result.callerAfter = await json("/v1/caller");
} finally {
  await browser.close();
}
console.log(`@@result ${JSON.stringify(result)}`);
