// A job's suggestions: filters, approve, dismiss, SQL editing with validation and etag
// conflicts explained; benchmark, apply and roll back (confirmed first, followed live), the
// benchmark chart and the audit trail.
import { Fragment, useCallback, useEffect, useRef, useState } from "react";
import { api, ApiError } from "./api";
import { denial, useAccess, useTwoPersonBlock } from "./access";
import { AuditList } from "./Audit";
import { BenchmarkPanel, RegressionBadge } from "./Benchmark";
import { VerdictBadge, VerificationPanel } from "./Verification";
import { ConfirmDialog, ErrorNote, ProgressBar, Sql, StateBadge } from "./components";
import { bytes, jobId, label, percent } from "./format";
import type { ChangeOptions, Job, Suggestion, Target, WatchEvent } from "./types";
import { ACTION_WORDS, actionsFor, FILTERS, measurable, ordered, statementOf, type Action } from "./suggestionRules";
import { PriorDecision } from "./PriorDecision";
import { watchJob } from "./notify";

export function SuggestionList({ job, version }: { job: Job; version: number }) {
  const [filterKey, setFilterKey] = useState("all");
  const [all, setAll] = useState<Suggestion[] | null>(null);
  const [shown, setShown] = useState<Suggestion[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [open, setOpen] = useState<string>("");

  const filter = FILTERS.find((f) => f.key === filterKey) ?? FILTERS[0];
  const load = useCallback(async () => {
    try {
      const [everything, filtered] = await Promise.all([
        api.listSuggestions(job.name, ""),
        filter.filter ? api.listSuggestions(job.name, filter.filter) : Promise.resolve(null),
      ]);
      const list = ordered(everything.suggestions);
      setAll(list);
      setShown(filtered ? ordered(filtered.suggestions) : list);
      setError(null);
    } catch (e) {
      setError(e);
    }
  }, [job.name, filter.filter]);

  useEffect(() => {
    void load();
  }, [load, version]);

  const replace = (updated: Suggestion) => {
    const swap = (list: Suggestion[] | null) => list?.map((s) => (s.name === updated.name ? updated : s)) ?? null;
    setAll(swap);
    setShown((list) => swap(list)?.filter(filter.match) ?? null);
  };

  return (
    <div className="panel">
      <div className="panel-head">
        <h2>Suggestions</h2>
        <div className="tabs small-tabs" role="tablist" aria-label="Filter suggestions">
          {FILTERS.map((f) => (
            <button
              key={f.key}
              type="button"
              className={`tab${f.key === filterKey ? " tab-active" : ""}`}
              onClick={() => setFilterKey(f.key)}
              data-filter={f.key}
            >
              {f.text} <span className="tab-count">{all?.filter(f.match).length ?? 0}</span>
            </button>
          ))}
        </div>
      </div>
      <ErrorNote error={error} onRetry={() => void load()} />
      <table className="grid" data-testid="suggestions-table">
        <thead>
          <tr>
            <th>Suggestion</th>
            <th>Table</th>
            <th className="num">Workload gain</th>
            <th className="num">Size</th>
            <th className="num">Confidence</th>
            <th>Risk</th>
            <th>State</th>
            <th className="actions-col">Decision</th>
          </tr>
        </thead>
        <tbody>
          {shown?.map((s) => (
            <SuggestionRow
              key={s.name}
              suggestion={s}
              open={open === s.name}
              onToggle={() => setOpen(open === s.name ? "" : s.name)}
              onOpen={() => setOpen(s.name)}
              onChange={replace}
            />
          ))}
          {shown && shown.length === 0 && (
            <tr>
              <td colSpan={8} className="empty">
                {filterKey === "all"
                  ? job.state === "FAILED"
                    ? "The analysis failed before it suggested anything; the reason is above. Retry it once the cause is fixed."
                    : job.state === "CANCELLED"
                      ? "The analysis was cancelled before it suggested anything."
                      : job.state === "SUCCEEDED"
                        ? "This analysis found nothing to suggest."
                        : "No suggestions yet; they appear here as the analysis finds them."
                  : `No ${filter.text.toLowerCase()} suggestions.`}
              </td>
            </tr>
          )}
        </tbody>
      </table>
    </div>
  );
}

function SuggestionRow(props: {
  suggestion: Suggestion;
  open: boolean;
  onToggle: () => void;
  onOpen: () => void;
  onChange: (s: Suggestion) => void;
}) {
  const s = props.suggestion;
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [dismissing, setDismissing] = useState(false);
  const [reason, setReason] = useState("");

  const act = async (action: () => Promise<Suggestion>) => {
    setBusy(true);
    setError(null);
    try {
      props.onChange(await action());
      setDismissing(false);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  const reload = async () => {
    setError(null);
    try {
      props.onChange(await api.getSuggestion(s.name));
    } catch (e) {
      setError(e);
    }
  };
  const conflict = error instanceof ApiError && error.isConflict;
  const pending = s.state === "PENDING";
  const access = useAccess();
  const reviewWhy = denial(access, "REVIEWER", s.target);
  const operateWhy = denial(access, "OPERATOR", s.target);
  const twoPersonWhy = useTwoPersonBlock(access, s, actionsFor(s).includes("APPLY"));
  const whyNot = (action: Action) => operateWhy || (action === "APPLY" ? twoPersonWhy : "");
  const [running, setRunning] = useState<{ action: Action; job: Job } | null>(null);
  const [finished, setFinished] = useState<{ action: Action; job: Job } | null>(null);
  const [confirming, setConfirming] = useState<Action | null>(null);
  const source = useRef<EventSource | null>(null);
  useEffect(() => () => source.current?.close(), []);

  const [changeOptions, setChangeOptions] = useState<ChangeOptions | undefined>(undefined);
  const start = async (action: Action, options?: ChangeOptions) => {
    setBusy(true);
    setError(null);
    setFinished(null);
    try {
      const job = await api.actOn(action, s, action === "BENCHMARK" ? undefined : options);
      watchJob(job.name); // started in this tab: say when it finishes
      setRunning({ action, job });
      const events = new EventSource(`/v1/${job.name}/events`);
      source.current = events;
      events.onmessage = (message) => {
        const event = JSON.parse(message.data) as WatchEvent;
        if (event.job?.name === job.name) setRunning({ action, job: event.job });
        if (event.suggestion?.name === s.name) props.onChange(event.suggestion);
      };
      events.addEventListener("end", () => {
        events.close();
        void (async () => {
          try {
            const [done, fresh] = await Promise.all([api.getJob(job.name), api.getSuggestion(s.name)]);
            props.onChange(fresh);
            setFinished({ action, job: done });
            if (done.state !== "SUCCEEDED") {
              const reason = done.error?.message || fresh.failureReason || "no reason given";
              setError(new Error(`${ACTION_WORDS[action][0]} ${label(done.state)}: ${reason}`));
            } else if (action === "BENCHMARK") {
              props.onOpen();
            }
          } catch (e) {
            setError(e);
          } finally {
            setRunning(null);
          }
        })();
      });
    } catch (e) {
      setError(e);
      // Refused for who approved it: this page was behind; show the suggestion as it is now.
      if (e instanceof ApiError && e.reason === "TWO_PERSON_RULE") void api.getSuggestion(s.name).then(props.onChange, () => {});
    } finally {
      setBusy(false);
    }
  };
  const regression = s.benchmarks?.[0]?.regression ?? false;

  return (
    <Fragment>
      <tr className={`suggestion-row${props.open ? " row-open" : ""}`} data-suggestion={s.name}>
        <td>
          <button type="button" className="disclosure" onClick={props.onToggle} aria-expanded={props.open}>
            <span className="caret">{props.open ? "▾" : "▸"}</span>
            <span className="title">{s.title || label(s.kind)}</span>
          </button>
          {s.newSinceLastAnalysis && (
            <span className="badge badge-new" title="The previous analysis of this target did not suggest it" data-testid="new-badge">
              new since last analysis
            </span>
          )}
          <div className="muted small indent">
            {label(s.kind)}
            {s.editedSql ? " · edited" : ""}
            {s.priorDecision ? " · decided before" : ""}
            {s.benchmarks?.length ? " · benchmarked" : ""}
          </div>
        </td>
        <td className="mono small">{s.tables?.join(", ") || "—"}</td>
        <td className="num">{percent(s.workloadImprovementPercent)}</td>
        <td className="num">{bytes(s.estimatedSizeBytes)}</td>
        <td className="num">{s.confidence !== undefined ? `${Math.round(s.confidence * 100)} %` : "—"}</td>
        <td>{s.risk ? <span className={`risk risk-${s.risk.toLowerCase()}`}>{s.risk.toLowerCase()}</span> : "—"}</td>
        <td className="state-cell">
          <StateBadge state={s.state} />
          {regression && <RegressionBadge />}
          <VerdictBadge verdict={s.verdict} />
          {s.failureReason && (s.state === "APPLY_FAILED" || s.state === "ROLLBACK_FAILED") && (
            <div className="small bad failure-reason" title={s.failureReason} data-testid="failure-reason">
              {s.failureReason}
            </div>
          )}
        </td>
        <td className="actions-col">
          {pending && !dismissing && (
            <>
              <button type="button" className="button button-small button-primary" disabled={busy || !!reviewWhy} title={reviewWhy || undefined} onClick={() => void act(() => api.approve(s))}>
                Approve
              </button>
              <button type="button" className="button button-small" disabled={busy || !!reviewWhy} title={reviewWhy || undefined} onClick={() => setDismissing(true)}>
                Dismiss
              </button>
            </>
          )}
          {s.state === "APPROVED" && (
            <button type="button" className="button button-small" disabled={busy || !!reviewWhy} title={reviewWhy || undefined} onClick={() => setDismissing(true)} hidden={dismissing}>
              Dismiss
            </button>
          )}
          {!dismissing && !running &&
            actionsFor(s).map((action) => (
              <button
                key={action}
                type="button"
                className="button button-small"
                disabled={busy || !!whyNot(action)}
                title={whyNot(action) || undefined}
                onClick={() => (action === "BENCHMARK" ? void start(action) : setConfirming(action))}
                data-action={action}
              >
                {ACTION_WORDS[action][0]}
              </button>
            ))}
          {!measurable(s) && (s.state === "PENDING" || s.state === "APPROVED") && !dismissing && (
            <div className="small muted" data-testid="no-benchmark" title="A benchmark times the queries a change affects; the analysis found none that use this index.">
              nothing to benchmark: no query uses it
            </div>
          )}
          {twoPersonWhy && !operateWhy && !running && (
            <div className="small muted two-person-note" data-testid="two-person-note">
              Two-person rule: you approved it, someone else applies it.
            </div>
          )}
          {running && <RunningStep action={running.action} job={running.job} />}
          {!running && finished?.job.state === "SUCCEEDED" && (
            <span className="small good step-done" data-testid="action-done">
              {finished.action === "BENCHMARK" ? "benchmarked" : finished.action === "APPLY" ? "applied" : "rolled back"} ✓
            </span>
          )}
          {confirming && (
            <ConfirmDialog
              title={`${ACTION_WORDS[confirming][0]} on target ${s.target ?? "?"}?`}
              confirmText={`${ACTION_WORDS[confirming][0]} on ${s.target ?? "target"}`}
              danger={confirming === "ROLLBACK"}
              onCancel={() => setConfirming(null)}
              onConfirm={() => {
                const action = confirming;
                setConfirming(null);
                void start(action, changeOptions);
              }}
            >
              <ConfirmText action={confirming} suggestion={s} onOptions={setChangeOptions} />
            </ConfirmDialog>
          )}
          {dismissing && (
            <form
              className="inline-form"
              onSubmit={(e) => {
                e.preventDefault();
                void act(() => api.dismiss(s, reason));
              }}
            >
              <input autoFocus placeholder="why (optional)" value={reason} onChange={(e) => setReason(e.target.value)} aria-label="Reason for dismissing" />
              <button type="submit" className="button button-small" disabled={busy}>
                Dismiss
              </button>
              <button type="button" className="link-button" onClick={() => setDismissing(false)}>
                cancel
              </button>
            </form>
          )}
        </td>
      </tr>
      {(error !== null || props.open) && (
        <tr className="detail-row">
          <td colSpan={8}>
            {conflict ? (
              <div className="note note-warn" role="alert">
                <span>
                  This suggestion was changed by someone else (approved, dismissed or edited) after you loaded it, so your change
                  was not saved. Reload it to see its current state, then decide again.
                </span>
                <button type="button" className="button button-small" onClick={() => void reload()}>
                  Reload suggestion
                </button>
              </div>
            ) : (
              !props.open && <ErrorNote error={error} />
            )}
            {props.open && <SuggestionDetail suggestion={s} onChange={props.onChange} reviewWhy={reviewWhy} operateWhy={operateWhy} />}
          </td>
        </tr>
      )}
    </Fragment>
  );
}

function SuggestionDetail(props: { suggestion: Suggestion; onChange: (s: Suggestion) => void; reviewWhy: string; operateWhy: string }) {
  const { suggestion: s, onChange, reviewWhy } = props;
  const [editing, setEditing] = useState(false);
  const [draft, setDraft] = useState(s.editedSql || s.sql || "");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const editable = s.state === "PENDING" || s.state === "APPROVED";

  const save = async () => {
    setBusy(true);
    setError(null);
    try {
      onChange(await api.editSql(s, draft));
      setEditing(false);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  const reload = async () => {
    try {
      onChange(await api.getSuggestion(s.name));
      setError(null);
    } catch (e) {
      setError(e);
    }
  };
  const conflict = error instanceof ApiError && error.isConflict;

  return (
    <div className="detail">
      {s.rationale && <p className="rationale">{s.rationale}</p>}
      {s.priorDecision && <PriorDecision name={s.priorDecision} state={s.state} />}
      <div className="detail-grid">
        <div>
          <div className="detail-label">
            {s.editedSql ? "SQL (edited by a reviewer — used for benchmark, apply and export)" : "SQL"}
            {editable && !editing && (
              <button type="button" className="link-button" disabled={!!reviewWhy} title={reviewWhy || undefined} onClick={() => { setDraft(s.editedSql || s.sql || ""); setEditing(true); }}>
                edit
              </button>
            )}
          </div>
          {!editing && <Sql text={s.editedSql || s.sql} />}
          {editing && (
            <div className="editor">
              <textarea
                className="sql-editor"
                value={draft}
                spellCheck={false}
                rows={Math.max(3, draft.split("\n").length + 1)}
                onChange={(e) => setDraft(e.target.value)}
                aria-label="Edited SQL"
              />
              {error !== null && !conflict && (
                <div className="field-error" role="alert" data-testid="sql-error">
                  {(error as Error).message}
                </div>
              )}
              {conflict && (
                <div className="note note-warn" role="alert">
                  <span>
                    Someone changed this suggestion after you opened it, so your edit was not saved. Reload to get the current
                    version; your text stays in the editor.
                  </span>
                  <button type="button" className="button button-small" onClick={() => void reload()}>
                    Reload
                  </button>
                </div>
              )}
              <div className="actions">
                <button type="button" className="button button-small button-primary" disabled={busy} onClick={() => void save()}>
                  Save SQL
                </button>
                <button type="button" className="button button-small" onClick={() => { setEditing(false); setError(null); }}>
                  Cancel
                </button>
                {s.state === "APPROVED" && <span className="muted small">Saving an edit sends the suggestion back to pending.</span>}
              </div>
            </div>
          )}
          {s.editedSql && !editing && (
            <>
              <div className="detail-label">Original SQL</div>
              <Sql text={s.sql} className="sql-muted" />
            </>
          )}
          <div className="detail-label">Rollback</div>
          <Sql text={s.editedSql ? s.editedRollbackSql || s.rollbackSql : s.rollbackSql} className="sql-muted" />
        </div>
        <div>
          <div className="detail-label">Affected queries</div>
          {s.queryImpacts?.length ? (
            <table className="grid grid-inner">
              <thead>
                <tr>
                  <th>Query</th>
                  <th className="num">Cost before</th>
                  <th className="num">After</th>
                  <th className="num">Gain</th>
                </tr>
              </thead>
              <tbody>
                {s.queryImpacts.slice(0, 8).map((q, i) => {
                  const before = q.costBefore ?? 0;
                  const after = q.costAfter ?? 0;
                  return (
                    <tr key={i}>
                      <td className="mono small query-text" title={q.text}>{q.text || q.queryId}</td>
                      <td className="num">{before.toFixed(0)}</td>
                      <td className="num">{after.toFixed(0)}</td>
                      <td className="num">{before > 0 ? percent(((before - after) / before) * 100, 0) : "—"}</td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          ) : (
            <p className="muted small">No per-query estimate.</p>
          )}
          {s.riskNotes && <p className="small"><strong>Risk:</strong> {s.riskNotes}</p>}
          {s.verification && <p className="small"><strong>Verification:</strong> {s.verification}</p>}
          {s.failureReason && (
            <div className="note note-error" data-testid="detail-failure">
              <span>
                {s.state === "APPLY_FAILED" ? "Apply failed: " : s.state === "ROLLBACK_FAILED" ? "Rollback failed: " : ""}
                {s.failureReason}
              </span>
            </div>
          )}
        </div>
      </div>
      {s.benchmarks?.length ? <BenchmarkPanel result={s.benchmarks[0]} count={s.benchmarks.length} estimatedSizeBytes={s.estimatedSizeBytes} /> : null}
      <VerificationPanel s={s} operateWhy={props.operateWhy} />
      <AuditList filter={`resource = "${s.name}"`} version={`${s.etag ?? ""}:${s.state ?? ""}:${s.benchmarks?.length ?? 0}`} />
    </div>
  );
}

/** Queued, running (with the job's stage and percent), or cancelling; links to the job. */
function RunningStep({ action, job }: { action: Action; job: Job }) {
  const state = job.state ?? "PENDING";
  const percentDone = job.progress?.percent ?? 0;
  const detail = job.progress?.message || job.progress?.stage || "";
  const text =
    state === "PENDING"
      ? `${ACTION_WORDS[action][0]} queued, waiting for a worker`
      : state === "CANCELLING"
        ? "cancelling"
        : `${ACTION_WORDS[action][1]}${detail ? `: ${detail}` : "…"}`;
  return (
    <span className="step muted small" data-testid="action-running" data-state={state}>
      {state === "RUNNING" && <ProgressBar percent={percentDone} active />}
      <span className="step-text" title={text}>
        {text}
      </span>
      <a href={`/jobs/${jobId(job.name)}`}>job</a>
    </span>
  );
}

/** A protobuf JSON duration ("1.500s") in seconds. */
const secondsOf = (d?: string) => (d ? parseFloat(d) : 0);

/** The build and lock timeouts a change runs with: the target's, which the person may change. */
function ChangeTimeouts({ target, onOptions }: { target: string; onOptions: (o: ChangeOptions | undefined) => void }) {
  const [known, setKnown] = useState<Target | null>(null);
  const [build, setBuild] = useState("");
  const [lock, setLock] = useState("");
  useEffect(() => {
    api.listTargets().then(
      (r) => {
        const t = r.targets?.find((x) => x.name === target) ?? null;
        setKnown(t);
        const b = secondsOf(t?.buildTimeout);
        setBuild(b ? String(b) : "");
        setLock(String(secondsOf(t?.lockTimeout) || 1));
      },
      () => setKnown(null),
    );
  }, [target]);
  useEffect(() => {
    const b = parseFloat(build);
    const l = parseFloat(lock);
    onOptions({
      buildTimeout: `${Number.isFinite(b) && b > 0 ? b : 0}s`,
      ...(Number.isFinite(l) && l > 0 ? { lockTimeout: `${l}s` } : {}),
    });
  }, [build, lock, onOptions]);
  return (
    <div className="timeouts" data-testid="confirm-timeouts">
      <label>
        Build timeout (s){" "}
        <input type="number" min="0" step="any" placeholder="none" value={build} onChange={(e) => setBuild(e.target.value)} data-testid="build-timeout" />
      </label>
      <label>
        Lock timeout (s){" "}
        <input type="number" min="0.001" step="any" value={lock} onChange={(e) => setLock(e.target.value)} data-testid="lock-timeout" />
      </label>
      <p className="muted small" data-testid="timeouts-text">
        {build ? `The build stops after ${build} s` : "The build may take as long as it needs (no build timeout)"}; each lock wait
        stops after {lock || "?"} s. A build that runs out of time is stopped, its invalid index dropped, and the job fails
        without retrying{known ? "" : " (the target's own settings could not be read)"}.
      </p>
    </div>
  );
}

/** Exactly what will run, where, how long it may take, and how to undo it. */
function ConfirmText({
  action,
  suggestion: s,
  onOptions,
}: {
  action: Action;
  suggestion: Suggestion;
  onOptions: (o: ChangeOptions | undefined) => void;
}) {
  return (
    <>
      <p>
        This runs on the database of target <strong data-testid="confirm-target">{s.target}</strong>
        {action === "APPLY" ? "; an invalid index left by a failed or cancelled build is dropped." : "."}
      </p>
      <div className="detail-label">Statement</div>
      <pre className="sql" data-testid="confirm-sql">{statementOf(action, s).trim()}</pre>
      {action !== "BENCHMARK" && <ChangeTimeouts target={s.target ?? ""} onOptions={onOptions} />}
      {action === "APPLY" && (
        <>
          <div className="detail-label">Roll back later with</div>
          <Sql text={statementOf("ROLLBACK", s)} className="sql-muted" />
        </>
      )}
      {action === "APPLY" && s.benchmarks?.[0]?.regression && (
        <div className="note note-warn">
          <span>Its newest benchmark found a query that got slower with this index.</span>
        </div>
      )}
      {action === "APPLY" && !s.benchmarks?.length && <p className="muted small">It has not been benchmarked.</p>}
      <p className="muted small">The change and every statement it runs are recorded in the audit trail.</p>
    </>
  );
}
