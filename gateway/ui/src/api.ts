// Calls to the gateway's REST API, and errors turned into plain words.
import type {
  ApiToken,
  AuditRecord,
  Caller,
  ChangeOptions,
  CreateApiTokenResponse,
  Job,
  Readiness,
  Schedule,
  Session,
  Suggestion,
  Target,
  TargetSummary,
  VerifyAuditTrailResponse,
  Webhook,
  WebhookDelivery,
} from "./types";

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

  /** Not signed in (or the session expired): a sign-in prompt, not an error. */
  get isUnauthenticated(): boolean {
    return this.httpStatus === 401;
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
    case "UNAUTHENTICATED":
      return "You are not signed in (or your session expired). Sign in to continue.";
    case "PERMISSION_DENIED":
      return message ? `Not allowed: ${message}` : "You do not have the role this needs.";
    case "ABORTED":
      return "Someone changed this after you loaded it, so your change was not saved.";
    case "INTERNAL":
    case "UNKNOWN":
      return "Something went wrong on the server. The gateway and job service logs have the details.";
    default:
      return message || `The request failed (HTTP ${httpStatus}).`;
  }
}

/** Raised on HTTP 401: the browser has no (valid) session; the UI offers to sign in. */
export const UNAUTHENTICATED_EVENT = "pgsage:unauthenticated";

const STATE_CHANGING = new Set(["POST", "PUT", "PATCH", "DELETE"]);

async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  let response: Response;
  // Every state-changing request is JSON (the gateway refuses anything else with 415, a
  // defence against cross-site form posts), DELETE included even without a body. The
  // session is an HttpOnly cookie the browser sends itself: no token is ever read here.
  const headers: Record<string, string> = STATE_CHANGING.has(method) ? { "Content-Type": "application/json" } : {};
  try {
    response = await fetch(path, {
      method,
      headers,
      credentials: "same-origin",
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
    const status = error?.status ?? (response.status === 401 ? "UNAUTHENTICATED" : "UNKNOWN");
    const info = error?.details?.find((d) => d.reason) ?? {};
    let message = error?.message ?? text.slice(0, 200);
    if (info.reason === "TWO_PERSON_RULE") message = `two-person rule: ${message}`;
    if (response.status === 401) window.dispatchEvent(new Event(UNAUTHENTICATED_EVENT));
    throw new ApiError(
      response.status,
      status,
      plainWords(response.status, status, message),
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
  actOn: (kind: "BENCHMARK" | "APPLY" | "ROLLBACK", s: Suggestion, changeOptions?: ChangeOptions) =>
    request<Job>("POST", `/v1/jobs${query({ requestId: newRequestId() })}`, {
      kind,
      target: s.target,
      suggestion: s.name,
      ...(changeOptions ? { changeOptions } : {}),
    }),
  listSuggestions: (parent: string, filter: string) =>
    request<{ suggestions?: Suggestion[]; nextPageToken?: string }>(
      "GET",
      `/v1/${parent}/suggestions${query({ filter, pageSize: 1000 })}`,
    ),
  getSuggestion: (name: string) => request<Suggestion>("GET", `/v1/${name}`),
  /** A VERIFY job on an APPLIED suggestion, now. */
  verify: (s: Suggestion) =>
    request<Job>("POST", `/v1/${s.name}:verify`, { requestId: newRequestId() }),
  approve: (s: Suggestion) => request<Suggestion>("POST", `/v1/${s.name}:approve`, { etag: s.etag }),
  dismiss: (s: Suggestion, reason: string) =>
    request<Suggestion>("POST", `/v1/${s.name}:dismiss`, { etag: s.etag, reason }),
  editSql: (s: Suggestion, editedSql: string) =>
    request<Suggestion>("PATCH", `/v1/${s.name}${query({ updateMask: "editedSql" })}`, {
      editedSql,
      etag: s.etag,
    }),
  /** Audit records matching `filter` (e.g. `resource = "jobs/../suggestions/.."`), newest first. */
  listAudit: (filter: string, pageToken: string, pageSize = 20) =>
    request<{ auditRecords?: AuditRecord[]; nextPageToken?: string }>(
      "GET",
      `/v1/auditRecords${query({ filter, pageSize, pageToken })}`,
    ),
  verifyAudit: () => request<VerifyAuditTrailResponse>("POST", "/v1/auditRecords:verify", {}),
  retryJob: (name: string) => request<Job>("POST", `/v1/${name}:retry`, {}),
  deleteJob: (name: string) => request<Record<string, never>>("DELETE", `/v1/${name}`),
  caller: () => request<Caller>("GET", "/v1/caller"),
  /** The gateway's browser session; null when the gateway has no session endpoint (local). */
  session: async (): Promise<Session | null> => {
    try {
      return await request<Session>("GET", "/auth/session");
    } catch (e) {
      if (e instanceof ApiError && e.httpStatus === 404) return null;
      throw e;
    }
  },
  /** Ends the gateway session; `endSessionUrl` ends the issuer's session too, when it has one. */
  logout: () => request<{ signedIn?: boolean; endSessionUrl?: string | null }>("POST", "/auth/logout", {}),
  createApiToken: (token: Omit<ApiToken, "name">) => request<CreateApiTokenResponse>("POST", "/v1/apiTokens", token),
  listApiTokens: (showInactive: boolean, pageToken: string) =>
    request<{ apiTokens?: ApiToken[]; nextPageToken?: string }>(
      "GET",
      `/v1/apiTokens${query({ showInactive: showInactive ? "true" : undefined, pageSize: 50, pageToken })}`,
    ),
  revokeApiToken: (name: string) => request<ApiToken>("POST", `/v1/${name}:revoke`, {}),
  listTargets: () => request<{ targets?: Target[] }>("GET", "/v1/targets"),
  /** One target at a glance (GET /v1/targets/{target}/summary). */
  targetSummary: (target: string) =>
    request<TargetSummary>("GET", `/v1/targets/${encodeURIComponent(target)}/summary`),
  listWebhooks: () => request<{ webhooks?: Webhook[]; nextPageToken?: string }>("GET", "/v1/webhooks?pageSize=200"),
  createWebhook: (webhook: Omit<Webhook, "name">) => request<Webhook>("POST", "/v1/webhooks", webhook),
  setWebhookEnabled: (w: Webhook, enabled: boolean) =>
    request<Webhook>("PATCH", `/v1/${w.name}${query({ updateMask: "enabled" })}`, { enabled, etag: w.etag }),
  deleteWebhook: (name: string) => request<Record<string, never>>("DELETE", `/v1/${name}`),
  testWebhook: (name: string) => request<WebhookDelivery>("POST", `/v1/${name}:test`, {}),
  listWebhookDeliveries: (name: string) =>
    request<{ deliveries?: WebhookDelivery[]; nextPageToken?: string }>("GET", `/v1/${name}/deliveries?pageSize=20`),
  listSchedules: (pageToken: string) =>
    request<{ schedules?: Schedule[]; nextPageToken?: string }>("GET", `/v1/schedules${query({ pageSize: 100, pageToken })}`),
  createSchedule: (schedule: Partial<Schedule>, requestId: string) =>
    request<Schedule>("POST", `/v1/schedules${query({ requestId })}`, schedule),
  pauseSchedule: (s: Schedule) => request<Schedule>("POST", `/v1/${s.name}:pause`, { etag: s.etag }),
  resumeSchedule: (s: Schedule) => request<Schedule>("POST", `/v1/${s.name}:resume`, { etag: s.etag }),
  deleteSchedule: (s: Schedule) => request<Record<string, never>>("DELETE", `/v1/${s.name}${query({ etag: s.etag })}`),
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
