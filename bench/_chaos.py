"""The steady load of the chaos run and soak (bench/chaos.py), and what it reads back.

- `Services`: the job services of the run, called through whichever one answers (a call
  that finds one down, UNAVAILABLE or past its deadline, goes to the next, until a bound).
- `Load`: an open-loop stream of small analyses at a fixed rate. A CreateJob carries a
  request id and is retried with the same id, so a retry after a lost answer never makes a
  second job; a job is *accepted* once a CreateJob returned it.
- `Changes`: one suggestion at a time carried through approve, BENCHMARK (sandbox target),
  APPLY and ROLLBACK, then again from a new analysis.
- `completions`, `invariants`: read from the job store afterwards (end_time is the store's
  clock, on this machine: the same clock as `time.time()` here).
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import grpc

from bench import _cluster
from pgsage.jobs.v1 import job_pb2, job_service_pb2, job_service_pb2_grpc, suggestion_pb2

Job = job_pb2.Job
Suggestion = suggestion_pb2.Suggestion
TERMINAL = {Job.SUCCEEDED, Job.FAILED, Job.CANCELLED}
RETRYABLE = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.ABORTED,
    grpc.StatusCode.CANCELLED,
}
TARGET_SCHEMA = """
CREATE EXTENSION IF NOT EXISTS hypopg;
CREATE TABLE account (id bigint PRIMARY KEY, region int NOT NULL, email text NOT NULL);
CREATE TABLE invoice (id bigint PRIMARY KEY, account_id bigint NOT NULL, status int NOT NULL,
                      amount numeric NOT NULL, created date NOT NULL);
INSERT INTO account SELECT g, g % 50, 'user' || g || '@example.com'
  FROM generate_series(1, 20000) g;
INSERT INTO invoice SELECT g, 1 + (g * 7919) % 20000, g % 10, g % 1000, date '2024-01-01' + g % 700
  FROM generate_series(1, 100000) g;
ANALYZE;
"""
LOAD_QUERIES = [
    "SELECT * FROM account WHERE region = 7 AND email = 'user42@example.com'",
    "SELECT count(*) FROM invoice WHERE status = 3 AND created > date '2025-06-01'",
]
CHANGE_QUERY = "SELECT * FROM invoice WHERE account_id = 42"
MONITOR = {"application_name": "pgsage-chaos"}


async def store_conn(dsn: str, connect_timeout: float = 5) -> asyncpg.Connection:
    """A connection of this benchmark (tagged, so a fault never mistakes it for a service's)."""
    return await asyncpg.connect(dsn, timeout=connect_timeout, server_settings=MONITOR)


class Services:
    """The job services; `call` tries them in turn until one answers or `limit` passes."""

    def __init__(self, procs: list[_cluster.Proc]) -> None:
        self.procs = procs
        self._channels = [grpc.aio.insecure_channel(p.address) for p in procs]
        self._stubs = [job_service_pb2_grpc.JobServiceStub(c) for c in self._channels]
        self._turn = itertools.count()

    async def close(self) -> None:
        for channel in self._channels:
            await channel.close()

    async def call(
        self, method: str, request: Any, *, limit: float = 30, rpc_timeout: float = 5
    ) -> Any:
        deadline = time.monotonic() + limit
        while True:
            first = next(self._turn)
            order = [(first + i) % len(self.procs) for i in range(len(self.procs))]
            order.sort(key=lambda i: not self.procs[i].alive())  # live ones first
            error: grpc.aio.AioRpcError | None = None
            for i in order:
                try:
                    return await getattr(self._stubs[i], method)(request, timeout=rpc_timeout)
                except grpc.aio.AioRpcError as exc:
                    if exc.code() not in RETRYABLE:
                        raise
                    error = exc
            if time.monotonic() > deadline:
                assert error is not None
                raise error
            await asyncio.sleep(0.2)

    async def create(self, job: job_pb2.Job, *, limit: float = 30) -> str:
        """CreateJob with a request id (a retry returns the same job); the job's id."""
        request = job_service_pb2.CreateJobRequest(job=job, request_id=uuid.uuid4().hex)
        created = await self.call("CreateJob", request, limit=limit)
        return str(created.name.removeprefix("jobs/"))

    async def wait_terminal(self, job_id: str, limit: float) -> job_pb2.Job:
        deadline = time.monotonic() + limit
        request = job_service_pb2.GetJobRequest(name=f"jobs/{job_id}")
        while True:
            job = await self.call("GetJob", request, limit=max(deadline - time.monotonic(), 1))
            if job.state in TERMINAL:
                return job
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {Job.State.Name(job.state)}")
            await asyncio.sleep(0.2)


def analysis(queries: list[str]) -> job_pb2.Job:
    return Job(kind=Job.ANALYZE, target=_cluster.TARGET, queries=queries)


class Load:
    """Analyses at `rate` per second, open loop (a slow service does not slow the stream;
    at most `cap` CreateJob calls wait at once, more are counted as skipped)."""

    def __init__(self, services: Services, rate: float, cap: int = 64) -> None:
        self.services, self.rate, self.cap = services, rate, cap
        self.accepted: dict[str, float] = {}  # job id -> when CreateJob returned it
        self.refused: Counter[str] = Counter()  # status code -> creates given up on
        self.skipped = 0
        self._pending: set[asyncio.Task[None]] = set()

    async def _one(self) -> None:
        try:
            job_id = await self.services.create(analysis(LOAD_QUERIES), limit=20)
            self.accepted[job_id] = time.time()
        except grpc.aio.AioRpcError as exc:
            self.refused[exc.code().name] += 1

    async def run(self) -> None:
        started = time.monotonic()
        for n in itertools.count():
            await asyncio.sleep(max(0.0, started + n / self.rate - time.monotonic()))
            if len(self._pending) >= self.cap:
                self.skipped += 1
                continue
            task = asyncio.create_task(self._one())
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def drain(self) -> None:
        if self._pending:
            await asyncio.wait(self._pending, timeout=30)


class Changes:
    """One suggestion at a time through approve → BENCHMARK → APPLY → ROLLBACK."""

    def __init__(self, services: Services, accepted: dict[str, float], job_limit: float) -> None:
        self.s, self.accepted, self.job_limit = services, accepted, job_limit
        self.outcomes: Counter[str] = Counter()  # "APPLY SUCCEEDED", "approve UNAVAILABLE", ...
        self.cycles = 0

    async def _job(self, kind: Any, suggestion: str = "") -> job_pb2.Job:
        if kind == Job.ANALYZE:
            job = analysis([CHANGE_QUERY])
        else:
            job = Job(kind=kind, target=_cluster.TARGET, suggestion=suggestion)
        job_id = await self.s.create(job)
        self.accepted[job_id] = time.time()
        done = await self.s.wait_terminal(job_id, self.job_limit)
        self.outcomes[f"{Job.Kind.Name(kind)} {Job.State.Name(done.state)}"] += 1
        return done

    async def _suggestion(self, name: str) -> Any:
        return await self.s.call("GetSuggestion", job_service_pb2.GetSuggestionRequest(name=name))

    async def _roll_back_leftovers(self) -> None:
        """A change an earlier cycle left applied (its rollback failed) is rolled back first:
        a new APPLY of the same index would be refused as its twin."""
        listed = await self.s.call(
            "ListSuggestions", job_service_pb2.ListSuggestionsRequest(parent="jobs/-")
        )
        for s in listed.suggestions:
            if s.state in (Suggestion.APPLIED, Suggestion.ROLLBACK_FAILED):
                await self._job(Job.ROLLBACK, s.name)

    async def cycle(self) -> None:
        await self._roll_back_leftovers()
        done = await self._job(Job.ANALYZE)
        if done.state != Job.SUCCEEDED:
            return
        listed = await self.s.call(
            "ListSuggestions",
            job_service_pb2.ListSuggestionsRequest(parent=done.name, filter="kind = CREATE_INDEX"),
        )
        if not listed.suggestions:
            self.outcomes["analysis without CREATE_INDEX"] += 1
            return
        name = listed.suggestions[0].name
        # A new suggestion of a change already decided on this target starts in that
        # decision's state (ROLLED_BACK after an earlier cycle): only a PENDING one is approved.
        if listed.suggestions[0].state == Suggestion.PENDING:
            try:
                await self.s.call(
                    "ApproveSuggestion", job_service_pb2.ApproveSuggestionRequest(name=name)
                )
            except grpc.aio.AioRpcError as exc:  # a retried approve finds it APPROVED: fine
                self.outcomes[f"approve {exc.code().name}"] += 1
        state = (await self._suggestion(name)).state
        if state not in (Suggestion.APPROVED, Suggestion.ROLLED_BACK, Suggestion.APPLY_FAILED):
            self.outcomes[f"suggestion {Suggestion.State.Name(state)}, not applicable"] += 1
            await asyncio.sleep(1)
            return
        await self._job(Job.BENCHMARK, name)
        await self._job(Job.APPLY, name)
        if (await self._suggestion(name)).state == Suggestion.APPLIED:
            await self._job(Job.ROLLBACK, name)
        self.cycles += 1

    async def run(self) -> None:
        while True:
            try:
                await self.cycle()
            except (grpc.aio.AioRpcError, TimeoutError) as exc:
                code = exc.code().name if isinstance(exc, grpc.aio.AioRpcError) else "timeout"
                self.outcomes[f"cycle interrupted: {code}"] += 1
                await asyncio.sleep(0.5)


async def retry_store(dsn: str, work: Callable[[asyncpg.Connection], Awaitable[Any]]) -> Any:
    """Runs `work` on a fresh connection, retrying while the store restarts (≤ 60 s)."""
    deadline = time.monotonic() + 60
    while True:
        try:
            conn = await store_conn(dsn)
            try:
                return await work(conn)
            finally:
                await conn.close()
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


async def job_rows(dsn: str) -> list[asyncpg.Record]:
    sql = "SELECT id::text AS id, kind, state, create_time, end_time FROM job"
    return list(await retry_store(dsn, lambda c: c.fetch(sql)))


INVARIANTS = {
    "stuck": """SELECT count(*) FROM job WHERE state IN ('RUNNING', 'CANCELLING')
                AND (lease_owner IS NULL OR lease_expire_time < now() - interval '1 second')""",
    "dup suggestions": """SELECT count(*) FROM (SELECT job_id, fingerprint FROM suggestion
                          GROUP BY 1, 2 HAVING count(*) > 1) t""",
    "applied twins": """SELECT count(*) FROM (SELECT target, fingerprint FROM suggestion
                        WHERE state = 'APPLIED' GROUP BY 1, 2 HAVING count(*) > 1) t""",
    "terminal != once": """SELECT count(*) FROM job j
        WHERE state IN ('SUCCEEDED', 'FAILED', 'CANCELLED') AND
          (SELECT count(*) FROM job_event e WHERE e.job_id = j.id
             AND e.snapshot->>'state' IN ('SUCCEEDED', 'FAILED', 'CANCELLED')) <> 1""",
}


async def invariants(dsn: str) -> dict[str, int]:
    async def read(conn: asyncpg.Connection) -> dict[str, int]:
        return {k: int(await conn.fetchval(sql)) for k, sql in INVARIANTS.items()}

    return dict(await retry_store(dsn, read))
