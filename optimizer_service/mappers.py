"""Proto ⇄ domain conversion for the optimizer, in one place."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf import timestamp_pb2

from optimizer_service.model import (
    Advice,
    Insight,
    Options,
    ParamMode,
    Progress,
    Query,
    Source,
    Summary,
    Window,
    Workload,
)
from pgsage import errors as pgsage_errors
from pgsage.optimizer.v1 import advice_pb2, analysis_pb2, optimizer_service_pb2

GIB = 1 << 30
DEFAULT_BUDGET = 2 * GIB
DEFAULT_MAX_INDEXES = 20
DEFAULT_MAX_QUERIES = 100
DEFAULT_MIN_IMPROVEMENT = 0.1
DEFAULT_MAX_COLUMNS = 3
DEFAULT_COVERAGE = 95.0
LIMIT_MAX_QUERIES = 1000
LIMIT_MAX_COLUMNS = 8
ALL_ANALYSES = frozenset({1, 2, 3})


def _ts(value: datetime | None) -> timestamp_pb2.Timestamp | None:
    if value is None:
        return None
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(value.astimezone(UTC))
    return ts


def options_from_proto(opts: analysis_pb2.AnalysisOptions, analyses: list[int]) -> Options:
    """Validates options, applying defaults to zero values."""
    checks = [
        ("options.storage_budget_bytes", opts.storage_budget_bytes < 0),
        ("options.max_indexes", opts.max_indexes < 0),
        ("options.max_queries", not 0 <= opts.max_queries <= LIMIT_MAX_QUERIES),
        ("options.min_improvement_percent", not 0 <= opts.min_improvement_percent <= 100),
        ("options.max_index_columns", not 0 <= opts.max_index_columns <= LIMIT_MAX_COLUMNS),
        ("options.workload_coverage_percent", not 0 <= opts.workload_coverage_percent <= 100),
    ]
    for field, bad in checks:
        if bad:
            raise pgsage_errors.InvalidArgument(field, f"{field} is out of range")
    unknown = [a for a in analyses if a not in ALL_ANALYSES]
    if unknown:
        raise pgsage_errors.InvalidArgument("analysis_types", f"unknown analysis types: {unknown}")
    return Options(
        storage_budget_bytes=opts.storage_budget_bytes or DEFAULT_BUDGET,
        max_indexes=opts.max_indexes or DEFAULT_MAX_INDEXES,
        max_queries=opts.max_queries or DEFAULT_MAX_QUERIES,
        min_improvement_percent=opts.min_improvement_percent or DEFAULT_MIN_IMPROVEMENT,
        max_index_columns=opts.max_index_columns or DEFAULT_MAX_COLUMNS,
        parameter_mode=ParamMode(opts.parameter_mode),
        analyses=frozenset(analyses) or ALL_ANALYSES,
        coverage_percent=opts.workload_coverage_percent or DEFAULT_COVERAGE,
    )


def workload_from_proto(w: analysis_pb2.Workload) -> tuple[list[Query], Source] | None:
    """The queries of a request's workload, or None when it asks for pg_stat_statements."""
    if not w.queries:
        return None
    queries = []
    for n, q in enumerate(w.queries):
        if not q.text.strip():
            raise pgsage_errors.InvalidArgument(
                f"workload.queries[{n}].text", "a workload query needs its text"
            )
        if q.weight < 0 or q.calls < 0:
            raise pgsage_errors.InvalidArgument(
                f"workload.queries[{n}]", "weight and calls cannot be negative"
            )
        queries.append(
            Query(
                query_id=q.query_id,
                text=q.text,
                calls=q.calls,
                total_time_ms=q.total_time_ms,
                weight=q.weight,
                rows=q.rows,
            )
        )
    source = Source.REPLAY if w.source == analysis_pb2.WORKLOAD_SOURCE_REPLAY else Source.REQUEST
    return queries, source


def workload_to_proto(w: Workload) -> analysis_pb2.Workload:
    window = analysis_pb2.StatisticsWindow(
        start_time=_ts(w.window.start), end_time=_ts(w.window.end)
    )
    return analysis_pb2.Workload(
        source=analysis_pb2.WorkloadSource.ValueType(w.source),
        queries=[
            analysis_pb2.WorkloadQuery(
                query_id=q.query_id,
                text=q.text,
                calls=q.calls,
                total_time_ms=q.total_time_ms,
                weight=q.weight,
                rows=q.rows,
            )
            for q in w.queries
        ],
        window=window,
        total_statements=w.total_statements,
        total_time_ms=w.total_time_ms,
    )


def replay_totals(w: analysis_pb2.Workload) -> tuple[int, float]:
    """The statement count and total time of a replayed workload's source."""
    return w.total_statements, w.total_time_ms


def replay_window(w: analysis_pb2.Workload) -> Window:
    start = w.window.start_time.ToDatetime(UTC) if w.window.HasField("start_time") else None
    end = w.window.end_time.ToDatetime(UTC) if w.window.HasField("end_time") else None
    return Window(start, end)


def advice_to_proto(a: Advice) -> advice_pb2.Advice:
    return advice_pb2.Advice(
        kind=advice_pb2.AdviceKind.ValueType(a.kind),
        title=a.title,
        rationale=a.rationale,
        tables=list(a.tables),
        columns=[advice_pb2.ColumnRef(table=t, column=c) for t, c in a.columns],
        sql=a.sql,
        rollback_sql=a.rollback_sql,
        estimated_size_bytes=a.size_bytes,
        workload_improvement_percent=a.workload_improvement,
        marginal_improvement_percent=a.marginal_improvement,
        query_impacts=[
            advice_pb2.QueryImpact(
                query_id=i.query_id,
                text=i.text,
                cost_before=i.cost_before,
                cost_after=i.cost_after,
                weight=i.weight,
                parameter_mode=analysis_pb2.ParameterMode.ValueType(i.mode),
            )
            for i in a.impacts
        ],
        confidence=a.confidence,
        risk=advice_pb2.Risk.ValueType(a.risk),
        risk_notes=a.risk_notes,
        evidence=[
            advice_pb2.Evidence(
                query_id=e.query_id, plan_before=e.plan_before, plan_after=e.plan_after
            )
            for e in a.evidence
        ],
        fingerprint=a.fingerprint,
        verified=a.verified,
        verification=a.verification,
        write_overhead=a.write_overhead,
    )


def summary_to_proto(s: Summary) -> advice_pb2.Summary:
    return advice_pb2.Summary(
        fingerprints=list(s.fingerprints),
        workload_cost_before=s.cost_before,
        workload_cost_after=s.cost_after,
        workload_improvement_percent=s.improvement,
        added_bytes=s.added_bytes,
        freed_bytes=s.freed_bytes,
        queries_analyzed=s.queries_analyzed,
        insights=s.insights,
        recommendations=list(s.recommendations),
        what_if_calls=s.what_if_calls,
        what_if_cache_hits=s.what_if_cache_hits,
        workload_coverage_percent=s.coverage_percent,
        queries_left_out=s.queries_left_out,
        incomplete_phases=list(s.incomplete_phases),
        max_indexes_reached=s.max_indexes_reached,
    )


def event_to_proto(event: object) -> optimizer_service_pb2.AnalyzeResponse:
    """One Analyze stream event for a domain event."""
    if isinstance(event, Workload):
        return optimizer_service_pb2.AnalyzeResponse(workload=workload_to_proto(event))
    if isinstance(event, Progress):
        return optimizer_service_pb2.AnalyzeResponse(
            progress=analysis_pb2.Progress(
                stage=event.stage, percent=event.percent, message=event.message
            )
        )
    if isinstance(event, Insight):
        return optimizer_service_pb2.AnalyzeResponse(
            insight=analysis_pb2.Insight(
                severity=analysis_pb2.Severity.ValueType(event.severity),
                code=event.code,
                message=event.message,
                query_id=event.query_id,
            )
        )
    if isinstance(event, Advice):
        return optimizer_service_pb2.AnalyzeResponse(advice=advice_to_proto(event))
    if isinstance(event, Summary):
        return optimizer_service_pb2.AnalyzeResponse(summary=summary_to_proto(event))
    raise TypeError(f"not an analysis event: {type(event).__name__}")
