// One job: live progress over Server-Sent Events, its summary, and its suggestions.
import { useCallback, useEffect, useRef, useState } from "react";
import { api } from "./api";
import { denial, useAccess } from "./access";
import { ConfirmDialog, ErrorNote, Link, ProgressBar, StateBadge } from "./components";
import { analysisLabel, bytes, count, dateTime, duration, jobId, label, percent } from "./format";
import { ChangeJob } from "./ChangeJob";
import { jobFinished, watchJob } from "./notify";
import { navigate } from "./router";
import { SuggestionList } from "./SuggestionList";
import { targetHref } from "./TargetsPage";
import type { AnalysisComparison, Job, WatchEvent } from "./types";

const TERMINAL = new Set(["SUCCEEDED", "FAILED", "CANCELLED"]);
const HEADINGS: Record<string, string> = {
  ANALYZE: "Analysis of",
  BENCHMARK: "Benchmark on",
  APPLY: "Apply on",
  ROLLBACK: "Rollback on",
  VERIFY: "Verification on",
};

export function JobPage({ id }: { id: string }) {
  const name = `jobs/${id}`;
  const [job, setJob] = useState<Job | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [live, setLive] = useState<"connecting" | "live" | "lost" | "done">("connecting");
  const [suggestionsVersion, setSuggestionsVersion] = useState(0);
  const [cancelError, setCancelError] = useState<unknown>(null);
  const [deleting, setDeleting] = useState(false);
  const access = useAccess();
  const revision = useRef(0);

  const load = useCallback(async () => {
    try {
      const fresh = await api.getJob(name);
      setJob(fresh);
      setError(null);
      return fresh;
    } catch (e) {
      setError(e);
      return null;
    }
  }, [name]);

  useEffect(() => {
    let source: EventSource | null = null;
    let closed = false;
    void load().then((first) => {
      if (closed || !first) return;
      if (TERMINAL.has(first.state ?? "")) {
        setLive("done");
        return;
      }
      watchJob(first.name); // its page is open: say when it finishes, even from another page
      source = new EventSource(`/v1/${name}/events`);
      source.onopen = () => setLive("live");
      source.onmessage = (message) => {
        const event = JSON.parse(message.data) as WatchEvent;
        const rev = Number(event.revision ?? 0);
        if (rev < revision.current) return;
        revision.current = rev;
        if (event.job) setJob(event.job);
        jobFinished(event.job);
        if (event.suggestion || (event.eventType ?? "").includes("suggestion")) setSuggestionsVersion((v) => v + 1);
        setLive("live");
      };
      source.addEventListener("end", () => {
        source?.close();
        setLive("done");
        setSuggestionsVersion((v) => v + 1);
        void load().then(jobFinished);
      });
      source.onerror = () => {
        if (source?.readyState === EventSource.CLOSED) setLive("lost");
        else setLive("connecting");
      };
    });
    return () => {
      closed = true;
      source?.close();
    };
  }, [name, load]);

  if (error && !job) {
    return (
      <section>
        <div className="page-head">
          <h1>Job {id}</h1>
          <Link href="/" className="button">
            Back to jobs
          </Link>
        </div>
        <ErrorNote error={error} onRetry={() => void load()} />
      </section>
    );
  }
  if (!job) return <p className="muted">Loading job…</p>;

  const finished = TERMINAL.has(job.state ?? "");
  const active = job.state === "RUNNING" || job.state === "CANCELLING";
  // A finished job is done whatever its last progress report said (change jobs report none).
  const pct = job.state === "SUCCEEDED" ? 100 : job.progress?.percent ?? 0;
  // A failed or cancelled analysis that suggested nothing has nothing to export.
  const patchable = !job.suggestion && !((job.state === "FAILED" || job.state === "CANCELLED") && !Number(job.counts?.suggestions ?? 0));
  const summary = job.summary;

  const change = async (action: () => Promise<void>) => {
    setCancelError(null);
    try {
      await action();
    } catch (e) {
      setCancelError(e);
    }
  };
  const cancel = () => change(async () => setJob(await api.cancelJob(job.name)));
  const retry = () => change(async () => setJob(await api.retryJob(job.name)));
  const remove = () =>
    change(async () => {
      setDeleting(false);
      await api.deleteJob(job.name);
      navigate("/");
    });
  const operateWhy = denial(access, "OPERATOR", job.target);
  const adminWhy = denial(access, "ADMIN", job.target);

  return (
    <section>
      <div className="page-head">
        <h1>
          {HEADINGS[job.kind ?? ""] ?? "Job on"} <Link href={targetHref(job.target ?? "")} className="accent">{job.target}</Link> <StateBadge state={job.state} />
        </h1>
        <div className="head-actions">
          {!finished && (
            <button type="button" className="button button-danger" onClick={() => void cancel()} disabled={job.state === "CANCELLING" || !!operateWhy} title={operateWhy || undefined}>
              Cancel job
            </button>
          )}
          {(job.state === "FAILED" || job.state === "CANCELLED") && (
            <button type="button" className="button" onClick={() => void retry()} disabled={!!operateWhy} title={operateWhy || "Run it again"}>
              Retry
            </button>
          )}
          {finished && (
            <button type="button" className="button button-danger" onClick={() => setDeleting(true)} disabled={!!adminWhy} title={adminWhy || "Delete the job and its suggestions (the audit trail stays)"}>
              Delete
            </button>
          )}
          {patchable && (
            <a className="button" href={`/v1/${job.name}/patch.sql`} download data-testid="download-patch">
              Download patch (approved)
            </a>
          )}
        </div>
      </div>
      <ErrorNote error={cancelError} />
      {deleting && (
        <ConfirmDialog title="Delete this job?" confirmText="Delete job" danger onCancel={() => setDeleting(false)} onConfirm={() => void remove()}>
          <p>The job and its suggestions are deleted; their audit records stay.</p>
        </ConfirmDialog>
      )}

      <div className="panel">
        <div className="progress-line">
          <ProgressBar percent={pct} active={active} />
          <span className="progress-text" data-testid="job-progress">
            {job.state === "PENDING"
              ? "Waiting for a worker to pick it up"
              : job.state === "SUCCEEDED"
                ? "done"
                : job.state === "FAILED"
                  ? `failed at ${pct.toFixed(0)} %`
                  : job.state === "CANCELLED"
                    ? `cancelled at ${pct.toFixed(0)} %`
                    : `${pct.toFixed(0)} %`}
            {!finished && job.progress?.stage ? ` · ${job.progress.stage}` : ""}
            {!finished && job.progress?.message ? ` · ${job.progress.message}` : ""}
          </span>
          <span className={`live live-${live}`} title="live updates">
            {{ connecting: "connecting…", live: "● live", lost: "updates lost — reload the page", done: "" }[live]}
          </span>
        </div>
        {job.state === "FAILED" && (
          <div className="note note-error" role="alert" data-testid="job-failed">
            <span>The job failed: {job.error?.message || "no reason was recorded"}</span>
          </div>
        )}
        <dl className="facts">
          <div><dt>Job</dt><dd className="mono small">{job.name}</dd></div>
          <div><dt>Kind</dt><dd>{label(job.kind)}</dd></div>
          {job.suggestion && (
            <div>
              <dt>Suggestion of</dt>
              <dd><Link href={`/jobs/${jobId(job.suggestion)}`}>{job.suggestion.split("/")[1]?.slice(0, 8)}</Link></dd>
            </div>
          )}
          {!job.suggestion && <div><dt>Analyses</dt><dd>{job.analysisTypes?.length ? job.analysisTypes.map(analysisLabel).join(", ") : "all"}</dd></div>}
          {!job.suggestion && <div><dt>Budget</dt><dd>{job.options?.storageBudgetBytes ? bytes(job.options.storageBudgetBytes) : "optimizer default"}</dd></div>}
          <div><dt>Attempt</dt><dd>{job.attempt ?? 0} of {job.maxAttempts ?? "—"}</dd></div>
          <div><dt>Created</dt><dd>{dateTime(job.createTime)}</dd></div>
          <div><dt>Requested by</dt><dd data-testid="job-creator">{job.schedule ? <Link href="/schedules">{job.schedule.split("/")[1]?.slice(0, 8)} (schedule)</Link> : job.creator || "—"}</dd></div>
          {job.schedule && <div><dt>Scheduled for</dt><dd>{dateTime(job.scheduleTime)}</dd></div>}
          <div><dt>Ran for</dt><dd>{job.startTime ? duration(job.startTime, job.endTime) : "—"}</dd></div>
          {!job.suggestion && (
            <>
              <div><dt>Statistics since</dt><dd>{dateTime(job.statisticsWindow?.startTime)}</dd></div>
              <div><dt>Queries</dt><dd>{job.counts?.queries ?? 0}</dd></div>
              <div><dt>Suggestions</dt><dd>{job.counts?.suggestions ?? 0}</dd></div>
            </>
          )}
        </dl>
      </div>

      {summary && (
        <div className="panel">
          <h2>Summary</h2>
          <dl className="facts">
            <div><dt>Workload improvement</dt><dd className="strong">{percent(summary.workloadImprovementPercent)}</dd></div>
            <div>
              <dt title="PostgreSQL planner cost units: the workload's queries weighted by how often they ran, plus the upkeep of new indexes">Workload cost before → after</dt>
              <dd data-testid="summary-cost">
                {count(summary.workloadCostBefore)} → {count(summary.workloadCostAfter)} <span className="muted">planner cost units</span>
              </dd>
            </div>
            <div><dt>New index space</dt><dd>{bytes(summary.addedBytes)}</dd></div>
            <div><dt>Space freed</dt><dd>{bytes(summary.freedBytes)}</dd></div>
          </dl>
          {summary.comparison && <Comparison comparison={summary.comparison} />}
          {summary.recommendations?.length ? (
            <ul className="list">{summary.recommendations.map((r, i) => <li key={i}>{r}</li>)}</ul>
          ) : null}
          {summary.insights?.length ? (
            <ul className="list insights">
              {summary.insights.map((insight, i) => (
                <li key={i} className={`insight-${(insight.severity ?? "info").toLowerCase()}`}>
                  <span className="badge">{(insight.severity ?? "info").toLowerCase()}</span> {insight.message}
                </li>
              ))}
            </ul>
          ) : null}
        </div>
      )}

      {job.suggestion ? <ChangeJob job={job} version={suggestionsVersion} /> : <SuggestionList job={job} version={suggestionsVersion} />}
    </section>
  );
}

/** What changed since the previous analysis of the target (new, gone, changed estimates). */
function Comparison({ comparison }: { comparison: AnalysisComparison }) {
  const c = comparison;
  const previous = c.previousJob ?? "";
  return (
    <div className="comparison" data-testid="comparison">
      <h3>Since the last analysis</h3>
      <p>
        <span className="badge badge-new">{c.newCount ?? 0} new</span> <span className="badge">{c.goneCount ?? 0} gone</span>{" "}
        <span className="badge">{c.changedCount ?? 0} changed estimates</span> <span className="muted small">{c.unchangedCount ?? 0} unchanged</span>
        {previous && (
          <span className="muted small">
            {" "}
            · compared with <Link href={`/jobs/${jobId(previous)}`}>{previous.split("/")[1]?.slice(0, 8)}</Link> ({dateTime(c.previousEndTime)})
          </span>
        )}
      </p>
      {c.gone?.length ? (
        <ul className="list small" data-testid="comparison-gone">
          {c.gone.map((g) => (
            <li key={g.fingerprint}>
              gone: {g.title || label(g.kind)} <span className="muted">({percent(g.previousImprovementPercent)} before)</span>
            </li>
          ))}
        </ul>
      ) : null}
      {c.changed?.length ? (
        <ul className="list small" data-testid="comparison-changed">
          {c.changed.map((g) => (
            <li key={g.fingerprint}>
              changed: {g.title || label(g.kind)}{" "}
              <span className="muted">
                (gain {percent(g.previousImprovementPercent)} → {percent(g.improvementPercent)}, size {bytes(g.previousSizeBytes)} → {bytes(g.sizeBytes)})
              </span>
            </li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}
