// Audit records as a table: a suggestion's or a job's trail (newest first, "More" appends the
// next page), or the audit page's filtered list (paged older / newer). A statement's STARTED
// record and its outcome show as one row; a benchmark's statements fold under one row.
import { useCallback, useEffect, useRef, useState } from "react";
import { api } from "./api";
import { ErrorNote, Link } from "./components";
import { dateTime, jobId, label, shortId } from "./format";
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

const STATEMENT = "statement.execute";

/** A row of the table: one record, or a statement's outcome with the record of its start. */
interface Row {
  record: AuditRecord;
  started?: AuditRecord;
}

/** A benchmark job's statements, folded under one row. */
interface Batch {
  job: string;
  rows: Row[];
}

/** Pairs each statement's STARTED record with the next outcome of the same statement in the
 * same job (records come newest first); a start with no outcome yet stays a row. */
export function pairStatements(records: AuditRecord[]): Row[] {
  const open = new Map<string, AuditRecord[]>();
  const startedOf = new Map<string, AuditRecord>();
  const paired = new Set<string>();
  for (const r of [...records].reverse()) {
    if (r.action !== STATEMENT) continue;
    const key = `${r.job ?? ""}\n${r.target ?? ""}\n${r.statement ?? ""}`;
    if (r.outcome === "STARTED") {
      open.set(key, [...(open.get(key) ?? []), r]);
      continue;
    }
    const waiting = open.get(key);
    const start = waiting?.shift();
    if (start) {
      startedOf.set(r.name ?? "", start);
      paired.add(start.name ?? "");
    }
  }
  return records.filter((r) => !paired.has(r.name ?? "")).map((r) => ({ record: r, started: startedOf.get(r.name ?? "") }));
}

/** Folds the statement rows of benchmark jobs (`kinds` maps job names to their kind; a
 * `benchmark.intent` record also tells) into one entry each, where the newest of them was. */
export function foldBenchmarks(rows: Row[], kinds: ReadonlyMap<string, string> = new Map()): Array<Row | Batch> {
  const benchmarks = new Set(rows.filter((r) => r.record.action === "benchmark.intent" && r.record.job).map((r) => r.record.job));
  for (const [job, kind] of kinds) if (kind === "BENCHMARK") benchmarks.add(job);
  const batches = new Map<string, Batch>();
  const out: Array<Row | Batch> = [];
  for (const row of rows) {
    const job = row.record.job ?? "";
    if (row.record.action !== STATEMENT || !benchmarks.has(job)) {
      out.push(row);
      continue;
    }
    const batch = batches.get(job);
    if (batch) batch.rows.push(row);
    else {
      const fresh = { job, rows: [row] };
      batches.set(job, fresh);
      out.push(fresh);
    }
  }
  return out;
}

function took(row: Row): string {
  if (!row.started?.time || !row.record.time) return "";
  const ms = new Date(row.record.time).getTime() - new Date(row.started.time).getTime();
  if (!Number.isFinite(ms) || ms < 0) return "";
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

function outcomeText(r: AuditRecord): string {
  if (r.action === STATEMENT && r.outcome === "STARTED") return "started, no outcome recorded";
  return label(r.outcome);
}

function batchOutcome(rows: Row[]): string {
  if (rows.some((r) => outcomeClass(r.record.outcome) === "outcome-bad")) return "FAILED";
  if (rows.some((r) => r.record.outcome === "STARTED")) return "STARTED";
  return "SUCCEEDED";
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
export function AuditList(props: { filter: string; version: string; title?: string; paged?: boolean; pageSize?: number; fold?: boolean }) {
  const { filter, version, title, paged, pageSize } = props;
  const fold = props.fold ?? true;
  // The kind of each job whose statements are listed ("" when it is gone), so a benchmark's
  // statements fold the same way whichever page its intent record is on.
  const kinds = useRef(new Map<string, string>());
  const [records, setRecords] = useState<AuditRecord[] | null>(null);
  const [next, setNext] = useState("");
  const [tokens, setTokens] = useState<string[]>([""]); // page tokens seen, for "newer"
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  const load = useCallback(
    async (token: string, append: boolean, shown: AuditRecord[] = []) => {
      setBusy(true);
      try {
        const learn = async (list: AuditRecord[]) => {
          if (!fold) return;
          const jobs = new Set(list.filter((r) => r.action === STATEMENT && r.job).map((r) => r.job as string));
          const unknown = [...jobs].filter((j) => !kinds.current.has(j));
          const found = await Promise.all(unknown.map((j) => api.getJob(j).then((job) => job.kind ?? "", () => "")));
          unknown.forEach((j, i) => kinds.current.set(j, found[i]));
        };
        let page = await api.listAudit(filter, token, pageSize);
        let got = [...shown, ...(page.auditRecords ?? [])];
        await learn(got);
        // "More" shows more rows: a page whose records all fold into rows already shown (a
        // statement's start, more of a benchmark's statements) loads the next one too.
        const rows = (list: AuditRecord[]) => foldBenchmarks(pairStatements(list), kinds.current).length;
        while (append && page.nextPageToken && rows(got) <= rows(shown)) {
          page = await api.listAudit(filter, page.nextPageToken, pageSize);
          got = [...got, ...(page.auditRecords ?? [])];
          await learn(got);
        }
        setRecords(append ? got : page.auditRecords ?? []);
        setNext(page.nextPageToken ?? "");
        setError(null);
      } catch (e) {
        setError(e);
      } finally {
        setBusy(false);
      }
    },
    [filter, pageSize, fold],
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
            <col style={{ width: 172 }} />
            <col style={{ width: 230 }} />
            <col style={{ width: 176 }} />
            <col style={{ width: 96 }} />
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
            {(fold ? foldBenchmarks(pairStatements(records), kinds.current) : pairStatements(records)).map((item) =>
              "job" in item ? (
                <BatchRows key={`batch:${item.job}`} batch={item} paged={!!paged} />
              ) : (
                <RecordRow key={item.record.name} row={item} paged={!!paged} />
              ),
            )}
          </tbody>
        </table>
      )}
      {!paged && next && (
        <button type="button" className="button button-small" disabled={busy} onClick={() => void load(next, true, records ?? [])}>
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

/** A benchmark's statements: one row saying how many ran and how they ended; "show" lists them. */
function BatchRows({ batch, paged }: { batch: Batch; paged: boolean }) {
  const [open, setOpen] = useState(false);
  const newest = batch.rows[0].record;
  const oldest = batch.rows[batch.rows.length - 1];
  const outcome = batchOutcome(batch.rows);
  const first = oldest.started?.time ?? oldest.record.time;
  return (
    <>
      <tr className="audit-batch" data-action="statement.batch" data-job={batch.job} data-actor={newest.actor}>
        <td className="small nowrap">
          {dateTime(newest.time, true)}
          {first && first !== newest.time && <div className="muted">from {dateTime(first, true).slice(11)}</div>}
        </td>
        <td className="small">
          <Actor r={newest} />
        </td>
        <td className="small">
          <span className="mono">benchmark statements</span>
          <div className="muted">
            job <span className="mono">{shortId(batch.job)}</span>
          </div>
        </td>
        <td className={`small ${outcomeClass(outcome)}`} data-testid="batch-outcome">
          {label(outcome)}
        </td>
        <td className="small muted">{newest.target || "—"}</td>
        {paged && (
          <td className="small nowrap">
            <Resource name={newest.resource || newest.job} />
          </td>
        )}
        <td className="small">
          <span data-testid="batch-count">{batch.rows.length} statements</span> run on a copy or sandbox to measure the index{" "}
          <button type="button" className="link-button" onClick={() => setOpen(!open)} aria-expanded={open}>
            {open ? "hide" : "show"}
          </button>
        </td>
      </tr>
      {open && batch.rows.map((row) => <RecordRow key={row.record.name} row={row} paged={paged} folded />)}
    </>
  );
}

function Actor({ r }: { r: AuditRecord }) {
  return (
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
  );
}

function RecordRow({ row, paged, folded }: { row: Row; paged: boolean; folded?: boolean }) {
  const r = row.record;
  const duration = took(row);
  return (
    <tr data-record={r.name} data-action={r.action} data-actor={r.actor} data-outcome={r.outcome} className={folded ? "audit-folded" : undefined}>
      <td className="small nowrap" title={row.started ? `started ${dateTime(row.started.time, true)}` : undefined}>
        {dateTime(r.time, true)}
      </td>
      <td className="small">
        <Actor r={r} />
      </td>
      <td className="small">
        <span className="mono">{r.action}</span>
        {r.fromState && r.toState && (
          <div className="muted">
            {label(r.fromState)} → {label(r.toState)}
          </div>
        )}
      </td>
      <td className={`small ${outcomeClass(r.outcome)}`}>
        {outcomeText(r)}
        {duration && <div className="muted" data-testid="statement-took">in {duration}</div>}
      </td>
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
  );
}
