"""A light, steady workload on the demo database while `pgsage up` runs.

The demo shop's statements (`pgsage.demo.workload`), drawn by their weights, at about
`--rate` calls per second on one connection: enough for a verification after an apply to
see the affected queries called before and after the change (its verdict needs at least
30 calls on each side), little enough to leave the machine to pgsage. Runs until stopped;
a lost connection is retried every few seconds.

    python -m pgsage.demo.drive --dsn postgresql://.../pgsage_demo --rate 20 --scale 0.1
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import random
import signal
import time

import asyncpg

from pgsage.demo import workload
from pgsage.demo.schema import Size

log = logging.getLogger("pgsage.demo.drive")


def _weighted(rng: random.Random) -> workload.Statement:
    return rng.choices(workload.STATEMENTS, weights=[s.weight for s in workload.STATEMENTS])[0]


async def drive(dsn: str, rate: float, size: Size, stop: asyncio.Event, seed: int = 11) -> int:
    """Calls statements at about `rate` per second until `stop` is set; how many it made."""
    rng = random.Random(seed)
    made = 0
    while not stop.is_set():
        try:
            conn = await asyncpg.connect(
                dsn, server_settings={"application_name": "pgsage demo workload"}
            )
        except (OSError, asyncpg.PostgresError) as exc:
            log.warning("cannot reach the demo database (%s); trying again in 3 s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 3)
            continue
        try:
            started, calls = time.monotonic(), 0
            while not stop.is_set():
                statement = _weighted(rng)
                try:
                    await workload.execute(conn, statement, statement.params(rng, size))
                except asyncpg.PostgresError as exc:
                    # A lock timeout while an index is built, a cancelled statement: the
                    # next call goes on.
                    log.debug("%s failed: %s", statement.name, exc)
                calls += 1
                made += 1
                ahead = started + calls / rate - time.monotonic()
                if ahead > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), ahead)
                if made % 1000 == 0:
                    log.info("%d calls so far", made)
        except (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError) as exc:
            log.warning("lost the demo database (%s); reconnecting", exc)
        finally:
            with contextlib.suppress(Exception):
                await conn.close(timeout=2)
    return made


async def _main(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info("driving the demo workload at %.1f calls/s", args.rate)
    made = await drive(args.dsn, args.rate, Size.at(args.scale), stop)
    log.info("stopped after %d calls", made)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pgsage.demo.drive", description=__doc__)
    parser.add_argument("--dsn", required=True, help="the demo database")
    parser.add_argument("--rate", type=float, default=20.0, help="calls per second")
    parser.add_argument("--scale", type=float, default=0.1, help="the scale it was built at")
    args = parser.parse_args(argv)
    if args.rate <= 0:
        parser.error("--rate must be positive")
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    asyncio.run(_main(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
