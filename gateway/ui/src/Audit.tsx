// The audit trail of one suggestion: every state change and every statement run on a target,
// newest first, paged with the API's page token.
import { useCallback, useEffect, useState } from "react";
import { api } from "./api";
import { ErrorNote } from "./components";
import { dateTime, label } from "./format";
import type { AuditRecord } from "./types";

function outcomeClass(outcome?: string): string {
  const o = (outcome ?? "").toUpperCase();
  if (["FAILED", "ERROR", "ABORTED", "REFUSED"].some((w) => o.includes(w))) return "outcome-bad";
  if (["OK", "SUCCEEDED", "DONE", "FINISHED"].some((w) => o.includes(w))) return "outcome-ok";
  return "outcome-neutral";
}

function Statement({ text }: { text?: string }) {
  const [open, setOpen] = useState(false);
  if (!text) return <span className="muted">—</span>;
  const long = text.length > 48 || text.includes("\n");
  return (
    <span className="audit-statement">
      <span className={`mono small${open ? " statement-open" : " statement-short"}`} title={open ? undefined : text}>
        {text}
      </span>
      {long && (
        <button type="button" className="link-button" onClick={() => setOpen(!open)}>
          {open ? "less" : "expand"}
        </button>
      )}
    </span>
  );
}

/** The audit records matching `filter`; `version` changes when what they are about does, so
 * the list reloads its first page. */
export function AuditList({ filter, version, title }: { filter: string; version: string; title?: string }) {
  const [records, setRecords] = useState<AuditRecord[] | null>(null);
  const [next, setNext] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  const load = useCallback(
    async (token: string) => {
      setBusy(true);
      try {
        const page = await api.listAudit(filter, token);
        setRecords((old) => (token ? [...(old ?? []), ...(page.auditRecords ?? [])] : page.auditRecords ?? []));
        setNext(page.nextPageToken ?? "");
        setError(null);
      } catch (e) {
        setError(e);
      } finally {
        setBusy(false);
      }
    },
    [filter],
  );
  useEffect(() => {
    void load("");
  }, [load, version]);

  return (
    <div className="audit" data-testid="audit-list">
      <div className="detail-label">{title ?? "Audit trail"}</div>
      <ErrorNote error={error} onRetry={() => void load("")} />
      {records && records.length === 0 && <p className="muted small">Nothing recorded yet.</p>}
      {records && records.length > 0 && (
        <table className="grid grid-inner audit-table">
          <colgroup>
            <col style={{ width: 148 }} />
            <col style={{ width: 230 }} />
            <col style={{ width: 176 }} />
            <col style={{ width: 76 }} />
            <col style={{ width: 70 }} />
            <col />
          </colgroup>
          <thead>
            <tr>
              <th>Time</th>
              <th>Actor</th>
              <th>Action</th>
              <th>Outcome</th>
              <th>Target</th>
              <th>Statement / detail</th>
            </tr>
          </thead>
          <tbody>
            {records.map((r) => (
              <tr key={r.name} data-action={r.action}>
                <td className="small nowrap">{dateTime(r.time)}</td>
                <td className="small" title={r.actor || "anonymous"}>
                  <div className="audit-actor">
                    <span className="actor-name">{r.actor || "anonymous"}</span>
                    {r.onBehalfOf && (
                      <span className="muted on-behalf-of" title="the job that did this was asked for by">
                        for {r.onBehalfOf}
                      </span>
                    )}
                    {!r.authenticated && (
                      <span className="badge badge-unauth" title="pgsage does not authenticate callers yet: this name is what the caller said">
                        unauthenticated
                      </span>
                    )}
                  </div>
                </td>
                <td className="small">
                  <span className="mono">{r.action}</span>
                  {r.fromState && r.toState && (
                    <div className="muted">
                      {label(r.fromState)} → {label(r.toState)}
                    </div>
                  )}
                </td>
                <td className={`small ${outcomeClass(r.outcome)}`}>{label(r.outcome)}</td>
                <td className="small muted">{r.target || "—"}</td>
                <td className="small">
                  <Statement text={r.statement} />
                  {r.detail && <div className="muted audit-detail">{r.detail}</div>}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {next && (
        <button type="button" className="button button-small" disabled={busy} onClick={() => void load(next)}>
          More
        </button>
      )}
    </div>
  );
}
