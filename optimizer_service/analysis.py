"""One Analyze run: workload → statements → missing indexes → unused and duplicate indexes
→ summary, emitting events as it goes (the workload first, the summary last).

The run takes its sessions on the target (the what-if engine's, plus HypoPG helpers) from the
target's pool (`optimizer_service.pool`): a run that finishes normally gives them back, reset;
a failed or cancelled run terminates them at once, so none of them is ever reused. Nothing on
the target changes: HypoPG objects live in those sessions (and go with the reset), and the
transactional engine always rolls back. A run with nothing to plan and no index analysis
costs one statement on a pooled session: the capabilities read, which also probes it.

A transactional analysis holds its target's lock (`whatif.target_lock`) from its engine's
start to its end, so analyses of one target do not time each other out. A phase a lock or
statement timeout cut short is said (`findings`: PHASE_INCOMPLETE, PHASE_FAILED) and listed
in the summary's incomplete phases; only a workload phase that planned nothing fails the run.
"""

from __future__ import annotations

import asyncio
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
    findings,
    planning,
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
    Source,
    Summary,
    Workload,
)
from optimizer_service.progress import Tracker
from optimizer_service.selection import Limits, Selector
from optimizer_service.settings import TargetConfig
from pgsage import tracing

log = logging.getLogger(__name__)

Emit = Callable[[object], Awaitable[None]]

MISSING, UNUSED, DUPLICATE = 1, 2, 3
TIMEOUTS = (errors.Kind.LOCK_TIMEOUT, errors.Kind.STATEMENT_TIMEOUT)
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
        self.incomplete: list[str] = []  # phases that could not run completely
        self.notes: list[str] = []  # summary lines about the run's own limits
        self.held: asyncio.Lock | None = None  # the target's transactional what-if lock
        self.max_indexes_reached = False

    async def insight(self, severity: int, code: str, message: str, query_id: str = "") -> None:
        self.insights += 1
        await self.emit(Insight(severity, code, message, query_id))

    async def tell(self, found: Insight) -> None:
        await self.insight(found.severity, found.code, found.message, found.query_id)

    def _unlock(self) -> None:
        if self.held is not None:
            self.held.release()
            self.held = None

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
                self._unlock()

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
            opts = self.req.options
            return workloads.with_totals(self.req.workload, opts.coverage_percent, opts.max_queries)
        if not caps.pg_stat_statements:
            return Workload(Source.PG_STAT_STATEMENTS, (), workloads.Window(None, None))
        opts = self.req.options
        return await workloads.from_pg_stat_statements(
            conn, opts.max_queries, opts.coverage_percent
        )

    async def _run(self, conn: asyncpg.Connection, caps: targets.Capabilities) -> None:
        opts = self.req.options
        self.tracker.set("workload", 2, "reading the workload")
        with tracing.span("analysis.workload"):
            workload = await self._workload(conn, caps)
        await self.emit(workload)
        covered = workloads.coverage(workload, opts.coverage_percent, opts.max_queries)
        if covered is not None:
            await self.tell(findings.coverage_insight(covered, opts.max_queries))
            self.notes.append(findings.coverage_line(covered))
        if self.req.workload is None and not caps.pg_stat_statements:
            await self.insight(
                2,
                "PG_STAT_STATEMENTS_MISSING",
                "pg_stat_statements is not installed in the target database, so there is "
                "no workload to read; give queries in the request or CREATE EXTENSION it",
            )
        # Without a query to plan, no what-if engine is needed (its insight still is).
        engine = await self._engine(conn, caps, needed=bool(workload.queries))
        with tracing.span("analysis.plan", **{"pgsage.queries": len(workload.queries)}):
            statements, writes = await self._statements(conn, engine, workload, caps)
        self.tracker.set("workload", 10, f"{len(statements)} statements planned")
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
        try:
            if model is not None:
                base_cost = after_cost = await model.total(frozenset())
            if MISSING in opts.analyses and model is not None and statements:
                with tracing.span("analysis.what-if"):
                    created, after_cost = await self._missing(conn, model, statements, existing)
        except errors.DRIVER_ERRORS as exc:
            # A lock or statement timeout stopped the what-if search: said as such (its
            # plans went with their savepoints), and the drop checks still run.
            if errors.kind_of(exc) not in TIMEOUTS:
                raise
            created, after_cost = [], base_cost
            self.incomplete.append("what-if")
            await self.tell(findings.phase_failed("what-if", errors.from_target(exc, "what-if")))
        if isinstance(engine, whatif.TransactionalEngine) and engine.timed_out:
            await self._builds_timed_out(engine)
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
            with tracing.span("analysis.drops"):
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
                recommendations=self._lines(advice.recommendations(created, dropped)),
                what_if_calls=model.calls if model else 0,
                what_if_cache_hits=model.hits if model else 0,
                coverage_percent=covered.percent if covered else 0.0,
                queries_left_out=covered.left_out if covered else 0,
                incomplete_phases=tuple(self.incomplete),
                max_indexes_reached=self.max_indexes_reached,
            )
        )

    def _lines(self, advised: tuple[str, ...]) -> tuple[str, ...]:
        """The summary's recommendations: an incomplete run says so first, its limits
        (coverage, max_indexes) come after the advice."""
        first = [findings.phases_line(self.incomplete)] if self.incomplete else []
        return (*first, *advised, *self.notes)

    async def _builds_timed_out(self, engine: whatif.TransactionalEngine) -> None:
        tables = sorted({str(i.table) for i in engine.timed_out})
        cause = sorted(set(engine.timed_out.values()))[0]
        if "what-if" not in self.incomplete:
            self.incomplete.append("what-if")
        await self.tell(
            findings.phase_incomplete(
                "what-if",
                f"{len(engine.timed_out)} candidate index(es) on {', '.join(tables)} could "
                "not be built",
                cause,
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
            # One analysis's real indexes at a time per target (see `whatif.target_lock`),
            # held to the end of the run: a drop is verified by a rolled-back DROP INDEX.
            lock = whatif.target_lock(self.req.target.name)
            if lock.locked():
                self.tracker.tell("waiting for another analysis's what-if work on this target")
            await lock.acquire()
            self.held = lock
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
    ) -> tuple[list[explain.Statement], dict]:
        """Plans each workload query once (`planning`); one insight for those left out."""

        def progress(fraction: float, message: str) -> None:
            self.tracker.set("workload", 2 + 8 * fraction, message)

        planner = planning.Planner(
            conn, engine, self.req.options, caps.server_version_num, progress
        )
        planned = await planner.plan_all(workload)
        skipped = planning.skipped_insight(planned)
        if skipped is not None:
            await self.tell(skipped)
        if planned.first_timeout is not None and not planned.statements:
            raise planned.first_timeout  # the phase could not run at all: the RPC fails
        if planned.timeouts:
            self.incomplete.append("workload")
            causes = ", ".join(sorted(planned.timeouts))
            count = sum(planned.timeouts.values())
            await self.tell(
                findings.phase_incomplete(
                    "workload", f"{count} statement(s) could not be planned in time", causes
                )
            )
        return planned.statements, planned.writes

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
        # Pure CPU over every statement's facts: off the event loop.
        cands = await asyncio.to_thread(
            candidates.generate, statements, stats, existing, opts.max_index_columns, visible
        )
        ext = candidates.extension_columns(statements)
        await model.total(frozenset())
        limits = Limits(
            budget=opts.storage_budget_bytes,
            max_indexes=opts.max_indexes,
            min_fraction=opts.min_improvement_percent / 100,
            width=opts.max_index_columns,
        )
        self.tracker.set("selection", 15, f"{len(cands)} candidates; choosing for the workload")

        def report(message: str, fraction: float) -> None:
            self.tracker.set("selection", 15 + 65 * fraction, message)

        reorder = candidates.sound_order(statements, stats)
        selector = Selector(model, cands, ext, limits, report, reorder)
        chosen = await selector.select()
        more = await selector.held_back(chosen)
        if more:
            self.max_indexes_reached = True
            used = selector.used_bytes(chosen)
            await self.tell(
                findings.max_indexes_insight(
                    opts.max_indexes,
                    used,
                    opts.storage_budget_bytes,
                    more,
                    opts.min_improvement_percent,
                )
            )
            self.notes.append(findings.max_indexes_line(opts.max_indexes, more))
        self.tracker.set("advice", 82, f"describing {len(chosen)} indexes")
        built = await advice.for_creates(model, selector.sizes, chosen, self.req.target)
        return built, await model.total(frozenset(chosen))
