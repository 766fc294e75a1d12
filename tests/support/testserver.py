"""The test session's own PostgreSQL server: `make test` never edits or restarts a server it
did not create.

Unless PGSAGE_TEST_PG names a server to use instead, the root conftest starts one cluster for
the whole session, initialised in a temporary directory with the system's PostgreSQL binaries
(the newest installed version that has HypoPG), `pg_stat_statements` preloaded, on a free
port; `tests.support.pg.SHARED_PG` points at it, and it is stopped and removed when the
session ends. Durability is off (fsync, synchronous_commit): nothing in it outlives the run.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from pgsage.embedded import EmbeddedPostgres

INSTALLS = Path("/usr/lib/postgresql")


def binaries() -> Path:
    """The bin directory of the newest installed PostgreSQL that has HypoPG."""
    versions = sorted(
        (d for d in INSTALLS.glob("*") if (d / "lib" / "hypopg.so").exists()),
        key=lambda d: int(d.name) if d.name.isdigit() else 0,
    )
    if not versions:
        raise RuntimeError(
            "the tests need PostgreSQL with HypoPG (Debian: apt-get install postgresql-15 "
            "postgresql-15-hypopg; `make test` installs them), or PGSAGE_TEST_PG naming a "
            "server that has both HypoPG and pg_stat_statements preloaded"
        )
    return versions[-1] / "bin"


class SessionServer:
    def __init__(self) -> None:
        self.home = Path(tempfile.mkdtemp(prefix="pgsage-test-server-"))
        self.cluster = EmbeddedPostgres(self.home / "data", bin_dir=binaries())

    def start(self) -> str:
        """Starts it; returns the DSN of its maintenance database."""
        try:
            self.cluster.start(
                settings={
                    "fsync": "off",
                    "synchronous_commit": "off",
                    "full_page_writes": "off",
                    "max_connections": "400",
                    "pg_stat_statements.track": "all",
                }
            )
        except BaseException:
            shutil.rmtree(self.home, ignore_errors=True)
            raise
        return self.cluster.dsn("postgres")

    def stop(self) -> None:
        try:
            self.cluster.stop("immediate")
        finally:
            shutil.rmtree(self.home, ignore_errors=True)
