"""pgsage on a production-size target (issue 13): analysis, APPLY and a busy target at scale.

    .venv/bin/python -m bench.bigdb [--scale full|small|tiny] [--data-dir DIR]

Builds (or, with `--data-dir`, reuses) a target cluster of its own — at the default scale a
20-million-row `events` table (about 1.5 GiB), a table partitioned in 12 months (4 million
rows), 200 tables and about 2,400 distinct statements in pg_stat_statements (see
`bench._bigdb_build`) — starts a job store (embedded PostgreSQL), an optimizer and two job
services as real subprocesses, and measures, printing one set of tables:

1. Analyze straight to the optimizer with max_queries 200, then 1000 (coverage 100 %, so
   the cap binds), each `--repeats` times, and 1000 at the default coverage once:
   wall time, the optimizer's peak RSS (baseline: its RSS when idle), what-if calls,
   coverage, time to the first progress event, progress events/s, the longest silence;
   ratio 1000 vs 200. Then max_queries 2000, straight and as a job: what happens.
2. The top CREATE INDEX suggestion on `events`, approved and applied by an APPLY job
   (watched with WatchJob: build progress events) and rolled back by a ROLLBACK job,
   against the same CREATE INDEX CONCURRENTLY run directly (the baseline), alternating
   `--apply-repeats` times; target: pgsage ≤ 1.1x the bare build.
3. `--concurrent` ANALYZE jobs at once over the two job services (16 each), against one
   optimizer with `max_sessions` = `--max-sessions`: the peak number of pgsage sessions on
   the target in pg_stat_activity vs the cap, and the wall time against one job alone.

Exit status 0 when the targets are met (APPLY ≤ 1.1x, the session cap held, every job
succeeded), 1 when they are not, 2 when a part could not be measured (the printout says
why). The printout also goes to `--out` (default /tmp/bigdb_latest.txt).
Not part of the test suite; tests/integration/test_bench_bigdb_smoke.py runs `--scale tiny`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import asyncpg
import grpc

from bench import _bigdb_build as build
from bench import _bigdb_measure as measure
from bench import _bigdb_report as report
from bench import _cluster
from job_service import database, schema
from pgsage.embedded import EmbeddedPostgres

log = logging.getLogger("bench.bigdb")

# Defaults per scale: (analysis repeats, apply repeats, max_queries of the concurrent jobs).
DEFAULTS = {"full": (3, 2, 100), "small": (3, 2, 100), "tiny": (1, 1, 50)}


async def _store(tmp: Path) -> tuple[EmbeddedPostgres, str]:
    store = EmbeddedPostgres(tmp / "store")
    await asyncio.to_thread(store.start)
    conn = await asyncpg.connect(store.dsn())
    try:
        await conn.execute('CREATE DATABASE "jobs"')
    finally:
        await conn.close()
    db = database.Database(store.dsn("jobs"), pool_size=1)
    try:
        await schema.upgrade(db.engine)
    finally:
        await db.close()
    return store, store.dsn("jobs")


async def _analyses(out: report.Outcome, opt: _cluster.Proc, args: argparse.Namespace) -> None:
    assert opt.popen is not None
    pid = opt.popen.pid
    async with grpc.aio.insecure_channel(opt.address) as channel:
        await measure.analyze(channel, pid, 50)  # warm-up: sessions, catalogs (not reported)
        out.optimizer_idle_rss = measure.rss(pid)
        # The smaller size first: after a 1000-statement analysis the process keeps part of
        # its peak (the allocator's arenas), which would count in a later small run's peak.
        for max_queries in (200, 1000):
            for _ in range(args.repeats):
                a = await measure.analyze(channel, pid, max_queries, 100.0)
                log.info("analysis %d: %.1f s %s", max_queries, a.seconds, a.error)
                out.analyses.append(a)
        out.analyses.append(await measure.analyze(channel, pid, 1000))
        out.optimizer_rss_after = measure.rss(pid)
        refused = await measure.analyze(channel, pid, 2000, 100.0)
        out.refused["straight to the optimizer"] = refused.error or (
            f"accepted, {refused.analysed} statements analysed in {refused.seconds:.1f} s"
        )


def _keep_logs(tmp: Path, logs: Path) -> None:
    logs.mkdir(parents=True, exist_ok=True)
    for path in tmp.glob("*.log"):
        shutil.copy(path, logs / path.name)


async def run(args: argparse.Namespace) -> report.Outcome:
    scale = build.SCALES[args.scale]
    tmp = Path(tempfile.mkdtemp(prefix="pgsage-bigdb-"))
    home = args.data_dir or tmp / "target"
    target = build.Target(home)
    load_start, started = os.getloadavg()[0], time.perf_counter()
    await asyncio.to_thread(target.start)
    store: EmbeddedPostgres | None = None
    cluster: _cluster.Cluster | None = None
    try:
        out = report.Outcome(built=await build.ensure_built(target, scale))
        store, store_dsn = await _store(tmp)
        cluster = _cluster.Cluster(store=store, store_dsn=store_dsn, target_dsn=target.dsn, tmp=tmp)
        opt = cluster.optimizer(
            target={
                "name": measure.TARGET,
                "apply_allowed": True,
                "max_sessions": args.max_sessions,
                "max_target_load": {"active_sessions": 50, "check_seconds": 1},
            }
        )
        per_service = str(max(1, args.concurrent // 2))
        jobs = [
            cluster.job_service(opt, name=f"jobs-{n}", PGSAGE_JOBS_MAX_CONCURRENT_JOBS=per_service)
            for n in (1, 2)
        ]
        await cluster.start_all(opt, *jobs)
        await _analyses(out, opt, args)
        channels = [grpc.aio.insecure_channel(j.address) for j in jobs]
        try:
            stubs = [measure.JobStub(c) for c in channels]
            out.refused["as an ANALYZE job"] = await measure.job_refused(stubs[0], 2000)
            out.apply = await measure.apply_vs_bare(stubs[0], target.dsn, args.apply_repeats)
            out.concurrency = await measure.concurrent(
                stubs, target.admin_dsn, args.concurrent, args.max_sessions, args.concurrent_queries
            )
        finally:
            for c in channels:
                await c.close()
        out.load = (load_start, os.getloadavg()[0])
        out.seconds = time.perf_counter() - started
        return out
    except BaseException:
        for proc in cluster.procs if cluster else []:
            print(f"--- {proc.name} ({proc.log_path}):\n{proc.log_tail(1500)}", file=sys.stderr)
        raise
    finally:
        for proc in cluster.procs if cluster else []:
            await asyncio.to_thread(proc.stop, 10)
        if store is not None:
            await asyncio.to_thread(store.stop, "immediate")
        await asyncio.to_thread(target.stop)
        if args.logs:
            await asyncio.to_thread(_keep_logs, tmp, args.logs)
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bigdb",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--scale", choices=list(build.SCALES), default="full")
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="keep the target cluster here and reuse it next time (default: a temporary one)",
    )
    parser.add_argument("--repeats", type=int, help="analyses per max_queries")
    parser.add_argument("--apply-repeats", type=int, help="rounds of bare build + APPLY")
    parser.add_argument("--concurrent", type=int, default=32, help="analysis jobs at once")
    parser.add_argument("--concurrent-queries", type=int, help="max_queries of those jobs")
    parser.add_argument("--max-sessions", type=int, default=4, help="the target's max_sessions")
    parser.add_argument("--out", type=Path, default=Path("/tmp/bigdb_latest.txt"))
    parser.add_argument("--logs", type=Path, help="copy the services' logs here at the end")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    repeats, apply_repeats, queries = DEFAULTS[args.scale]
    args.repeats = args.repeats or repeats
    args.apply_repeats = args.apply_repeats or apply_repeats
    args.concurrent_queries = args.concurrent_queries or queries
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    outcome = asyncio.run(run(args))
    text = report.render(outcome)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return report.verdict(outcome)


if __name__ == "__main__":
    sys.exit(main())
