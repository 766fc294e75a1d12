// The newest benchmark of a suggestion as a before/after chart per query: median time with
// its run-to-run spread, buffers touched, and whether the plan used the new index.
import { bytes, dateTime } from "./format";
import type { BenchmarkQuery, BenchmarkResult, Measurement } from "./types";

function ms(value?: number): string {
  const v = value ?? 0;
  if (v >= 100) return `${v.toFixed(0)} ms`;
  if (v >= 1) return `${v.toFixed(2)} ms`;
  return `${v.toFixed(3)} ms`;
}

function blocks(m?: Measurement): number {
  return Number(m?.sharedHitBlocks ?? 0) + Number(m?.sharedReadBlocks ?? 0);
}

export function RegressionBadge({ title }: { title?: string }) {
  return (
    <span className="badge badge-regression" title={title ?? "a query got slower with the index than without it"} data-testid="regression-badge">
      regression
    </span>
  );
}

/** How much faster (or slower) `after` is than `before`, in words a DBA reads at a glance. */
function change(q: BenchmarkQuery): { text: string; worse: boolean } {
  const before = q.before?.medianMs ?? 0;
  const after = q.after?.medianMs ?? 0;
  if (before <= 0 || after <= 0) return { text: "", worse: false };
  if (after <= before) return { text: `${(before / after).toFixed(before / after >= 10 ? 0 : 1)}× faster`, worse: false };
  return { text: `${(((after - before) / before) * 100).toFixed(0)} % slower`, worse: true };
}

function Bar({ m, scale, side }: { m?: Measurement; scale: number; side: "before" | "after" }) {
  const width = 100;
  const x = (v: number) => Math.max(0, Math.min(width, (v / scale) * width));
  const median = m?.medianMs ?? 0;
  const spread = m?.spreadMs ?? 0;
  return (
    <svg className="bench-bar" viewBox={`0 0 ${width} 10`} preserveAspectRatio="none" aria-hidden="true">
      <rect x={0} y={1} width={Math.max(0.6, x(median))} height={8} className={`bench-fill bench-${side}`} />
      {spread > 0 && (
        <>
          <line x1={x(median - spread)} x2={x(median + spread)} y1={5} y2={5} className="bench-spread" />
          <line x1={x(median - spread)} x2={x(median - spread)} y1={2.5} y2={7.5} className="bench-spread" />
          <line x1={x(median + spread)} x2={x(median + spread)} y1={2.5} y2={7.5} className="bench-spread" />
        </>
      )}
    </svg>
  );
}

function Side({ label, m, scale, side }: { label: string; m?: Measurement; scale: number; side: "before" | "after" }) {
  const hit = Number(m?.sharedHitBlocks ?? 0);
  const read = Number(m?.sharedReadBlocks ?? 0);
  return (
    <div className={`bench-side bench-side-${side}`} data-side={side}>
      <span className="bench-label">{label}</span>
      <Bar m={m} scale={scale} side={side} />
      <span
        className="bench-ms num"
        data-testid={`median-${side}`}
        title={`${m?.runs ?? 0} runs · min ${ms(m?.minMs)} · max ${ms(m?.maxMs)} · spread is the median absolute deviation`}
      >
        {ms(m?.medianMs)} <span className="muted">± {ms(m?.spreadMs).replace(" ms", "")}</span>
      </span>
      <span className="bench-buffers num" title={`shared hit ${hit.toLocaleString()} · read ${read.toLocaleString()}`}>
        {blocks(m).toLocaleString()} buffers
      </span>
      <span className={m?.indexUsed ? "bench-index bench-index-used" : "bench-index muted"} data-testid={`index-${side}`}>
        {m?.indexUsed ? "index used" : "index not used"}
      </span>
    </div>
  );
}

function QueryChart({ q }: { q: BenchmarkQuery }) {
  const scale = Math.max(
    1e-6,
    (q.before?.medianMs ?? 0) + (q.before?.spreadMs ?? 0),
    (q.after?.medianMs ?? 0) + (q.after?.spreadMs ?? 0),
  );
  const delta = change(q);
  return (
    <div className={`bench-query${q.regression ? " bench-query-regression" : ""}`} data-testid="bench-query" data-skipped={q.skippedReason ? "" : undefined}>
      <div className="bench-query-head">
        <span className="mono small query-text" title={q.text}>
          {q.text || q.queryId}
        </span>
        {q.regression && <RegressionBadge title="slower by more than max(10 %, 3 × the run-to-run spread)" />}
        {delta.text && <span className={`small nowrap ${delta.worse ? "bad" : "good"}`}>{delta.text}</span>}
      </div>
      {q.skippedReason ? (
        <div className="muted small">Not measured: {q.skippedReason}</div>
      ) : (
        <>
          <Side label="before" m={q.before} scale={scale} side="before" />
          <Side label="after" m={q.after} scale={scale} side="after" />
          {q.parameterValues?.length ? (
            <div className="muted small mono query-text" title={q.parameterValues.join(", ")}>
              values: {q.parameterValues.join(", ")}
            </div>
          ) : null}
        </>
      )}
    </div>
  );
}

/** The newest benchmark result of a suggestion, with where it ran and the real index size. */
export function BenchmarkPanel({ result, count }: { result: BenchmarkResult; count: number }) {
  const queries = result.queries ?? [];
  const runs = queries.find((q) => q.before?.runs)?.before?.runs;
  return (
    <div className="bench" data-testid="benchmark-chart">
      <div className="detail-label">
        Benchmark {result.regression && <RegressionBadge />}
        <span className="muted bench-when">
          {result.createTime ? dateTime(result.createTime) : ""}
          {count > 1 ? ` · newest of ${count}` : ""}
        </span>
      </div>
      <div className="bench-facts small">
        <span>
          ran on <strong data-testid="bench-environment">{result.environment || "sandbox"}</strong>
        </span>
        <span>
          index <span className="mono">{result.indexName || "—"}</span>, real size <strong data-testid="bench-index-size">{bytes(result.indexSizeBytes)}</strong>
        </span>
        {runs ? <span>{runs} runs per side, median shown</span> : null}
      </div>
      {queries.length === 0 && <p className="muted small">No affected query could be measured.</p>}
      {queries.map((q, i) => (
        <QueryChart key={q.queryId || i} q={q} />
      ))}
    </div>
  );
}
