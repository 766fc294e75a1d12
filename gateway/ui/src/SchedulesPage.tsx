// Schedules of analyses: the list (target, cron, next and last run), a form to create one,
// pause and resume, and delete after a confirmation. Operators of a target may change its
// schedules; everyone who may view it sees them.
import { useCallback, useEffect, useMemo, useState, type FormEvent } from "react";
import { api, ApiError, newRequestId } from "./api";
import { denial, useAccess } from "./access";
import { ConfirmDialog, ErrorNote, Link } from "./components";
import { analysisLabel, dateTime, jobId } from "./format";
import type { AnalysisType, Schedule, Target } from "./types";

const TYPES: AnalysisType[] = ["MISSING_INDEXES", "UNUSED_INDEXES", "DUPLICATE_INDEXES"];
const EXAMPLES = [
  { cron: "0 3 * * *", text: "every day at 03:00" },
  { cron: "0 * * * *", text: "every hour" },
  { cron: "0 6 * * 1", text: "Mondays at 06:00" },
];

function CreateSchedule({ onCreated }: { onCreated: () => void }) {
  const access = useAccess();
  const [targets, setTargets] = useState<Target[] | null>(null);
  const [target, setTarget] = useState("");
  const [displayName, setDisplayName] = useState("");
  const [cron, setCron] = useState("0 3 * * *");
  const [timeZone, setTimeZone] = useState(() => Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC");
  const [types, setTypes] = useState<AnalysisType[]>([]);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [requestId, setRequestId] = useState(newRequestId);
  const why = target ? denial(access, "OPERATOR", target) : "";

  useEffect(() => {
    api.listTargets().then(
      (answer) => {
        const list = answer.targets ?? [];
        setTargets(list);
        if (list.length) setTarget((t) => t || list[0].name);
      },
      (e) => {
        setError(e);
        setTargets([]);
      },
    );
  }, []);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (!target || busy || why) return;
    setBusy(true);
    setError(null);
    try {
      await api.createSchedule({ target, displayName: displayName.trim(), cron, timeZone, analysisTypes: types }, requestId);
      setDisplayName("");
      setRequestId(newRequestId());
      onCreated();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  const field = error instanceof ApiError ? error.field : "";
  const toggle = (t: AnalysisType) => setTypes(types.includes(t) ? types.filter((x) => x !== t) : [...types, t]);

  return (
    <form className="panel schedule-form" onSubmit={(e) => void submit(e)} aria-label="Create a schedule">
      <h2>New schedule</h2>
      <label className="field">
        <span className="field-label">Target database</span>
        {targets === null ? (
          <span className="muted">Loading targets…</span>
        ) : (
          <select name="target" value={target} onChange={(e) => setTarget(e.target.value)}>
            {targets.map((t) => (
              <option key={t.name} value={t.name}>
                {t.name}
              </option>
            ))}
          </select>
        )}
        {field.endsWith("target") && <span className="field-error">{(error as Error).message}</span>}
      </label>
      <label className="field">
        <span className="field-label">Name (optional)</span>
        <input name="displayName" value={displayName} maxLength={100} placeholder="nightly" onChange={(e) => setDisplayName(e.target.value)} />
      </label>
      <label className="field">
        <span className="field-label">When (cron)</span>
        <input name="cron" className="mono" value={cron} required onChange={(e) => setCron(e.target.value)} />
        <span className="hint">
          minute hour day-of-month month day-of-week, e.g.{" "}
          {EXAMPLES.map((x, i) => (
            <span key={x.cron}>
              {i ? ", " : ""}
              <button type="button" className="link-button" onClick={() => setCron(x.cron)}>
                {x.cron}
              </button>{" "}
              ({x.text})
            </span>
          ))}
        </span>
        {field.endsWith("cron") && (
          <span className="field-error" data-testid="cron-error">
            {(error as Error).message}
          </span>
        )}
      </label>
      <label className="field">
        <span className="field-label">Time zone</span>
        <input name="timeZone" value={timeZone} placeholder="UTC" onChange={(e) => setTimeZone(e.target.value)} />
        {field.endsWith("time_zone") && <span className="field-error">{(error as Error).message}</span>}
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
      <ErrorNote error={error && !/target|cron|time_zone/.test(field) ? error : null} />
      <button type="submit" className="button button-primary" disabled={!target || busy || !!why} title={why || undefined}>
        Create schedule
      </button>
      {why && <span className="muted small">Creating a schedule {why}.</span>}
    </form>
  );
}

function ScheduleRow({ schedule, onChanged }: { schedule: Schedule; onChanged: () => void }) {
  const access = useAccess();
  const why = denial(access, "OPERATOR", schedule.target);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [deleting, setDeleting] = useState(false);
  const act = async (action: () => Promise<unknown>) => {
    setBusy(true);
    setError(null);
    try {
      await action();
      onChanged();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <tr data-schedule={schedule.name} data-paused={schedule.paused ? "true" : "false"}>
      <td title={schedule.name}>
        {schedule.displayName || <span className="muted">{schedule.name.split("/")[1]?.slice(0, 8)}</span>}
        <div className="muted small">by {schedule.creator || "—"}</div>
      </td>
      <td>{schedule.target}</td>
      <td className="mono small">
        {schedule.cron}
        <div className="muted">{schedule.timeZone || "UTC"}</div>
      </td>
      <td className="small">{schedule.analysisTypes?.length ? schedule.analysisTypes.map(analysisLabel).join(", ") : "all"}</td>
      <td className="small nowrap" data-testid="schedule-state">
        {schedule.paused ? <span className="badge state-cancelled">paused</span> : dateTime(schedule.nextRunTime)}
      </td>
      <td className="small nowrap">
        {schedule.lastJob ? <Link href={`/jobs/${jobId(schedule.lastJob)}`}>{dateTime(schedule.lastRunTime)}</Link> : "never"}
      </td>
      <td className="nowrap">
        {schedule.paused ? (
          <button type="button" className="button button-small" disabled={busy || !!why} title={why || "Create jobs again, from the next tick"} onClick={() => void act(() => api.resumeSchedule(schedule))}>
            Resume
          </button>
        ) : (
          <button type="button" className="button button-small" disabled={busy || !!why} title={why || "No jobs until resumed"} onClick={() => void act(() => api.pauseSchedule(schedule))}>
            Pause
          </button>
        )}{" "}
        <button type="button" className="button button-small button-danger" disabled={busy || !!why} title={why || undefined} onClick={() => setDeleting(true)}>
          Delete
        </button>
        <ErrorNote error={error} />
        {deleting && (
          <ConfirmDialog
            title={`Delete the schedule on ${schedule.target}?`}
            confirmText="Delete schedule"
            danger
            onCancel={() => setDeleting(false)}
            onConfirm={() => {
              setDeleting(false);
              void act(() => api.deleteSchedule(schedule));
            }}
          >
            <p>
              No more analyses of {schedule.target} at <code>{schedule.cron}</code>. The jobs it created, and their audit records, stay.
            </p>
          </ConfirmDialog>
        )}
      </td>
    </tr>
  );
}

export function SchedulesPage() {
  const [schedules, setSchedules] = useState<Schedule[] | null>(null);
  const [next, setNext] = useState("");
  const [error, setError] = useState<unknown>(null);

  const load = useCallback(async (token: string) => {
    try {
      const page = await api.listSchedules(token);
      setSchedules((old) => (token ? [...(old ?? []), ...(page.schedules ?? [])] : page.schedules ?? []));
      setNext(page.nextPageToken ?? "");
      setError(null);
    } catch (e) {
      setError(e);
    }
  }, []);
  useEffect(() => {
    void load("");
  }, [load]);
  const rows = useMemo(() => schedules ?? [], [schedules]);

  return (
    <section>
      <div className="page-head">
        <h1>Schedules</h1>
      </div>
      <p className="muted">
        Each schedule analyses its target on a cron expression: one job per tick, whichever job service runs it. Each analysis is compared with the
        previous one of its target: its job says what is new, gone or changed.
      </p>
      <div className="tokens-layout">
        <div className="panel">
          <ErrorNote error={error} onRetry={() => void load("")} />
          <table className="grid" data-testid="schedules-table">
            <thead>
              <tr>
                <th>Name</th>
                <th>Target</th>
                <th>When</th>
                <th>Looks for</th>
                <th>Next run</th>
                <th>Last run</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {rows.map((s) => (
                <ScheduleRow key={`${s.name}-${s.etag}`} schedule={s} onChanged={() => void load("")} />
              ))}
              {schedules && schedules.length === 0 && (
                <tr>
                  <td colSpan={7} className="empty">
                    No schedules yet.
                  </td>
                </tr>
              )}
            </tbody>
          </table>
          {next && (
            <button type="button" className="button button-small" onClick={() => void load(next)}>
              More
            </button>
          )}
        </div>
        <CreateSchedule onCreated={() => void load("")} />
      </div>
    </section>
  );
}
