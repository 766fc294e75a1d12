// The pgsage UI: job history, new analysis, one job with its suggestions, schedules, the audit
// trail, API tokens; the header says who you are.
import { StrictMode, useEffect, useState } from "react";
import { createRoot } from "react-dom/client";
import { api } from "./api";
import { AccessProvider, holds, rolesText, useAccess } from "./access";
import { ApiDocsPage } from "./ApiDocs";
import { AuditPage } from "./AuditPage";
import { TokensPage } from "./TokensPage";
import { WebhooksPage } from "./WebhooksPage";
import { DesktopNotificationsButton, Notifications } from "./notify";
import { Link } from "./components";
import { dateTime } from "./format";
import { JobPage } from "./JobPage";
import { JobsPage } from "./JobsPage";
import { NewAnalysisPage } from "./NewAnalysisPage";
import { SchedulesPage } from "./SchedulesPage";
import { TargetPage, TargetsPage } from "./TargetsPage";
import { useLocation } from "./router";
import type { Readiness } from "./types";
import "./styles.css";

function ReadinessBadge() {
  const [ready, setReady] = useState<Readiness | null>(null);
  useEffect(() => {
    const check = async () => setReady(await api.readiness());
    void check();
    const timer = window.setInterval(() => void check(), 10000);
    return () => window.clearInterval(timer);
  }, []);
  if (!ready) return null;
  const text = { pass: "ready", warn: "warning", fail: "not ready" }[ready.status];
  return (
    <span className={`readiness readiness-${ready.status}`} title={ready.output ?? text} data-testid="readiness">
      ● {text}
      {ready.status !== "pass" && ready.output ? <span className="readiness-detail">: {ready.output}</span> : null}
    </span>
  );
}

/** Who you are, how you signed in and your roles; sign in / out when OIDC is configured. */
function Identity() {
  const access = useAccess();
  const { path, search } = useLocation();
  const [error, setError] = useState("");
  const signIn = () => {
    const next = path + (search.toString() ? `?${search.toString()}` : "");
    window.location.assign(`${access.loginUrl}?next=${encodeURIComponent(next)}`);
  };
  const signOut = async () => {
    try {
      const answer = await api.logout();
      window.location.assign(answer.endSessionUrl || "/");
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  };
  if (access.state === "loading") return <span className="identity muted">…</span>;
  const caller = access.caller;
  const local = caller?.localMode || caller?.authMethod === "LOCAL";
  const canSignIn = !local && !access.session?.localMode;
  if (access.state === "signedOut" || !caller) {
    return (
      <span className="identity" data-testid="identity">
        <span className="identity-name">not signed in</span>
        {canSignIn && (
          <button type="button" className="button button-small" onClick={signIn}>
            Sign in
          </button>
        )}
      </span>
    );
  }
  const how = local ? "local mode, every role" : caller.authMethod === "API_TOKEN" ? "API token" : "OIDC";
  return (
    <span
      className="identity"
      data-testid="identity"
      title={`${caller.subject ?? ""}${access.session?.expiresAt ? `, signed in until ${dateTime(access.session.expiresAt)}` : ""}`}
    >
      <span className="identity-who">
        <span className="identity-name" data-testid="identity-name">
          {caller.displayName || caller.subject}
        </span>{" "}
        <span className="identity-how" data-testid="identity-how">
          ({how})
        </span>
      </span>
      {!local && (
        <span className="identity-roles" data-testid="identity-roles">
          {rolesText(caller)}
        </span>
      )}
      {canSignIn && (
        <button type="button" className="button button-small" onClick={() => void signOut()} title={error || undefined}>
          Sign out
        </button>
      )}
    </span>
  );
}

/** Shown instead of a page while the browser has no (valid) session. */
function SignInPrompt() {
  const access = useAccess();
  const { path, search } = useLocation();
  const next = path + (search.toString() ? `?${search.toString()}` : "");
  return (
    <div className="panel narrow sign-in" data-testid="sign-in-prompt">
      <h2>Sign in to use pgsage</h2>
      <p>You are not signed in, or your session expired. pgsage shows what your roles allow once it knows who you are.</p>
      <a className="button button-primary" href={`${access.loginUrl}?next=${encodeURIComponent(next)}`}>
        Sign in
      </a>
    </div>
  );
}

function App() {
  const { path, search } = useLocation();
  const access = useAccess();
  let page;
  const jobMatch = path.match(/^\/jobs\/([^/]+)\/?$/);
  const targetMatch = path.match(/^\/targets\/([^/]+)\/?$/);
  if (jobMatch) page = <JobPage key={jobMatch[1]} id={decodeURIComponent(jobMatch[1])} />;
  else if (path === "/new") page = <NewAnalysisPage />;
  else if (path === "/audit") page = <AuditPage key={search.toString()} search={search} />;
  else if (path === "/tokens") page = <TokensPage />;
  else if (path === "/webhooks") page = <WebhooksPage />;
  else if (path === "/schedules") page = <SchedulesPage />;
  else if (path === "/targets") page = <TargetsPage />;
  else if (targetMatch) page = <TargetPage key={targetMatch[1]} target={decodeURIComponent(targetMatch[1])} />;
  else if (path === "/api") page = <ApiDocsPage />;
  else if (path === "/" || path === "/jobs") page = <JobsPage state={search.get("state") ?? ""} />;
  else
    page = (
      <p className="muted">
        No page here. <Link href="/">Go to the jobs.</Link>
      </p>
    );
  return (
    <>
      <header className="topbar">
        <Link href="/" className="brand">
          pgsage
        </Link>
        <nav>
          <Link href="/" className={path === "/" || path.startsWith("/jobs") ? "nav-active" : ""}>
            Jobs
          </Link>
          <Link href="/targets" className={path.startsWith("/targets") ? "nav-active" : ""}>
            Targets
          </Link>
          <Link href="/new" className={path === "/new" ? "nav-active" : ""}>
            New analysis
          </Link>
          <Link href="/schedules" className={path === "/schedules" ? "nav-active" : ""}>
            Schedules
          </Link>
          <Link href="/audit" className={path === "/audit" ? "nav-active" : ""}>
            Audit
          </Link>
          {access.caller && holds(access.caller, "ADMIN") && (
            <Link href="/tokens" className={path === "/tokens" ? "nav-active" : ""}>
              API tokens
            </Link>
          )}
          {access.caller && (
            <Link href="/webhooks" className={path === "/webhooks" ? "nav-active" : ""}>
              Webhooks
            </Link>
          )}
          <Link href="/api" className={path === "/api" ? "nav-active" : ""}>
            API
          </Link>
          <DesktopNotificationsButton />
        </nav>
        <Identity />
        <ReadinessBadge />
      </header>
      <main className="content">{access.state === "signedOut" ? <SignInPrompt /> : page}</main>
      <Notifications />
    </>
  );
}

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <AccessProvider>
      <App />
    </AccessProvider>
  </StrictMode>,
);
