"""The soak of bench/chaos.py: the chaos run's load for N seconds without faults.

Finished jobs expire 60 s after they end (PGSAGE_JOBS_JOB_TTL, swept every 5 s), so the job
tables reach a steady size and dead tuples can be judged. They rise and fall with autovacuum
(every autovacuum_naptime), so snapshots at the start and the end are printed but the
verdict compares peaks: *flat* when the largest count seen in the second half (sampled every
10 s) is at most 1.25 x that of the first half, or below autovacuum's trigger for the table
(autovacuum_vacuum_threshold + scale_factor x live rows). RSS of a service process is *flat*
when it grew at most 3 % of its start (after the warm-up) over the second half.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

import asyncpg
import psutil

from bench import _chaos as ch
from bench import _platform as bp

TABLES = ("job", "job_event", "suggestion", "audit_record", "api_token")
MB = 1024 * 1024


def rss(procs: list[Any]) -> dict[str, int]:
    out = {}
    for p in procs:
        if p.alive():
            out[p.name] = psutil.Process(p.popen.pid).memory_info().rss
    return out


async def tuples(dsn: str) -> dict[str, asyncpg.Record]:
    sql = """
        SELECT s.relname, n_live_tup, n_dead_tup, autovacuum_count,
               current_setting('autovacuum_vacuum_threshold')::float8
                 + current_setting('autovacuum_vacuum_scale_factor')::float8
                   * greatest(c.reltuples, 0) AS trigger
        FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
        WHERE s.relname = ANY($1)"""

    async def read(conn: asyncpg.Connection) -> dict[str, asyncpg.Record]:
        return {row["relname"]: row for row in await conn.fetch(sql, list(TABLES))}

    return dict(await ch.retry_store(dsn, read))


async def soak(args: argparse.Namespace, environment: Any) -> None:
    seconds = args.soak
    warm = min(30.0, seconds / 5)
    env = {"PGSAGE_JOBS_JOB_TTL": "PT60S", "PGSAGE_JOBS_EXPIRY_INTERVAL": "PT5S"}
    async with environment(args, **env) as (r, _services, load, changes):
        procs = [p for p in r.c.procs if p.alive()]
        await asyncio.sleep(warm)
        started = time.time()
        rss0, dead0 = rss(procs), await tuples(r.c.store_dsn)
        rss_max = dict(rss0)
        rss_mid: dict[str, int] = {}
        dead_max: list[dict[str, int]] = [{}, {}]  # the largest count in each half
        accepted0 = len(load.accepted)
        print(f"[{time.strftime('%H:%M:%S')}] soak: {seconds:g} s after {warm:g} s warm-up")
        while time.time() < started + seconds:
            await asyncio.sleep(min(10.0, started + seconds - time.time()))
            now = rss(procs)
            for k, v in now.items():
                rss_max[k] = max(rss_max.get(k, 0), v)
            if not rss_mid and time.time() >= started + seconds / 2:
                rss_mid = now
            half = dead_max[0] if time.time() < started + seconds / 2 else dead_max[1]
            for t, row in (await tuples(r.c.store_dsn)).items():
                half[t] = max(half.get(t, 0), row["n_dead_tup"])
        rss1, dead1 = rss(procs), await tuples(r.c.store_dsn)
        accepted = len(load.accepted) - accepted0
        inv = await ch.invariants(r.c.store_dsn)
    rows = []
    for name, before in rss0.items():
        mid, after = rss_mid.get(name, before), rss1.get(name, 0)
        second = (after - mid) / before
        rows.append(
            [
                name,
                f"{before / MB:.1f} / {mid / MB:.1f} / {after / MB:.1f}",
                f"{rss_max[name] / MB:.1f}",
                f"{(mid - before) / before:+.1%} / {second:+.1%}",
                "flat" if second <= 0.03 else "GROWING",
            ]
        )
    title = f"soak: {seconds:g} s at {args.rate:g} analyses/s + change cycles, after {warm:g} s"
    print()
    print(
        bp.table(
            title + " — RSS per process (MB)",
            ["process", "start / mid / end", "max", "growth 1st / 2nd half", "verdict"],
            rows,
        )
    )
    rows = []
    for t in TABLES:
        a, b = dead0.get(t), dead1.get(t)
        if a is None or b is None:
            rows.append([t, "-", "-", "-", "-", "-", "-", "no stats"])
            continue
        first, second = dead_max[0].get(t, 0), dead_max[1].get(t, 0)
        flat = second <= max(1.25 * first, b["trigger"])
        rows.append(
            [
                t,
                f"{a['n_live_tup']} / {a['n_dead_tup']}",
                f"{b['n_live_tup']} / {b['n_dead_tup']}",
                f"{dead_max[0].get(t, 0)} / {dead_max[1].get(t, 0)}",
                f"{b['trigger']:.0f}",
                str(b["autovacuum_count"] - a["autovacuum_count"]),
                "flat" if flat else "GROWING",
            ]
        )
    print()
    print(
        bp.table(
            title + " — job tables (pg_stat_user_tables)",
            [
                "table",
                "live / dead at start",
                "live / dead at end",
                "max dead: 1st / 2nd half",
                "autovacuum trigger at end",
                "autovacuums during",
                "verdict",
            ],
            rows,
        )
    )
    print(
        f"\njobs accepted during the soak: {accepted} ({accepted / seconds:.1f}/s); "
        f"creates given up on: {dict(load.refused)}; change cycles: {changes.cycles}, "
        f"outcomes {dict(changes.outcomes)}; invariants at the end: {inv}"
    )
