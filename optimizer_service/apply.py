"""Apply and Rollback: one validated index statement carried to a target, and back.

Only on a target whose configuration says `apply_allowed = true`. The statement is
checked again like ValidateStatement (`changes`), then run outside any transaction after
`SET lock_timeout` and `SET statement_timeout` (the request's values, else the target's).
Both calls are idempotent, because a job that takes over after a crash simply calls again:

- create: an index already there and VALID is success without a build; an INVALID one (a
  build that died) is dropped and built again;
- drop: an index already gone is success.

A failed or cancelled `CREATE INDEX CONCURRENTLY` leaves an INVALID index; it is dropped
(`DROP INDEX CONCURRENTLY IF EXISTS`) before the call ends — after a cancel, from a fresh
session once the building one is terminated. Every call ends by reading pg_class/pg_index
and streaming a ChangeResult (also before a failure's error status).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import asyncpg
from google.protobuf import duration_pb2

from optimizer_service import (
    buildwatch,
    changes,
    ddl,
    errors,
    guard,
    load,
    partitions,
    sqltext,
    targets,
)
from optimizer_service.model import Kind
from optimizer_service.settings import Settings, TargetConfig
from pgsage import errors as pgsage_errors
from pgsage import failpoints
from pgsage.optimizer.v1 import analysis_pb2
from pgsage.optimizer.v1 import optimizer_service_pb2 as pb

log = logging.getLogger(__name__)

MAX_TIMEOUT_MS = 24 * 3600 * 1000
DROP_KINDS = (Kind.DROP_UNUSED_INDEX, Kind.DROP_DUPLICATE_INDEX)


def _allowed(settings: Settings, name: str) -> TargetConfig:
    if not name:
        raise pgsage_errors.InvalidArgument("target", "target is required")
    target = targets.resolve(settings, name)
    if not target.apply_allowed:
        raise errors.ApplyNotAllowed(target.name)
    return target


def _kind(value: int) -> Kind:
    if value not in Kind._value2member_map_:
        raise pgsage_errors.InvalidArgument("kind", "unknown advice kind")
    return Kind(value)


def _ms(
    field: str, given: duration_pb2.Duration, present: bool, default: int, lowest: int = 1
) -> int:
    if not present:
        return default
    ms = given.ToMilliseconds()
    if not lowest <= ms <= MAX_TIMEOUT_MS:
        low = "0 (none)" if lowest == 0 else "1 ms"
        raise pgsage_errors.InvalidArgument(field, f"{field} must be between {low} and 24 h")
    return ms


def timeouts(target: TargetConfig, request: pb.ApplyRequest | pb.RollbackRequest) -> ddl.Timeouts:
    """The request's timeouts, else the target's: `lock_timeout` for every lock wait,
    `statement_timeout` for the change statement itself (the build; the target's
    `build_timeout_ms`, 0 for none), the target's `statement_timeout_ms` for the rest."""
    return ddl.Timeouts(
        lock_ms=_ms(
            "lock_timeout",
            request.lock_timeout,
            request.HasField("lock_timeout"),
            target.lock_timeout_ms,
        ),
        statement_ms=target.statement_timeout_ms,
        build_ms=_ms(
            "statement_timeout",
            request.statement_timeout,
            request.HasField("statement_timeout"),
            target.build_timeout_ms,
            lowest=0,
        ),
    )


async def apply(settings: Settings, request: pb.ApplyRequest, emit: ddl.Emit) -> None:
    """Runs an approved suggestion's statement (see the module doc)."""
    target = _allowed(settings, request.target)
    kind = _kind(request.kind)
    t = timeouts(target, request)
    change = await changes.prepare(settings, target, request.sql, kind, field="sql")
    await _carry_out(settings, target, change, t, emit, Expected(), "apply")


async def rollback(settings: Settings, request: pb.RollbackRequest, emit: ddl.Emit) -> None:
    """Runs the rollback statement of an applied suggestion: the inverse kind of statement."""
    target = _allowed(settings, request.target)
    kind = _kind(request.kind)
    t = timeouts(target, request)
    # Undoing a create is a drop, undoing a drop is a create.
    expected = (
        Kind.DROP_UNUSED_INDEX
        if kind == Kind.CREATE_INDEX
        else Kind.CREATE_INDEX
        if kind in DROP_KINDS
        else Kind.UNSPECIFIED
    )
    sql, field = request.rollback_sql, "rollback_sql"
    if expected == Kind.CREATE_INDEX and request.expected_index_definition:
        # Undoing a drop recreates exactly the definition the Apply dropped.
        sql = sqltext.concurrent_indexdef(request.expected_index_definition)
        field = "expected_index_definition"
    change = await changes.prepare(settings, target, sql, expected, field=field)
    must = Expected(
        request.expected_index_oid, request.expected_index_definition, undoing_create=True
    )
    await _carry_out(
        settings, target, change, t, emit, must if kind == Kind.CREATE_INDEX else None, "rollback"
    )


@dataclass(frozen=True)
class Expected:
    """What the index a rollback drops must be: the one pgsage's Apply built."""

    oid: int = 0
    definition: str = ""
    undoing_create: bool = False

    def check(self, index: str, state: ddl.IndexState) -> None:
        """FAILED_PRECONDITION (nothing runs) unless `state` is the index Apply built."""
        if not self.undoing_create:
            return
        why = ""
        if not self.oid or not self.definition:
            why = "no APPLY of pgsage recorded building it (no OID and definition given)"
        elif state.oid != self.oid:
            why = f"it is not the index pgsage built (OID {state.oid}, not {self.oid})"
        elif state.definition != self.definition:
            why = "its definition is not the one pgsage built"
        if why:
            raise pgsage_errors.FailedPrecondition(
                f"index {pgsage_errors.cap(index, 80)} is not dropped: {why}; drop it "
                "yourself if that is intended",
                reason="INDEX_NOT_BUILT_BY_PGSAGE",
                metadata={"index": index, "expected_oid": self.oid, "found_oid": state.oid},
            )


async def _carry_out(
    settings: Settings,
    target: TargetConfig,
    change: changes.Change,
    t: ddl.Timeouts,
    emit: ddl.Emit,
    expected: Expected | None,
    phase: str,
) -> None:
    where = target.name
    if change.absent:
        log.info("index %s already gone on %s; nothing to drop", change.index, where)
        emit(ddl.change_result(change.index, ddl.ABSENT, already=True))
        return
    async with targets.session(
        target,
        connect_timeout=settings.connect_timeout_seconds,
        read_only=False,
        waiting=lambda message: emit(analysis_pb2.Progress(stage="waiting", message=message)),
    ) as conn:
        state = await ddl.index_state(conn, change.schema, change.index)
        if state.exists and state.table != change.table:
            raise errors.IndexNameTaken(change.index, change.table)
        creating = change.action == changes.Action.CREATE
        valid = state.exists and state.valid
        if creating and valid and guard.body(state.definition) != change.resolved:
            raise errors.IndexNameTaken(change.index, change.table)
        if not creating and state.exists and expected is not None:
            expected.check(f"{change.schema}.{change.index}", state)
        dropped = state.definition if not creating else ""
        if creating and state.exists and state.valid:
            emit(ddl.change_result(change.index, state, already=True))
            return
        # On a partitioned table the index is a tree, built partition by partition (and
        # resumed, not dropped, when an earlier attempt left it half built).
        tree = (
            await partitions.is_partitioned_table(conn, change.table)
            if creating
            else state.exists
            and await partitions.is_partitioned_index(conn, change.schema, change.index)
        )
        if tree and not creating:
            await load.wait_until_calm(
                conn, target, lambda why: emit(analysis_pb2.Progress(stage="paused", message=why))
            )
            state = await partitions.drop_all(
                conn, emit, where, change.schema, change.index, state.table, t
            )
            emit(ddl.change_result(change.index, state, dropped=dropped))
            return
        if creating and state.exists and not tree:
            state = await ddl.drop_invalid(conn, emit, where, change.schema, change.index, t)
            if state.exists:
                emit(ddl.change_result(change.index, state))
                raise errors.StatementFailed(
                    "DROP INDEX CONCURRENTLY", where, "an invalid index could not be dropped"
                )
        await load.wait_until_calm(
            conn, target, lambda why: emit(analysis_pb2.Progress(stage="paused", message=why))
        )
        pid = conn.get_server_pid()
        build: asyncio.Future[object]
        try:
            if tree:
                built = partitions.build(
                    conn, emit, target, change.sql, change.schema, change.index, change.table, t,
                    settings.connect_timeout_seconds,
                )  # fmt: skip
                build = asyncio.ensure_future(built)
            else:
                await ddl.set_timeouts(conn, emit, where, t, build=True)
                build = asyncio.ensure_future(ddl.run(conn, emit, where, change.sql))
            try:
                if failpoints.enabled():
                    await _building(settings, target, pid, build)
                await failpoints.hit("optimizer_during_build")
                if tree:  # it watches each partition's build itself
                    await build
                else:
                    async with buildwatch.watching(
                        target, pid, ddl.label(change.sql), emit, settings.connect_timeout_seconds
                    ):
                        await build
            finally:
                if not build.done():
                    build.cancel()
        except asyncpg.PostgresError as exc:
            error = ddl.failure(exc, change.sql, where, phase)
            if errors.kind_of(exc) is errors.Kind.STATEMENT_TIMEOUT:
                error = errors.BuildTimeout(ddl.label(change.sql), where, t.build_ms)
            if tree:
                state = await partitions.drop_all(
                    conn, emit, where, change.schema, change.index, change.table, t
                )
            else:
                state = await ddl.drop_invalid(conn, emit, where, change.schema, change.index, t)
            emit(ddl.change_result(change.index, state))
            raise error from None
        except BaseException:
            await ddl.finish(
                _clean_after_cancel(settings, target, pid, change, t, emit, tree),
                f"cleanup of {change.index} on {where}",
            )
            raise
        state = await ddl.index_state(conn, change.schema, change.index)
        emit(ddl.change_result(change.index, state, dropped=dropped))


async def _building(
    settings: Settings, target: TargetConfig, pid: int, build: asyncio.Future[object]
) -> None:
    """Waits (bounded) until session `pid` is building an index, or the build is over:
    crash tests kill the process at the failpoint after this, mid-build. Tests only."""
    async with targets.session(
        target, connect_timeout=settings.connect_timeout_seconds, place="extra"
    ) as conn:
        for _ in range(100):
            if build.done() or await conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM pg_stat_progress_create_index WHERE pid = $1)", pid
            ):
                return
            await asyncio.sleep(0.05)


async def _clean_after_cancel(
    settings: Settings,
    target: TargetConfig,
    pid: int,
    change: changes.Change,
    t: ddl.Timeouts,
    emit: ddl.Emit,
    tree: bool = False,
) -> None:
    """After a cancel: stop the session that ran the statement, then drop what it left.

    A build cancelled mid-way leaves an INVALID index; one that finished just as the cancel
    arrived (its lock freed a moment before) leaves a valid index nobody asked for any more.
    Both are dropped: a cancelled CREATE leaves the target as it was before the call (the
    build only ran when the index was absent, so it is this call's own)."""
    log.warning("%s on %s cancelled; cleaning up", change.index, target.name)
    creating = change.action == changes.Action.CREATE
    async with targets.session(
        target, connect_timeout=settings.connect_timeout_seconds, read_only=False, place="extra"
    ) as conn:
        await ddl.stop_backend(conn, pid)
        if tree and creating:
            state = await partitions.drop_all(
                conn, emit, target.name, change.schema, change.index, change.table, t
            )
        else:
            state = await ddl.drop_invalid(
                conn, emit, target.name, change.schema, change.index, t, also_valid=creating
            )
        emit(ddl.change_result(change.index, state))
