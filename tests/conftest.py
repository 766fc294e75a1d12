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
from pathlib import Path

import pytest

OWNED = "PGSAGE_TEST_PG_STARTED_BY_TESTS"


def _start_server():
    """Starts the session's own PostgreSQL server (see `tests.support.testserver`), unless
    PGSAGE_TEST_PG names one.

    This runs when this conftest is imported, not in `pytest_configure`: pytest imports the
    conftests of the folders named on its command line (`pytest tests/integration/x/test_y.py`)
    before it configures, and those import `tests.support.pg.SHARED_PG`, which must already
    name this server (not fall back to one the tests did not create). This root conftest is
    always imported first.
    """
    # Under pytest-xdist each worker starts a server of its own (tests reset
    # pg_stat_statements, copy template databases, count sessions: not safe to share), even
    # though it inherits the variables of the controller's; one named by the user is shared.
    inherited = os.environ.get(OWNED) == "1" and os.environ.get("PYTEST_XDIST_WORKER")
    if os.environ.get("PGSAGE_TEST_PG") and not inherited:
        return None
    from tests.support.testserver import SessionServer

    server = SessionServer()
    os.environ["PGSAGE_TEST_PG"] = server.start()
    os.environ[OWNED] = "1"
    return server


_server = _start_server()


E2E = Path(__file__).resolve().parent / "e2e"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The tests of tests/e2e drive Chromium: marked `browser` (`-m "not browser"` leaves
    them out of a quick run; the test command and CI run them)."""
    for item in items:
        if item.path.is_relative_to(E2E):
            item.add_marker(pytest.mark.browser)


def pytest_unconfigure(config: pytest.Config) -> None:
    if _server is not None:
        _server.stop()
