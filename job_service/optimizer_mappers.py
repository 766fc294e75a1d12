"""Conversion between the optimizer's messages and the job service's, in one place.

The job service sends the optimizer an `AnalyzeRequest` built from a job, and stores what
the optimizer streams back (advice, insights, the summary) as suggestions and a job
summary; `target_from_optimizer` maps the optimizer's `Target` onto the jobs API's.
"""

from __future__ import annotations

from datetime import UTC, datetime

from job_service import domain
from job_service.vocabulary import SuggestionKind
from pgsage.jobs.v1 import job_pb2, job_service_pb2, suggestion_pb2
from pgsage.optimizer.v1 import advice_pb2 as optimizer_advice_pb2
from pgsage.optimizer.v1 import analysis_pb2 as optimizer_analysis_pb2
from pgsage.optimizer.v1 import optimizer_service_pb2

_ENGINES = {
    optimizer_service_pb2.WHAT_IF_ENGINE_HYPOPG: "hypopg",
    optimizer_service_pb2.WHAT_IF_ENGINE_TRANSACTIONAL: "transactional",
    optimizer_service_pb2.WHAT_IF_ENGINE_NONE: "none",
}


def target_from_optimizer(t: optimizer_service_pb2.Target) -> job_service_pb2.Target:
    return job_service_pb2.Target(
        name=t.name,
        apply_allowed=t.apply_allowed,
        what_if_engine=_ENGINES.get(t.what_if_engine, ""),
        reachable=t.reachable,
        unreachable_reason=t.unreachable_reason,
        server_version=t.server_version,
        pg_stat_statements=t.pg_stat_statements,
        hypopg_version=t.hypopg_version,
        sandbox=t.sandbox,
        build_timeout=t.build_timeout,
        lock_timeout=t.lock_timeout,
        verification_window=t.verification_window,
        on_regression=_POLICIES.get(t.on_regression, ""),
    )


_POLICIES = {
    optimizer_service_pb2.ON_REGRESSION_NOTIFY: "notify",
    optimizer_service_pb2.ON_REGRESSION_ROLLBACK: "rollback",
}


# -- the optimizer's Analyze stream → the job store (the dispatcher) -------------------

InsightTuple = tuple[str, str, str, str]
_SEVERITY = {
    optimizer_analysis_pb2.SEVERITY_INFO: "INFO",
    optimizer_analysis_pb2.SEVERITY_WARNING: "WARNING",
    optimizer_analysis_pb2.SEVERITY_ERROR: "ERROR",
}
# The optimizer's advice kinds → suggestion kinds (`ADVICE_KIND_<name>` ↔ `<name>`).
_ADVICE_KINDS: dict[optimizer_advice_pb2.AdviceKind, str] = {
    optimizer_advice_pb2.AdviceKind.Value(f"ADVICE_KIND_{kind}"): kind for kind in SuggestionKind
}
# Suggestion kind names → the optimizer's enum (the inverse of `_ADVICE_KINDS`).
ADVICE_KIND_BY_NAME: dict[str, optimizer_advice_pb2.AdviceKind] = {
    name: kind for kind, name in _ADVICE_KINDS.items()
}
_RISKS = {
    optimizer_advice_pb2.RISK_LOW: "LOW",
    optimizer_advice_pb2.RISK_MEDIUM: "MEDIUM",
    optimizer_advice_pb2.RISK_HIGH: "HIGH",
}
_PARAMETER_MODES = {
    optimizer_analysis_pb2.PARAMETER_MODE_LITERAL: "LITERAL",
    optimizer_analysis_pb2.PARAMETER_MODE_GENERIC: "GENERIC",
    optimizer_analysis_pb2.PARAMETER_MODE_PG_STATS: "PG_STATS",
}
# Job analysis type names → the optimizer's enum (same meaning, prefixed names).
_TO_OPTIMIZER_TYPES = {
    "MISSING_INDEXES": optimizer_analysis_pb2.ANALYSIS_TYPE_MISSING_INDEXES,
    "UNUSED_INDEXES": optimizer_analysis_pb2.ANALYSIS_TYPE_UNUSED_INDEXES,
    "DUPLICATE_INDEXES": optimizer_analysis_pb2.ANALYSIS_TYPE_DUPLICATE_INDEXES,
}


def analyze_request(
    job: domain.Job, workload: bytes | None
) -> optimizer_service_pb2.AnalyzeRequest:
    """The optimizer request of an ANALYZE job: the stored workload on a retry (so it
    reaches the same suggestions), else the job's own queries, else pg_stat_statements."""
    request = optimizer_service_pb2.AnalyzeRequest(
        target=job.target,
        analysis_types=[_TO_OPTIMIZER_TYPES[t] for t in job.analysis_types],
    )
    if job.options:
        options = job_pb2.AnalysisOptions.FromString(job.options)
        request.options.storage_budget_bytes = options.storage_budget_bytes
        request.options.max_indexes = options.max_indexes
        request.options.max_queries = options.max_queries
        request.options.min_improvement_percent = options.min_improvement_percent
        request.options.max_index_columns = options.max_index_columns
        request.options.workload_coverage_percent = options.workload_coverage_percent
    if workload:
        request.workload.ParseFromString(workload)
        request.workload.source = optimizer_analysis_pb2.WORKLOAD_SOURCE_REPLAY
    elif job.queries:
        request.workload.source = optimizer_analysis_pb2.WORKLOAD_SOURCE_REQUEST
        request.workload.queries.extend(
            optimizer_analysis_pb2.WorkloadQuery(text=q, calls=1, weight=1.0) for q in job.queries
        )
    return request


def window_of(
    workload: optimizer_analysis_pb2.Workload,
) -> tuple[datetime | None, datetime | None]:
    window = workload.window
    start = window.start_time.ToDatetime(UTC) if window.HasField("start_time") else None
    end = window.end_time.ToDatetime(UTC) if window.HasField("end_time") else None
    return start, end


def insight_tuple(insight: optimizer_analysis_pb2.Insight) -> InsightTuple:
    return (
        _SEVERITY.get(insight.severity, "INFO"),
        insight.code,
        insight.message,
        insight.query_id,
    )


def suggestion_from_advice(
    advice: optimizer_advice_pb2.Advice, target: str, attempt: int
) -> domain.NewSuggestion:
    """A streamed piece of advice as a suggestion to store; the findings travel in
    `details` (a `pgsage.jobs.v1.Suggestion` holding only the immutable parts)."""
    details = suggestion_pb2.Suggestion(
        rationale=advice.rationale,
        tables=advice.tables,
        columns=[suggestion_pb2.ColumnRef(table=c.table, column=c.column) for c in advice.columns],
        estimated_size_bytes=advice.estimated_size_bytes,
        workload_improvement_percent=advice.workload_improvement_percent,
        marginal_improvement_percent=advice.marginal_improvement_percent,
        query_impacts=[
            suggestion_pb2.QueryImpact(
                query_id=q.query_id,
                text=q.text,
                cost_before=q.cost_before,
                cost_after=q.cost_after,
                weight=q.weight,
                parameter_mode=_PARAMETER_MODES.get(q.parameter_mode, ""),
            )
            for q in advice.query_impacts
        ],
        confidence=advice.confidence,
        risk=_RISKS.get(advice.risk, ""),
        risk_notes=advice.risk_notes,
        evidence=[
            suggestion_pb2.Evidence(
                query_id=e.query_id, plan_before=e.plan_before, plan_after=e.plan_after
            )
            for e in advice.evidence
        ],
        verified=advice.verified,
        verification=advice.verification,
    )
    return domain.NewSuggestion(
        kind=_ADVICE_KINDS[advice.kind],
        target=target,
        fingerprint=advice.fingerprint,
        sql=advice.sql,
        rollback_sql=advice.rollback_sql,
        title=advice.title,
        details=details.SerializeToString(),
        attempt=attempt,
    )


def summary_from_optimizer(
    summary: optimizer_advice_pb2.Summary | None, insights: list[InsightTuple]
) -> job_pb2.Summary:
    """The job's summary: the optimizer's (absent when the job was cancelled) plus the
    insights streamed before it."""
    message = job_pb2.Summary(
        insights=[
            job_pb2.Insight(severity=s, code=c, message=m, query_id=q) for s, c, m, q in insights
        ]
    )
    if summary is not None:
        message.workload_cost_before = summary.workload_cost_before
        message.workload_cost_after = summary.workload_cost_after
        message.workload_improvement_percent = summary.workload_improvement_percent
        message.added_bytes = summary.added_bytes
        message.freed_bytes = summary.freed_bytes
        message.recommendations.extend(summary.recommendations)
        message.workload_coverage_percent = summary.workload_coverage_percent
        message.queries_left_out = summary.queries_left_out
        message.incomplete_phases.extend(summary.incomplete_phases)
    return message
