"""Seeds the compose demo target once: pgsage's demo shop database (`pgsage.demo`).

Run by the `demo-seed` service of docker-compose.yml with the app image. The server's DSN
(a superuser's, with its password) is read from the secret file named by
PGSAGE_DEMO_ADMIN_DSN_FILE and never printed. A database that a previous run finished is
marked with a comment and left as it is (so approved and applied changes survive
`docker compose up`); one that a run left half-built is built again.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import asyncpg

from pgsage.demo import build

DATABASE = os.environ.get("PGSAGE_DEMO_DATABASE", "pgsage_demo")
MARK = "pgsage demo, seeded"


async def _seeded(server_dsn: str) -> bool:
    conn = await asyncpg.connect(server_dsn)
    try:
        comment = await conn.fetchval(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1",
            DATABASE,
        )
    finally:
        await conn.close()
    return comment == MARK


async def _seed(server_dsn: str, scale: float, rounds: int) -> int:
    if await _seeded(server_dsn):
        print(f"{DATABASE} is already seeded; nothing to do")
        return 0
    built = await build.build(server_dsn, DATABASE, scale, rounds)
    conn = await asyncpg.connect(server_dsn)
    try:
        await conn.execute(f"COMMENT ON DATABASE \"{DATABASE}\" IS '{MARK}'")
    finally:
        await conn.close()
    rows = ", ".join(f"{t} {n:,}" for t, n in built.rows.items())
    print(f"{DATABASE} seeded: {rows}; workload: {built.calls} calls recorded")
    return 0


def main() -> int:
    path = Path(os.environ.get("PGSAGE_DEMO_ADMIN_DSN_FILE", "/run/secrets/demo_admin_dsn"))
    try:
        server_dsn = path.read_text().strip()
    except OSError as exc:
        print(f"PGSAGE_DEMO_ADMIN_DSN_FILE: cannot read {path}: {exc.strerror}", file=sys.stderr)
        return 2
    scale = float(os.environ.get("PGSAGE_DEMO_SCALE", "1.0"))
    rounds = int(os.environ.get("PGSAGE_DEMO_ROUNDS", "3"))
    return asyncio.run(_seed(server_dsn, scale, rounds))


if __name__ == "__main__":
    raise SystemExit(main())
