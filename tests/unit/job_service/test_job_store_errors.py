"""Which driver failures mean "the job store is unavailable" (the write waits and retries on
a fresh connection) and which are errors of the statement (they surface as they are)."""

from __future__ import annotations

import asyncpg
import pytest

from job_service import database, errors


@pytest.mark.parametrize(
    "exc",
    [
        ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)"),
        asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        asyncpg.AdminShutdownError("terminating connection due to administrator command"),
        asyncpg.CannotConnectNowError("the database system is starting up"),
        asyncpg.InterfaceError("cannot call Connection.fetchrow(): connection is closed"),
        # The server went away between two protocol messages (seen at a fast shutdown).
        asyncpg.InternalClientError("cannot switch to state 15; another operation is in progress"),
        TimeoutError(),
    ],
)
def test_connection_failures_mean_the_store_is_unavailable(exc):
    assert database.is_unavailable(exc)
    assert isinstance(database.translate(exc), errors.DatabaseUnavailable)


@pytest.mark.parametrize(
    "exc",
    [
        asyncpg.UniqueViolationError("duplicate key value violates unique constraint"),
        asyncpg.UndefinedColumnError('column "nope" does not exist'),
        asyncpg.InterfaceError("the server expects 2 arguments for this query, 1 was passed"),
    ],
)
def test_statement_errors_are_not_outages(exc):
    assert not database.is_unavailable(exc)
    assert database.translate(exc) is exc
