// "Decided before": the same change already has a decision on this target, in another job.
// The API names the suggestion holding it (`priorDecision`); who decided and when come from
// that suggestion's audit trail (its newest state change made by a person).
import { useEffect, useState } from "react";
import { api } from "./api";
import { Link } from "./components";
import { dateTime, jobId, label, shortId } from "./format";
import type { AuditRecord, Suggestion } from "./types";

interface Found {
  prior: Suggestion | null;
  decision: AuditRecord | null;
}

/** The newest record that moved the suggestion to a decided state (approve, dismiss, …). */
function decisionOf(records: AuditRecord[]): AuditRecord | null {
  return records.find((r) => r.toState && r.action?.startsWith("suggestion.")) ?? null;
}

export function PriorDecision({ name, state }: { name: string; state?: string }) {
  const [found, setFound] = useState<Found | null>(null);
  const [failed, setFailed] = useState(false);
  useEffect(() => {
    let live = true;
    Promise.all([api.getSuggestion(name).catch(() => null), api.listAudit(`resource = "${name}"`, "", 50)]).then(
      ([prior, page]) => live && setFound({ prior, decision: decisionOf(page.auditRecords ?? []) }),
      () => live && setFailed(true),
    );
    return () => {
      live = false;
    };
  }, [name]);

  const job = jobId(name);
  const jobLink = (
    <Link href={`/jobs/${job}`} title={name} className="mono">
      {shortId(`jobs/${job}`)}
    </Link>
  );
  const d = found?.decision;
  return (
    <div className="note note-info small" data-testid="prior-decision">
      <span>
        Decided before: this change on target {found?.prior?.target ?? "this target"} was{" "}
        <strong data-testid="prior-state">{label(d?.toState || found?.prior?.state || state)}</strong>
        {d ? (
          <>
            {" "}
            by <strong data-testid="prior-actor">{d.actor || "anonymous"}</strong>
            {d.onBehalfOf ? ` for ${d.onBehalfOf}` : ""} on <span data-testid="prior-time">{dateTime(d.time, true)}</span>
          </>
        ) : null}{" "}
        in job {jobLink}, so this suggestion starts in that state.
        {found && !d && !failed ? " Its audit trail names no decision (it may be older than the trail or deleted)." : ""}
        {failed ? " Who decided and when could not be loaded." : ""}
      </span>
    </div>
  );
}
