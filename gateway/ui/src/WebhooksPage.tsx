// Webhook destinations: every role sees the list (URLs only to the host, no secrets); admins
// add one (its secret is write-only: typed once, never shown again), test, disable or delete
// it; each destination's recent deliveries with every attempt and why it failed.
import { useCallback, useEffect, useState, type FormEvent } from "react";
import { api } from "./api";
import { denial, useAccess } from "./access";
import { ConfirmDialog, ErrorNote, StateBadge } from "./components";
import { dateTime, label } from "./format";
import type { Webhook, WebhookDelivery, WebhookEventType } from "./types";

const EVENTS: Array<{ type: WebhookEventType; text: string }> = [
  { type: "ANALYSIS_FINISHED_WITH_NEW_SUGGESTIONS", text: "analysis found new suggestions" },
  { type: "JOB_FAILED", text: "a job failed" },
  { type: "VERIFICATION_VERDICT", text: "verification verdict" },
  { type: "REGRESSION", text: "regression" },
  { type: "ROLLBACK_BY_POLICY", text: "rollback by policy" },
];
const EVENT_TEXT = Object.fromEntries(EVENTS.map((e) => [e.type, e.text])) as Record<string, string>;

function Deliveries({ hook }: { hook: Webhook }) {
  const [items, setItems] = useState<WebhookDelivery[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const load = useCallback(async () => {
    try {
      setItems((await api.listWebhookDeliveries(hook.name)).deliveries ?? []);
      setError(null);
    } catch (e) {
      setError(e);
    }
  }, [hook.name]);
  useEffect(() => {
    void load();
    const timer = window.setInterval(() => void load(), 3000);
    return () => window.clearInterval(timer);
  }, [load]);
  return (
    <div className="panel" data-testid="deliveries">
      <h2>Deliveries to “{hook.displayName}”</h2>
      <ErrorNote error={error} onRetry={() => void load()} />
      <table className="grid">
        <thead>
          <tr><th>Event</th><th>Target</th><th>State</th><th>Attempts</th><th>Created</th></tr>
        </thead>
        <tbody>
          {items?.map((d) => (
            <tr key={d.name} data-delivery={d.name}>
              <td className="small">{d.eventType === "PING" ? "test" : EVENT_TEXT[d.eventType ?? ""] ?? label(d.eventType)}<div className="muted small mono">{d.resource}</div></td>
              <td className="small">{d.target || "—"}</td>
              <td><StateBadge state={d.state} /></td>
              <td className="small">
                {(d.attempts ?? []).map((a) => (
                  <div key={a.number}>
                    #{a.number} {dateTime(a.time)}: {a.delivered ? `delivered (HTTP ${a.httpStatus})` : a.error}
                  </div>
                ))}
                {d.state === "PENDING" && d.nextAttemptTime && <div className="muted">next {dateTime(d.nextAttemptTime)}</div>}
              </td>
              <td className="small nowrap">{dateTime(d.createTime)}</td>
            </tr>
          ))}
          {items && items.length === 0 && (
            <tr><td colSpan={5} className="empty">Nothing sent yet.</td></tr>
          )}
        </tbody>
      </table>
    </div>
  );
}

function CreateWebhook({ onCreated }: { onCreated: () => void }) {
  const [displayName, setDisplayName] = useState("");
  const [url, setUrl] = useState("");
  const [events, setEvents] = useState<WebhookEventType[]>(["ANALYSIS_FINISHED_WITH_NEW_SUGGESTIONS", "JOB_FAILED"]);
  const [targetFilter, setTargetFilter] = useState("");
  const [format, setFormat] = useState<"GENERIC" | "SLACK">("GENERIC");
  const [secret, setSecret] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const toggle = (type: WebhookEventType) =>
    setEvents(events.includes(type) ? events.filter((e) => e !== type) : [...events, type]);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await api.createWebhook({ displayName: displayName.trim(), url: url.trim(), eventTypes: events, targetFilter, format, secret: secret || undefined });
      setDisplayName("");
      setUrl("");
      setSecret("");
      onCreated();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form className="panel token-form" onSubmit={(e) => void submit(e)} aria-label="Add a webhook">
      <h2>New webhook</h2>
      <label className="field">
        <span className="field-label">Name</span>
        <input name="displayName" value={displayName} maxLength={100} placeholder="dba-slack" required onChange={(e) => setDisplayName(e.target.value)} />
      </label>
      <label className="field">
        <span className="field-label">URL (http or https)</span>
        <input name="url" value={url} placeholder="https://hooks.slack.com/services/…" required onChange={(e) => setUrl(e.target.value)} />
      </label>
      <fieldset className="field">
        <legend className="field-label">Events</legend>
        {EVENTS.map((e) => (
          <label key={e.type} className="small check">
            <input type="checkbox" name={e.type} checked={events.includes(e.type)} onChange={() => toggle(e.type)} /> {e.text}
          </label>
        ))}
      </fieldset>
      <label className="field">
        <span className="field-label">Targets (pattern; empty: every target)</span>
        <input name="targetFilter" value={targetFilter} placeholder="prod-*" onChange={(e) => setTargetFilter(e.target.value)} />
      </label>
      <label className="field">
        <span className="field-label">Format</span>
        <select name="format" value={format} onChange={(e) => setFormat(e.target.value as "GENERIC" | "SLACK")}>
          <option value="GENERIC">JSON (generic)</option>
          <option value="SLACK">Slack-compatible text</option>
        </select>
      </label>
      <label className="field">
        <span className="field-label">Signing secret (16+ characters; write-only)</span>
        <input name="secret" type="password" autoComplete="new-password" value={secret} onChange={(e) => setSecret(e.target.value)} />
      </label>
      <ErrorNote error={error} />
      <button type="submit" className="button button-primary" disabled={busy || !events.length}>
        Add webhook
      </button>
    </form>
  );
}

export function WebhooksPage() {
  const access = useAccess();
  const adminWhy = denial(access, "ADMIN");
  const [hooks, setHooks] = useState<Webhook[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [open, setOpen] = useState<Webhook | null>(null);
  const [deleting, setDeleting] = useState<Webhook | null>(null);
  const load = useCallback(async () => {
    try {
      setHooks((await api.listWebhooks()).webhooks ?? []);
      setError(null);
    } catch (e) {
      setError(e);
    }
  }, []);
  useEffect(() => {
    if (access.state === "ready") void load();
  }, [access.state, load]);
  const act = async (action: () => Promise<unknown>) => {
    try {
      await action();
      await load();
    } catch (e) {
      setError(e);
    }
  };
  if (access.state === "loading") return <p className="muted">Loading…</p>;
  return (
    <section>
      <div className="page-head">
        <h1>Webhooks</h1>
        <span className="muted small">pgsage POSTs a signed JSON body to each destination when an event it asks for happens.</span>
      </div>
      <div className="tokens-layout">
        <div className="panel">
          <ErrorNote error={error} onRetry={() => void load()} />
          <table className="grid" data-testid="webhooks-table">
            <thead>
              <tr><th>Name</th><th>URL</th><th>Events</th><th>Targets</th><th>Format</th><th /></tr>
            </thead>
            <tbody>
              {hooks?.map((w) => (
                <tr key={w.name} data-webhook={w.name} data-enabled={w.enabled ? "yes" : "no"}>
                  <td>{w.displayName}<div className="muted small">{w.enabled ? "enabled" : "disabled"} · {w.hasSecret ? "signed" : "not signed"} · by {w.creator || "—"}</div></td>
                  <td className="small mono">{w.url}</td>
                  <td className="small">{(w.eventTypes ?? []).map((t) => EVENT_TEXT[t] ?? t).join(", ")}</td>
                  <td className="small">{w.targetFilter || "every target"}</td>
                  <td className="small">{w.format === "SLACK" ? "Slack" : "JSON"}</td>
                  <td className="nowrap">
                    <button type="button" className="button button-small" onClick={() => setOpen(open?.name === w.name ? null : w)}>Deliveries</button>
                    {!adminWhy && (
                      <>
                        <button type="button" className="button button-small" disabled={!w.enabled} onClick={() => void act(async () => { await api.testWebhook(w.name); setOpen(w); })}>Test</button>
                        <button type="button" className="button button-small" onClick={() => void act(() => api.setWebhookEnabled(w, !w.enabled))}>{w.enabled ? "Disable" : "Enable"}</button>
                        <button type="button" className="button button-small button-danger" onClick={() => setDeleting(w)}>Delete</button>
                      </>
                    )}
                  </td>
                </tr>
              ))}
              {hooks && hooks.length === 0 && (
                <tr><td colSpan={6} className="empty">No webhooks yet.</td></tr>
              )}
            </tbody>
          </table>
        </div>
        {adminWhy ? (
          <p className="muted small" data-testid="webhooks-denied">Adding and changing webhooks {adminWhy}.</p>
        ) : (
          <CreateWebhook onCreated={() => void load()} />
        )}
      </div>
      {open && <Deliveries key={open.name} hook={open} />}
      {deleting && (
        <ConfirmDialog title={`Delete webhook “${deleting.displayName}”?`} confirmText="Delete webhook" danger onCancel={() => setDeleting(null)} onConfirm={() => { const w = deleting; setDeleting(null); setOpen(null); void act(() => api.deleteWebhook(w.name)); }}>
          <p>It receives nothing from now on, and its delivery history is deleted.</p>
        </ConfirmDialog>
      )}
    </section>
  );
}
