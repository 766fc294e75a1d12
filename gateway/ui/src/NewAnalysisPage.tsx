// The new-analysis form: a target (from ListTargets), what to look for, a budget.
import { useEffect, useMemo, useState } from "react";
import { api, ApiError, newRequestId } from "./api";
import { denial, useAccess } from "./access";
import { ErrorNote, Link } from "./components";
import { analysisLabel, jobId } from "./format";
import { watchJob } from "./notify";
import { navigate } from "./router";
import type { AnalysisType, Target } from "./types";

const TYPES: AnalysisType[] = ["MISSING_INDEXES", "UNUSED_INDEXES", "DUPLICATE_INDEXES"];

export function NewAnalysisPage() {
  const [targets, setTargets] = useState<Target[] | null>(null);
  const [targetsError, setTargetsError] = useState<unknown>(null);
  const [target, setTarget] = useState("");
  const [types, setTypes] = useState<AnalysisType[]>([...TYPES]);
  const [budgetMb, setBudgetMb] = useState("500");
  const [maxIndexes, setMaxIndexes] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const requestId = useMemo(newRequestId, []);
  const access = useAccess();
  const why = target ? denial(access, "OPERATOR", target) : "";

  const loadTargets = async () => {
    try {
      const answer = await api.listTargets();
      const list = answer.targets ?? [];
      setTargets(list);
      setTargetsError(null);
      const first = list.find((t) => t.reachable);
      if (first && !target) setTarget(first.name);
    } catch (e) {
      setTargetsError(e);
      setTargets([]);
    }
  };

  useEffect(() => {
    void loadTargets();
  }, []);

  const reachable = (targets ?? []).filter((t) => t.reachable);
  const budget = Number(budgetMb);
  const budgetError = budgetMb.trim() !== "" && (!Number.isFinite(budget) || budget < 0) ? "The budget is a number of megabytes, 0 or more." : "";

  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    if (!target || busy || budgetError || why) return;
    setBusy(true);
    setError(null);
    try {
      const options: Record<string, unknown> = {};
      if (budget > 0) options.storageBudgetBytes = String(Math.round(budget * 1024 * 1024));
      if (maxIndexes) options.maxIndexes = Number(maxIndexes);
      const job = await api.createJob({ target, analysisTypes: types, options }, requestId);
      watchJob(job.name); // started in this tab: say when it finishes
      navigate(`/jobs/${jobId(job.name)}`);
    } catch (e) {
      setError(e);
      setBusy(false);
    }
  };

  const toggle = (t: AnalysisType) => setTypes(types.includes(t) ? types.filter((x) => x !== t) : [...types, t]);
  const fieldError = error instanceof ApiError ? error.field : "";

  return (
    <section className="narrow">
      <div className="page-head">
        <h1>New analysis</h1>
        <Link href="/" className="button">
          Back to jobs
        </Link>
      </div>
      <form className="form" onSubmit={submit}>
        <label className="field">
          <span className="field-label">Target database</span>
          {targets === null && <span className="muted">Loading targets…</span>}
          {targets !== null && reachable.length > 0 && (
            <select value={target} onChange={(e) => setTarget(e.target.value)} name="target">
              {targets.map((t) => (
                <option key={t.name} value={t.name} disabled={!t.reachable}>
                  {t.name}
                  {t.reachable ? ` — PostgreSQL ${t.serverVersion ?? "?"}, what-if: ${t.whatIfEngine ?? "none"}` : ` — unreachable: ${t.unreachableReason ?? "no reason given"}`}
                </option>
              ))}
            </select>
          )}
          {targets !== null && reachable.length === 0 && (
            <div className="note note-error" role="alert" data-testid="no-targets">
              <span>
                No target database can be reached, so no analysis can start.{" "}
                {targetsError instanceof Error
                  ? targetsError.message
                  : (targets ?? []).map((t) => `${t.name}: ${t.unreachableReason || "unreachable"}`).join("; ") || "The optimizer has no target configured."}
              </span>
              <button type="button" className="link-button" onClick={() => void loadTargets()}>
                Check again
              </button>
            </div>
          )}
          {fieldError.endsWith("target") && <span className="field-error">{(error as Error).message}</span>}
        </label>

        <fieldset className="field">
          <legend className="field-label">Look for</legend>
          {TYPES.map((t) => (
            <label key={t} className="check">
              <input type="checkbox" checked={types.includes(t)} onChange={() => toggle(t)} name={t} /> {analysisLabel(t)}
            </label>
          ))}
          <span className="hint">None checked means all of them.</span>
        </fieldset>

        <div className="row">
          <label className="field">
            <span className="field-label">Storage budget for new indexes (MB)</span>
            <input type="number" min={0} step="any" value={budgetMb} onChange={(e) => setBudgetMb(e.target.value)} name="budget" />
            {budgetError && <span className="field-error">{budgetError}</span>}
            <span className="hint">0 or empty uses the optimizer's default.</span>
          </label>
          <label className="field">
            <span className="field-label">At most this many new indexes</span>
            <input type="number" min={0} value={maxIndexes} placeholder="default" onChange={(e) => setMaxIndexes(e.target.value)} name="maxIndexes" />
          </label>
        </div>

        <ErrorNote error={error && !fieldError.endsWith("target") ? error : null} />
        <div className="actions">
          <button type="submit" className="button button-primary" disabled={!target || busy || !!budgetError || !!why} title={why || undefined}>
            {busy ? "Starting…" : "Start analysis"}
          </button>
          {why && <span className="muted small" data-testid="start-denied">Starting an analysis {why}.</span>}
        </div>
      </form>
    </section>
  );
}
