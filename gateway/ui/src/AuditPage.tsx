// The audit trail on a page of its own: filters by actor, target, action and time (kept in
// the address, so a filtered view can be shared), paged, and for admins "Verify chain", which
// recomputes the hash chain on the server and names the first record that does not match.
import { useState, type FormEvent } from "react";
import { api } from "./api";
import { denial, useAccess } from "./access";
import { AuditList } from "./Audit";
import { ErrorNote } from "./components";
import { navigate } from "./router";
import type { VerifyAuditTrailResponse } from "./types";

const ACTIONS = [
  "job.create",
  "job.cancel",
  "job.retry",
  "job.delete",
  "suggestion.approve",
  "suggestion.dismiss",
  "suggestion.edit",
  "suggestion.apply",
  "suggestion.rollback",
  "statement.execute",
];
const FIELDS = ["actor", "target", "action", "from", "to"] as const;
type Field = (typeof FIELDS)[number];
const PAGE_SIZE = 25;

/** A filter string value: quoted, with `\` and `"` escaped. */
function quoted(value: string): string {
  return `"${value.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}

/** `datetime-local` text (the browser's local time) as an RFC 3339 UTC time; "" if invalid. */
function rfc3339(local: string): string {
  const when = new Date(local);
  return Number.isNaN(when.getTime()) ? "" : when.toISOString();
}

/** The ListAuditRecords filter for the form's values (terms joined by AND). */
export function auditFilter(values: Record<Field, string>): string {
  const terms: string[] = [];
  for (const field of ["actor", "target", "action"] as const) {
    if (values[field].trim()) terms.push(`${field} = ${quoted(values[field].trim())}`);
  }
  const from = values.from && rfc3339(values.from);
  const to = values.to && rfc3339(values.to);
  if (from) terms.push(`time >= ${quoted(from)}`);
  if (to) terms.push(`time < ${quoted(to)}`);
  return terms.join(" AND ");
}

function VerifyChain() {
  const access = useAccess();
  const [result, setResult] = useState<VerifyAuditTrailResponse | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const why = denial(access, "ADMIN");
  const verify = async () => {
    setBusy(true);
    setError(null);
    setResult(null);
    try {
      setResult(await api.verifyAudit());
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className="verify">
      <button type="button" className="button" disabled={busy || !!why} title={why || "Recompute every record's digest and the links between them"} onClick={() => void verify()}>
        {busy ? "Verifying…" : "Verify chain"}
      </button>
      {result && (
        <div className={`note ${result.intact ? "note-ok" : "note-error"}`} role="status" data-testid="verify-result" data-intact={result.intact ? "true" : "false"}>
          <span>
            {result.intact
              ? `Intact: ${result.recordsChecked ?? 0} records checked, each matches its digest and links to the one before.`
              : `Not intact (${(result.problem ?? "").toLowerCase() || "mismatch"}): first bad record ${result.firstBadRecord ?? "?"}.`}
            {result.message ? ` ${result.message}` : ""}
          </span>
        </div>
      )}
      <ErrorNote error={error} />
    </div>
  );
}

export function AuditPage({ search }: { search: URLSearchParams }) {
  const applied = Object.fromEntries(FIELDS.map((f) => [f, search.get(f) ?? ""])) as Record<Field, string>;
  const [values, setValues] = useState<Record<Field, string>>(applied);
  const filter = auditFilter(applied);

  const submit = (event: FormEvent) => {
    event.preventDefault();
    const params = new URLSearchParams();
    for (const f of FIELDS) if (values[f].trim()) params.set(f, values[f].trim());
    const text = params.toString();
    navigate(text ? `/audit?${text}` : "/audit");
  };
  const clear = () => {
    setValues({ actor: "", target: "", action: "", from: "", to: "" });
    navigate("/audit");
  };
  const input = (field: Field, labelText: string, props: Record<string, string> = {}) => (
    <label className="field">
      <span>{labelText}</span>
      <input name={field} value={values[field]} onChange={(e) => setValues({ ...values, [field]: e.target.value })} {...props} />
    </label>
  );

  return (
    <section>
      <div className="page-head">
        <h1>Audit trail</h1>
        <VerifyChain />
      </div>
      <form className="panel audit-filters" onSubmit={submit} aria-label="Filter audit records">
        {input("actor", "Actor", { placeholder: "display name", maxLength: "200" })}
        {input("target", "Target", { placeholder: "demo", maxLength: "200" })}
        {input("action", "Action", { placeholder: "any", list: "audit-actions", maxLength: "100" })}
        <datalist id="audit-actions">
          {ACTIONS.map((a) => (
            <option key={a} value={a} />
          ))}
        </datalist>
        {input("from", "From", { type: "datetime-local" })}
        {input("to", "Until", { type: "datetime-local" })}
        <div className="actions">
          <button type="submit" className="button button-primary">
            Filter
          </button>
          <button type="button" className="button" onClick={clear}>
            Clear
          </button>
        </div>
      </form>
      <div className="panel">
        {filter && (
          <p className="muted small mono" data-testid="audit-filter">
            {filter}
          </p>
        )}
        <AuditList key={filter} filter={filter} version="" title={filter ? "Matching records, newest first" : "Every record, newest first"} paged pageSize={PAGE_SIZE} />
      </div>
    </section>
  );
}
