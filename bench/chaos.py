"""Chaos run and soak of the job runner — issue 12 item 8. Loopback only, bounded.

    .venv/bin/python -m bench.chaos [--quick] [--rate 6] [--lease 5]
    .venv/bin/python -m bench.chaos --soak 600 [--rate 6]

Two job services and two optimizers (real subprocesses, one optimizer each) on a job store
this benchmark owns (an embedded PostgreSQL in a temporary directory, NOT the shared server:
it is restarted); the target (and its sandbox, for BENCHMARK) are databases of their own on
the shared server, which is never restarted. A steady open-loop stream of small analyses
(`--rate` per second, two queries on a 100k-row table) plus one change cycle at a time
(analysis → approve → BENCHMARK on the sandbox → APPLY → ROLLBACK) runs throughout, while
the faults come in turn, each after a quiet period:

  1. restart   the job store's PostgreSQL (`pg_ctl stop -m fast`, then start)
  2. terminate `pg_terminate_backend` of every job-service session (application_name
               `pgsage-jobs` for the pool, `pgsage-jobs-listen` for the LISTEN session)
  3. stall     a client takes every free connection of the store, each idle in a
               REPEATABLE READ transaction, holds them, then lets go
  4. kill      SIGKILL of the job service owning a RUNNING job, restarted 2 s later
  5. kills     SIGKILL of a random job service every 3-5 s, each restarted at once

Per fault, from the store's job rows: the completion rate in the quiet period before
(baseline) and in the last part of the period after; recovery = from the injection until
every later sliding window completes ≥ 80 % of the baseline rate; jobs lost = accepted jobs
(CreateJob returned) not terminal `--bound` seconds after the fault ended; duplicates and
stuck jobs (RUNNING/CANCELLING without a live lease) counted in the store after each fault.

`--soak N` runs the same load for N seconds without faults (finished jobs expire after 60 s,
so the tables reach a steady size) and prints RSS per process and dead tuples of the job
tables at the start (after a warm-up) and the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from bench import _chaos as ch
from bench import _cluster
from bench import _platform as bp
from bench._soak import soak
from pgsage.embedded import EmbeddedPostgres


def pg_ctl(store: EmbeddedPostgres, *steps: str) -> None:
    """`stop:<mode>` / `start` from a child Python process: this one hosts gRPC channels,
    whose fork handlers can crash a pg_ctl forked here (it runs as another user, so it is
    spawned with a real fork)."""
    calls = "; ".join(
        f"pg.stop({s.split(':')[1]!r})" if s.startswith("stop:") else "pg.start()" for s in steps
    )
    code = (
        "from pgsage.embedded import EmbeddedPostgres; "
        f"pg = EmbeddedPostgres({str(store.data_dir)!r}, {store.port}); {calls}"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120, cwd=_cluster.ROOT)


@dataclass
class Run:
    c: _cluster.Cluster
    services: list[_cluster.Proc]
    lease: float
    notes: dict[str, str] = field(default_factory=dict)


async def restart_store(r: Run) -> None:
    await asyncio.to_thread(pg_ctl, r.c.store, "stop:fast", "start")


async def terminate_sessions(r: Run) -> None:
    async def kill(conn: asyncpg.Connection) -> list[asyncpg.Record]:
        return list(
            await conn.fetch(
                """SELECT application_name, pg_terminate_backend(pid) FROM pg_stat_activity
                   WHERE datname = current_database() AND pid <> pg_backend_pid()
                     AND backend_type = 'client backend'
                     AND application_name IN ('pgsage-jobs', 'pgsage-jobs-listen')"""
            )
        )

    rows = await ch.retry_store(r.c.store_dsn, kill)
    pooled = sum(1 for x in rows if x[0] == "pgsage-jobs")
    r.notes["terminate"] = f"{pooled} pooled + {len(rows) - pooled} listening sessions"


STALL = "BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM job"


async def stall_pool(r: Run, hold: float) -> None:
    """Every free connection taken, idle in transaction, for `hold` seconds."""
    held: list[asyncpg.Connection] = []
    try:
        full = False
        while not full and len(held) < 400:  # 20 at a time, until the server refuses
            got = await asyncio.gather(
                *(ch.store_conn(r.c.store_dsn) for _ in range(20)), return_exceptions=True
            )
            for conn in got:
                if isinstance(conn, asyncpg.Connection):
                    held.append(conn)
                else:
                    full = True
        await asyncio.gather(*(c.execute(STALL) for c in held), return_exceptions=True)
        r.notes["stall"] = f"{len(held)} connections held {hold:g} s"
        await asyncio.sleep(hold)
    finally:
        await asyncio.gather(*(c.close(timeout=5) for c in held), return_exceptions=True)


async def running_owner_proc(r: Run, limit: float = 15) -> _cluster.Proc:
    """The job service holding the lease of a RUNNING job (a change job preferred)."""
    sql = """SELECT lease_owner FROM job WHERE state = 'RUNNING' AND lease_owner IS NOT NULL
             ORDER BY kind = 'ANALYZE', start_time LIMIT 5"""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        owners = await ch.retry_store(r.c.store_dsn, lambda c: c.fetch(sql))
        for (owner,) in owners:
            for p in r.services:
                if p.alive() and owner in p.log_path.read_text(errors="replace"):
                    return p
        await asyncio.sleep(0.05)
    return random.choice([p for p in r.services if p.alive()])


async def kill_one(r: Run, victim: _cluster.Proc | None = None, down: float = 2.0) -> None:
    victim = victim or await running_owner_proc(r)
    victim.kill()
    r.notes["kill"] = f"killed {victim.name} (owned a RUNNING job), restarted after {down:g} s"
    await asyncio.sleep(down)
    victim.start()
    await victim.wait_serving()


async def kill_repeatedly(r: Run, seconds: float) -> None:
    end = time.monotonic() + seconds
    kills = 0
    while time.monotonic() < end:
        victim = random.choice(r.services)
        victim.kill()
        victim.start()
        kills += 1
        await asyncio.sleep(random.uniform(3, 5))
    await asyncio.gather(*(p.wait_serving() for p in r.services))
    r.notes["kills"] = f"{kills} SIGKILLs in {seconds:g} s, each restarted at once"


@dataclass
class Phase:
    name: str
    injected: float = 0.0
    ended: float = 0.0
    observed: float = 0.0
    invariants: dict[str, int] = field(default_factory=dict)
    drained: float | None = None  # s after the fault ended until its jobs were all terminal
    not_terminal: int = 0


async def drain(load: ch.Load, r: Run, until: float, bound: float) -> tuple[float | None, int]:
    """Waits ≤ `bound` s after `until` for every job accepted before `until` to be
    terminal; (seconds after `until`, or None, and how many were not)."""
    ids = [i for i, t in load.accepted.items() if t <= until]
    done_states = ("SUCCEEDED", "FAILED", "CANCELLED")
    sql = "SELECT count(*) FROM job WHERE id = ANY($1::uuid[]) AND state = ANY($2)"
    while True:
        n = await ch.retry_store(r.c.store_dsn, lambda c: c.fetchval(sql, ids, done_states))
        if n == len(ids):
            return max(0.0, time.time() - until), 0
        if time.time() > until + bound:
            return None, len(ids) - n
        await asyncio.sleep(0.25)


def rate(ends: list[float], start: float, stop: float) -> float:
    return sum(1 for e in ends if start <= e < stop) / (stop - start) if stop > start else 0.0


def recovery(ends: list[float], p: Phase, base: float, window: float) -> str:
    """Seconds from the injection to the end of the last `window` (sliding by 0.25 s) that
    completed < 80 % of `base`: from then on throughput stayed back ("> x": the last window
    of the observation was still below)."""
    bad = None
    s = p.injected
    while s + window <= p.observed:
        if rate(ends, s, s + window) < 0.8 * base:
            bad = s
        s += 0.25
    if bad is None:
        return "0"
    if bad + window > p.observed - 0.25:
        return f"> {p.observed - p.injected:.0f}"
    return f"{bad + window - p.injected:.1f}"


def drained(rows: list[asyncpg.Record], load: ch.Load, p: Phase) -> str:
    """Seconds from the fault's end to the last end of a job accepted before it."""
    if p.drained is None:
        return "-"
    ids = {i for i, t in load.accepted.items() if t <= p.ended}
    last = max((x["end_time"].timestamp() for x in rows if x["id"] in ids), default=p.ended)
    return f"{max(0.0, last - p.ended):.1f}"


def latency(rows: list[asyncpg.Record], start: float, stop: float) -> float:
    xs = [
        (x["end_time"] - x["create_time"]).total_seconds()
        for x in rows
        if x["end_time"] is not None and x["kind"] == "ANALYZE"
        if start <= x["create_time"].timestamp() < stop
    ]
    return statistics.median(xs) if xs else float("nan")


async def chaos(args: argparse.Namespace) -> None:
    quiet, after = (8.0, 15.0) if args.quick else (15.0, 30.0)
    stall, kills = (8.0, 15.0) if args.quick else (15.0, 30.0)
    faults: list[tuple[str, Callable[[Run], Awaitable[None]]]] = [
        ("1 store restart", restart_store),
        ("2 terminate sessions", terminate_sessions),
        ("3 stalled client", lambda r: stall_pool(r, stall)),
        ("4 SIGKILL mid-stream", kill_one),
        ("5 SIGKILL every 3-5 s", lambda r: kill_repeatedly(r, kills)),
    ]
    async with environment(args) as (r, _services, load, changes):
        await asyncio.sleep(2 * quiet)  # warm-up: first sessions, first plans
        phases: list[Phase] = []
        for name, inject in faults:
            # The backlog of the previous fault is gone before the baseline is measured.
            await drain(load, r, time.time() - 3, args.bound)
            await asyncio.sleep(quiet)
            p = Phase(name, injected=time.time())
            print(f"[{time.strftime('%H:%M:%S')}] {name}", flush=True)
            await asyncio.wait_for(inject(r), 120)
            p.ended = time.time()
            await asyncio.sleep(after)
            p.observed = time.time()
            p.drained, p.not_terminal = await drain(load, r, p.ended, args.bound)
            p.invariants = await ch.invariants(r.c.store_dsn)
            phases.append(p)
        report(args, r, phases, await ch.job_rows(r.c.store_dsn), load, changes, quiet)


@contextlib.asynccontextmanager
async def environment(args: argparse.Namespace, **job_env: str):  # type: ignore[no-untyped-def]
    """The cluster, 2 optimizers, 2 job services, the load and the change cycle running."""
    box = f"pgsage_chaos_box_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(bp.BENCH_PG)
    await admin.execute(f'CREATE DATABASE "{box}"')
    tasks: list[asyncio.Task[None]] = []
    try:
        box_dsn = _cluster._shared_dsn(box)
        conn = await asyncpg.connect(box_dsn)
        await conn.execute(ch.TARGET_SCHEMA)
        await conn.close()
        async with _cluster.cluster(ch.TARGET_SCHEMA) as c:
            opts = [c.optimizer(f"optimizer-{i}") for i in (1, 2)]
            targets = [
                {
                    "name": _cluster.TARGET,
                    "dsn": c.target_dsn,
                    "apply_allowed": True,
                    "sandbox": "box",
                },
                {"name": "box", "dsn": box_dsn},
            ]
            for o in opts:  # the sandbox (BENCHMARK builds its index there) is a target too
                o.env["PGSAGE_OPTIMIZER_TARGETS"] = json.dumps(targets)
            env = {
                "PGSAGE_JOBS_LEASE": f"PT{args.lease:g}S",
                "PGSAGE_JOBS_RETRY_BACKOFF": "PT0.5S",
                "PGSAGE_JOBS_MAX_RETRY_BACKOFF": "PT2S",
                **job_env,
            }
            services = [c.job_service(o, f"jobs-{i}", **env) for i, o in enumerate(opts, 1)]
            await c.start_all(*opts, *services)
            r = Run(c, services, args.lease)
            client = ch.Services(services)
            load = ch.Load(client, args.rate)
            changes = ch.Changes(client, load.accepted, job_limit=args.bound)
            tasks = [asyncio.create_task(load.run()), asyncio.create_task(changes.run())]
            try:
                yield r, client, load, changes
            finally:
                kept = Path(tempfile.mkdtemp(prefix="pgsage-chaos-logs-"))
                for proc in c.procs:
                    with contextlib.suppress(OSError):
                        shutil.copy(proc.log_path, kept)
                print(f"service logs kept in {kept}")
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                await load.drain()
                await client.close()
    finally:
        with contextlib.suppress(Exception):
            await admin.execute(f'DROP DATABASE IF EXISTS "{box}" WITH (FORCE)')
        await admin.close()


def report(
    args: argparse.Namespace,
    r: Run,
    phases: list[Phase],
    rows: list[asyncpg.Record],
    load: ch.Load,
    changes: ch.Changes,
    quiet: float,
) -> None:
    ends = [x["end_time"].timestamp() for x in rows if x["end_time"] is not None]
    window = max(3.0, 16 / args.rate)
    table = []
    for p in phases:
        base = rate(ends, p.injected - quiet, p.injected)
        tail = rate(ends, p.observed - quiet, p.observed)
        rec = recovery(ends, p, base, window)
        inv = p.invariants
        table.append(
            [
                p.name,
                f"{p.ended - p.injected:.1f}",
                f"{base:.1f}",
                rec,
                f"{tail:.1f} ({tail / base:.0%})" if base else "-",
                f"{latency(rows, p.injected - quiet, p.injected):.2f} / "
                f"{latency(rows, p.observed - quiet - 5, p.observed - 5):.2f}",
                drained(rows, load, p),
                str(p.not_terminal),
                f"{inv['dup suggestions']} / {inv['applied twins']}",
                str(inv["stuck"]),
                str(inv["terminal != once"]),
            ]
        )
    print()
    print(
        bp.table(
            f"chaos: 2 job services + 2 optimizers, {args.rate:g} analyses/s open loop + one "
            f"change cycle, lease {args.lease:g} s, window {window:g} s"
            + (" (--quick)" if args.quick else ""),
            [
                "fault",
                "fault lasted s",
                "baseline: jobs/s before",
                "recovery s (>= 80 % of before)",
                "jobs/s after (of before)",
                "analysis latency p50 s before / after",
                "last job accepted before its end: terminal s after",
                "jobs lost",
                "dup suggestions / APPLIED twins",
                "stuck w/o live lease",
                "terminal != once",
            ],
            table,
        )
    )
    states = {
        s: sum(1 for x in rows if x["state"] == s) for s in sorted({x["state"] for x in rows})
    }
    missing = set(load.accepted) - {x["id"] for x in rows}
    print(
        f"\njobs in the store by state: {states}; accepted, absent from the store: {len(missing)}"
    )
    print(f"creates given up on (after retries): {dict(load.refused)}; skipped: {load.skipped}")
    print(f"change cycles completed: {changes.cycles}; outcomes: {dict(changes.outcomes)}")
    for k, v in r.notes.items():
        print(f"{k}: {v}")
    print(
        "target and sandbox: databases of their own on the shared server (not restarted); "
        "the job store: its own cluster."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="shorter periods (~3 minutes)")
    parser.add_argument("--rate", type=float, default=4.0, help="analyses per second")
    parser.add_argument("--lease", type=float, default=5.0, help="job lease, seconds")
    parser.add_argument("--bound", type=float, default=60.0, help="seconds for jobs to end")
    parser.add_argument("--soak", type=float, default=0.0, help="soak for N seconds instead")
    args = parser.parse_args()

    async def run() -> None:
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, task.cancel)  # clean up on SIGTERM too
        if args.soak:
            await soak(args, environment)
        else:
            await chaos(args)

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())


if __name__ == "__main__":
    main()
