// The REST API's JSON, named for the UI. The shapes come from `api-types.ts`, generated from
// the gateway's /openapi.json (the protobuf JSON mapping of pgsage.jobs.v1: lowerCamelCase
// names, enums by name, 64-bit integers as strings, fields at their default value left out).
// Regenerate with `npm run gen:types` after changing the protos; scripts/check.sh fails when
// the committed file is out of date.
import type { components } from "./api-types";

type Schemas = components["schemas"];
type Defined<T> = Exclude<T, undefined>;

export type Job = Schemas["pgsage.jobs.v1.Job"];
export type Suggestion = Schemas["pgsage.jobs.v1.Suggestion"];
export type Measurement = Schemas["pgsage.jobs.v1.Measurement"];
export type BenchmarkQuery = Schemas["pgsage.jobs.v1.QueryBenchmark"];
export type BenchmarkResult = Schemas["pgsage.jobs.v1.BenchmarkResult"];
export type WatchEvent = Schemas["pgsage.jobs.v1.WatchJobResponse"];
export type AuditRecord = Schemas["pgsage.jobs.v1.AuditRecord"];
export type VerifyAuditTrailResponse = Schemas["pgsage.jobs.v1.VerifyAuditTrailResponse"];
export type Caller = Schemas["pgsage.jobs.v1.Caller"];
export type RoleBinding = Schemas["pgsage.jobs.v1.RoleBinding"];
export type ApiToken = Schemas["pgsage.jobs.v1.ApiToken"];
export type CreateApiTokenResponse = Schemas["pgsage.jobs.v1.CreateApiTokenResponse"];
export type Webhook = Schemas["pgsage.jobs.v1.Webhook"];
export type WebhookDelivery = Schemas["pgsage.jobs.v1.WebhookDelivery"];
export type WebhookEventType = Defined<Webhook["eventTypes"]>[number];
export type Verification = Schemas["pgsage.jobs.v1.Verification"];
export type Schedule = Schemas["pgsage.jobs.v1.Schedule"];
export type AnalysisComparison = Schemas["pgsage.jobs.v1.AnalysisComparison"];
export type TargetSummary = Schemas["pgsage.jobs.v1.TargetSummary"];
export type WorkloadPoint = Schemas["pgsage.jobs.v1.WorkloadPoint"];
/** The probes' health+json body (GET /readyz). */
export type Readiness = Schemas["Health"];

export type JobState = Defined<Job["state"]>;
export type SuggestionState = Defined<Suggestion["state"]>;
export type AnalysisType = Defined<Job["analysisTypes"]>[number];
/** Roles are cumulative: viewer < reviewer < operator < admin. */
export type Role = Defined<RoleBinding["role"]>;

/** ListTargets names every target (the proto does not mark `Target.name` as always set). */
export type Target = Schemas["pgsage.jobs.v1.Target"] & { name: string };
export type ChangeOptions = Schemas["pgsage.jobs.v1.ChangeOptions"];

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
