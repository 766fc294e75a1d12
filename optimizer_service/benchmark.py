"""Benchmark: carry a suggestion out for real, away from production, and measure the
affected queries before and after.

Where: the target's `sandbox` target when one is configured, else — only when the target
opts in with `benchmark_sampling = true` — a scratch schema on the target holding a
consistent sample of the touched tables (`sandbox` module), where the statement and the
queries are rewritten to the copies. Neither: a FAILED_PRECONDITION that says how to
configure one.

What: a CREATE INDEX is built for real under a unique name (`pgsage_bench_...`); a DROP
INDEX is measured with the index dropped inside each measured run's transaction (rolled
back, so the index is never really gone). Each query (SELECT, INSERT, UPDATE or DELETE)
gets its `$n` values from the data (`samples`) and is measured by `measure`; the
regression rule is `regression.regressed`.

Cleanup always: the scratch schema, or the index built on the sandbox, is dropped in a
`finally` from a fresh session after the measuring one is closed or terminated — also when
the call fails or the caller cancels. Every statement run is streamed as a
StatementExecution.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import pglast
from pglast import ast

from optimizer_service import (
    changes,
    ddl,
    errors,
    guard,
    load,
    measure,
    sandbox,
    sqltext,
    targets,
)
from optimizer_service.model import Kind
from optimizer_service.settings import Settings, TargetConfig
from optimizer_service.streams import progress
from pgsage import errors as pgsage_errors
from pgsage import sqlcheck
from pgsage.optimizer.v1 import optimizer_service_pb2 as pb
from pgsage.sqlcheck.render import render

log = logging.getLogger(__name__)

DEFAULT_RUNS = 5
MAX_RUNS = 50
MAX_QUERIES = 50


@dataclass(frozen=True)
class Place:
    """Where a benchmark runs: a sandbox target, or a scratch schema on the target."""

    config: TargetConfig
    scratch: str | None
    percent: float

    @property
    def where(self) -> str:
        return self.config.name


@dataclass(frozen=True)
class Subject:
    """The index a benchmark is about, as named where it runs."""

    schema: str
    name: str
    build_sql: str  # empty for a drop: the index already exists there

    @property
    def qualified(self) -> str:
        return f"{sqlcheck.quote_ident(self.schema)}.{sqlcheck.quote_ident(self.name)}"


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
    runs = request.runs or DEFAULT_RUNS
    if not 1 <= runs <= MAX_RUNS:
        raise pgsage_errors.InvalidArgument("runs", f"runs must be between 1 and {MAX_RUNS}")
    if len(request.queries) > MAX_QUERIES:
        raise pgsage_errors.InvalidArgument("queries", f"at most {MAX_QUERIES} queries")
    for n, q in enumerate(request.queries):
        if not q.text.strip():
            raise pgsage_errors.InvalidArgument(f"queries[{n}].text", "a query needs its text")
        # Measured queries run on a sandbox or scratch copy: held to the rules of a caller's
        # query (the job service sends those stored with the suggestion; defence in depth).
        sqlcheck.check_query(q.text, field=f"queries[{n}].text")
    return Kind(request.kind), runs


async def benchmark(settings: Settings, request: pb.BenchmarkRequest, emit: ddl.Emit) -> None:
    """Measures the queries of `request` before and after its change (see the module doc)."""
    if not request.target:
        raise pgsage_errors.InvalidArgument("target", "target is required")
    target = targets.resolve(settings, request.target)
    place = _place(settings, target, request)
    kind, runs = _check(request)
    change = await changes.prepare(settings, target, request.sql, kind)
    if change.absent:
        raise pgsage_errors.FailedPrecondition(
            f"index {change.index} does not exist on target {target.name}; nothing to measure",
            reason="INDEX_NOT_FOUND",
            metadata={"index": change.index, "target": target.name},
        )
    built = f"pgsage_bench_{uuid.uuid4().hex[:8]}"
    emit(progress("prepare", 0, f"benchmark on {place.where}"))
    conn = await targets.connect(
        place.config,
        connect_timeout=settings.connect_timeout_seconds,
        waiting=lambda message: emit(progress("prepare", 0, message)),
    )
    pid = conn.get_server_pid()
    try:
        await load.wait_until_calm(conn, place.config, lambda why: emit(progress("paused", 0, why)))
        result = await _measure_all(
            conn, emit, place, change, request, runs, built, target.show_values
        )
    except asyncpg.PostgresError as exc:
        raise ddl.failure(exc, "benchmark", place.where, "benchmark") from None
    finally:
        await ddl.finish(
            _cleanup(settings, place, conn, pid, change, built, emit),
            f"benchmark cleanup on {place.where}",
        )
    emit(progress("done", 100, "benchmark finished"))
    emit(result)


@contextlib.asynccontextmanager
async def _writable(conn: asyncpg.Connection, emit: ddl.Emit, where: str) -> AsyncIterator[None]:
    """The measuring session is read-only but while pgsage's own build (the scratch copy,
    the benchmarked index) runs; the caller's queries never run in this window."""
    await ddl.run(conn, emit, where, "SET default_transaction_read_only = off")
    try:
        yield
    finally:
        with contextlib.suppress(asyncpg.PostgresError, asyncpg.InterfaceError):
            await conn.execute("SET default_transaction_read_only = on")


def _build_sql(change: changes.Change, name: str, place: Place) -> str:
    stmt = pglast.parse_sql(change.sql)[0].stmt
    assert isinstance(stmt, ast.IndexStmt)
    stmt.idxname = name
    if place.scratch is not None:
        stmt.concurrent = False  # nobody else uses the copy; a plain build is quicker
    return render(stmt)


async def _on_sandbox(
    conn: asyncpg.Connection, place: Place, change: changes.Change, built: str
) -> Subject:
    if not await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", change.table):
        raise pgsage_errors.FailedPrecondition(
            f"table {change.table} does not exist on sandbox {place.where}",
            reason="SANDBOX_TABLE_MISSING",
            metadata={"sandbox": place.where, "table": change.table},
        )
    if change.action == changes.Action.CREATE:
        return Subject(change.schema, built, _build_sql(change, built, place))
    subject = Subject(change.schema, change.index, "")
    if not await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", subject.qualified):
        raise pgsage_errors.FailedPrecondition(
            f"index {subject.qualified} does not exist on sandbox {place.where}",
            reason="SANDBOX_INDEX_MISSING",
            metadata={"sandbox": place.where, "index": subject.qualified},
        )
    return subject


async def _copied_index(conn: asyncpg.Connection, change: changes.Change, scratch: str) -> str:
    """The name of the scratch copy's index with the same definition as the dropped one."""
    original = f"{sqlcheck.quote_ident(change.schema)}.{sqlcheck.quote_ident(change.index)}"
    table = f"{sqlcheck.quote_ident(scratch)}.{sqlcheck.quote_ident(change.table.split('.', 1)[1])}"
    name = await conn.fetchval(
        """
        SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        WHERE i.indrelid = to_regclass($2)
          AND split_part(pg_get_indexdef(i.indexrelid), ' USING ', 2)
              = split_part(pg_get_indexdef(to_regclass($1)), ' USING ', 2)
        ORDER BY c.relname LIMIT 1
        """,
        original,
        table,
    )
    if name is None:
        raise pgsage_errors.FailedPrecondition(
            f"the scratch copy of {change.table} has no index like {change.index}",
            reason="SCRATCH_INDEX_MISSING",
            metadata={"index": change.index},
        )
    return str(name)


async def _measure_all(
    conn: asyncpg.Connection,
    emit: ddl.Emit,
    place: Place,
    change: changes.Change,
    request: pb.BenchmarkRequest,
    runs: int,
    built: str,
    show_values: bool,
) -> pb.BenchmarkResult:
    where = place.where
    texts = [q.text for q in request.queries]
    if place.scratch is None:
        environment = f"sandbox target {place.where}"
        subject = await _on_sandbox(conn, place, change, built)
    else:
        environment = f"sample {place.percent:g}% in schema {place.scratch} on {place.where}"
        emit(progress("sample", 5, environment))
        touched = [change.table] if change.table else []
        texts, mapping = await _copy(conn, emit, place, texts, touched)
        if change.action == changes.Action.CREATE:
            build = sandbox.rewrite(_build_sql(change, built, place), mapping, place.scratch)
            subject = Subject(place.scratch, built, build)
        else:
            subject = Subject(place.scratch, await _copied_index(conn, change, place.scratch), "")
    prepared = [
        await measure.prepare(conn, emit, where, q, t, place.scratch)
        for q, t in zip(request.queries, texts, strict=True)
    ]
    dropping = change.action == changes.Action.DROP
    await _side(conn, emit, where, prepared, runs, subject, "before", None)
    size = 0
    if subject.build_sql:
        emit(progress("build", 50, f"building {subject.name}"))
        async with _writable(conn, emit, where):
            await ddl.run(conn, emit, where, subject.build_sql)
    size = int(
        await conn.fetchval("SELECT pg_relation_size(to_regclass($1))", subject.qualified) or 0
    )
    await _side(
        conn, emit, where, prepared, runs, subject, "after", subject.qualified if dropping else None
    )
    queries = [measure.query_result(p, show_values) for p in prepared]
    return pb.BenchmarkResult(
        environment=environment,
        queries=queries,
        index_size_bytes=size,
        regression=any(q.regression for q in queries),
        index_name=subject.name,
    )


async def _side(
    conn: asyncpg.Connection,
    emit: ddl.Emit,
    where: str,
    prepared: list[measure.Prepared],
    runs: int,
    subject: Subject,
    side: str,
    drop: str | None,
) -> None:
    """Measures every query still in the running on one side (before or after)."""
    live = [p for p in prepared if not p.skipped]
    base = 10 if side == "before" else 55
    for n, p in enumerate(live):
        emit(progress(side, base + 40 * n / max(1, len(live)), f"query {p.query.query_id}"))
        got = await measure.measure(conn, emit, where, p, runs, subject.name, drop)
        if isinstance(got, str):
            p.skipped = got
        elif side == "before":
            p.before = got
        else:
            p.after = got


async def _copy(
    conn: asyncpg.Connection,
    emit: ddl.Emit,
    place: Place,
    texts: list[str],
    touched: list[str],
) -> tuple[list[str], dict[str, int]]:
    """Copies the touched tables into the scratch schema; returns the rewritten queries and
    the relation names that were copied."""
    assert place.scratch is not None
    names = [".".join(sqlcheck.quote_ident(p) for p in t.split(".", 1)) for t in touched]
    for text in texts:
        with contextlib.suppress(pglast.parser.ParseError):
            names += sandbox.relation_names(text)
    mapping = await sandbox.resolve(conn, list(dict.fromkeys(names)))
    runs_user_code = await guard.check_copy(conn, list(dict.fromkeys(mapping.values())))
    if runs_user_code:
        raise pgsage_errors.FailedPrecondition(
            f"a sampled copy on target {place.where} would run code of the target's users "
            f"while it is filled: {pgsage_errors.cap(runs_user_code, 200)}; benchmark on a "
            "sandbox target instead",
            reason="SAMPLE_RUNS_USER_CODE",
            metadata={"target": place.where},
        )
    async with _writable(conn, emit, place.where):
        await sandbox.copy_sample(
            conn,
            emit,
            place.where,
            place.scratch,
            list(dict.fromkeys(mapping.values())),
            place.percent,
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
            rewritten.append(text)  # refused as unparsable by `measure.prepare`
    return rewritten, mapping


async def _cleanup(
    settings: Settings,
    place: Place,
    conn: asyncpg.Connection,
    pid: int,
    change: changes.Change,
    built: str,
    emit: ddl.Emit,
) -> None:
    """Closes the measuring session, then drops the scratch schema or the sandbox index."""
    emit(progress("cleanup", 97, "removing what the benchmark built"))
    try:
        await targets.close(conn)
    except BaseException:  # `close` already terminated it; the cleanup goes on
        conn.terminate()
    async with targets.session(
        place.config,
        connect_timeout=settings.connect_timeout_seconds,
        read_only=False,
        place="extra",  # a cleanup never waits behind other work
    ) as clean:
        await ddl.stop_backend(clean, pid)
        if place.scratch is not None:
            sql = f"DROP SCHEMA IF EXISTS {sqlcheck.quote_ident(place.scratch)} CASCADE"
        elif change.action == changes.Action.CREATE:
            sql = sqltext.drop_sql(change.schema, built)
        else:
            return  # a drop is measured inside rolled-back transactions: nothing to undo
        await ddl.run(clean, emit, place.where, sql)
