"""`python -m bench.tpch [--scale 1|0.01]`: runs the TPC-H quality protocol and prints the table.

The printout is also written to `--out` (default /tmp/tpch_latest.txt) and beside it per scale
(/tmp/tpch_latest_sf1.txt, /tmp/tpch_latest_sf0.01.txt), so the latest numbers can be read
without rerunning (baseline-only runs, `--no-pgsage`, do not overwrite them). Exit status 0
when pgsage meets the target, 1 when it does not.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from bench.tpch import report, run
from tests.support.pg import SHARED_PG


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.tpch", description=__doc__)
    parser.add_argument("--scale", type=float, choices=sorted(run.BUDGETS_MB), default=1.0)
    parser.add_argument(
        "--dsn",
        default=SHARED_PG,
        help="any database on the server; the TPC-H database is created beside it",
    )
    parser.add_argument("--no-pgsage", action="store_true", help="baselines only")
    parser.add_argument("--no-real-sizes", action="store_true", help="skip the real build")
    parser.add_argument("--out", type=Path, default=Path("/tmp/tpch_latest.txt"))
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    outcome = asyncio.run(
        run.run(
            args.dsn,
            args.scale,
            with_pgsage=not args.no_pgsage,
            real_sizes=not args.no_real_sizes,
        )
    )
    text = report.render(outcome)
    print(text)
    if args.out and not args.no_pgsage:
        args.out.write_text(text + "\n")
        per_scale = args.out.with_name(f"{args.out.stem}_sf{args.scale:g}{args.out.suffix}")
        per_scale.write_text(text + "\n")
    return 0 if report.verdict(outcome).passed else 1


if __name__ == "__main__":
    sys.exit(main())
