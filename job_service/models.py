"""The job store's schema as SQLAlchemy tables: the reference the migrations must match.

The schema itself is created only by the Alembic migrations in `job_service.migrations`;
`tests/migration` proves that upgrading gives exactly these tables. Every constraint and
index has a name from `NAMING_CONVENTION`, so errors can be translated by constraint name.

Rich, rarely-filtered parts (analysis options, summary, error, stored workload, a
suggestion's evidence and estimates) are serialized protobuf messages in `bytea` columns:
protobuf evolves additively, and nothing filters on their insides. Everything a list filters
or orders on, or a guarded update checks, is a column of its own.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.sql.elements import TextClause

from job_service import vocabulary

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

# The vocabulary is the domain's (`job_service.vocabulary`); the schema takes it from there.
JOB_STATES = vocabulary.JOB_STATES
JOB_KINDS = vocabulary.JOB_KINDS
SUGGESTION_STATES = vocabulary.SUGGESTION_STATES
SUGGESTION_KINDS = vocabulary.SUGGESTION_KINDS
CHANGE_JOB_KINDS = vocabulary.CHANGE_JOB_KINDS
LIVE_JOB_STATES = vocabulary.LIVE_JOB_STATES
LEASED_JOB_STATES = vocabulary.LEASED_JOB_STATES
LIVE_SUGGESTION_STATES = vocabulary.LIVE_SUGGESTION_STATES
VERDICTS = vocabulary.VERDICTS
SNAPSHOT_REASONS = vocabulary.SNAPSHOT_REASONS
"""A suggestion in one of these states has (or may have) its change on the target: its job
is never deleted (the way back), and only one suggestion per (target, fingerprint) is in one."""


_NAME = re.compile(r"[A-Z][A-Z_]*")


def sql_list(values: Iterable[str]) -> str:
    """`('A', 'B')`: vocabulary names as an SQL list (constants, never input: checked)."""
    names = [str(v) for v in values]
    if not names or not all(_NAME.fullmatch(n) for n in names):
        raise ValueError(f"not a list of vocabulary names: {names!r}")
    return "(" + ", ".join(f"'{n}'" for n in names) + ")"


def sql_value(value: str) -> str:
    """`'A'`: one vocabulary name as an SQL literal (a constant, never input: checked)."""
    return sql_list([value])[1:-1]


def sql_in(column: str, values: Iterable[str]) -> str:
    """`column IN ('A', 'B')`, the text of a guard, constraint or index predicate."""
    return f"{column} IN {sql_list(values)}"


def _now() -> TextClause:
    return text("now()")


TS = DateTime(timezone=True)

job = Table(
    "job",
    metadata,
    Column("id", UUID(as_uuid=True), nullable=False),
    # Idempotency key of CreateJob; NULL when the caller gave none.
    Column("request_id", Text, nullable=True),
    # Who asked for it: the verified caller's display name; '' for jobs from before 0004.
    Column("creator", Text, nullable=False, server_default=""),
    Column("kind", Text, nullable=False),
    Column("state", Text, nullable=False),
    Column("target", Text, nullable=False),
    Column("analysis_types", ARRAY(Text), nullable=False, server_default=text("'{}'")),
    # pgsage.jobs.v1.AnalysisOptions
    Column("options", LargeBinary, nullable=True),
    Column("queries", ARRAY(Text), nullable=False, server_default=text("'{}'")),
    # The suggestion a BENCHMARK/APPLY/ROLLBACK job acts on. No foreign key: the job is
    # history that may outlive that suggestion's job (expiry, DeleteJob).
    Column("suggestion_job_id", UUID(as_uuid=True), nullable=True),
    Column("suggestion_id", UUID(as_uuid=True), nullable=True),
    Column("progress_stage", Text, nullable=False, server_default=""),
    Column("progress_percent", Double, nullable=False, server_default=text("0")),
    Column("progress_message", Text, nullable=False, server_default=""),
    Column("query_count", Integer, nullable=False, server_default=text("0")),
    Column("insight_count", Integer, nullable=False, server_default=text("0")),
    Column("suggestion_count", Integer, nullable=False, server_default=text("0")),
    Column("statistics_start_time", TS, nullable=True),
    Column("statistics_end_time", TS, nullable=True),
    # pgsage.jobs.v1.Summary
    Column("summary", LargeBinary, nullable=True),
    # google.rpc.Status
    Column("error", LargeBinary, nullable=True),
    # pgsage.optimizer.v1.Workload streamed by the first attempt, sent back on a retry.
    Column("workload", LargeBinary, nullable=True),
    Column("attempt", Integer, nullable=False, server_default=text("0")),
    Column("max_attempts", Integer, nullable=False, server_default=text("3")),
    Column("lease_owner", Text, nullable=True),
    Column("lease_expire_time", TS, nullable=True),
    Column("cancel_requested", Boolean, nullable=False, server_default=text("false")),
    # A PENDING job waiting out a retry backoff is not claimed before this time.
    Column("run_after", TS, nullable=True),
    Column("create_time", TS, nullable=False, server_default=_now()),
    Column("start_time", TS, nullable=True),
    Column("end_time", TS, nullable=True),
    Column("update_time", TS, nullable=False, server_default=_now()),
    Column("expire_time", TS, nullable=True),
    Column("revision", BigInteger, nullable=False, server_default=text("1")),
    # The schedule that created the job and the tick it was for (migration 0010). No
    # foreign key: the job is history that outlives its schedule.
    Column("schedule_id", UUID(as_uuid=True), nullable=True),
    Column("schedule_time", TS, nullable=True),
    PrimaryKeyConstraint("id"),
    UniqueConstraint("request_id"),
    CheckConstraint(sql_in("state", JOB_STATES), name="state"),
    CheckConstraint(sql_in("kind", JOB_KINDS), name="kind"),
    CheckConstraint("attempt >= 0 AND max_attempts >= 1", name="attempts"),
    # ListJobs: newest first, keyset on (create_time, id), one index per filter shape.
    Index("ix_job_create_time_id", text("create_time DESC"), text("id DESC")),
    Index("ix_job_state_create_time_id", "state", text("create_time DESC"), text("id DESC")),
    Index("ix_job_target_create_time_id", "target", text("create_time DESC"), text("id DESC")),
    Index(
        "ix_job_state_target_create_time_id",
        "state",
        "target",
        text("create_time DESC"),
        text("id DESC"),
    ),
    Index("ix_job_kind_create_time_id", "kind", text("create_time DESC"), text("id DESC")),
    # Expiry sweep.
    Index(
        "ix_job_expire_time",
        "expire_time",
        postgresql_where=text("expire_time IS NOT NULL"),
    ),
    # The dispatcher: leases that lapse.
    Index(
        "ix_job_lease_expire_time",
        "lease_expire_time",
        postgresql_where=text(sql_in("state", LEASED_JOB_STATES)),
    ),
    # Exactly one job per tick of a schedule, whichever replica fires it.
    Index(
        "uq_job_schedule_id_schedule_time",
        "schedule_id",
        "schedule_time",
        unique=True,
        postgresql_where=text("schedule_id IS NOT NULL"),
    ),
    # The previous successful analysis of a target (comparisons of analyses).
    Index(
        "ix_job_target_end_time_analyze",
        "target",
        text("end_time DESC"),
        postgresql_where=text(
            f"kind = {sql_value(vocabulary.JobKind.ANALYZE)} "
            f"AND state = {sql_value(vocabulary.JobState.SUCCEEDED)}"
        ),
    ),
    # One change at a time: at most one live BENCHMARK/APPLY/ROLLBACK job per suggestion.
    Index(
        "uq_job_suggestion_id_live",
        "suggestion_id",
        unique=True,
        postgresql_where=text(
            f"{sql_in('kind', CHANGE_JOB_KINDS)} AND {sql_in('state', LIVE_JOB_STATES)}"
        ),
    ),
)

job_event = Table(
    "job_event",
    metadata,
    Column("job_id", UUID(as_uuid=True), ForeignKey("job.id", ondelete="CASCADE"), nullable=False),
    Column("revision", BigInteger, nullable=False),
    Column("event_type", Text, nullable=False),
    Column("event_time", TS, nullable=False, server_default=_now()),
    # The job row right after the change (`to_jsonb(job) - 'workload'`).
    Column("snapshot", JSONB, nullable=False),
    # The suggestion the change concerns, if any.
    Column("suggestion_id", UUID(as_uuid=True), nullable=True),
    PrimaryKeyConstraint("job_id", "revision"),
)

suggestion = Table(
    "suggestion",
    metadata,
    Column("id", UUID(as_uuid=True), nullable=False),
    Column("job_id", UUID(as_uuid=True), ForeignKey("job.id", ondelete="CASCADE"), nullable=False),
    Column("kind", Text, nullable=False),
    Column("state", Text, nullable=False),
    Column("target", Text, nullable=False),
    Column("title", Text, nullable=False, server_default=""),
    Column("fingerprint", Text, nullable=False),
    Column("sql", Text, nullable=False),
    Column("rollback_sql", Text, nullable=False, server_default=""),
    Column("edited_sql", Text, nullable=True),
    Column("edited_rollback_sql", Text, nullable=True),
    Column("notes", Text, nullable=False, server_default=""),
    Column("dismiss_reason", Text, nullable=False, server_default=""),
    # pgsage.jobs.v1.Suggestion holding the immutable findings (rationale, tables, columns,
    # estimates, query impacts, evidence, risk, verification).
    Column("details", LargeBinary, nullable=True),
    Column("attempt", Integer, nullable=False, server_default=text("1")),
    Column("superseded", Boolean, nullable=False, server_default=text("false")),
    # `jobs/{job}/suggestions/{suggestion}` holding the decision on the same change.
    Column("prior_decision", Text, nullable=False, server_default=""),
    # pgsage.jobs.v1.BenchmarkResult messages, newest first.
    Column("benchmarks", ARRAY(LargeBinary), nullable=False, server_default=text("'{}'")),
    Column("failure_reason", Text, nullable=False, server_default=""),
    # What pgsage's APPLY did on the target: the index it built (OID and pg_get_indexdef;
    # a ROLLBACK drops only that index), or the definition of the index it dropped (a
    # ROLLBACK recreates exactly that).
    Column("applied_index_oid", BigInteger, nullable=True),
    Column("applied_index_definition", Text, nullable=False, server_default=""),
    Column("dropped_index_definition", Text, nullable=False, server_default=""),
    # Who approved it (the principal's subject and display name), for the two-person rule;
    # NULL unless APPROVED (or later), cleared when an edit sends it back to PENDING.
    Column("approver_subject", Text, nullable=True),
    Column("approver_name", Text, nullable=True),
    # The latest verification of its last APPLY: the verdict (filterable) and the whole
    # pgsage.jobs.v1.Verification; NULL until a VERIFY job finished, cleared by a new APPLY.
    Column("verdict", Text, nullable=True),
    Column("verification", LargeBinary, nullable=True),
    # The previous analysis of the target did not make it (migration 0010).
    Column("new_since_last_analysis", Boolean, nullable=False, server_default=text("false")),
    Column("version", BigInteger, nullable=False, server_default=text("1")),
    Column("create_time", TS, nullable=False, server_default=_now()),
    Column("update_time", TS, nullable=False, server_default=_now()),
    PrimaryKeyConstraint("id"),
    UniqueConstraint("job_id", "fingerprint"),
    CheckConstraint(sql_in("state", SUGGESTION_STATES), name="state"),
    CheckConstraint(sql_in("kind", SUGGESTION_KINDS), name="kind"),
    CheckConstraint(f"verdict IS NULL OR {sql_in('verdict', VERDICTS)}", name="verdict"),
    Index("ix_suggestion_create_time_id", text("create_time DESC"), text("id DESC")),
    Index(
        "ix_suggestion_job_id_create_time_id",
        "job_id",
        text("create_time DESC"),
        text("id DESC"),
    ),
    Index(
        "ix_suggestion_state_create_time_id",
        "state",
        text("create_time DESC"),
        text("id DESC"),
    ),
    # Prior decisions on the same change of a target.
    Index("ix_suggestion_target_fingerprint", "target", "fingerprint"),
    # Two suggestions with one fingerprint are never both applied on a target.
    Index(
        "uq_suggestion_target_fingerprint_live",
        "target",
        "fingerprint",
        unique=True,
        postgresql_where=text(sql_in("state", LIVE_SUGGESTION_STATES)),
    ),
)

# The audit trail: who changed which suggestion, and every statement a job ran on a target.
# No foreign keys: audit rows outlive job expiry and DeleteJob.
audit_record = Table(
    "audit_record",
    metadata,
    Column("id", UUID(as_uuid=True), nullable=False),
    Column("time", TS, nullable=False, server_default=text("clock_timestamp()")),
    Column("actor", Text, nullable=False),
    Column("authenticated", Boolean, nullable=False, server_default=text("false")),
    Column("action", Text, nullable=False),
    # `jobs/{job}/suggestions/{suggestion}` or `jobs/{job}`.
    Column("resource", Text, nullable=False),
    Column("job_id", UUID(as_uuid=True), nullable=True),
    Column("target", Text, nullable=False, server_default=""),
    Column("statement", Text, nullable=False, server_default=""),
    Column("outcome", Text, nullable=False),
    Column("detail", Text, nullable=False, server_default=""),
    Column("from_state", Text, nullable=False, server_default=""),
    Column("to_state", Text, nullable=False, server_default=""),
    # For what a job runs: the job's creator.
    Column("on_behalf_of", Text, nullable=False, server_default=""),
    # The verified principal: its stable subject and how it signed in (`AuthMethod` name).
    Column("actor_subject", Text, nullable=False, server_default=""),
    Column("actor_method", Text, nullable=False, server_default=""),
    # The hash chain, set by the `audit_record_append` trigger of migration 0006 (whatever
    # the writer supplies): position in the chain, the predecessor's digest ('' for the
    # first record), and this record's digest (see `job_service.auditchain`).
    Column("chain_position", BigInteger, nullable=False),
    Column("prev_digest", Text, nullable=False),
    Column("digest", Text, nullable=False),
    PrimaryKeyConstraint("id"),
    UniqueConstraint("chain_position"),
    # ListAuditRecords: newest first, keyset on (time, id), one index per filter shape.
    Index("ix_audit_record_time_id", text("time DESC"), text("id DESC")),
    Index("ix_audit_record_resource_time_id", "resource", text("time DESC"), text("id DESC")),
    Index("ix_audit_record_job_id_time_id", "job_id", text("time DESC"), text("id DESC")),
    Index("ix_audit_record_target_time_id", "target", text("time DESC"), text("id DESC")),
)

# pgsage API tokens: only the SHA-256 of the secret is stored; the secret is shown once.
api_token = Table(
    "api_token",
    metadata,
    Column("id", UUID(as_uuid=True), nullable=False),
    Column("display_name", Text, nullable=False),
    # [{"role": "VIEWER", "targets": "*"}, ...]
    Column("role_bindings", JSONB, nullable=False),
    Column("secret_sha256", LargeBinary, nullable=False),
    # The display name of the principal that created it.
    Column("creator", Text, nullable=False),
    Column("create_time", TS, nullable=False, server_default=_now()),
    Column("expire_time", TS, nullable=False),
    Column("revoke_time", TS, nullable=True),
    Column("last_use_time", TS, nullable=True),
    PrimaryKeyConstraint("id"),
    UniqueConstraint("secret_sha256"),
    CheckConstraint("octet_length(secret_sha256) = 32", name="sha256"),
    Index("ix_api_token_create_time_id", text("create_time DESC"), text("id DESC")),
)

# Webhook destinations and their transactional outbox (migration 0011): an event is written
# by `webhook_emit()` in the transaction of the change that causes it, as one delivery per
# matching destination; the senders (`job_service.sender`) claim due deliveries and record
# every attempt.
WEBHOOK_EVENT_TYPES = tuple(vocabulary.WebhookEventType)
WEBHOOK_FORMATS = tuple(vocabulary.WebhookFormat)
DELIVERY_STATES = tuple(vocabulary.DeliveryState)

webhook = Table(
    "webhook",
    metadata,
    Column("id", UUID(as_uuid=True), nullable=False),
    Column("display_name", Text, nullable=False),
    Column("url", Text, nullable=False),
    Column("event_types", ARRAY(Text), nullable=False),
    # The pattern as given ('' = every target) and as the SQL LIKE pattern events match.
    Column("target_filter", Text, nullable=False, server_default=""),
    Column("target_pattern", Text, nullable=False, server_default="%"),
    Column("format", Text, nullable=False),
    # The HMAC key; NULL: POSTs are not signed. Never leaves the job service but in a
    # signature (not in a response, not in a log).
    Column("secret", Text, nullable=True),
    Column("enabled", Boolean, nullable=False, server_default=text("true")),
    Column("creator", Text, nullable=False),
    Column("version", BigInteger, nullable=False, server_default=text("1")),
    Column("create_time", TS, nullable=False, server_default=_now()),
    Column("update_time", TS, nullable=False, server_default=_now()),
    PrimaryKeyConstraint("id"),
    CheckConstraint(sql_in("format", WEBHOOK_FORMATS), name="format"),
    CheckConstraint(
        f"event_types <@ ARRAY{list(map(str, WEBHOOK_EVENT_TYPES))}::text[]", name="event_types"
    ),
    Index("ix_webhook_create_time_id", text("create_time DESC"), text("id DESC")),
)

webhook_event = Table(
    "webhook_event",
    metadata,
    Column("id", UUID(as_uuid=True), nullable=False),
    Column("event_type", Text, nullable=False),
    Column("target", Text, nullable=False, server_default=""),
    # What it is about: `jobs/{job}` or `jobs/{job}/suggestions/{suggestion}`.
    Column("resource", Text, nullable=False, server_default=""),
    # The facts the body is rendered from, per destination format, when it is sent.
    Column("payload", JSONB, nullable=False),
    Column("create_time", TS, nullable=False, server_default=_now()),
    PrimaryKeyConstraint("id"),
    # The retention sweep.
    Index("ix_webhook_event_create_time", "create_time"),
)

webhook_delivery = Table(
    "webhook_delivery",
    metadata,
    Column("id", UUID(as_uuid=True), nullable=False),
    Column(
        "webhook_id",
        UUID(as_uuid=True),
        ForeignKey("webhook.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column(
        "event_id",
        UUID(as_uuid=True),
        ForeignKey("webhook_event.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("state", Text, nullable=False),
    Column("attempt_count", Integer, nullable=False, server_default=text("0")),
    Column("next_attempt_time", TS, nullable=False, server_default=_now()),
    # A sender holds a delivery while it POSTs (no transaction stays open across the call);
    # one that died mid-send lets go when the lease lapses.
    Column("lease_owner", Text, nullable=True),
    Column("lease_expire_time", TS, nullable=True),
    Column("create_time", TS, nullable=False, server_default=_now()),
    Column("update_time", TS, nullable=False, server_default=_now()),
    PrimaryKeyConstraint("id"),
    UniqueConstraint("webhook_id", "event_id"),
    CheckConstraint(sql_in("state", DELIVERY_STATES), name="state"),
    Index(
        "ix_webhook_delivery_webhook_id_create_time_id",
        "webhook_id",
        text("create_time DESC"),
        text("id DESC"),
    ),
    Index("ix_webhook_delivery_event_id", "event_id"),
    # The senders' claim: due deliveries only.
    Index(
        "ix_webhook_delivery_next_attempt_time",
        "next_attempt_time",
        postgresql_where=text(f"state = {sql_value(vocabulary.DeliveryState.PENDING)}"),
    ),
)

webhook_attempt = Table(
    "webhook_attempt",
    metadata,
    Column(
        "delivery_id",
        UUID(as_uuid=True),
        ForeignKey("webhook_delivery.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("number", Integer, nullable=False),
    Column("time", TS, nullable=False, server_default=_now()),
    Column("delivered", Boolean, nullable=False),
    Column("http_status", Integer, nullable=False, server_default=text("0")),
    # Why it failed, in words that hold no URL and no secret.
    Column("error", Text, nullable=False, server_default=""),
    Column("duration_seconds", Double, nullable=False, server_default=text("0")),
    PrimaryKeyConstraint("delivery_id", "number"),
)

# Workload statistics of a target at one moment (a verification compares two), kept for
# `snapshot_retention`. No foreign keys: snapshots outlive the jobs that took them, and the
# target page charts them.
workload_snapshot = Table(
    "workload_snapshot",
    metadata,
    Column("id", UUID(as_uuid=True), nullable=False),
    Column("target", Text, nullable=False),
    # The target's clock when the statistics were read.
    Column("time", TS, nullable=False),
    Column("reason", Text, nullable=False),
    Column("suggestion_job_id", UUID(as_uuid=True), nullable=True),
    Column("suggestion_id", UUID(as_uuid=True), nullable=True),
    # The job that took it (the APPLY, or the VERIFY).
    Column("job_id", UUID(as_uuid=True), nullable=True),
    # When pg_stat_statements was last reset; every counter counts from then.
    Column("stats_reset", TS, nullable=True),
    Column("deallocations", BigInteger, nullable=False, server_default=text("0")),
    # The whole database's workload: statements tracked, their calls and execution time.
    Column("statements", BigInteger, nullable=False, server_default=text("0")),
    Column("calls", BigInteger, nullable=False, server_default=text("0")),
    Column("total_exec_time_ms", Double, nullable=False, server_default=text("0")),
    # pgsage.optimizer.v1.WorkloadSnapshot without its statements: the tables' and indexes'
    # statistics, the target's verification settings then.
    Column("detail", LargeBinary, nullable=True),
    Column("create_time", TS, nullable=False, server_default=_now()),
    PrimaryKeyConstraint("id"),
    CheckConstraint(sql_in("reason", SNAPSHOT_REASONS), name="reason"),
    Index("ix_workload_snapshot_time_id", text("time DESC"), text("id DESC")),
    Index("ix_workload_snapshot_target_time_id", "target", text("time DESC"), text("id DESC")),
    Index("ix_workload_snapshot_suggestion_id_time", "suggestion_id", text("time DESC")),
)

# One statement's cumulative pg_stat_statements figures in a snapshot.
workload_snapshot_statement = Table(
    "workload_snapshot_statement",
    metadata,
    Column(
        "snapshot_id",
        UUID(as_uuid=True),
        ForeignKey("workload_snapshot.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("query_id", Text, nullable=False),
    Column("text", Text, nullable=False, server_default=""),
    Column("statement_kind", Text, nullable=False, server_default=""),
    Column("calls", BigInteger, nullable=False),
    Column("total_exec_time_ms", Double, nullable=False),
    Column("mean_exec_time_ms", Double, nullable=False),
    Column("stddev_exec_time_ms", Double, nullable=False),
    Column("shared_blks_hit", BigInteger, nullable=False),
    Column("shared_blks_read", BigInteger, nullable=False),
    Column("rows", BigInteger, nullable=False, server_default=text("0")),
    # The requested query id it answers ('' for a statement found on a table), and the
    # tables it references.
    Column("requested_as", Text, nullable=False, server_default=""),
    Column("tables", ARRAY(Text), nullable=False, server_default=text("'{}'")),
    PrimaryKeyConstraint("snapshot_id", "query_id"),
)

# The periodic snapshots' ticks (migration 0012): one row per target and tick, inserted by
# the replica that takes the tick's snapshot, in the transaction that stores it; the primary
# key makes a second snapshot of one tick impossible (`job_service.watch`).
snapshot_tick = Table(
    "snapshot_tick",
    metadata,
    Column("target", Text, nullable=False),
    Column("tick", TS, nullable=False),
    Column(
        "snapshot_id",
        UUID(as_uuid=True),
        ForeignKey("workload_snapshot.id", ondelete="CASCADE"),
        nullable=True,
    ),
    # The job-service replica that took it (its dispatcher's owner id).
    Column("taker", Text, nullable=False, server_default=""),
    Column("create_time", TS, nullable=False, server_default=_now()),
    PrimaryKeyConstraint("target", "tick"),
    Index("ix_snapshot_tick_snapshot_id", "snapshot_id"),
)

# Schedules of analyses (migration 0010): a cron expression, the options of each ANALYZE,
# and the next tick, which the firing statement moves on in the transaction that creates
# the tick's job (`job_service.scheduler`).
schedule = Table(
    "schedule",
    metadata,
    Column("id", UUID(as_uuid=True), nullable=False),
    # Idempotency key of CreateSchedule; NULL when the caller gave none.
    Column("request_id", Text, nullable=True),
    Column("display_name", Text, nullable=False, server_default=""),
    Column("target", Text, nullable=False),
    Column("cron", Text, nullable=False),
    # IANA name; '' means UTC.
    Column("time_zone", Text, nullable=False, server_default=""),
    Column("analysis_types", ARRAY(Text), nullable=False, server_default=text("'{}'")),
    # pgsage.jobs.v1.AnalysisOptions
    Column("options", LargeBinary, nullable=True),
    Column("paused", Boolean, nullable=False, server_default=text("false")),
    # NULL while paused.
    Column("next_run_time", TS, nullable=True),
    Column("last_run_time", TS, nullable=True),
    Column("last_job_id", UUID(as_uuid=True), nullable=True),
    # The verified principal that created it (display name, subject): jobs run on its behalf.
    Column("creator", Text, nullable=False),
    Column("creator_subject", Text, nullable=False, server_default=""),
    Column("create_time", TS, nullable=False, server_default=_now()),
    Column("update_time", TS, nullable=False, server_default=_now()),
    # The etag: bumped by changes of the settings (not by ticks).
    Column("version", BigInteger, nullable=False, server_default=text("1")),
    PrimaryKeyConstraint("id"),
    UniqueConstraint("request_id"),
    CheckConstraint("paused OR next_run_time IS NOT NULL", name="next_run"),
    Index("ix_schedule_create_time_id", text("create_time DESC"), text("id DESC")),
    Index("ix_schedule_target_create_time_id", "target", text("create_time DESC"), text("id DESC")),
    # The firing statement: due schedules, oldest tick first.
    Index("ix_schedule_next_run_time", "next_run_time", postgresql_where=text("NOT paused")),
)
