"""One Analyze run: workload → statements → missing indexes → unused and duplicate indexes
→ summary, emitting events as it goes (the workload first, the summary last).

The run takes its sessions on the target (the what-if engine's, plus HypoPG helpers) from the
target's pool (`optimizer_service.pool`): a run that finishes normally gives them back, reset;
a failed or cancelled run terminates them at once, so none of them is ever reused. Nothing on
the target changes: HypoPG objects live in those sessions (and go with the reset), and the
transactional engine always rolls back. A run with nothing to plan and no index analysis
costs one statement on a pooled session: the capabilities read, which also probes it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg

from optimizer_service import (
    advice,
    candidates,
    catalog,
    drops,
    errors,
    explain,
    guard,
    parameters,
    plans,
    pool,
    targets,
    whatif,
)
from optimizer_service import workload as workloads
from optimizer_service.costs import CostModel
from optimizer_service.model import (
    Advice,
    Insight,
    Options,
    ParamMode,
    Source,
    Summary,
    Table,
    Workload,
)
from optimizer_service.progress import Tracker
from optimizer_service.selection import Limits, Selector
from optimizer_service.settings import TargetConfig

log = logging.getLogger(__name__)

Emit = Callable[[object], Awaitable[None]]

MISSING, UNUSED, DUPLICATE = 1, 2, 3
# HypoPG sessions per analysis (what-if plans run in parallel; the transactional engine
# always uses one, since its real indexes would lock each other out).
WHAT_IF_SESSIONS = 2
SYSTEM_SCHEMAS = workloads.SYSTEM_SCHEMAS


# Settings of an analysis session, made once when the pool opens it: generic plans for
# prepared `$n` statements, and (where the role may) no pg_stat_statements entries for the
# optimizer's own statements, so they do not pollute the workload of the next analysis.
SESSION_SETUP = (
    "SET plan_cache_mode = force_generic_plan"
    + targets.BATCH
    + "DO $$ BEGIN SET pg_stat_statements.track = 'none'; "
    "EXCEPTION WHEN OTHERS THEN NULL; END $$"
)


@dataclass
class Request:
    target: TargetConfig
    options: Options
    workload: Workload | None  # None: read pg_stat_statements


class Analysis:
    """Runs one analysis; `emit` receives Workload, Insight, Advice and Summary objects."""

    def __init__(self, request: Request, emit: Emit, tracker: Tracker, sessions: pool.Pool):
        self.req = request
        self.emit = emit
        self.tracker = tracker
        self.pool = sessions
        self.insights = 0
        self.sessions: list[asyncpg.Connection] = []

    async def insight(self, severity: int, code: str, message: str, query_id: str = "") -> None:
        self.insights += 1
        await self.emit(Insight(severity, code, message, query_id))

    async def run(self) -> None:
        conn, caps = await self.pool.acquire(targets.capabilities, waiting=self.tracker.tell)
        self.sessions.append(conn)
        ok = False
        try:
            await self._run(conn, caps)
            ok = True
        finally:
            # Only a normal end gives sessions back (the primary last, so it is the next
            # one taken); cancelled or failed: they must go now, whatever their state.
            pending = list(self.sessions)
            try:
                while ok and pending:
                    await self.pool.release(pending.pop(), targets.idle_reset_sql(caps))
            finally:
                for session in pending:
                    session.terminate()

    async def _helpers(self, caps: targets.Capabilities) -> list[whatif.Engine]:
        """Extra HypoPG sessions, so what-if plans are asked for in parallel: only as many
        as the target's session budget has free now (never waiting for one, so analyses
        cannot each hold a session while waiting for another)."""
        helpers: list[whatif.Engine] = []
        for _ in range(WHAT_IF_SESSIONS - 1):
            taken = await self.pool.try_acquire(targets.mark_working)
            if taken is None:
                break
            conn = taken[0]
            self.sessions.append(conn)
            helpers.append(whatif.HypoPGEngine(conn, caps.server_version_num))
        return helpers

    async def _workload(self, conn: asyncpg.Connection, caps: targets.Capabilities) -> Workload:
        if self.req.workload is not None:
            return self.req.workload
        if not caps.pg_stat_statements:
            return Workload(Source.PG_STAT_STATEMENTS, (), workloads.Window(None, None))
        return await workloads.from_pg_stat_statements(conn, self.req.options.max_queries)

    async def _run(self, conn: asyncpg.Connection, caps: targets.Capabilities) -> None:
        opts = self.req.options
        self.tracker.set("workload", 2, "reading the workload")
        workload = await self._workload(conn, caps)
        await self.emit(workload)
        if self.req.workload is None and not caps.pg_stat_statements:
            await self.insight(
                2,
                "PG_STAT_STATEMENTS_MISSING",
                "pg_stat_statements is not installed in the target database, so there is "
                "no workload to read; give queries in the request or CREATE EXTENSION it",
            )
        # Without a query to plan, no what-if engine is needed (its insight still is).
        engine = await self._engine(conn, caps, needed=bool(workload.queries))
        statements, writes = await self._statements(conn, engine, workload, caps)
        drop_analyses = opts.analyses & {UNUSED, DUPLICATE}
        existing = await catalog.indexes(conn) if statements or drop_analyses else []
        model = None
        if engine is not None:
            helpers = []
            if engine.name == "hypopg" and statements and MISSING in opts.analyses:
                helpers = await self._helpers(caps)
            model = CostModel(engine, statements, writes, helpers)
        created: list[Advice] = []
        base_cost = after_cost = 0.0
        if model is not None:
            base_cost = after_cost = await model.total(frozenset())
        if MISSING in opts.analyses and model is not None and statements:
            created, after_cost = await self._missing(conn, model, statements, existing)
        # The transactional engine's indexes are rolled back before drops are checked and
        # before the session goes back to the pool; HypoPG's go with the pool's reset, but
        # must not hide a drop's effect either.
        if engine is not None and (drop_analyses or engine.name == "transactional"):
            await engine.close()
        dropped: list[Advice] = []
        if drop_analyses:
            self.tracker.set("unused", 85, "looking for unused and duplicate indexes")
            finder = drops.DropFinder(
                conn=conn,
                target=self.req.target,
                caps=caps,
                statements=statements,
                existing=existing,
                window=workload.window,
                analyses=opts.analyses,
                engine_name=engine.name if engine else "",
            )
            dropped = await finder.find()
            if UNUSED in opts.analyses:
                await self._window_insight(await finder.stats_reset())
        for item in created + dropped:
            await self.emit(item)
        self.tracker.set("summary", 100, "done")
        await self.emit(
            Summary(
                fingerprints=tuple(a.fingerprint for a in created + dropped),
                cost_before=base_cost,
                cost_after=after_cost,
                improvement=advice.percent(base_cost - after_cost, base_cost),
                added_bytes=sum(a.size_bytes for a in created),
                freed_bytes=sum(a.size_bytes for a in dropped),
                queries_analyzed=len(statements),
                insights=self.insights,
                recommendations=advice.recommendations(created, dropped),
                what_if_calls=model.calls if model else 0,
                what_if_cache_hits=model.hits if model else 0,
            )
        )

    async def _window_insight(self, reset: datetime | None) -> None:
        """Says when "unused" rests on a short or unknown statistics window."""
        if reset is None:
            await self.insight(
                1,
                "STATISTICS_WINDOW_UNKNOWN",
                "the statistics have never been reset, so how long 'unused' indexes have gone "
                "unused is unknown; their drop advice has a low confidence",
            )
            return
        days = (datetime.now(UTC) - reset).total_seconds() / 86400
        if days < drops.SHORT_WINDOW.days:
            await self.insight(
                2,
                "SHORT_STATISTICS_WINDOW",
                f"the statistics cover only {days:.1f} days (since their last reset); an index "
                "used weekly or monthly may look unused, so drop advice has a lower confidence",
            )

    async def _engine(
        self, conn: asyncpg.Connection, caps: targets.Capabilities, *, needed: bool
    ) -> whatif.Engine | None:
        if self.req.target.what_if_engine == "transactional":
            if not needed:
                return None
            engine = whatif.TransactionalEngine(conn, caps.server_version_num)
            await engine.begin()
            return engine
        if not caps.hypopg_version:
            await self.insight(
                2,
                "HYPOPG_MISSING",
                "HypoPG is not installed in the target database, so missing-index analysis "
                "was skipped (CREATE EXTENSION hypopg, or configure the transactional engine "
                "on a sandbox); unused and duplicate indexes are still analysed",
            )
            return None
        # A session is new or was reset before it was pooled: it holds no HypoPG objects.
        return whatif.HypoPGEngine(conn, caps.server_version_num) if needed else None

    async def _statements(
        self,
        conn: asyncpg.Connection,
        engine: whatif.Engine | None,
        workload: Workload,
        caps: targets.Capabilities,
    ) -> tuple[list[explain.Statement], dict[Table, float]]:
        """Plans each workload query once; collects its facts and the write load."""
        opts = self.req.options
        statements: list[explain.Statement] = []
        writes: dict[Table, float] = {}
        total = max(len(workload.queries), 1)
        roots = await catalog.partition_roots(conn) if workload.queries else {}
        for n, query in enumerate(workload.queries[: opts.max_queries]):
            self.tracker.set("workload", 2 + 8 * n / total, f"planning query {n + 1} of {total}")
            kind = workloads.statement_kind(query.text)
            if kind in ("utility", "unparsable"):
                await self.insight(
                    1,
                    "QUERY_SKIPPED" if kind == "utility" else "QUERY_NOT_PARSABLE",
                    "not a SELECT, INSERT, UPDATE or DELETE statement; skipped"
                    if kind == "utility"
                    else "the statement could not be parsed; skipped",
                    query.query_id,
                )
                continue
            if workloads.reads_only_catalogs(query.text):
                await self.insight(
                    1, "QUERY_SKIPPED", "reads only system catalogs; skipped", query.query_id
                )
                continue
            # Planning folds constants and estimates with stable functions: a query that
            # could run a user's code is never planned.
            unsafe = await guard.check_query(conn, query.text)
            if unsafe:
                await self.insight(2, "QUERY_NOT_PLANNED", f"not planned: {unsafe}", query.query_id)
                continue
            count = workloads.param_count(query.text)
            mode, sql = ParamMode.LITERAL, query.text
            if count:
                mode, sql = await parameters.choose(conn, query.text, opts.parameter_mode)
            stmt = explain.Statement(query=query, sql=sql, mode=mode, params=count, kind=kind)
            try:
                try:
                    plan = await self._plan(conn, engine, stmt, caps.server_version_num)
                except asyncpg.PostgresError as exc:
                    if mode != ParamMode.PG_STATS or not errors.refused(exc):
                        raise
                    # A value from pg_stats can mistype a parameter (it arrives as text):
                    # the generic plan of the original statement still tells the truth.
                    stmt = explain.Statement(
                        query=query,
                        sql=query.text,
                        mode=ParamMode.GENERIC,
                        params=count,
                        kind=kind,
                    )
                    plan = await self._plan(conn, engine, stmt, caps.server_version_num)
            except (asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                if not errors.refused(exc):  # target gone, a timeout: the analysis stops
                    raise
                await self.insight(
                    2,
                    "QUERY_NOT_PLANNABLE",
                    "the query could not be planned: " + errors.from_target(exc, "plan"),
                    query.query_id,
                )
                continue
            stmt.plan = plan
            stmt.facts = plans.lift(plans.facts(plan), roots)
            if stmt.facts.tables and all(t.schema in SYSTEM_SCHEMAS for t in stmt.facts.tables):
                await self.insight(
                    1, "QUERY_SKIPPED", "reads only system catalogs; skipped", query.query_id
                )
                continue
            if stmt.facts.modified is not None:
                rows = query.rows or query.calls
                writes[stmt.facts.modified] = writes.get(stmt.facts.modified, 0.0) + rows
            if kind != "insert":
                statements.append(stmt)
        if workload.source == Source.PG_STAT_STATEMENTS and statements:
            self._table_writes(await catalog.table_writes(conn), workload, writes)
        return statements, writes

    @staticmethod
    async def _plan(
        conn: asyncpg.Connection, engine: object, stmt: explain.Statement, version: int
    ) -> object:
        if engine is not None:
            return await engine.plan(stmt, frozenset())  # type: ignore[attr-defined]
        return await explain.explain(conn, stmt, version)

    @staticmethod
    def _table_writes(
        table_writes: dict[Table, catalog.TableWrites],
        workload: Workload,
        writes: dict[Table, float],
    ) -> None:
        """Adds pg_stat_user_tables' modified rows, scaled to the workload's window.

        Its counters run since the database's statistics reset, the workload's since
        pg_stat_statements' reset; without both starts the two cannot be compared (a bulk
        load long ago is no write load now), so only the workload's own DML counts then.
        """
        start, end = workload.window.start, workload.window.end
        for table, tw in table_writes.items():
            if start is None or end is None or tw.since is None:
                continue
            table_window = (end - tw.since).total_seconds()
            if table_window <= 0:
                continue
            share = min(1.0, max(0.0, (end - start).total_seconds()) / table_window)
            writes[table] = max(writes.get(table, 0.0), tw.rows_modified * share)

    async def _missing(
        self,
        conn: asyncpg.Connection,
        model: CostModel,
        statements: list[explain.Statement],
        existing: list[catalog.ExistingIndex],
    ) -> tuple[list, float]:
        opts = self.req.options
        self.tracker.set("candidates", 10, "deriving candidate indexes")
        tables = sorted({t for s in statements if s.facts for t in s.facts.tables})
        stats = await catalog.column_stats(conn, tables)
        visible = await catalog.all_visible_fractions(conn, tables)
        cands = candidates.generate(statements, stats, existing, opts.max_index_columns, visible)
        ext = candidates.extension_columns(statements)
        await model.total(frozenset())
        limits = Limits(
            budget=opts.storage_budget_bytes,
            max_indexes=opts.max_indexes,
            min_fraction=opts.min_improvement_percent / 100,
            width=opts.max_index_columns,
        )
        self.tracker.set("selection", 15, f"{len(cands)} candidates; choosing for the workload")

        def report(message: str) -> None:
            self.tracker.set("selection", min(80.0, self.tracker.percent + 0.5), message)

        reorder = candidates.sound_order(statements, stats)
        selector = Selector(model, cands, ext, limits, report, reorder)
        chosen = await selector.select()
        self.tracker.set("advice", 82, f"describing {len(chosen)} indexes")
        built = await advice.for_creates(model, selector.sizes, chosen, self.req.target)
        return built, await model.total(frozenset(chosen))
