"""The tests' root conftest (no fixtures of its own: shared helpers live in `tests.support`).

The shared PostgreSQL server (`tests.support.pg.SHARED_PG`) is used as a real database (each
test module gets databases of its own, never the server's own `postgres` database). Tests that
stop, restart or break PostgreSQL start an embedded cluster of their own
(`tests.support.clusters`), stopped and removed when their fixture ends.
"""
