// The REST API's JSON (the protobuf JSON mapping of pgsage.jobs.v1): lowerCamelCase names,
// enums by name, 64-bit integers as strings, fields at their default value left out.

export type JobState =
  | "STATE_UNSPECIFIED"
  | "PENDING"
  | "RUNNING"
  | "CANCELLING"
  | "SUCCEEDED"
  | "FAILED"
  | "CANCELLED";

export type SuggestionState =
  | "STATE_UNSPECIFIED"
  | "PENDING"
  | "APPROVED"
  | "DISMISSED"
  | "APPLYING"
  | "APPLIED"
  | "APPLY_FAILED"
  | "ROLLING_BACK"
  | "ROLLED_BACK"
  | "ROLLBACK_FAILED";

export type AnalysisType = "MISSING_INDEXES" | "UNUSED_INDEXES" | "DUPLICATE_INDEXES";

export interface Status {
  code?: number;
  message?: string;
  details?: Array<Record<string, unknown>>;
}

export interface Insight {
  severity?: string;
  code?: string;
  message?: string;
  queryId?: string;
}

export interface Job {
  name: string;
  kind?: string;
  state?: JobState;
  target?: string;
  analysisTypes?: AnalysisType[];
  options?: { storageBudgetBytes?: string; maxIndexes?: number };
  suggestion?: string;
  progress?: { stage?: string; percent?: number; message?: string };
  counts?: { queries?: number; insights?: number; suggestions?: number };
  statisticsWindow?: { startTime?: string; endTime?: string };
  summary?: {
    workloadCostBefore?: number;
    workloadCostAfter?: number;
    workloadImprovementPercent?: number;
    addedBytes?: string;
    freedBytes?: string;
    recommendations?: string[];
    insights?: Insight[];
  };
  error?: Status;
  attempt?: number;
  maxAttempts?: number;
  createTime?: string;
  startTime?: string;
  endTime?: string;
  updateTime?: string;
  revision?: string;
  etag?: string;
  cancelRequested?: boolean;
  /** Who asked for the job: the verified caller that created it. */
  creator?: string;
}

export interface QueryImpact {
  queryId?: string;
  text?: string;
  costBefore?: number;
  costAfter?: number;
  weight?: number;
  parameterMode?: string;
}

export interface Measurement {
  medianMs?: number;
  spreadMs?: number;
  minMs?: number;
  maxMs?: number;
  runs?: number;
  sharedHitBlocks?: string;
  sharedReadBlocks?: string;
  indexUsed?: boolean;
}

export interface BenchmarkQuery {
  queryId?: string;
  text?: string;
  parameterValues?: string[];
  before?: Measurement;
  after?: Measurement;
  regression?: boolean;
  skippedReason?: string;
}

export interface BenchmarkResult {
  job?: string;
  environment?: string;
  indexName?: string;
  queries?: BenchmarkQuery[];
  indexSizeBytes?: string;
  regression?: boolean;
  createTime?: string;
}

/** One row of the audit trail: a state change of a suggestion or a statement run on a target. */
export interface AuditRecord {
  name: string;
  time?: string;
  actor?: string;
  authenticated?: boolean;
  action?: string;
  resource?: string;
  job?: string;
  target?: string;
  statement?: string;
  outcome?: string;
  detail?: string;
  fromState?: string;
  toState?: string;
  /** For what a job ran: who asked for that job. */
  onBehalfOf?: string;
  /** The verified principal's stable subject (`sub`, `apiTokens/{id}`, `local:<user>`). */
  actorSubject?: string;
  actorAuthMethod?: AuthMethod;
  /** Hex SHA-256 over the record and its predecessor's digest (the hash chain). */
  digest?: string;
}

export interface Suggestion {
  name: string;
  kind?: string;
  state?: SuggestionState;
  title?: string;
  rationale?: string;
  target?: string;
  tables?: string[];
  sql?: string;
  rollbackSql?: string;
  editedSql?: string;
  editedRollbackSql?: string;
  notes?: string;
  estimatedSizeBytes?: string;
  workloadImprovementPercent?: number;
  marginalImprovementPercent?: number;
  queryImpacts?: QueryImpact[];
  confidence?: number;
  risk?: string;
  riskNotes?: string;
  fingerprint?: string;
  verified?: boolean;
  verification?: string;
  superseded?: boolean;
  priorDecision?: string;
  benchmarks?: BenchmarkResult[];
  failureReason?: string;
  createTime?: string;
  updateTime?: string;
  etag?: string;
}

export interface Target {
  name: string;
  applyAllowed?: boolean;
  whatIfEngine?: string;
  reachable?: boolean;
  unreachableReason?: string;
  serverVersion?: string;
  pgStatStatements?: boolean;
  hypopgVersion?: string;
  sandbox?: string;
}

export interface WatchEvent {
  revision: string;
  eventType?: string;
  eventTime?: string;
  job?: Job;
  suggestion?: Suggestion;
}

export interface Readiness {
  status: "pass" | "warn" | "fail";
  output?: string;
  notes?: string[];
}

// Identity and access (access.proto). Roles are cumulative: viewer < reviewer < operator < admin.
export type Role = "ROLE_UNSPECIFIED" | "VIEWER" | "REVIEWER" | "OPERATOR" | "ADMIN";
export type AuthMethod = "AUTH_METHOD_UNSPECIFIED" | "OIDC" | "API_TOKEN" | "LOCAL";

/** A role on the targets whose names match `targets` (`*` any run of characters; "" all). */
export interface RoleBinding {
  role?: Role;
  targets?: string;
}

/** Who is calling, as the job service sees it (GET /v1/caller). */
export interface Caller {
  subject?: string;
  displayName?: string;
  authMethod?: AuthMethod;
  localMode?: boolean;
  roleBindings?: RoleBinding[];
  /** Target patterns where an APPLY must be created by someone other than the approver. */
  twoPersonTargets?: string[];
}

/** The gateway's browser session (GET /auth/session; not a protobuf message). */
export interface Session {
  signedIn: boolean;
  localMode: boolean;
  loginUrl?: string;
  logoutUrl?: string;
  name?: string | null;
  subject?: string | null;
  /** When the session ends (RFC 3339). */
  expiresAt?: string | null;
}

export interface ApiToken {
  name: string;
  displayName?: string;
  roleBindings?: RoleBinding[];
  expireTime?: string;
  createTime?: string;
  creator?: string;
  revokeTime?: string;
  lastUseTime?: string;
}

export interface CreateApiTokenResponse {
  apiToken?: ApiToken;
  /** The bearer secret, shown only in this response. */
  secret?: string;
}

export interface VerifyAuditTrailResponse {
  intact?: boolean;
  recordsChecked?: string;
  firstBadRecord?: string;
  /** `ALTERED`, `REMOVED` or `INSERTED`. */
  problem?: string;
  message?: string;
}
