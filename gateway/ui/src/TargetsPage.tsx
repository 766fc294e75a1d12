// The targets, and one target at a glance: how much faster pgsage has made it (from the
// verdicts of its verified changes only), its workload over the snapshots pgsage took, the
// changes applied with a before/after chart per query, open suggestions by estimated gain,
// its schedules and last analyses.
import { useCallback, useEffect, useState } from "react";
import { api } from "./api";
import { ErrorNote, Link, StateBadge } from "./components";
import { count, dateTime, jobId, label, percent, shortId } from "./format";
import type { Suggestion, Target, TargetSummary, WorkloadPoint } from "./types";
import { VerdictBadge } from "./Verification";

export function targetHref(target: string): string {
  return `/targets/${encodeURIComponent(target)}`;
}

function ms(value?: number): string {
  const v = Math.abs(value ?? 0);
  if (v >= 60000) return `${(v / 60000).toFixed(1)} min`;
  if (v >= 1000) return `${(v / 1000).toFixed(2)} s`;
  if (v >= 10) return `${v.toFixed(0)} ms`;
  return `${v.toFixed(2)} ms`;
}

/** A percentage as the headline gives it: whole, but one decimal near 0 and near 100. */
export function pct(value: number): string {
  const v = Math.abs(value);
  return v < 10 || (v >= 99.5 && v < 100) ? v.toFixed(1) : v.toFixed(0);
}

export function TargetsPage() {
  const [targets, setTargets] = useState<Target[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    api
      .listTargets()
      .then((r) => setTargets(r.targets ?? []))
      .catch((e) => setError(e));
  }, []);
  return (
    <section>
      <div className="page-head">
        <h1>Targets</h1>
      </div>
      <ErrorNote error={error} />
      <table className="grid" data-testid="targets-table">
        <thead>
          <tr>
            <th>Target</th>
            <th>Reachable</th>
            <th>PostgreSQL</th>
            <th>Apply</th>
            <th>Verification window</th>
            <th>On regression</th>
          </tr>
        </thead>
        <tbody>
          {targets?.map((t) => (
            <tr key={t.name}>
              <td>
                <Link href={targetHref(t.name)}>{t.name}</Link>
              </td>
              <td className={t.reachable ? "good" : "bad"} title={t.unreachableReason || undefined}>
                {t.reachable ? "yes" : "no"}
              </td>
              <td>{t.serverVersion || "—"}</td>
              <td>{t.applyAllowed ? "allowed" : "not allowed"}</td>
              <td>{t.verificationWindow ?? "—"}</td>
              <td>{t.onRegression || "—"}</td>
            </tr>
          ))}
          {targets && targets.length === 0 && (
            <tr>
              <td colSpan={6} className="empty">
                No target you may view.
              </td>
            </tr>
          )}
          {targets === null && !error && (
            <tr>
              <td colSpan={6} className="empty">
                Loading…
              </td>
            </tr>
          )}
        </tbody>
      </table>
    </section>
  );
}

/** A line chart of values over time, in plain SVG. */
function LineChart({
  points,
  title,
  unit,
  testId,
}: {
  points: { t: number; v: number; tip: string }[];
  title: string;
  unit: (v: number) => string;
  testId: string;
}) {
  const w = 640;
  const h = 150;
  const pad = { l: 70, r: 12, t: 12, b: 28 };
  if (points.length === 0) return null;
  const t0 = points[0].t;
  const t1 = points[points.length - 1].t;
  const vMax = Math.max(...points.map((p) => p.v), 0) || 1;
  const x = (t: number) => pad.l + (t1 === t0 ? (w - pad.l - pad.r) / 2 : ((t - t0) / (t1 - t0)) * (w - pad.l - pad.r));
  const y = (v: number) => pad.t + (1 - v / vMax) * (h - pad.t - pad.b);
  const path = points.map((p, i) => `${i ? "L" : "M"}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(" ");
  return (
    <figure className="chart" data-testid={testId}>
      <figcaption className="detail-label">{title}</figcaption>
      <svg viewBox={`0 0 ${w} ${h}`} width="100%" role="img" aria-label={title}>
        <line x1={pad.l} y1={h - pad.b} x2={w - pad.r} y2={h - pad.b} className="chart-axis" />
        <line x1={pad.l} y1={pad.t} x2={pad.l} y2={h - pad.b} className="chart-axis" />
        <text x={pad.l - 6} y={pad.t + 4} textAnchor="end" className="chart-label">
          {unit(vMax)}
        </text>
        <text x={pad.l - 6} y={h - pad.b} textAnchor="end" className="chart-label">
          0
        </text>
        <text x={pad.l} y={h - 8} className="chart-label">
          {dateTime(new Date(t0).toISOString())}
        </text>
        <text x={w - pad.r} y={h - 8} textAnchor="end" className="chart-label">
          {dateTime(new Date(t1).toISOString())}
        </text>
        <path d={path} className="chart-line" />
        {points.map((p, i) => (
          <circle key={i} cx={x(p.t)} cy={y(p.v)} r={3} className="chart-dot">
            <title>{p.tip}</title>
          </circle>
        ))}
      </svg>
    </figure>
  );
}

function WorkloadCharts({ workload }: { workload: WorkloadPoint[] }) {
  const intervals = workload.filter((p) => p.hasInterval && (p.intervalSeconds ?? 0) > 0 && p.time);
  if (intervals.length === 0) {
    return (
      <p className="muted small" data-testid="workload-empty">
        {workload.length
          ? "One snapshot so far: the workload chart needs two (each point is what the workload did since the one before)."
          : "No workload snapshot of this target yet."}
      </p>
    );
  }
  const perMinute = (p: WorkloadPoint, value: number) => (value / (p.intervalSeconds ?? 1)) * 60;
  const time = intervals.map((p) => {
    const v = perMinute(p, p.intervalExecTimeMs ?? 0);
    return { t: new Date(p.time!).getTime(), v, tip: `${dateTime(p.time)} (${label(p.reason)}): ${ms(v)} of execution per minute` };
  });
  const calls = intervals.map((p) => {
    const v = perMinute(p, Number(p.intervalCalls ?? 0));
    return { t: new Date(p.time!).getTime(), v, tip: `${dateTime(p.time)} (${label(p.reason)}): ${count(v)} calls per minute` };
  });
  return (
    <div className="charts">
      <LineChart points={time} title="Workload: total execution time per minute" unit={ms} testId="chart-time" />
      <LineChart points={calls} title="Workload: calls per minute" unit={(v) => count(v)} testId="chart-calls" />
    </div>
  );
}

const AFTER_CLASS: Record<string, string> = { FASTER: "bar-after", SLOWER: "bar-worse" };
const JUDGED_WORDS: Record<string, string> = {
  FASTER: "faster",
  SLOWER: "slower",
  UNCHANGED: "no significant change",
  NOT_ENOUGH_EVIDENCE: "not enough evidence",
};

/** Mean time per call before and after a change, one pair of bars per query its
 * verification saw called on both sides; the after bar is green or red only when the
 * verification judged the query faster or slower. */
function BeforeAfterChart({ s }: { s: Suggestion }) {
  const queries = (s.verificationResult?.queries ?? []).filter(
    (q) => Number(q.before?.calls ?? 0) > 0 && Number(q.after?.calls ?? 0) > 0,
  );
  if (queries.length === 0) return null;
  const w = 760;
  const row = 46;
  const labelW = 200;
  const h = queries.length * row + 8;
  const max = Math.max(...queries.flatMap((q) => [q.before?.meanMs ?? 0, q.after?.meanMs ?? 0]), 0) || 1;
  // Room on the right for the figure and the judgement.
  const bar = (v: number) => Math.max(1, (v / max) * (w - labelW - 270));
  return (
    <figure className="chart" data-testid="before-after-chart">
      <figcaption className="detail-label">Mean time per call, before → after the change</figcaption>
      <svg viewBox={`0 0 ${w} ${h}`} width="100%" role="img" aria-label="mean time per call before and after">
        {queries.map((q, i) => {
          const y0 = 4 + i * row;
          const before = q.before?.meanMs ?? 0;
          const after = q.after?.meanMs ?? 0;
          const text = q.text || q.queryId || "";
          return (
            <g key={q.queryId ?? i}>
              <text x={0} y={y0 + 16} className="chart-label">
                {text.length > 32 ? `${text.slice(0, 31)}…` : text}
                <title>{text}</title>
              </text>
              <rect x={labelW} y={y0 + 4} width={bar(before)} height={16} className="bar-before">
                <title>{`before: ${ms(before)} per call over ${q.before?.calls} calls`}</title>
              </rect>
              <text x={labelW + bar(before) + 6} y={y0 + 16} className="chart-label">
                {ms(before)}
              </text>
              <rect x={labelW} y={y0 + 22} width={bar(after)} height={16} className={AFTER_CLASS[q.change ?? ""] ?? "bar-neutral"}>
                <title>{`after: ${ms(after)} per call over ${q.after?.calls} calls`}</title>
              </rect>
              <text x={labelW + bar(after) + 6} y={y0 + 34} className="chart-label">
                {ms(after)} {q.changePercent !== undefined ? `(${q.changePercent > 0 ? "+" : ""}${q.changePercent.toFixed(0)} %)` : ""}
                {JUDGED_WORDS[q.change ?? ""] ? ` ${JUDGED_WORDS[q.change ?? ""]}` : ""}
              </text>
            </g>
          );
        })}
      </svg>
    </figure>
  );
}

function suggestionHref(s: Suggestion): string {
  return `/jobs/${jobId(s.name ?? "")}`;
}

export function TargetPage({ target }: { target: string }) {
  const [summary, setSummary] = useState<TargetSummary | null>(null);
  const [error, setError] = useState<unknown>(null);
  const load = useCallback(async () => {
    try {
      setSummary(await api.targetSummary(target));
      setError(null);
    } catch (e) {
      setError(e);
    }
  }, [target]);
  useEffect(() => {
    void load();
    const timer = window.setInterval(() => void load(), 15000);
    return () => window.clearInterval(timer);
  }, [load]);
  const i = summary?.improvement;
  const measured = (i?.improved ?? 0) + (i?.noEffect ?? 0) + (i?.regressed ?? 0);
  return (
    <section className="target-page" data-testid="target-page">
      <div className="page-head">
        <h1>
          Target <span className="mono">{target}</span>
        </h1>
        <Link href="/targets" className="button">
          All targets
        </Link>
      </div>
      <ErrorNote error={error} onRetry={() => void load()} />
      {summary === null && !error && <p className="muted">Loading…</p>}
      {summary && (
        <>
          <div className={`headline ${measured && (i?.timeSavedPercent ?? 0) > 0 ? "headline-good" : measured && (i?.timeSavedPercent ?? 0) < 0 ? "headline-bad" : ""}`} data-testid="headline">
            {measured > 0 && i?.timeBeforeMs ? (
              <div className="headline-figure" data-testid="headline-figure">
                {`${pct(i.timeSavedPercent ?? 0)} % ${(i.timeSavedPercent ?? 0) >= 0 ? "less" : "more"} time`}
              </div>
            ) : null}
            <p>{i?.headline}</p>
            <p className="muted small">
              Counted only from verdicts: what the statements judged by each verification took after the change, against what the same calls would have taken at their mean before it.
            </p>
          </div>

          <h2>Workload</h2>
          <WorkloadCharts workload={summary.workload ?? []} />
          <p className="muted small">
            {summary.snapshotInterval && summary.snapshotInterval !== "0s"
              ? `pgsage snapshots this target's pg_stat_statements totals every ${summary.snapshotInterval}, and at every apply and verification.`
              : "Periodic snapshots are off; the points are the snapshots of applies and verifications."}
          </p>

          <h2>Applied changes</h2>
          {(summary.appliedChanges ?? []).length === 0 && <p className="muted">No change applied to this target yet.</p>}
          {(summary.appliedChanges ?? []).map((s) => (
            <article key={s.name} className="card applied-change" data-testid="applied-change">
              <div className="card-head">
                <Link href={suggestionHref(s)}>{s.title || s.sql}</Link> <StateBadge state={s.state} />{" "}
                {s.verdict && s.verdict !== "VERDICT_UNSPECIFIED" ? (
                  <VerdictBadge verdict={s.verdict} />
                ) : (
                  <span className="muted small">awaiting verification</span>
                )}
              </div>
              {s.verificationResult?.reason && (
                <p className="small" data-testid="applied-reason">
                  {s.verificationResult.reason}
                </p>
              )}
              <BeforeAfterChart s={s} />
            </article>
          ))}

          <h2>Open suggestions</h2>
          <table className="grid" data-testid="open-suggestions">
            <thead>
              <tr>
                <th>Suggestion</th>
                <th>Kind</th>
                <th>State</th>
                <th className="num">Est. workload gain</th>
                <th>Analysis</th>
              </tr>
            </thead>
            <tbody>
              {(summary.openSuggestions ?? []).map((s) => (
                <tr key={s.name}>
                  <td className="query-text" title={s.sql}>
                    {s.title || s.sql}
                  </td>
                  <td>{label(s.kind)}</td>
                  <td>
                    <StateBadge state={s.state} />
                  </td>
                  <td className="num">{percent(s.workloadImprovementPercent)}</td>
                  <td className="mono">
                    <Link href={suggestionHref(s)}>{shortId(jobId(s.name ?? ""))}</Link>
                  </td>
                </tr>
              ))}
              {(summary.openSuggestions ?? []).length === 0 && (
                <tr>
                  <td colSpan={5} className="empty">
                    No suggestion waiting for a decision.
                  </td>
                </tr>
              )}
            </tbody>
          </table>

          <h2>Schedules</h2>
          {(summary.schedules ?? []).length === 0 ? (
            <p className="muted">
              No schedule: <Link href="/schedules">create one</Link> to analyse this target regularly.
            </p>
          ) : (
            <ul data-testid="target-schedules">
              {(summary.schedules ?? []).map((s) => (
                <li key={s.name}>
                  <span className="mono">{s.cron}</span> {s.timeZone ? `(${s.timeZone})` : "(UTC)"} {s.displayName}{" "}
                  {s.paused ? <span className="muted">paused</span> : <span className="muted">next {dateTime(s.nextRunTime)}</span>}
                </li>
              ))}
            </ul>
          )}

          <h2>Last analyses</h2>
          <table className="grid" data-testid="target-analyses">
            <thead>
              <tr>
                <th>Job</th>
                <th>State</th>
                <th className="num">Suggestions</th>
                <th>Created</th>
              </tr>
            </thead>
            <tbody>
              {(summary.analyses ?? []).map((j) => (
                <tr key={j.name}>
                  <td className="mono">
                    <Link href={`/jobs/${jobId(j.name ?? "")}`}>{shortId(j.name ?? "")}</Link>
                  </td>
                  <td>
                    <StateBadge state={j.state} />
                  </td>
                  <td className="num">{j.counts?.suggestions ?? 0}</td>
                  <td className="nowrap">{dateTime(j.createTime)}</td>
                </tr>
              ))}
              {(summary.analyses ?? []).length === 0 && (
                <tr>
                  <td colSpan={4} className="empty">
                    No analysis of this target yet.
                  </td>
                </tr>
              )}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}
