// Job history: counts per state as filter tabs, a dense table, keyset pagination.
import { useCallback, useEffect, useState } from "react";
import { api, type StateCount } from "./api";
import { useAccess } from "./access";
import { ErrorNote, Link, ProgressBar, StateBadge } from "./components";
import { dateTime, duration, jobId, label, shortId } from "./format";
import { navigate } from "./router";
import { targetHref } from "./TargetsPage";
import type { Job } from "./types";

const STATES = ["PENDING", "RUNNING", "CANCELLING", "SUCCEEDED", "FAILED", "CANCELLED"];
const PAGE_SIZE = 25;

export function JobsPage({ state }: { state: string }) {
  const [jobs, setJobs] = useState<Job[] | null>(null);
  const [counts, setCounts] = useState<Record<string, number>>({});
  const [total, setTotal] = useState(0);
  const [tokens, setTokens] = useState<string[]>([""]); // page tokens seen, for "newer"
  const [next, setNext] = useState("");
  const [error, setError] = useState<unknown>(null);

  const page = tokens[tokens.length - 1];
  const access = useAccess();
  // Operators of some target can start an analysis; the form says which targets.
  const operates = (access.caller?.roleBindings ?? []).some((b) => b.role === "OPERATOR" || b.role === "ADMIN");
  const load = useCallback(async () => {
    try {
      const filter = state ? `state = ${state}` : "";
      const [list, count] = await Promise.all([api.listJobs(filter, PAGE_SIZE, page), api.countJobs()]);
      setJobs(list.jobs ?? []);
      setNext(list.nextPageToken ?? "");
      const byState: Record<string, number> = {};
      for (const c of count.counts ?? ([] as StateCount[])) byState[c.state] = Number(c.count ?? 0);
      setCounts(byState);
      setTotal(Number(count.total ?? 0));
      setError(null);
    } catch (e) {
      setError(e);
    }
  }, [state, page]);

  useEffect(() => {
    void load();
    const timer = window.setInterval(() => void load(), 5000);
    return () => window.clearInterval(timer);
  }, [load]);

  useEffect(() => setTokens([""]), [state]);

  const tab = (value: string, text: string, count: number) => (
    <button
      key={value || "all"}
      type="button"
      className={`tab${state === value ? " tab-active" : ""}`}
      onClick={() => navigate(value ? `/?state=${value}` : "/")}
      data-state={value || "ALL"}
    >
      {text} <span className="tab-count">{count}</span>
    </button>
  );

  return (
    <section>
      <div className="page-head">
        <h1>Jobs</h1>
        {operates && (
          <Link href="/new" className="button button-primary">
            New analysis
          </Link>
        )}
      </div>
      <div className="tabs" role="tablist" aria-label="Filter by state">
        {tab("", "All", total)}
        {STATES.map((s) => tab(s, label(s), counts[s] ?? 0))}
      </div>
      <ErrorNote error={error} onRetry={() => void load()} />
      <table className="grid" data-testid="jobs-table">
        <thead>
          <tr>
            <th>Job</th>
            <th>Kind</th>
            <th>Target</th>
            <th>State</th>
            <th className="col-progress">Progress</th>
            <th className="num">Suggestions</th>
            <th>Created</th>
            <th className="num">Duration</th>
          </tr>
        </thead>
        <tbody>
          {jobs?.map((job) => {
            const active = job.state === "RUNNING" || job.state === "CANCELLING";
            return (
              <tr key={job.name}>
                <td className="mono">
                  <Link href={`/jobs/${jobId(job.name)}`} title={job.name}>
                    {shortId(job.name)}
                  </Link>
                </td>
                <td>{label(job.kind)}</td>
                <td>
                  <Link href={targetHref(job.target ?? "")}>{job.target}</Link>
                </td>
                <td>
                  <StateBadge state={job.state} />
                </td>
                <td className="col-progress">
                  {job.state === "PENDING" ? (
                    <span className="muted">queued</span>
                  ) : !job.startTime && job.state !== "SUCCEEDED" ? (
                    <span className="muted">never started</span>
                  ) : job.state === "SUCCEEDED" ? (
                    <div className="progress-cell" data-testid="job-done">
                      <ProgressBar percent={100} active={false} />
                      <span className="muted small">done</span>
                    </div>
                  ) : (
                    <div className="progress-cell">
                      <ProgressBar percent={job.progress?.percent ?? 0} active={active} />
                      <span className="muted small">{job.progress?.stage ?? ""}</span>
                    </div>
                  )}
                </td>
                <td className="num">{job.counts?.suggestions ?? 0}</td>
                <td className="nowrap">{dateTime(job.createTime)}</td>
                <td className="num">{job.startTime ? duration(job.startTime, job.endTime) : "—"}</td>
              </tr>
            );
          })}
          {jobs && jobs.length === 0 && (
            <tr>
              <td colSpan={8} className="empty">
                {state ? `No ${label(state)} jobs.` : "No jobs yet. Start one with “New analysis”."}
              </td>
            </tr>
          )}
          {jobs === null && !error && (
            <tr>
              <td colSpan={8} className="empty">
                Loading…
              </td>
            </tr>
          )}
        </tbody>
      </table>
      <div className="pager">
        <button type="button" className="button" disabled={tokens.length <= 1} onClick={() => setTokens(tokens.slice(0, -1))}>
          ← Newer
        </button>
        <span className="muted">Page {tokens.length}</span>
        <button type="button" className="button" disabled={!next} onClick={() => setTokens([...tokens, next])}>
          Older →
        </button>
      </div>
    </section>
  );
}
