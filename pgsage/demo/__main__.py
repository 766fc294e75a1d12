"""`python -m pgsage.demo [build|measure|stop]`: the demo shop database, and its measurements.

    python -m pgsage.demo                      # build on the embedded PostgreSQL, print the target
    python -m pgsage.demo --dsn postgresql://postgres@127.0.0.1:5432/postgres --config demo.toml
    python -m pgsage.demo measure --advise     # the optimizer's advice, built, timed, dropped
    python -m pgsage.demo measure --index "CREATE INDEX ON orders (customer_id, created_at)"
    python -m pgsage.demo stop                 # stops the embedded PostgreSQL

Without `--dsn` the demo runs on an embedded PostgreSQL in `.pgsage/demo-postgres` (started
if needed, left running so the optimizer can analyse it). `--dsn` is any database on an
existing server; the demo database is created beside it.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from pgsage import embedded
from pgsage.demo import advice, build, config, measure

DEFAULT_DATA_DIR = Path(".pgsage/demo-postgres")
DEFAULT_DATABASE = "pgsage_demo"


def _server_dsn(args: argparse.Namespace) -> str:
    if args.dsn:
        return args.dsn
    server = embedded.EmbeddedPostgres(args.data_dir)
    server.start()
    return server.dsn("postgres")


async def _build(args: argparse.Namespace) -> int:
    built = await build.build(_server_dsn(args), args.database, args.scale, args.rounds)
    rows = ", ".join(f"{t} {n:,}" for t, n in built.rows.items())
    print(f"demo database ready: {rows}")
    print(
        f"loaded in {built.load_seconds:.1f} s; workload: {built.calls} calls in "
        f"{built.workload_seconds:.1f} s (pg_stat_statements and index usage reset before it)"
    )
    print("\noptimizer target (PGSAGE_OPTIMIZER_TARGETS_FILE):\n")
    print(config.toml(built.dsn))
    if args.config:
        config.write(args.config, built.dsn)
        print(f"written to {args.config}")
    return 0


async def _measure(args: argparse.Namespace) -> int:
    dsn = build.dsn_for(_server_dsn(args), args.database)
    statements = list(args.index)
    if args.advise or args.optimizer:
        if args.optimizer:
            got = await advice.analyze(args.optimizer, args.target)
        else:
            log_path = Path("test-artifacts") / "optimizer-demo.log"
            async with advice.optimizer([config.target(dsn)], log_path) as address:
                got = await advice.analyze(address)
        print("optimizer advice:")
        for title in got.titles:
            print(f"  - {title}")
        statements += got.creates
    if not statements:
        print("nothing to measure: give --index SQL, --advise or --optimizer ADDRESS")
        return 2
    result = await measure.measure(dsn, statements, samples=args.samples, keep=args.keep)
    print(measure.render(result))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pgsage.demo",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("command", nargs="?", default="build", choices=["build", "measure", "stop"])
    parser.add_argument("--dsn", help="a database on an existing server (default: embedded)")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--database", default=DEFAULT_DATABASE)
    parser.add_argument("--scale", type=float, default=1.0, help="1.0: 400,000 orders")
    parser.add_argument("--rounds", type=int, default=3, help="workload rounds (206 calls each)")
    parser.add_argument("--config", type=Path, help="write the optimizer target TOML here")
    parser.add_argument("--index", action="append", default=[], help="CREATE INDEX to measure")
    parser.add_argument("--advise", action="store_true", help="measure the optimizer's advice")
    parser.add_argument("--optimizer", help="address of a running optimizer (host:port)")
    parser.add_argument("--target", default=config.TARGET_NAME, help="the demo's target name there")
    parser.add_argument("--samples", type=int, default=15, help="timed calls per statement")
    parser.add_argument("--keep", action="store_true", help="keep the measured indexes")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if args.command == "stop":
        embedded.EmbeddedPostgres(args.data_dir).stop()
        return 0
    run = _build if args.command == "build" else _measure
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
