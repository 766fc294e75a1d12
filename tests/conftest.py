"""The tests' root conftest (no fixtures of its own: shared helpers live in `tests.support`).

The shared PostgreSQL server (`tests.support.pg.SHARED_PG`) is the session's own, started
here (`tests.support.testserver`) unless PGSAGE_TEST_PG names another; it is used as a real
database (each test module gets databases of its own, never the server's own `postgres`
database). Tests that
stop, restart or break PostgreSQL start an embedded cluster of their own
(`tests.support.clusters`), stopped and removed when their fixture ends.
"""

from __future__ import annotations

import os

import pytest

_server = None


def pytest_configure(config: pytest.Config) -> None:
    """Starts the session's own PostgreSQL server (see `tests.support.testserver`) before any
    test module reads `tests.support.pg.SHARED_PG`, unless PGSAGE_TEST_PG names one."""
    global _server
    if os.environ.get("PGSAGE_TEST_PG"):
        return
    from tests.support.testserver import SessionServer

    _server = SessionServer()
    os.environ["PGSAGE_TEST_PG"] = _server.start()


def pytest_unconfigure(config: pytest.Config) -> None:
    if _server is not None:
        _server.stop()
