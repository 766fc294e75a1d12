// Audit records as a table: a suggestion's or a job's trail (newest first, "More" appends the
// next page), or the audit page's filtered list (paged older / newer).
import { useCallback, useEffect, useState } from "react";
import { api } from "./api";
import { ErrorNote, Link } from "./components";
import { dateTime, jobId, label } from "./format";
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

const METHODS: Record<string, string> = { OIDC: "signed in with OIDC", API_TOKEN: "API token", LOCAL: "local mode" };

/** The resource a record is about, linked to its job's page. */
function Resource({ name }: { name?: string }) {
  if (!name) return <span className="muted">—</span>;
  const parts = name.split("/");
  const short = parts.length >= 4 ? `${parts[1].slice(0, 8)} / ${parts[3].slice(0, 8)}` : parts[1]?.slice(0, 8) ?? name;
  return name.startsWith("jobs/") ? (
    <Link href={`/jobs/${jobId(name)}`} title={name} className="mono">
      {short}
    </Link>
  ) : (
    <span className="mono" title={name}>
      {short}
    </span>
  );
}

/** The audit records matching `filter`; `version` changes when what they are about does, so
 * the list reloads its first page. `paged`: older / newer pages of `pageSize` instead of
 * "More", and a column for what each record is about. */
// A paged list keeps its page tokens: give it a `key` that changes with `filter`.
export function AuditList(props: { filter: string; version: string; title?: string; paged?: boolean; pageSize?: number }) {
  const { filter, version, title, paged, pageSize } = props;
  const [records, setRecords] = useState<AuditRecord[] | null>(null);
  const [next, setNext] = useState("");
  const [tokens, setTokens] = useState<string[]>([""]); // page tokens seen, for "newer"
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  const load = useCallback(
    async (token: string, append: boolean) => {
      setBusy(true);
      try {
        const page = await api.listAudit(filter, token, pageSize);
        setRecords((old) => (append ? [...(old ?? []), ...(page.auditRecords ?? [])] : page.auditRecords ?? []));
        setNext(page.nextPageToken ?? "");
        setError(null);
      } catch (e) {
        setError(e);
      } finally {
        setBusy(false);
      }
    },
    [filter, pageSize],
  );
  const current = tokens[tokens.length - 1];
  useEffect(() => {
    void load(paged ? current : "", false);
  }, [load, version, paged, current]);

  return (
    <div className="audit" data-testid="audit-list">
      <div className="detail-label">{title ?? "Audit trail"}</div>
      <ErrorNote error={error} onRetry={() => void load(paged ? current : "", false)} />
      {records && records.length === 0 && <p className="muted small">{paged ? "No audit records match." : "Nothing recorded yet."}</p>}
      {records && records.length > 0 && (
        <table className="grid grid-inner audit-table">
          <colgroup>
            <col style={{ width: 148 }} />
            <col style={{ width: 230 }} />
            <col style={{ width: 176 }} />
            <col style={{ width: 76 }} />
            <col style={{ width: 70 }} />
            {paged && <col style={{ width: 170 }} />}
            <col />
          </colgroup>
          <thead>
            <tr>
              <th>Time</th>
              <th>Actor</th>
              <th>Action</th>
              <th>Outcome</th>
              <th>Target</th>
              {paged && <th>About</th>}
              <th>Statement / detail</th>
            </tr>
          </thead>
          <tbody>
            {records.map((r) => (
              <tr key={r.name} data-record={r.name} data-action={r.action} data-actor={r.actor}>
                <td className="small nowrap">{dateTime(r.time)}</td>
                <td className="small" title={r.actor || "anonymous"}>
                  <div className="audit-actor">
                    <span className="actor-name">{r.actor || "anonymous"}</span>
                    {r.onBehalfOf && (
                      <span className="muted on-behalf-of" title="the job that did this was asked for by">
                        for {r.onBehalfOf}
                      </span>
                    )}
                    {r.actorAuthMethod && METHODS[r.actorAuthMethod] && (
                      <span className="muted actor-method" title={r.actorSubject}>
                        {METHODS[r.actorAuthMethod]}
                      </span>
                    )}
                    {!r.authenticated && !r.actorSubject && (
                      <span className="badge badge-unauth" title="written before pgsage authenticated callers: this name is what the caller said">
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
                {paged && (
                  <td className="small nowrap">
                    <Resource name={r.resource || r.job} />
                  </td>
                )}
                <td className="small">
                  <Statement text={r.statement} />
                  {r.detail && <div className="muted audit-detail">{r.detail}</div>}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {!paged && next && (
        <button type="button" className="button button-small" disabled={busy} onClick={() => void load(next, true)}>
          More
        </button>
      )}
      {paged && (
        <div className="pager">
          <button type="button" className="button" disabled={busy || tokens.length <= 1} onClick={() => setTokens(tokens.slice(0, -1))}>
            ← Newer
          </button>
          <span className="muted" data-testid="audit-page">
            Page {tokens.length}
          </span>
          <button type="button" className="button" disabled={busy || !next} onClick={() => setTokens([...tokens, next])}>
            Older →
          </button>
        </div>
      )}
    </div>
  );
}
