"""Running statements on a target for Benchmark, Apply and Rollback, each one reported.

Every statement is streamed as a `StatementExecution` twice: STARTED before it runs, then
SUCCEEDED or FAILED (the job service writes the intent to its audit trail before the
outcome). Driver errors become domain errors here, in one place: a `lock_timeout` is
ABORTED (retry later), a `statement_timeout` DEADLINE_EXCEEDED, anything else
FAILED_PRECONDITION, each with the scrubbed PostgreSQL message.

The catalog is the truth about an index: `index_state` reads pg_class/pg_index, and
`drop_invalid` removes what a failed or cancelled concurrent build (or drop) left behind.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg
from google.protobuf import timestamp_pb2

from optimizer_service import errors, sqltext, targets
from pgsage import errors as pgsage_errors
from pgsage.optimizer.v1 import optimizer_service_pb2 as pb

log = logging.getLogger(__name__)

Emit = Callable[[object], None]
Phase = pb.StatementExecution.Phase

LOCK_NOT_AVAILABLE = "55P03"
QUERY_CANCELED = "57014"


@dataclass(frozen=True)
class Timeouts:
    """The timeouts of one APPLY or ROLLBACK, in ms: `lock_ms` for every lock it waits for,
    `statement_ms` for its short statements (catalog reads, dropping an INVALID index), and
    `build_ms` for the change itself (`CREATE`/`DROP INDEX CONCURRENTLY`; 0: none, a build
    of a large table may take hours)."""

    lock_ms: int
    statement_ms: int
    build_ms: int = 0


@dataclass(frozen=True)
class IndexState:
    """What the catalog says about one index name."""

    exists: bool
    valid: bool
    size_bytes: int
    table: str  # schema.table it is on, empty when it does not exist
    definition: str = ""  # pg_get_indexdef
    oid: int = 0


ABSENT = IndexState(exists=False, valid=False, size_bytes=0, table="")


def _now() -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.GetCurrentTime()
    return ts


def statement(where: str, sql: str, phase: int, error: str = "") -> pb.StatementExecution:
    return pb.StatementExecution(
        target=where, sql=sql, phase=Phase.ValueType(phase), error=error, time=_now()
    )


def label(sql: str) -> str:
    """The first words of a statement, for error messages (never its values)."""
    words = sql.split()
    return " ".join(words[:4]) if words else "statement"


def failure(exc: BaseException, sql: str, where: str, phase: str = "") -> pgsage_errors.PgsageError:
    """The domain error for a statement PostgreSQL refused or cut short (`errors.to_domain`)."""
    return errors.to_domain(exc, what=label(sql), target=where, phase=phase)


async def run(
    conn: asyncpg.Connection,
    emit: Emit,
    where: str,
    sql: str,
    *,
    call: Callable[[str], Awaitable[object]] | None = None,
    shown: str | None = None,
) -> object:
    """Runs `sql` on `conn` (with `call`, default `conn.execute`), reported before and after.

    `shown` replaces the text reported (e.g. without a long EXPLAIN prefix); a PostgreSQL
    error is reported FAILED and re-raised as is, a cancellation is reported FAILED too.
    """
    text = shown or sql
    emit(statement(where, text, Phase.STARTED))
    try:
        result = await (call or conn.execute)(sql)
    except errors.DRIVER_ERRORS as exc:
        emit(statement(where, text, Phase.FAILED, errors.from_target(exc, label(text))))
        raise
    except asyncio.CancelledError:
        emit(statement(where, text, Phase.FAILED, "cancelled by the caller"))
        raise
    emit(statement(where, text, Phase.SUCCEEDED))
    return result


async def set_timeouts(
    conn: asyncpg.Connection, emit: Emit, where: str, t: Timeouts, *, build: bool = False
) -> None:
    """`SET lock_timeout` and `SET statement_timeout` for this session, each reported: the
    build timeout before the change itself (`build`), else the short statements' one."""
    await run(conn, emit, where, f"SET lock_timeout = {int(t.lock_ms)}")
    limit = t.build_ms if build else t.statement_ms
    await run(conn, emit, where, f"SET statement_timeout = {int(limit)}")


async def index_state(conn: asyncpg.Connection, schema: str, name: str) -> IndexState:
    """Whether index `schema.name` exists, is valid, its size and its table."""
    row = await conn.fetchrow(
        """
        SELECT c.oid::bigint AS oid, ix.indisvalid AS valid,
               GREATEST(pg_relation_size(c.oid), (SELECT COALESCE(sum(pg_relation_size(relid)), 0)
                FROM pg_partition_tree(c.oid))) AS size,
               tn.nspname || '.' || t.relname AS table, pg_get_indexdef(c.oid) AS def
        FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_index ix ON ix.indexrelid = c.oid
        JOIN pg_class t ON t.oid = ix.indrelid
        JOIN pg_namespace tn ON tn.oid = t.relnamespace
        WHERE n.nspname = $1 AND c.relname = $2
        """,
        schema,
        name,
    )
    if row is None:
        return ABSENT
    return IndexState(
        True, bool(row["valid"]), int(row["size"]), row["table"], row["def"], int(row["oid"])
    )


def change_result(
    name: str, state: IndexState, *, already: bool = False, dropped: str = ""
) -> pb.ChangeResult:
    """What the catalog holds now; `dropped` is the definition of an index just dropped."""
    return pb.ChangeResult(
        index_name=name,
        index_exists=state.exists,
        index_valid=state.valid,
        index_size_bytes=state.size_bytes,
        already_in_place=already,
        index_oid=state.oid if state.exists else 0,
        index_definition=state.definition if state.exists else dropped,
    )


async def drop_invalid(
    conn: asyncpg.Connection,
    emit: Emit,
    where: str,
    schema: str,
    name: str,
    t: Timeouts,
    *,
    also_valid: bool = False,
) -> IndexState:
    """Drops index `schema.name` if the catalog holds it INVALID (or at all, `also_valid`:
    a build this call made that finished as its cancel arrived); returns the state after.

    A concurrent drop waits for every transaction using the table, so this waits up to the
    statement timeout for locks too (it blocks no reader or writer meanwhile). When it still
    cannot finish, the state says so and a retry cleans up.
    """
    state = await index_state(conn, schema, name)
    if not state.exists or (state.valid and not also_valid):
        return state
    log.warning(
        "dropping %s index %s.%s on %s", "valid" if state.valid else "invalid", schema, name, where
    )
    wait = Timeouts(lock_ms=t.statement_ms, statement_ms=t.statement_ms)
    try:
        await set_timeouts(conn, emit, where, wait)
        await run(conn, emit, where, sqltext.drop_sql(schema, name))
    except asyncpg.PostgresError as exc:
        if errors.kind_of(exc) is errors.Kind.GONE:
            raise
        # A refusal or a timeout: the state read below says the index is still there.
        log.warning(
            "invalid index %s.%s on %s not dropped: %s",
            schema,
            name,
            where,
            errors.from_target(exc),
        )
    return await index_state(conn, schema, name)


async def finish(work: Awaitable[object], what: str) -> None:
    """Runs cleanup `work` to its end even while the caller is being cancelled.

    Errors are logged, never raised: a cleanup must not hide the error that caused it.
    """
    task = asyncio.ensure_future(work)
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            continue
        except Exception:
            break
    failed = None if task.cancelled() else task.exception()
    if failed is not None:
        log.warning("%s did not finish: %s", what, errors.from_target(failed, what))


async def stop_backend(conn: asyncpg.Connection, pid: int, rounds: int = 50) -> None:
    """Terminates backend `pid` (a cancelled call's session) and waits until it is gone."""
    # the session at work, with or without a job in its name (`targets.working_name`)
    mine = (
        "SELECT {} FROM pg_stat_activity WHERE pid = $1"
        " AND split_part(application_name, ' jobs/', 1) = $2"
    )
    await conn.execute(mine.format("pg_terminate_backend(pid)"), pid, targets.APPLICATION_NAME)
    for _ in range(rounds):
        if await conn.fetchval(mine.format("count(*)"), pid, targets.APPLICATION_NAME) == 0:
            return
        await asyncio.sleep(0.1)
