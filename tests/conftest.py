"""Fixtures shared by every test folder.

The shared PostgreSQL server on 127.0.0.1:5432 is used as a real database (each test module
gets databases of its own, never the server's own `postgres` database). Tests that stop,
restart or break PostgreSQL start an embedded cluster of their own (`pgsage.embedded`).
"""

from __future__ import annotations

import os

SHARED_PG = os.environ.get("PGSAGE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
