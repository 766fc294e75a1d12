// What a VERIFY job found about an applied suggestion: the verdict, why, and per query the
// mean time before and after the change, the change, its significance and the buffers.
import { useState } from "react";
import { api, ApiError } from "./api";
import type { Suggestion, Verification } from "./types";

const VERDICT_CLASS: Record<string, string> = {
  IMPROVED: "good",
  NO_EFFECT: "muted",
  REGRESSED: "bad",
  INCONCLUSIVE: "muted",
};

/** The verdict as a badge, for the suggestion's row. */
export function VerdictBadge({ verdict }: { verdict?: string }) {
  if (!verdict || verdict === "VERDICT_UNSPECIFIED") return null;
  return (
    <span className={`badge badge-verdict verdict-${verdict.toLowerCase()}`} data-testid="verdict-badge">
      {verdict.replace("_", " ").toLowerCase()}
    </span>
  );
}

function ms(value?: number): string {
  if (value === undefined) return "0.00 ms";
  return value >= 1000 ? `${(value / 1000).toFixed(2)} s` : `${value.toFixed(2)} ms`;
}

function blocks(hit?: number, read?: number): string {
  return `${((hit ?? 0) + (read ?? 0)).toFixed(1)}`;
}

const CHANGE_WORDS: Record<string, string> = {
  FASTER: "faster",
  SLOWER: "slower",
  UNCHANGED: "no significant change",
  NOT_ENOUGH_EVIDENCE: "not enough evidence",
};

/** The latest verification of a suggestion (or the one `verification` a VERIFY job found),
 * and "Verify now" for an APPLIED suggestion. */
export function VerificationPanel({
  s,
  operateWhy,
  verification,
}: {
  s: Suggestion;
  operateWhy: string;
  verification?: Verification;
}) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");
  const [started, setStarted] = useState("");
  const v: Verification | undefined = verification ?? s.verificationResult;
  const canVerify = s.state === "APPLIED" && !verification;
  const verify = async () => {
    setBusy(true);
    setError("");
    try {
      const job = await api.verify(s);
      setStarted(job.name ?? "");
    } catch (e) {
      setError(e instanceof ApiError ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  };
  if (!v && !canVerify) return null;
  return (
    <section className="verification" data-testid="verification">
      <div className="detail-label">
        Verification {v && <VerdictBadge verdict={v.verdict} />}
        {canVerify && (
          <button
            type="button"
            className="button button-small"
            disabled={busy || !!operateWhy}
            title={operateWhy || "compare the affected queries since the change with before it, now"}
            onClick={() => void verify()}
          >
            Verify now
          </button>
        )}
      </div>
      {error && <div className="field-error" role="alert">{error}</div>}
      {started && (
        <p className="small" data-testid="verify-started">
          Verification started: <a href={`/${started}`}>{started}</a>; its verdict shows here once it has finished.
        </p>
      )}
      {!v && <p className="muted small">Not verified yet: a VERIFY job runs once the target's verification window has passed.</p>}
      {v && (
        <>
          <p className={`small ${VERDICT_CLASS[v.verdict ?? ""] ?? ""}`} data-testid="verdict-reason">{v.reason}</p>
          {v.policyAction && <p className="small"><strong>Policy:</strong> {v.policyAction}</p>}
          {v.queries?.length ? (
            <table className="grid grid-inner" data-testid="verification-queries">
              <thead>
                <tr>
                  <th>Query</th>
                  <th className="num" title="calls before the change / since">Calls</th>
                  <th className="num">Mean before</th>
                  <th className="num">Mean after</th>
                  <th className="num">Change</th>
                  <th className="num">p</th>
                  <th className="num">Blocks/call</th>
                  <th className="verdict-col">Judged</th>
                </tr>
              </thead>
              <tbody>
                {v.queries.map((q) => (
                  <tr key={q.queryId} title={q.note || undefined}>
                    <td className="mono small query-text" title={q.text}>
                      {q.affected ? "" : "(on the table) "}
                      {q.text || q.queryId}
                    </td>
                    <td className="num nowrap">{q.before?.calls ?? "0"} / {q.after?.calls ?? "0"}</td>
                    <td className="num">{Number(q.before?.calls ?? 0) > 0 ? ms(q.before?.meanMs) : "—"}</td>
                    <td className="num">{Number(q.after?.calls ?? 0) > 0 ? ms(q.after?.meanMs) : "—"}</td>
                    <td className="num nowrap">{q.changePercent !== undefined ? `${q.changePercent > 0 ? "+" : ""}${q.changePercent.toFixed(0)} %` : "—"}</td>
                    <td className="num">{q.pValue !== undefined ? q.pValue.toPrecision(2) : "—"}</td>
                    <td className="num nowrap">
                      {blocks(q.before?.sharedBlksHitPerCall, q.before?.sharedBlksReadPerCall)} →{" "}
                      {blocks(q.after?.sharedBlksHitPerCall, q.after?.sharedBlksReadPerCall)}
                    </td>
                    <td className={`verdict-col ${q.change === "SLOWER" ? "bad" : q.change === "FASTER" ? "good" : "muted"}`}>
                      {CHANGE_WORDS[q.change ?? ""] ?? ""}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          ) : null}
          <p className="muted small">
            {v.index?.name && (
              <>
                Index {v.index.name}: {v.index.exists ? `${v.index.scansSinceApply ?? "0"} scans since the change` : "not there"}.{" "}
              </>
            )}
            {v.table?.name && (
              <>
                Table {v.table.name}: {(v.table.writesPerSecondAfter ?? 0).toFixed(1)} rows written per second since the change
                {v.table.writeOverheadMs !== undefined && `, estimated write overhead ${ms(v.table.writeOverheadMs)} (${(v.table.writeOverheadPercent ?? 0).toFixed(0)} %)`}.{" "}
              </>
            )}
            Significant: Welch's t-test p &lt; {v.alpha}, at least {v.minChangePercent} % and the same change of blocks touched; at least {v.minCalls} calls on each side.
          </p>
        </>
      )}
    </section>
  );
}
