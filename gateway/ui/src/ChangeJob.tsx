// The page body of a BENCHMARK, APPLY or ROLLBACK job: the suggestion it acts on, its result,
// and exactly what the job recorded (state changes and statements run on the target).
import { useEffect, useState } from "react";
import { api } from "./api";
import { AuditList } from "./Audit";
import { BenchmarkPanel } from "./Benchmark";
import { ErrorNote, Link, Sql, StateBadge } from "./components";
import { jobId, label } from "./format";
import type { Job, Suggestion } from "./types";
import { VerificationPanel } from "./Verification";

const KINDS: Record<string, string> = { BENCHMARK: "Benchmark", APPLY: "Apply", ROLLBACK: "Rollback", VERIFY: "Verification" };

export function ChangeJob({ job, version }: { job: Job; version: number }) {
  const [s, setS] = useState<Suggestion | null>(null);
  const [error, setError] = useState<unknown>(null);
  const name = job.suggestion ?? "";
  useEffect(() => {
    if (!name) return;
    api.getSuggestion(name).then(
      (found) => {
        setS(found);
        setError(null);
      },
      (e) => setError(e),
    );
  }, [name, version, job.state]);

  const result = s?.benchmarks?.find((b) => b.job === job.name);
  const sql = job.kind === "ROLLBACK" ? (s?.editedSql ? s.editedRollbackSql || s.rollbackSql : s?.rollbackSql) : s?.editedSql || s?.sql;
  return (
    <div className="panel" data-testid="change-job">
      <div className="panel-head">
        <h2>
          {KINDS[job.kind ?? ""] ?? label(job.kind)} of <Link href={`/jobs/${jobId(name)}`}>{s?.title || name}</Link>
        </h2>
        {s && <StateBadge state={s.state} />}
      </div>
      <ErrorNote error={error} />
      {s?.failureReason && (s.state === "APPLY_FAILED" || s.state === "ROLLBACK_FAILED") && (
        <div className="note note-error">
          <span>{s.failureReason}</span>
        </div>
      )}
      {job.kind === "VERIFY" && job.verification && s && (
        <VerificationPanel s={s} verification={job.verification} operateWhy="" />
      )}
      {job.kind === "VERIFY" && job.state === "PENDING" && job.dueTime && (
        <p className="small" data-testid="verify-due">Due at {new Date(job.dueTime).toLocaleString()}, once the target's verification window has passed.</p>
      )}
      {job.kind !== "BENCHMARK" && job.kind !== "VERIFY" && (
        <>
          <div className="detail-label">Statement</div>
          <Sql text={sql} />
        </>
      )}
      {job.kind === "BENCHMARK" && result && <BenchmarkPanel result={result} count={1} estimatedSizeBytes={s?.estimatedSizeBytes} />}
      {job.kind === "BENCHMARK" && !result && job.state === "SUCCEEDED" && <p className="muted small">No result stored.</p>}
      <AuditList filter={`job = "${job.name}"`} version={`${job.state ?? ""}:${version}`} title="Recorded by this job" fold={false} />
    </div>
  );
}
