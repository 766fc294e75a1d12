// Interactive API docs, built from the gateway's /openapi.json: every operation grouped by
// service, its parameters and body, the message schemas, and "Try it" sending the request
// from this browser with its session (so it does what your roles allow, and is audited).
import { useEffect, useState } from "react";
import { ErrorNote } from "./components";

interface Schema {
  $ref?: string;
  type?: string;
  format?: string;
  description?: string;
  readOnly?: boolean;
  enum?: string[];
  items?: Schema;
  properties?: Record<string, Schema>;
  additionalProperties?: Schema | boolean;
}
interface Parameter {
  name: string;
  in: "path" | "query" | "header";
  required?: boolean;
  description?: string;
  schema?: Schema;
}
interface Operation {
  operationId?: string;
  summary?: string;
  description?: string;
  tags?: string[];
  parameters?: Parameter[];
  requestBody?: { content?: Record<string, { schema?: Schema }> };
  responses?: Record<string, { description?: string; content?: Record<string, { schema?: Schema }> }>;
}
interface Spec {
  info?: { title?: string; version?: string; description?: string };
  paths: Record<string, Record<string, Operation>>;
  components?: { schemas?: Record<string, Schema> };
}

const refName = (ref?: string) => ref?.split("/").pop() ?? "";

function typeOf(s?: Schema): string {
  if (!s) return "";
  if (s.$ref) return refName(s.$ref);
  if (s.type === "array") return `${typeOf(s.items)}[]`;
  if (s.enum) return s.enum.join(" | ");
  return s.format ? `${s.type} (${s.format})` : s.type ?? "object";
}

/** A message's fields, one line each; nested messages open on demand. */
function SchemaView({ name, spec, depth = 0 }: { name: string; spec: Spec; depth?: number }) {
  const schema = spec.components?.schemas?.[name];
  if (!schema?.properties) return <span className="mono small">{name}</span>;
  return (
    <details className="api-schema" open={depth === 0 ? false : undefined}>
      <summary className="mono small">{name}</summary>
      <table className="grid grid-inner">
        <tbody>
          {Object.entries(schema.properties).map(([field, s]) => {
            const nested = s.$ref ? refName(s.$ref) : s.items?.$ref ? refName(s.items.$ref) : "";
            return (
              <tr key={field}>
                <td className="mono small">{field}</td>
                <td className="small">
                  {nested && depth < 3 ? <SchemaView name={nested} spec={spec} depth={depth + 1} /> : <span className="mono">{typeOf(s)}</span>}
                  {s.items?.$ref ? "[]" : ""}
                  {s.readOnly ? <span className="muted"> (output only)</span> : null}
                </td>
                <td className="small muted">{s.description ?? ""}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </details>
  );
}

function TryIt({ method, path, op }: { method: string; path: string; op: Operation }) {
  const params = op.parameters ?? [];
  const [values, setValues] = useState<Record<string, string>>({});
  const [body, setBody] = useState("{}");
  const [answer, setAnswer] = useState<{ status: number; text: string } | null>(null);
  const [error, setError] = useState<unknown>(null);
  const hasBody = !!op.requestBody;
  const send = async () => {
    setError(null);
    setAnswer(null);
    try {
      let url = path.replace(/\{([^}]+)\}/g, (_, p: string) => encodeURIComponent(values[p] ?? "").replace(/%2F/gi, "/"));
      const query = new URLSearchParams();
      for (const p of params) if (p.in === "query" && values[p.name]) query.set(p.name, values[p.name]);
      if (query.toString()) url += `?${query}`;
      const response = await fetch(url, {
        method: method.toUpperCase(),
        credentials: "same-origin",
        headers: hasBody ? { "Content-Type": "application/json" } : {},
        body: hasBody ? body : undefined,
      });
      const text = await response.text();
      let shown = text;
      try {
        shown = JSON.stringify(JSON.parse(text), null, 2);
      } catch {
        // not JSON (SSE, SQL): shown as it came
      }
      setAnswer({ status: response.status, text: shown });
    } catch (e) {
      setError(e);
    }
  };
  return (
    <form
      className="api-try"
      onSubmit={(e) => {
        e.preventDefault();
        void send();
      }}
    >
      {params.map((p) => (
        <label key={`${p.in}:${p.name}`} className="field api-param">
          <span className="mono small">
            {p.name} <span className="muted">({p.in}{p.required || p.in === "path" ? ", required" : ""}, {typeOf(p.schema)})</span>
          </span>
          <input
            name={p.name}
            value={values[p.name] ?? ""}
            placeholder={p.in === "path" ? "e.g. the id after jobs/" : ""}
            onChange={(e) => setValues({ ...values, [p.name]: e.target.value })}
          />
        </label>
      ))}
      {hasBody && (
        <label className="field">
          <span className="small">JSON body</span>
          <textarea className="sql-editor" rows={4} value={body} onChange={(e) => setBody(e.target.value)} aria-label="Request body" />
        </label>
      )}
      <button type="submit" className="button button-small button-primary">
        Send {method.toUpperCase()}
      </button>
      <ErrorNote error={error} />
      {answer && (
        <div data-testid="api-answer">
          <div className={`small ${answer.status < 400 ? "good" : "bad"}`} data-testid="api-status">
            HTTP {answer.status}
          </div>
          <pre className="sql api-answer">{answer.text || "(empty)"}</pre>
        </div>
      )}
    </form>
  );
}

function OperationView({ method, path, op, spec }: { method: string; path: string; op: Operation; spec: Spec }) {
  const [trying, setTrying] = useState(false);
  const body = op.requestBody?.content?.["application/json"]?.schema;
  const ok = op.responses?.["200"];
  const okSchema = ok?.content?.["application/json"]?.schema;
  return (
    <details className="api-op" data-operation={op.operationId}>
      <summary>
        <span className={`api-method api-${method}`}>{method.toUpperCase()}</span> <span className="mono">{path}</span>{" "}
        <span className="muted small">{op.operationId !== op.summary ? op.summary : op.operationId}</span>
      </summary>
      <div className="api-op-body">
        {op.description && <p className="small">{op.description}</p>}
        {body && (
          <div className="small">
            Body: <SchemaView name={refName(body.$ref)} spec={spec} />
          </div>
        )}
        <div className="small">
          Answers: {ok?.description ?? "—"} {okSchema?.$ref ? <SchemaView name={refName(okSchema.$ref)} spec={spec} /> : null}
          <span className="muted">
            {" "}
            · errors:{" "}
            {Object.entries(op.responses ?? {})
              .filter(([code]) => code !== "200")
              .map(([code, r]) => `${code} ${r.description ?? ""}`)
              .join(" · ")}
          </span>
        </div>
        {trying ? (
          <TryIt method={method} path={path} op={op} />
        ) : (
          <button type="button" className="button button-small" onClick={() => setTrying(true)}>
            Try it
          </button>
        )}
      </div>
    </details>
  );
}

export function ApiDocsPage() {
  const [spec, setSpec] = useState<Spec | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    fetch("/openapi.json")
      .then((r) => (r.ok ? r.json() : Promise.reject(new Error(`/openapi.json answered HTTP ${r.status}`))))
      .then(setSpec, setError);
  }, []);
  const groups = new Map<string, Array<[string, string, Operation]>>();
  for (const [path, methods] of Object.entries(spec?.paths ?? {})) {
    for (const [method, op] of Object.entries(methods)) {
      const tag = op.tags?.[0] ?? "Other";
      groups.set(tag, [...(groups.get(tag) ?? []), [method, path, op]]);
    }
  }
  return (
    <section data-testid="api-docs">
      <div className="page-head">
        <h1>{spec?.info?.title ?? "REST API"}</h1>
        <a className="button" href="/openapi.json">
          openapi.json
        </a>
      </div>
      <ErrorNote error={error} />
      {spec?.info?.description && <p className="muted">{spec.info.description}</p>}
      <p className="muted small">
        “Try it” sends the request from this browser with your session, so it can do what your roles allow; changes are audited
        like any other. Scripts authenticate with an API token (<span className="mono">Authorization: Bearer …</span>).
      </p>
      {[...groups.entries()].map(([tag, ops]) => (
        <div className="panel" key={tag}>
          <h2>{tag}</h2>
          {ops.map(([method, path, op]) => (
            <OperationView key={`${method} ${path}`} method={method} path={path} op={op} spec={spec as Spec} />
          ))}
        </div>
      ))}
    </section>
  );
}
