// The newest benchmark of a suggestion as a before/after chart per query: median time with
// its run-to-run spread on a labelled time axis, buffers touched, and whether the plan used
// the new index; a legend says what the marks are, and a sampled run says so.
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

/** A round axis end at or above `max` (1, 2 or 5 × a power of ten) and its ticks. */
export function axis(max: number): { top: number; ticks: number[] } {
  const positive = Math.max(max, 1e-3);
  const power = 10 ** Math.floor(Math.log10(positive));
  const top = [1, 2, 5, 10].map((f) => f * power).find((v) => v >= positive) ?? 10 * power;
  const step = top / (top / power >= 5 ? 5 : top / power >= 2 ? 4 : 5);
  const ticks = Array.from({ length: Math.round(top / step) + 1 }, (_, i) => i * step);
  return { top, ticks };
}

function tick(v: number): string {
  if (v === 0) return "0";
  return v >= 1 ? `${Number(v.toFixed(1))}` : `${Number(v.toPrecision(2))}`;
}

function Axis({ top, ticks }: { top: number; ticks: number[] }) {
  return (
    <div className="bench-side bench-axis-row" data-testid="bench-axis" aria-hidden="true">
      <span />
      <div className="bench-axis">
        {ticks.map((t) => (
          <span key={t} className="bench-tick" style={{ left: `${(t / top) * 100}%` }}>
            {tick(t)}
          </span>
        ))}
      </div>
      <span className="bench-axis-unit muted">ms (median per run)</span>
    </div>
  );
}

/** What the marks mean: shown once above the queries. */
function Legend() {
  return (
    <div className="bench-legend small" data-testid="bench-legend">
      <span>
        <svg viewBox="0 0 12 8" className="bench-swatch" aria-hidden="true"><rect width="12" height="8" className="bench-fill bench-before" /></svg>
        before: without the index
      </span>
      <span>
        <svg viewBox="0 0 12 8" className="bench-swatch" aria-hidden="true"><rect width="12" height="8" className="bench-fill bench-after" /></svg>
        after: with the index
      </span>
      <span>
        <svg viewBox="0 0 14 8" className="bench-swatch" aria-hidden="true">
          <line x1="1" x2="13" y1="4" y2="4" className="bench-spread" />
          <line x1="1" x2="1" y1="1" y2="7" className="bench-spread" />
          <line x1="13" x2="13" y1="1" y2="7" className="bench-spread" />
        </svg>
        ± run-to-run spread (median absolute deviation)
      </span>
      <span className="muted">bar: median time of the runs · buffers: shared blocks hit + read</span>
    </div>
  );
}

/** `sample 10% in schema … on …`: the share of each table the benchmark copied, else null. */
export function samplePercent(environment?: string): number | null {
  const m = /^sample ([0-9.]+)%/.exec(environment ?? "");
  return m ? Number(m[1]) : null;
}

/** A sampled run: what the measured index size means next to the full-size estimate. */
function SampleNote({ percent: p, measured, estimate }: { percent: number; measured: number; estimate: number }) {
  const scaled = p > 0 ? (measured * 100) / p : 0;
  return (
    <div className="note note-info small" data-testid="bench-sample">
      <span>
        Ran on a <strong>{p}% sample</strong> of the tables, not on the whole data: times and buffers are for the sample.
        The index measured <strong>{bytes(measured)}</strong> on it
        {scaled > 0 && (
          <>
            , about <strong data-testid="bench-scaled-size">{bytes(scaled)}</strong> scaled to the whole table
          </>
        )}
        {estimate > 0 ? (
          <>
            {" "}
            (the analysis estimated <strong data-testid="bench-estimate">{bytes(estimate)}</strong>).
          </>
        ) : (
          "."
        )}
      </span>
    </div>
  );
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
  const { top: scale, ticks } = axis(
    Math.max(
      (q.before?.medianMs ?? 0) + (q.before?.spreadMs ?? 0),
      (q.after?.medianMs ?? 0) + (q.after?.spreadMs ?? 0),
    ),
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
          <Axis top={scale} ticks={ticks} />
          {q.parameterValues?.length ? (
            <div className="muted small query-text" data-testid="bench-values" title={q.parameterValues.map((v, i) => `$${i + 1} = ${v}`).join("\n")}>
              measured with{" "}
              {q.parameterValues.map((v, i) => (
                <span key={i} className="mono bench-value">
                  {i > 0 ? ", " : ""}${i + 1} = {v}
                </span>
              ))}
            </div>
          ) : null}
        </>
      )}
    </div>
  );
}

/** The newest benchmark result of a suggestion, with where it ran and the real index size. */
export function BenchmarkPanel(props: { result: BenchmarkResult; count: number; estimatedSizeBytes?: string | number }) {
  const { result, count } = props;
  const queries = result.queries ?? [];
  const sample = samplePercent(result.environment);
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
          index <span className="mono">{result.indexName || "—"}</span>, {sample !== null ? "size on the sample" : "real size"} <strong data-testid="bench-index-size">{bytes(result.indexSizeBytes)}</strong>
        </span>
        {runs ? <span>{runs} runs per side, median shown</span> : null}
      </div>
      {sample !== null && <SampleNote percent={sample} measured={Number(result.indexSizeBytes ?? 0)} estimate={Number(props.estimatedSizeBytes ?? 0)} />}
      {queries.length === 0 && <p className="muted small">No affected query could be measured.</p>}
      {queries.some((q) => !q.skippedReason) && <Legend />}
      {queries.map((q, i) => (
        <QueryChart key={q.queryId || i} q={q} />
      ))}
    </div>
  );
}
