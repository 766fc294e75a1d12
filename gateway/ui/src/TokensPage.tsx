// API tokens for services and scripts (admins): the list (active, or all with revoked and
// expired ones), creation with role bindings and an expiry, the secret shown exactly once,
// and revocation after a confirmation.
import { useCallback, useEffect, useState, type FormEvent } from "react";
import { api } from "./api";
import { denial, roleWord, useAccess } from "./access";
import { ConfirmDialog, ErrorNote } from "./components";
import { dateTime } from "./format";
import type { ApiToken, CreateApiTokenResponse, Role, RoleBinding } from "./types";

const ROLES: Role[] = ["VIEWER", "REVIEWER", "OPERATOR", "ADMIN"];
const EXPIRIES = [
  { days: 7, text: "7 days" },
  { days: 30, text: "30 days" },
  { days: 90, text: "90 days" },
  { days: 365, text: "1 year" },
];

function bindingsText(bindings?: RoleBinding[]): string {
  return (bindings ?? []).map((b) => `${roleWord(b.role)} on ${!b.targets || b.targets === "*" ? "every target" : b.targets}`).join(", ") || "—";
}

function status(token: ApiToken): "active" | "revoked" | "expired" {
  if (token.revokeTime) return "revoked";
  if (token.expireTime && new Date(token.expireTime).getTime() <= Date.now()) return "expired";
  return "active";
}

/** The secret of a token just created: shown once, with a copy button. */
function SecretOnce({ created, onDone }: { created: CreateApiTokenResponse; onDone: () => void }) {
  const [copied, setCopied] = useState("");
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(created.secret ?? "");
      setCopied("copied");
    } catch {
      setCopied("the browser refused: select the text and copy it");
    }
  };
  return (
    <div className="panel secret-once" data-testid="token-secret-panel">
      <h2>Token “{created.apiToken?.displayName}” created</h2>
      <p className="strong">Copy its secret now: you will not see it again. pgsage keeps only a hash of it.</p>
      <div className="secret-line">
        <code className="mono secret" data-testid="token-secret">
          {created.secret}
        </code>
        <button type="button" className="button button-small" onClick={() => void copy()}>
          Copy
        </button>
        {copied && <span className="muted small">{copied}</span>}
      </div>
      <p className="muted small">Use it as `Authorization: Bearer …` (or PGSAGE_TOKEN for the CLI).</p>
      <button type="button" className="button" onClick={onDone}>
        I have copied it
      </button>
    </div>
  );
}

function CreateToken({ onCreated }: { onCreated: (created: CreateApiTokenResponse) => void }) {
  const [displayName, setDisplayName] = useState("");
  const [bindings, setBindings] = useState<RoleBinding[]>([{ role: "VIEWER", targets: "*" }]);
  const [days, setDays] = useState(30);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  const set = (i: number, change: Partial<RoleBinding>) => setBindings(bindings.map((b, j) => (i === j ? { ...b, ...change } : b)));
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const expireTime = new Date(Date.now() + days * 86400_000).toISOString();
      const created = await api.createApiToken({ displayName: displayName.trim(), roleBindings: bindings, expireTime });
      setDisplayName("");
      setBindings([{ role: "VIEWER", targets: "*" }]);
      onCreated(created);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="panel token-form" onSubmit={(e) => void submit(e)} aria-label="Create an API token">
      <h2>New token</h2>
      <label className="field">
        <span className="field-label">Name (who or what holds it)</span>
        <input name="displayName" value={displayName} maxLength={100} placeholder="nightly-report" required onChange={(e) => setDisplayName(e.target.value)} />
      </label>
      <fieldset className="field">
        <legend className="field-label">Roles</legend>
        {bindings.map((b, i) => (
          <div className="binding" key={i} data-testid="binding">
            <select aria-label="Role" value={b.role} onChange={(e) => set(i, { role: e.target.value as Role })}>
              {ROLES.map((r) => (
                <option key={r} value={r}>
                  {roleWord(r)}
                </option>
              ))}
            </select>
            <span className="muted">on targets</span>
            <input aria-label="Target pattern" value={b.targets} placeholder="* or staging-*" onChange={(e) => set(i, { targets: e.target.value })} />
            {bindings.length > 1 && (
              <button type="button" className="link-button" onClick={() => setBindings(bindings.filter((_, j) => j !== i))}>
                remove
              </button>
            )}
          </div>
        ))}
        <button type="button" className="link-button add-binding" onClick={() => setBindings([...bindings, { role: "VIEWER", targets: "" }])}>
          + another role
        </button>
      </fieldset>
      <label className="field">
        <span className="field-label">Expires after</span>
        <select name="expiry" value={days} onChange={(e) => setDays(Number(e.target.value))}>
          {EXPIRIES.map((x) => (
            <option key={x.days} value={x.days}>
              {x.text}
            </option>
          ))}
        </select>
      </label>
      <ErrorNote error={error} />
      <button type="submit" className="button button-primary" disabled={busy}>
        Create token
      </button>
    </form>
  );
}

export function TokensPage() {
  const access = useAccess();
  const why = denial(access, "ADMIN");
  const [showInactive, setShowInactive] = useState(false);
  const [tokens, setTokens] = useState<ApiToken[] | null>(null);
  const [next, setNext] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [created, setCreated] = useState<CreateApiTokenResponse | null>(null);
  const [revoking, setRevoking] = useState<ApiToken | null>(null);

  const load = useCallback(
    async (token: string) => {
      try {
        const page = await api.listApiTokens(showInactive, token);
        setTokens((old) => (token ? [...(old ?? []), ...(page.apiTokens ?? [])] : page.apiTokens ?? []));
        setNext(page.nextPageToken ?? "");
        setError(null);
      } catch (e) {
        setError(e);
      }
    },
    [showInactive],
  );
  useEffect(() => {
    if (!why) void load("");
  }, [load, why]);

  if (access.state === "loading") return <p className="muted">Loading…</p>;
  if (why) {
    return (
      <section>
        <h1>API tokens</h1>
        <p className="muted" data-testid="tokens-denied">
          Managing API tokens {why}.
        </p>
      </section>
    );
  }
  const revoke = async (token: ApiToken) => {
    setRevoking(null);
    try {
      await api.revokeApiToken(token.name);
      await load("");
    } catch (e) {
      setError(e);
    }
  };

  return (
    <section>
      <div className="page-head">
        <h1>API tokens</h1>
        <label className="small">
          <input type="checkbox" checked={showInactive} onChange={(e) => setShowInactive(e.target.checked)} /> show revoked and expired
        </label>
      </div>
      {created && <SecretOnce created={created} onDone={() => setCreated(null)} />}
      <div className="tokens-layout">
        <div className="panel">
          <ErrorNote error={error} onRetry={() => void load("")} />
          <table className="grid" data-testid="tokens-table">
            <thead>
              <tr>
                <th>Name</th>
                <th>Roles</th>
                <th>Created</th>
                <th>Expires</th>
                <th>Last used</th>
                <th>Status</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {tokens?.map((t) => (
                <tr key={t.name} data-token={t.name} data-status={status(t)}>
                  <td title={t.name}>
                    {t.displayName}
                    <div className="muted small">by {t.creator || "—"}</div>
                  </td>
                  <td className="small">{bindingsText(t.roleBindings)}</td>
                  <td className="small nowrap">{dateTime(t.createTime)}</td>
                  <td className="small nowrap">{dateTime(t.expireTime)}</td>
                  <td className="small nowrap">{t.lastUseTime ? dateTime(t.lastUseTime) : "never"}</td>
                  <td className="small">{status(t) === "revoked" ? `revoked ${dateTime(t.revokeTime)}` : status(t)}</td>
                  <td>
                    {status(t) === "active" && (
                      <button type="button" className="button button-small button-danger" onClick={() => setRevoking(t)}>
                        Revoke
                      </button>
                    )}
                  </td>
                </tr>
              ))}
              {tokens && tokens.length === 0 && (
                <tr>
                  <td colSpan={7} className="empty">
                    {showInactive ? "No tokens yet." : "No active tokens."}
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
        <CreateToken
          onCreated={(c) => {
            setCreated(c);
            void load("");
          }}
        />
      </div>
      {revoking && (
        <ConfirmDialog title={`Revoke token “${revoking.displayName}”?`} confirmText="Revoke token" danger onCancel={() => setRevoking(null)} onConfirm={() => void revoke(revoking)}>
          <p>Whatever uses it ({bindingsText(revoking.roleBindings)}) is refused from now on. This cannot be undone.</p>
        </ConfirmDialog>
      )}
    </section>
  );
}
