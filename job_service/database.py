"""The job store's connection pool, transactions, and the one place driver errors translate.

Queries run on asyncpg connections from asyncpg's own pool: the repositories' statements are
hand-written SQL (data-modifying CTEs, `ON CONFLICT`, `pg_notify`) that gain nothing from an
expression layer, and asyncpg's prepared statements keep the hot paths (create, get, list,
every write of a running job) at one round trip with little CPU. The pool does not reset a
connection on its way back (nothing here leaves session state behind: no SET, no LISTEN,
no open transaction), so a statement costs one round trip, not two. SQLAlchemy's engine
(`engine`, no pool of its own) only runs the Alembic migrations.

`connection()` gives a connection in autocommit (a single statement is its own
transaction: the hot paths are one guarded statement each); `transaction()` wraps several
statements in one transaction. Both translate driver errors once: connection-class failures
become `DatabaseUnavailable` (and the broken connection leaves the pool), violations of named
constraints become the domain error they mean; anything else propagates and is reported as
INTERNAL at the edge. A violated "one at a time" constraint is answered with what holds the
place: the live change job or the applied twin is looked up, after the violation, on the
same connection (`_named_conflict`), so the error names it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypeAlias

import asyncpg
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from job_service import errors, vocabulary
from job_service.models import sql_in, sql_value

# The statements below are built from constant vocabulary fragments only.
# ruff: noqa: S608
from pgsage import errors as pgsage_errors

log = logging.getLogger(__name__)

Connection: TypeAlias = asyncpg.Connection

_DSN = re.compile(r"\b\w+(\+\w+)?://\S+")


def async_url(url: str) -> URL:
    """`url` with the asyncpg driver (accepts `postgres://`, `postgresql://`, `...+asyncpg://`)."""
    parsed = make_url(url.replace("postgres://", "postgresql://", 1))
    return parsed.set(drivername="postgresql+asyncpg")


def plain_dsn(url: URL) -> str:
    """The libpq-style DSN asyncpg's own `connect` takes (for the LISTEN connection)."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def describe(exc: BaseException) -> str:
    """A short, secret-free account of a driver failure, for messages and logs."""
    inner = exc
    while isinstance(inner, sa_exc.DBAPIError) and inner.orig is not None:
        inner = inner.orig
    cause = getattr(inner, "__cause__", None)
    if type(inner).__name__ == "Error" and cause is not None:  # SQLAlchemy's adapted error
        inner = cause
    text = str(inner).splitlines()[0] if str(inner) else type(inner).__name__
    text = _DSN.sub("<dsn>", text)
    return f"{type(inner).__name__}: {text}"[:300]


def is_unavailable(error: BaseException) -> bool:
    """Whether `error` means the database cannot be reached (rather than a bad statement)."""
    seen: set[int] = set()
    exc: BaseException | None = error
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, sa_exc.TimeoutError):  # pool exhausted
            return True
        if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
            return True
        if isinstance(exc, asyncpg.InternalClientError):
            # The driver's connection is in a state it cannot go on from (the server went
            # away between two messages, e.g. at shutdown): that connection is done for.
            return True
        if isinstance(
            exc,
            OSError
            | ConnectionError
            | TimeoutError
            | asyncio.TimeoutError
            | asyncpg.PostgresConnectionError
            | asyncpg.ConnectionDoesNotExistError
            | asyncpg.InterfaceError,
        ):
            if isinstance(exc, asyncpg.InterfaceError) and "closed" not in str(exc):
                return False
            return True
        sqlstate = getattr(exc, "sqlstate", None) or ""
        if sqlstate[:2] in ("08", "53", "57"):  # connection, resources, operator shutdown
            return True
        exc = exc.__cause__ or exc.__context__ or getattr(exc, "orig", None)
    return False


def _constraint_error(exc: BaseException) -> pgsage_errors.PgsageError | None:
    """The domain error a violated constraint means, keyed by the constraint's name."""
    name = getattr(exc, "constraint_name", None)
    if name == "uq_suggestion_job_id_fingerprint":
        return errors.SuggestionAlreadyExists()
    if name == _LIVE_JOB:
        return errors.ChangeInProgress("this suggestion")
    if name == _LIVE_TWIN:
        return errors.ChangeAlreadyApplied()
    if name in ("fk_suggestion_job_id_job", "fk_job_event_job_id_job"):
        return pgsage_errors.NotFound(
            "the job does not exist (any more)",
            reason="JOB_NOT_FOUND",
            metadata={"constraint": name},
        )
    return None


_LIVE_JOB = "uq_job_suggestion_id_live"
_LIVE_TWIN = "uq_suggestion_target_fingerprint_live"
_KEY_SUGGESTION = re.compile(r"\(suggestion_id\)=\(([0-9a-f-]{36})\)")
_KEY_TWIN = re.compile(r"\(target, fingerprint\)=\((.*), ([^,]*)\) already exists", re.S)
_WHO_HOLDS_THE_JOB = f"""
SELECT id, kind, state, request_id, suggestion_job_id, suggestion_id FROM job
WHERE suggestion_id = $1::uuid AND {sql_in("kind", vocabulary.CHANGE_JOB_KINDS)}
  AND {sql_in("state", vocabulary.LIVE_JOB_STATES)}
LIMIT 1"""
_WHO_HOLDS_THE_CHANGE = f"""
SELECT s.job_id, s.id, s.state, s.target,
       (SELECT j.id FROM job j WHERE j.suggestion_id = s.id
                                 AND j.kind = {sql_value(vocabulary.JobKind.APPLY)}
        ORDER BY j.create_time DESC LIMIT 1) AS apply_job
FROM suggestion s
WHERE s.target = $1 AND s.fingerprint = $2
  AND {sql_in("s.state", vocabulary.LIVE_SUGGESTION_STATES)}
LIMIT 1"""


async def _named_conflict(conn: Connection, exc: BaseException) -> pgsage_errors.PgsageError | None:
    """For a violated one-at-a-time constraint: the domain error naming what holds the place.

    Runs after the violation on the same connection (its failed statement or transaction is
    over by then); when the holder is gone meanwhile or the lookup fails, the error stays
    unnamed rather than hiding the refusal.
    """
    name = getattr(exc, "constraint_name", None)
    if name not in (_LIVE_JOB, _LIVE_TWIN) or conn.is_closed():
        return None
    detail = getattr(exc, "detail", None) or ""
    try:
        async with asyncio.timeout(3):
            if name == _LIVE_JOB:
                key = _KEY_SUGGESTION.search(detail)
                row = key and await conn.fetchrow(_WHO_HOLDS_THE_JOB, key.group(1))
                if row:
                    return errors.ChangeInProgress(
                        f"jobs/{row['suggestion_job_id']}/suggestions/{row['suggestion_id']}",
                        job=f"jobs/{row['id']}",
                        kind=row["kind"],
                        state=row["state"],
                        request_id=row["request_id"] or "",
                    )
            else:
                key = _KEY_TWIN.search(detail)
                row = key and await conn.fetchrow(_WHO_HOLDS_THE_CHANGE, *key.groups())
                if row:
                    return errors.ChangeAlreadyApplied(
                        twin=f"jobs/{row['job_id']}/suggestions/{row['id']}",
                        state=row["state"],
                        target=row["target"],
                        job=f"jobs/{row['apply_job']}" if row["apply_job"] else "",
                    )
    except (asyncpg.PostgresError, OSError, TimeoutError) as lookup:
        log.warning("could not name the holder of %s: %s", name, describe(lookup))
    return _constraint_error(exc)


def translate(exc: BaseException) -> BaseException:
    """The domain error for a driver error, or `exc` itself when it has no domain meaning."""
    if is_unavailable(exc):
        return errors.DatabaseUnavailable(describe(exc))
    return _constraint_error(exc) or exc


def _discard(conn: Connection) -> None:
    """Terminates a broken pooled connection (the pool replaces it on the next acquire).

    Never raises: the proxy may already be detached (the pool closed under it at shutdown),
    and a failure here must not hide the error that brought us here.
    """
    try:
        if not conn.is_closed():
            conn.terminate()
    except asyncpg.InterfaceError:
        pass


class Database:
    """The pool of the job store, opened at start-up and disposed at shutdown."""

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 10,
        max_overflow: int = 10,
        connect_timeout: float = 3.0,
        command_timeout: float = 30.0,
    ) -> None:
        self.url = async_url(url)
        connect_args = {
            "timeout": connect_timeout,
            "command_timeout": command_timeout,
            "server_settings": {"application_name": "pgsage-jobs"},
        }
        # Migrations only: a connection each time, closed after.
        self.engine: AsyncEngine = create_async_engine(
            self.url, poolclass=NullPool, connect_args=connect_args
        )
        self.connect_timeout = connect_timeout
        self._max_size = max(pool_size + max_overflow, 1)
        self._connect_args = connect_args
        self._pool: asyncpg.Pool | None = None
        self._opening = asyncio.Lock()

    @property
    def listen_dsn(self) -> str:
        return plain_dsn(self.url)

    async def _opened(self) -> asyncpg.Pool:
        """The pool, created on first use (it connects lazily, so this never waits on the
        database)."""
        async with self._opening:
            if self._pool is None:
                self._pool = await asyncpg.create_pool(
                    plain_dsn(self.url),
                    min_size=0,
                    max_size=self._max_size,
                    max_inactive_connection_lifetime=300,
                    reset=_keep_session,
                    init=_codecs,
                    **self._connect_args,
                )
            return self._pool

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        """A pooled connection in autocommit: each statement is its own transaction."""
        try:
            pool = self._pool or await self._opened()
            async with pool.acquire(timeout=self.connect_timeout + 2) as conn:
                try:
                    yield conn
                except BaseException as exc:
                    if is_unavailable(exc):
                        _discard(conn)
                    if isinstance(exc, asyncpg.UniqueViolationError):
                        named = await _named_conflict(conn, exc)
                        if named is not None:
                            raise named from exc
                    raise
        except pgsage_errors.PgsageError:
            raise
        except Exception as exc:
            translated = translate(exc)
            if translated is exc:
                raise
            raise translated from exc

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        """A pooled connection inside one transaction, committed when the block succeeds."""
        async with self.connection() as conn:
            try:
                async with conn.transaction():
                    yield conn
            except pgsage_errors.PgsageError:
                raise
            except Exception as exc:
                named = None
                if isinstance(exc, asyncpg.UniqueViolationError):
                    named = await _named_conflict(conn, exc)  # the transaction is over
                translated = named or translate(exc)
                if translated is exc:
                    raise
                raise translated from exc

    async def ping(self, limit: float | None = None) -> float:
        """Runs `SELECT 1`; returns its latency in seconds or raises `DatabaseUnavailable`."""
        started = time.monotonic()
        try:
            async with asyncio.timeout(limit or self.connect_timeout + 1):
                async with self.connection() as conn:
                    await conn.fetchval("SELECT 1")
        except TimeoutError as exc:
            raise errors.DatabaseUnavailable("no answer to SELECT 1 in time") from exc
        return time.monotonic() - started

    async def reset_pool(self) -> None:
        """Drops every pooled connection (after an outage, when they are all dead)."""
        if self._pool is not None:
            await self._pool.expire_connections()

    async def close(self) -> None:
        if self._pool is not None:
            try:
                await asyncio.wait_for(self._pool.close(), timeout=5)
            except (TimeoutError, asyncpg.PostgresError, OSError):
                self._pool.terminate()
        await self.engine.dispose()


async def _codecs(conn: asyncpg.Connection) -> None:
    """json and jsonb as Python objects (asyncpg's default is text)."""
    for name in ("json", "jsonb"):
        await conn.set_type_codec(name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def _keep_session(conn: asyncpg.Connection) -> None:
    """The pool's reset: nothing to undo but a transaction a cancelled block left open."""
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")
