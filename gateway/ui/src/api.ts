// Calls to the gateway's REST API, and errors turned into plain words.
import type { AuditRecord, Job, Readiness, Suggestion, Target } from "./types";

interface ErrorBody {
  error?: {
    code?: number;
    message?: string;
    status?: string;
    details?: Array<{ reason?: string; metadata?: Record<string, string> }>;
  };
}

/** An error a person can read: `message` says what happened and what to do. */
export class ApiError extends Error {
  readonly httpStatus: number;
  readonly status: string;
  readonly reason: string;
  readonly field: string;

  constructor(httpStatus: number, status: string, message: string, reason = "", field = "") {
    super(message);
    this.httpStatus = httpStatus;
    this.status = status;
    this.reason = reason;
    this.field = field;
  }

  get isConflict(): boolean {
    return this.status === "ABORTED";
  }
}

function plainWords(httpStatus: number, status: string, message: string): string {
  switch (status) {
    case "UNAVAILABLE":
      return `pgsage's job service cannot be reached right now (${message}). Try again in a moment.`;
    case "DEADLINE_EXCEEDED":
      return "The job service took too long to answer. Try again in a moment.";
    case "NOT_FOUND":
      return `Not found: ${message}.`;
    case "ABORTED":
      return "Someone changed this after you loaded it, so your change was not saved.";
    case "INTERNAL":
    case "UNKNOWN":
      return "Something went wrong on the server. The gateway and job service logs have the details.";
    default:
      return message || `The request failed (HTTP ${httpStatus}).`;
  }
}

const ACTOR_KEY = "pgsage.actor";

/** Who the audit trail records for this browser's changes ("acting as"); "" when unset. */
export function actor(): string {
  try {
    return localStorage.getItem(ACTOR_KEY) ?? "";
  } catch {
    return "";
  }
}

export function setActor(name: string): void {
  try {
    if (name.trim()) localStorage.setItem(ACTOR_KEY, name.trim());
    else localStorage.removeItem(ACTOR_KEY);
  } catch {
    // storage disabled: the actor stays unset (audited as anonymous)
  }
}

async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  let response: Response;
  const headers: Record<string, string> = body === undefined ? {} : { "Content-Type": "application/json" };
  const who = actor();
  // Only ASCII printable text can travel in a header; anything else is left out.
  if (who && /^[\x20-\x7e]+$/.test(who)) headers["x-pgsage-actor"] = who;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, "UNAVAILABLE", "Cannot reach the pgsage gateway. Is it running?");
  }
  const text = await response.text();
  let parsed: unknown = undefined;
  try {
    parsed = text ? JSON.parse(text) : {};
  } catch {
    parsed = undefined;
  }
  if (!response.ok) {
    const error = (parsed as ErrorBody | undefined)?.error;
    const status = error?.status ?? "UNKNOWN";
    const info = error?.details?.find((d) => d.reason) ?? {};
    throw new ApiError(
      response.status,
      status,
      plainWords(response.status, status, error?.message ?? text.slice(0, 200)),
      info.reason ?? "",
      info.metadata?.field ?? "",
    );
  }
  return parsed as T;
}

function query(params: Record<string, string | number | undefined>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== "") search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

export interface StateCount {
  state: string;
  count?: string;
}

export const api = {
  listJobs: (filter: string, pageSize: number, pageToken: string) =>
    request<{ jobs?: Job[]; nextPageToken?: string }>(
      "GET",
      `/v1/jobs${query({ filter, pageSize, pageToken })}`,
    ),
  countJobs: () => request<{ counts?: StateCount[]; total?: string }>("GET", "/v1/jobs:count"),
  getJob: (name: string) => request<Job>("GET", `/v1/${name}`),
  createJob: (job: Partial<Job>, requestId: string) =>
    request<Job>("POST", `/v1/jobs${query({ requestId })}`, job),
  cancelJob: (name: string) => request<Job>("POST", `/v1/${name}:cancel`, {}),
  /** A BENCHMARK, APPLY or ROLLBACK job acting on one suggestion. */
  actOn: (kind: "BENCHMARK" | "APPLY" | "ROLLBACK", s: Suggestion) =>
    request<Job>("POST", `/v1/jobs${query({ requestId: newRequestId() })}`, {
      kind,
      target: s.target,
      suggestion: s.name,
    }),
  listSuggestions: (parent: string, filter: string) =>
    request<{ suggestions?: Suggestion[]; nextPageToken?: string }>(
      "GET",
      `/v1/${parent}/suggestions${query({ filter, pageSize: 1000 })}`,
    ),
  getSuggestion: (name: string) => request<Suggestion>("GET", `/v1/${name}`),
  approve: (s: Suggestion) => request<Suggestion>("POST", `/v1/${s.name}:approve`, { etag: s.etag }),
  dismiss: (s: Suggestion, reason: string) =>
    request<Suggestion>("POST", `/v1/${s.name}:dismiss`, { etag: s.etag, reason }),
  editSql: (s: Suggestion, editedSql: string) =>
    request<Suggestion>("PATCH", `/v1/${s.name}${query({ updateMask: "editedSql" })}`, {
      editedSql,
      etag: s.etag,
    }),
  /** Audit records matching `filter` (e.g. `resource = "jobs/../suggestions/.."`), newest first. */
  listAudit: (filter: string, pageToken: string) =>
    request<{ auditRecords?: AuditRecord[]; nextPageToken?: string }>(
      "GET",
      `/v1/auditRecords${query({ filter, pageSize: 20, pageToken })}`,
    ),
  listTargets: () => request<{ targets?: Target[] }>("GET", "/v1/targets"),
  readiness: async (): Promise<Readiness> => {
    try {
      const response = await fetch("/readyz");
      return (await response.json()) as Readiness;
    } catch {
      return { status: "fail", output: "the gateway does not answer" };
    }
  },
};

export function newRequestId(): string {
  if (typeof crypto !== "undefined" && "randomUUID" in crypto) return crypto.randomUUID();
  return `${Date.now()}-${Math.random().toString(16).slice(2)}`;
}
