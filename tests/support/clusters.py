"""Embedded PostgreSQL clusters that a test owns (to stop, restart or break them; the shared
server is never touched so).

Each cluster lives in a directory of its own under the system temp dir, outside pytest's
tmp_path (concurrent pytest sessions reset /tmp/pytest-of-<user> to mode 0700, locking out
the cluster's user, `embedded_postgres` when run as root), and is stopped and its directory
removed when the block that owns it ends: a module-scoped fixture's cluster never outlives
its module.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

from pgsage.embedded import EmbeddedPostgres


@contextmanager
def cluster_home(prefix: str) -> Iterator[Path]:
    """A new directory `pgsage-<prefix>-*` for clusters, removed afterwards with everything in
    it (any cluster still running there is stopped first)."""
    home = Path(tempfile.mkdtemp(prefix=f"pgsage-{prefix}-"))
    try:
        yield home
    finally:
        try:
            stop_clusters_under(home)
        finally:
            shutil.rmtree(home, ignore_errors=True)


def stop_clusters_under(path: Path, mode: str = "immediate") -> None:
    """Stops every cluster whose data directory is under `path` (e.g. those a killed
    process left running); a stale postmaster.pid (its server already gone) is no error."""
    for pid_file in sorted(Path(path).rglob("postmaster.pid")):
        with contextlib.suppress(RuntimeError):
            EmbeddedPostgres(pid_file.parent).stop(mode)


def pg_ctl(postgres: EmbeddedPostgres, *steps: str) -> None:
    """Runs `stop:<mode>` / `start` on the cluster from a child Python process. A process that
    hosts gRPC has fork handlers that can crash a child forked there (pg_ctl runs as another
    user, so it cannot be spawned without a fork); the child process has no gRPC."""
    calls = "; ".join(
        f"pg.stop({step.split(':')[1]!r})" if step.startswith("stop:") else "pg.start()"
        for step in steps
    )
    subprocess.run(
        [
            sys.executable,
            "-c",
            "from pgsage.embedded import EmbeddedPostgres; "
            f"pg = EmbeddedPostgres({str(postgres.data_dir)!r}, {postgres.port}); {calls}",
        ],
        check=True,
        timeout=120,
    )


@contextmanager
def embedded_cluster(prefix: str, stop_mode: str = "fast") -> Iterator[EmbeddedPostgres]:
    """A started cluster of its own; stopped (`stop_mode`) and removed at the end."""
    with cluster_home(prefix) as home:
        postgres = EmbeddedPostgres(home / "data")
        try:
            postgres.start()
            yield postgres
        finally:
            postgres.stop(stop_mode)


@asynccontextmanager
async def own_cluster(
    prefix: str, stop_mode: str = "fast", *, in_child: bool = False
) -> AsyncIterator[EmbeddedPostgres]:
    """`embedded_cluster` for async code: started and stopped off the event loop, from a child
    process with `in_child` (see `pg_ctl`)."""
    with cluster_home(prefix) as home:
        postgres = EmbeddedPostgres(home / "data")
        try:
            if in_child:
                await asyncio.to_thread(pg_ctl, postgres, "start")
            else:
                await asyncio.to_thread(postgres.start)
            yield postgres
        finally:
            if in_child:
                await asyncio.to_thread(pg_ctl, postgres, f"stop:{stop_mode}")
            else:
                await asyncio.to_thread(postgres.stop, stop_mode)
