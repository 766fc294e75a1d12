// The pgsage UI: job history, new analysis, one job with its suggestions.
import { StrictMode, useEffect, useState } from "react";
import { createRoot } from "react-dom/client";
import { actor, api, setActor } from "./api";
import { Link } from "./components";
import { JobPage } from "./JobPage";
import { JobsPage } from "./JobsPage";
import { NewAnalysisPage } from "./NewAnalysisPage";
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

/** "Acting as": the name the audit trail records for changes made from this browser. */
function ActorField() {
  const [value, setValue] = useState(actor());
  return (
    <label className="actor-field" title="Recorded in the audit trail as who made a change (unauthenticated: pgsage does not check it)">
      acting as
      <input
        value={value}
        placeholder="anonymous"
        aria-label="Acting as"
        maxLength={64}
        onChange={(e) => setValue(e.target.value)}
        onBlur={() => setActor(value)}
        onKeyDown={(e) => {
          if (e.key === "Enter") setActor(value);
        }}
      />
    </label>
  );
}

function App() {
  const { path, search } = useLocation();
  let page;
  const jobMatch = path.match(/^\/jobs\/([^/]+)\/?$/);
  if (jobMatch) page = <JobPage key={jobMatch[1]} id={decodeURIComponent(jobMatch[1])} />;
  else if (path === "/new") page = <NewAnalysisPage />;
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
          <Link href="/new" className={path === "/new" ? "nav-active" : ""}>
            New analysis
          </Link>
          <a href="/openapi.json">API</a>
        </nav>
        <ActorField />
        <ReadinessBadge />
      </header>
      <main className="content">{page}</main>
    </>
  );
}

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
