"""Benchmark: build a suggested index for real, away from production, and measure the
affected queries before and after.

Where: the target's `sandbox` target when one is configured (the index is built there under
a unique name), else — only when the target opts in with `benchmark_sampling = true` — a
scratch schema on the target holding a consistent sample of the touched tables (`sandbox`
module), where the statement and the queries are rewritten to the copies. Neither: a
FAILED_PRECONDITION that says how to configure one.

What: each query (SELECT, INSERT, UPDATE or DELETE) gets its `$n` values from the data
(`samples`), then runs `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)` once to warm the cache and
`runs` times measured, before and after the build — inside a transaction that is rolled
back (READ ONLY for a SELECT), so a measured write changes nothing. Timings are the
executor's own (`Execution Time`); the regression rule is `regression.regressed`.

Cleanup always: the scratch schema, or the index on the sandbox, is dropped in a `finally`
from a fresh session after the measuring one is closed or terminated — also when the call
fails or the caller cancels. Every statement run is streamed as a StatementExecution.
"""

from __future__ import annotations

import contextlib
import json
import logging
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg
import pglast
from pglast import ast
from pglast.stream import RawStream

from optimizer_service import changes, ddl, errors, regression, samples, sandbox, sqltext, targets
from optimizer_service import workload as workloads
from optimizer_service.model import Kind
from optimizer_service.settings import Settings, TargetConfig
from optimizer_service.streams import progress
from pgsage import errors as pgsage_errors
from pgsage.optimizer.v1 import analysis_pb2
from pgsage.optimizer.v1 import optimizer_service_pb2 as pb

log = logging.getLogger(__name__)

DEFAULT_RUNS = 5
MAX_RUNS = 50
MAX_QUERIES = 50
MEASURED = {"select", "insert", "update", "delete"}


@dataclass(frozen=True)
class Place:
    """Where a benchmark runs: a sandbox target, or a scratch schema on the target."""

    config: TargetConfig
    scratch: str | None
    percent: float

    @property
    def where(self) -> str:
        return self.config.name


@dataclass
class Prepared:
    """One query made ready to measure, or the reason it will not be."""

    query: analysis_pb2.WorkloadQuery
    sql: str = ""
    kind: str = ""
    values: tuple[str, ...] = ()
    skipped: str = ""


def _place(settings: Settings, target: TargetConfig, request: pb.BenchmarkRequest) -> Place:
    percent = request.sample_percent or target.sample_percent
    if not 0 < percent <= 100:
        raise pgsage_errors.InvalidArgument(
            "sample_percent", "sample_percent must be above 0 and at most 100"
        )
    if target.sandbox:
        return Place(targets.resolve(settings, target.sandbox), None, percent)
    if target.benchmark_sampling:
        return Place(target, f"pgsage_bench_{uuid.uuid4().hex[:8]}", percent)
    raise errors.BenchmarkNotConfigured(target.name)


def _check(request: pb.BenchmarkRequest) -> tuple[Kind, int]:
    if request.kind not in Kind._value2member_map_:
        raise pgsage_errors.InvalidArgument("kind", "unknown advice kind")
    kind = Kind(request.kind)
    if kind not in (Kind.CREATE_INDEX, Kind.UNSPECIFIED):
        raise pgsage_errors.Unimplemented(
            "benchmarking a drop suggestion is not supported yet; only CREATE INDEX is",
            reason="BENCHMARK_KIND_UNSUPPORTED",
            metadata={"kind": kind.name},
        )
    runs = request.runs or DEFAULT_RUNS
    if not 1 <= runs <= MAX_RUNS:
        raise pgsage_errors.InvalidArgument("runs", f"runs must be between 1 and {MAX_RUNS}")
    if len(request.queries) > MAX_QUERIES:
        raise pgsage_errors.InvalidArgument("queries", f"at most {MAX_QUERIES} queries")
    for n, q in enumerate(request.queries):
        if not q.text.strip():
            raise pgsage_errors.InvalidArgument(f"queries[{n}].text", "a query needs its text")
    return kind, runs


async def benchmark(settings: Settings, request: pb.BenchmarkRequest, emit: ddl.Emit) -> None:
    """Measures the queries of `request` before and after its index (see the module doc)."""
    if not request.target:
        raise pgsage_errors.InvalidArgument("target", "target is required")
    target = targets.resolve(settings, request.target)
    place = _place(settings, target, request)
    kind, runs = _check(request)
    change = await changes.prepare(settings, target, request.sql, kind)
    if change.action != changes.Action.CREATE:
        raise errors.InvalidStatement("a benchmark builds an index: expected CREATE INDEX")
    name = f"pgsage_bench_{uuid.uuid4().hex[:8]}"
    emit(progress("prepare", 0, f"benchmark on {place.where}"))
    conn = await targets.connect(place.config, connect_timeout=settings.connect_timeout_seconds)
    pid = conn.get_server_pid()
    schema = place.scratch or change.schema
    try:
        result = await _measure_all(conn, emit, place, change, request, runs, name)
    except asyncpg.PostgresError as exc:
        raise ddl.failure(exc, "benchmark", place.where) from None
    finally:
        await ddl.finish(
            _cleanup(settings, place, conn, pid, schema, name, emit),
            f"benchmark cleanup on {place.where}",
        )
    emit(progress("done", 100, "benchmark finished"))
    emit(result)


def _index_sql(change: changes.Change, name: str, place: Place) -> str:
    stmt = pglast.parse_sql(change.sql)[0].stmt
    assert isinstance(stmt, ast.IndexStmt)
    stmt.idxname = name
    if place.scratch is not None:
        stmt.concurrent = False  # nobody else uses the copy; a plain build is quicker
    return RawStream()(stmt)


async def _measure_all(
    conn: asyncpg.Connection,
    emit: ddl.Emit,
    place: Place,
    change: changes.Change,
    request: pb.BenchmarkRequest,
    runs: int,
    name: str,
) -> pb.BenchmarkResult:
    where = place.where
    index_sql = _index_sql(change, name, place)
    texts = [q.text for q in request.queries]
    if place.scratch is None:
        environment = f"sandbox target {place.where}"
        if not await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", change.table):
            raise pgsage_errors.FailedPrecondition(
                f"table {change.table} does not exist on sandbox {place.where}",
                reason="SANDBOX_TABLE_MISSING",
                metadata={"sandbox": place.where, "table": change.table},
            )
    else:
        environment = f"sample {place.percent:g}% in schema {place.scratch} on {place.where}"
        emit(progress("sample", 5, environment))
        texts, index_sql = await _copy(conn, emit, place, index_sql, texts)
    prepared = [
        await _prepare(conn, emit, where, q, t) for q, t in zip(request.queries, texts, strict=True)
    ]
    live = [p for p in prepared if not p.skipped]
    before: dict[int, pb.Measurement] = {}
    after: dict[int, pb.Measurement] = {}
    for n, p in enumerate(live):
        emit(progress("before", 10 + 40 * n / max(1, len(live)), f"query {p.query.query_id}"))
        measured = await _measure(conn, emit, where, p, runs, name)
        if isinstance(measured, str):
            p.skipped = measured
        else:
            before[id(p)] = measured
    emit(progress("build", 50, f"building {name}"))
    await ddl.run(conn, emit, where, index_sql)
    schema = place.scratch or change.schema
    size = await conn.fetchval(
        "SELECT pg_relation_size(to_regclass($1))",
        f"{sqltext.quote_ident(schema)}.{sqltext.quote_ident(name)}",
    )
    for n, p in enumerate(live):
        if p.skipped:
            continue
        emit(progress("after", 55 + 40 * n / max(1, len(live)), f"query {p.query.query_id}"))
        measured = await _measure(conn, emit, where, p, runs, name)
        if isinstance(measured, str):
            p.skipped = measured
        else:
            after[id(p)] = measured
    return _result(environment, prepared, before, after, int(size or 0), name)


async def _copy(
    conn: asyncpg.Connection, emit: ddl.Emit, place: Place, index_sql: str, texts: list[str]
) -> tuple[list[str], str]:
    """Copies the touched tables into the scratch schema; returns the rewritten SQL."""
    assert place.scratch is not None
    names = sandbox.relation_names(index_sql)
    for text in texts:
        with contextlib.suppress(pglast.parser.ParseError):
            names += sandbox.relation_names(text)
    mapping = await sandbox.resolve(conn, list(dict.fromkeys(names)))
    await sandbox.copy_sample(
        conn, emit, place.where, place.scratch, list(dict.fromkeys(mapping.values())), place.percent
    )
    await ddl.run(
        conn,
        emit,
        place.where,
        f"SELECT set_config('search_path', {sqltext.quote_literal(place.scratch)} || ', ' "
        "|| current_setting('search_path'), false)",
        call=conn.fetchval,
    )
    rewritten = []
    for text in texts:
        try:
            rewritten.append(sandbox.rewrite(text, mapping, place.scratch))
        except pglast.parser.ParseError:
            rewritten.append(text)  # refused as unparsable by `_prepare`
    return rewritten, sandbox.rewrite(index_sql, mapping, place.scratch)


async def _prepare(
    conn: asyncpg.Connection, emit: ddl.Emit, where: str, query: Any, text: str
) -> Prepared:
    kind = workloads.statement_kind(text)
    if kind not in MEASURED:
        return Prepared(query, skipped=f"not measured: a {kind} statement")
    try:
        drawn = await samples.draw(conn, emit, where, text)
    except asyncpg.PostgresError as exc:
        return Prepared(query, skipped=f"no parameter values: {errors.scrub(str(exc))}")
    if drawn is None:
        return Prepared(query, skipped="no value could be drawn for a $n parameter")
    values, sql = drawn
    return Prepared(query, sql=sql, kind=kind, values=tuple(values))


def _uses(node: object, name: str) -> bool:
    if isinstance(node, dict):
        return node.get("Index Name") == name or any(_uses(v, name) for v in node.values())
    if isinstance(node, list):
        return any(_uses(v, name) for v in node)
    return False


async def _measure(
    conn: asyncpg.Connection, emit: ddl.Emit, where: str, p: Prepared, runs: int, name: str
) -> pb.Measurement | str:
    """`runs` measured EXPLAIN ANALYZE runs after one warm-up, or why it failed."""
    explain = f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {p.sql}"
    begin = "BEGIN READ ONLY" if p.kind == "select" else "BEGIN"
    plans: list[dict[str, Any]] = []
    for n in range(runs + 1):
        await conn.execute(begin)
        try:
            raw = await ddl.run(
                conn,
                emit,
                where,
                explain,
                call=conn.fetchval,
                shown=f"{begin}; {explain}; ROLLBACK",
            )
        except asyncpg.PostgresError as exc:
            return f"failed: {errors.scrub(str(exc))}"
        finally:
            with contextlib.suppress(asyncpg.PostgresError, asyncpg.InterfaceError):
                await conn.execute("ROLLBACK")
        if n > 0:
            plans.append(json.loads(str(raw))[0])
    timings = [float(plan["Execution Time"]) for plan in plans]
    stats = regression.summarize(timings)
    chosen = plans[regression.representative(timings)]
    top = chosen["Plan"]
    return pb.Measurement(
        median_ms=stats.median,
        spread_ms=stats.spread,
        min_ms=stats.minimum,
        max_ms=stats.maximum,
        runs=stats.runs,
        shared_hit_blocks=int(top.get("Shared Hit Blocks", 0)),
        shared_read_blocks=int(top.get("Shared Read Blocks", 0)),
        plan=json.dumps(chosen),
        index_used=_uses(chosen, name),
    )


def _stats(m: pb.Measurement) -> regression.Stats:
    return regression.Stats(m.median_ms, m.spread_ms, m.min_ms, m.max_ms, m.runs)


def _result(
    environment: str,
    prepared: list[Prepared],
    before: dict[int, pb.Measurement],
    after: dict[int, pb.Measurement],
    size: int,
    name: str,
) -> pb.BenchmarkResult:
    queries = []
    for p in prepared:
        q = pb.QueryBenchmark(
            query_id=p.query.query_id or workloads.text_id(p.query.text),
            text=p.query.text,
            parameter_values=list(p.values),
            skipped_reason=p.skipped,
        )
        if not p.skipped and id(p) in before and id(p) in after:
            q.before.CopyFrom(before[id(p)])
            q.after.CopyFrom(after[id(p)])
            q.regression = regression.regressed(_stats(q.before), _stats(q.after))
        queries.append(q)
    return pb.BenchmarkResult(
        environment=environment,
        queries=queries,
        index_size_bytes=size,
        regression=any(q.regression for q in queries),
        index_name=name,
    )


async def _cleanup(
    settings: Settings,
    place: Place,
    conn: asyncpg.Connection,
    pid: int,
    schema: str,
    name: str,
    emit: ddl.Emit,
) -> None:
    """Closes the measuring session, then drops the scratch schema or the sandbox index."""
    emit(progress("cleanup", 97, "removing what the benchmark built"))
    try:
        await targets.close(conn)
    except BaseException:  # `close` already terminated it; the cleanup goes on
        conn.terminate()
    async with targets.session(
        place.config, connect_timeout=settings.connect_timeout_seconds
    ) as clean:
        await ddl.stop_backend(clean, pid)
        if place.scratch is not None:
            sql = f"DROP SCHEMA IF EXISTS {sqltext.quote_ident(place.scratch)} CASCADE"
        else:
            sql = sqltext.drop_sql(schema, name)
        await ddl.run(clean, emit, place.where, sql)
