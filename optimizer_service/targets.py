"""Connections to target databases, and what each target can do.

Every connection is the optimizer's own session, with the target's `statement_timeout` and
`lock_timeout`. Benchmark, Apply, Rollback, ValidateStatement and the target listings open a
session for the call and close it when the work ends or the caller cancels. Analyses take
theirs from a per-target pool of reusable sessions (`optimizer_service.pool`), set up once
when opened (`connect(setup=...)`) and reset in one round trip before they are kept
(`idle_reset_sql`). In pg_stat_activity a session at work is named
`application_name=pgsage-optimizer` and a pooled idle one `pgsage-optimizer (idle)`, so an
operator (and the tests) can tell them apart; a session at work for a job is named after it,
`pgsage-optimizer jobs/<id>` (`working_name`, from the `x-pgsage-job` metadata of the call).
Connection failures become `TargetUnavailable` naming the target and a scrubbed cause (never
the DSN).

Every session is read-only by default (`default_transaction_read_only = on`): only the calls
that must write ask for a writable one (`read_only=False`: Apply, Rollback, a benchmark's
build), and the transactional what-if engine opens its always-rolled-back transaction with
`BEGIN READ WRITE`. Every statement the optimizer sends starts with `MARKER` (the
`MarkedConnection` adds it), so pg_stat_statements entries of pgsage's own statements are
recognised and never become the workload of an analysis.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Literal

import asyncpg

from optimizer_service import budget, errors, trail
from optimizer_service.settings import Settings, TargetConfig

log = logging.getLogger(__name__)

MARKER = "/* pgsage */"
APPLICATION_NAME = "pgsage-optimizer"
Place = Literal["take", "taken", "extra"]
IDLE_APPLICATION_NAME = "pgsage-optimizer (idle)"
_MARK_WORKING = "SELECT set_config('application_name', $1, false)"
_MARK_IDLE = "SELECT set_config('application_name', 'pgsage-optimizer (idle)', false)"
# client_connection_check_interval of the optimizer's sessions: 100 ms, or less when the
# target is set to less.
_CHECK_CLIENT = """
SELECT set_config('client_connection_check_interval', '100', false)
FROM pg_settings WHERE name = 'client_connection_check_interval'
  AND (setting::int = 0 OR setting::int > 100)"""


# PostgreSQL keeps the first NAMEDATALEN - 1 bytes of application_name.
_MAX_NAME = 63


def working_name() -> str:
    """The application_name of a session at work: `pgsage-optimizer`, followed by
    ` jobs/<id>` when the call serves a job (the `x-pgsage-job` metadata the job service
    sends, validated by `trail.enter`), so pg_stat_activity names the job."""
    call = trail.current.get()
    job = call.job if call is not None else "-"
    if job in ("-", "invalid"):
        return APPLICATION_NAME
    name = job if job.startswith("jobs/") else f"jobs/{job}"
    return f"{APPLICATION_NAME} {name}"[:_MAX_NAME]


BATCH = f"; {MARKER} "  # joins the statements of a simple-query batch, each one marked


def mark(query: str) -> str:
    """`query` with the marker in front (a batch's later statements are marked by joining
    them with `BATCH`; the text itself is never rewritten)."""
    return query if query.startswith(MARKER) else f"{MARKER} {query}"


class MarkedConnection(asyncpg.Connection):  # type: ignore[misc]
    """An asyncpg connection that marks every statement it sends (`mark`)."""

    async def execute(self, query: str, *args: Any, **kwargs: Any) -> Any:
        return await super().execute(mark(query), *args, **kwargs)

    async def executemany(self, command: str, args: Any, **kwargs: Any) -> Any:
        return await super().executemany(mark(command), args, **kwargs)

    async def fetch(self, query: str, *args: Any, **kwargs: Any) -> Any:
        return await super().fetch(mark(query), *args, **kwargs)

    async def fetchrow(self, query: str, *args: Any, **kwargs: Any) -> Any:
        return await super().fetchrow(mark(query), *args, **kwargs)

    async def fetchval(self, query: str, *args: Any, **kwargs: Any) -> Any:
        return await super().fetchval(mark(query), *args, **kwargs)

    async def prepare(self, query: str, **kwargs: Any) -> Any:
        return await super().prepare(mark(query), **kwargs)

    def cursor(self, query: str, *args: Any, **kwargs: Any) -> Any:
        return super().cursor(mark(query), *args, **kwargs)


@dataclass(frozen=True)
class Capabilities:
    """What a reachable target offers the analyses."""

    server_version: str
    server_version_num: int
    pg_stat_statements: bool
    hypopg_version: str
    hypopg_can_hide: bool


def resolve(settings: Settings, name: str) -> TargetConfig:
    """The target called `name`, or TargetNotFound."""
    target = settings.target(name)
    if target is None:
        raise errors.TargetNotFound(name, [t.name for t in settings.targets])
    return target


def _password(target: TargetConfig) -> tuple[str, ...]:
    dsn = target.dsn.get_secret_value()
    secrets = [dsn]
    if "@" in dsn and "://" in dsn:
        creds = dsn.split("://", 1)[1].rsplit("@", 1)[0]
        if ":" in creds:
            secrets.append(creds.split(":", 1)[1])
    return tuple(secrets)


def cause_of(target: TargetConfig, exc: BaseException) -> str:
    """A short, scrubbed description of why talking to `target` failed."""
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return "connection timed out"
    if isinstance(exc, ConnectionRefusedError) or getattr(exc, "errno", None) == 111:
        where = re.search(r"\('([^']+)', (\d+)\)", str(exc))
        return "connection refused" + (f" at {where[1]}:{where[2]}" if where else "")
    if isinstance(exc, socket.gaierror):
        return "the host name could not be resolved"
    if isinstance(exc, asyncpg.PostgresError):  # its text may echo values: SQLSTATE only
        return errors.from_target(exc, f"connect to {target.name}")
    text = str(exc) or type(exc).__name__
    return errors.scrub(text, _password(target))


async def connect(
    target: TargetConfig,
    *,
    connect_timeout: float,
    setup: str = "",
    read_only: bool = True,
    place: Place = "take",
    waiting: budget.Waiting | None = None,
) -> asyncpg.Connection:
    """Opens the optimizer's own session on `target`, or raises TargetUnavailable.

    `setup` (simple-query statements) runs once on the new session, in the same round trip
    as the session settings of every connection. The session is read-only unless
    `read_only=False`. It holds a place in the target's session budget until it closes:
    `place="take"` waits for one (telling `waiting`), `"taken"` means the caller already
    took it, `"extra"` takes none (cleanups and health probes, which must not wait behind
    the work they clean up after or report on)."""
    places = target.sessions
    if place == "take":
        await places.take(waiting)
    try:
        conn = await _open(
            target, connect_timeout=connect_timeout, setup=setup, read_only=read_only
        )
    except BaseException:
        if place != "extra":
            places.give()
        raise
    if place != "extra":
        places.hold(conn)
    return conn


async def _open(
    target: TargetConfig, *, connect_timeout: float, setup: str, read_only: bool
) -> asyncpg.Connection:
    try:
        conn = await asyncpg.connect(
            dsn=target.dsn.get_secret_value(),
            timeout=connect_timeout,
            statement_cache_size=0,
            connection_class=MarkedConnection,
            server_settings={
                "application_name": working_name(),
                "default_transaction_read_only": "on" if read_only else "off",
                "statement_timeout": str(target.statement_timeout_ms),
                "lock_timeout": str(target.lock_timeout_ms),
                "idle_in_transaction_session_timeout": str(
                    max(60_000, 4 * target.statement_timeout_ms)
                ),
            },
        )
        # Every statement on this session leaves a line in the optimizer's log.
        conn.add_query_logger(trail.statement_logger(target.name))
        statements = [setup] if setup else []
        if conn.get_server_version() >= (14, 0):
            # A backend waiting on a lock notices a caller that went away (a cancelled
            # analysis closes its socket) within 100 ms instead of when the lock frees (a
            # poll() per interval while a statement runs). A stricter value set on the
            # target stays.
            statements.insert(0, _CHECK_CLIENT)
        if statements:
            try:
                await conn.execute(BATCH.join(statements), timeout=connect_timeout)
            except BaseException:
                conn.terminate()
                raise
        return conn
    except errors.DRIVER_ERRORS as exc:  # at connect, every driver error is "unreachable"
        cause = cause_of(target, exc)
        log.warning("target %s unreachable: %s", target.name, cause)
        raise errors.TargetUnavailable(target.name, cause) from None
    except ValueError as exc:  # a malformed DSN; its text may hold the DSN itself
        del exc
        raise errors.TargetUnavailable(target.name, "the configured DSN is malformed") from None


async def close(conn: asyncpg.Connection) -> None:
    """Closes `conn` politely, or terminates it when that cannot finish (cancelled, stuck)."""
    if conn.is_closed():
        return
    try:
        await asyncio.wait_for(asyncio.shield(conn.close()), timeout=2)
    except BaseException:
        conn.terminate()
        raise


@contextlib.asynccontextmanager
async def session(
    target: TargetConfig,
    *,
    connect_timeout: float,
    read_only: bool = True,
    place: Place = "take",
    waiting: budget.Waiting | None = None,
) -> AsyncIterator[asyncpg.Connection]:
    """One session on `target` for the duration of the block, always closed after it
    (read-only unless `read_only=False`; `place` and `waiting` as in `connect`)."""
    conn = await connect(
        target, connect_timeout=connect_timeout, read_only=read_only, place=place, waiting=waiting
    )
    try:
        yield conn
    finally:
        try:
            await close(conn)
        except asyncio.CancelledError:
            conn.terminate()
            raise
        except Exception:
            conn.terminate()


async def capabilities(conn: asyncpg.Connection) -> Capabilities:
    """Reads the server version and the extensions the analyses use.

    It is also the first statement of an analysis on a pooled session: it proves the session
    alive and names it working (`working_name()`) in the same round trip."""
    row = await conn.fetchrow(
        """
        SELECT set_config('application_name', $1, false) AS working,
               current_setting('server_version') AS version,
               current_setting('server_version_num')::int AS version_num,
               (SELECT extversion FROM pg_extension WHERE extname = 'pg_stat_statements')
                   AS pgss,
               (SELECT extversion FROM pg_extension WHERE extname = 'hypopg') AS hypopg,
               EXISTS (SELECT 1 FROM pg_proc WHERE proname = 'hypopg_hide_index') AS can_hide
        """,
        working_name(),
    )
    return Capabilities(
        server_version=row["version"].split(" ")[0],
        server_version_num=row["version_num"],
        pg_stat_statements=row["pgss"] is not None,
        hypopg_version=row["hypopg"] or "",
        hypopg_can_hide=bool(row["can_hide"]),
    )


async def mark_working(conn: asyncpg.Connection) -> None:
    """Names a (pooled) session working again; its first statement, so also its probe."""
    await conn.execute(_MARK_WORKING, working_name())


def idle_reset_sql(caps: Capabilities) -> str:
    """One simple-query batch that leaves an analysis session as a new one would be: no
    prepared statements, no HypoPG objects, and named idle in pg_stat_activity."""
    statements = ["DEALLOCATE ALL"]
    if caps.hypopg_version:
        statements.append("SELECT hypopg_reset()")
        if caps.hypopg_can_hide:
            statements.append("SELECT hypopg_unhide_all_indexes()")
    statements.append(_MARK_IDLE)
    return mark(BATCH.join(statements))
