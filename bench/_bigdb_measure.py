"""What bench/bigdb.py measures on the production-size target, each with its in-run baseline.

- `analyze`: one Analyze call straight to the optimizer (pg_stat_statements workload): wall
  time, the optimizer process's peak RSS during the call (its high-water mark, reset before
  the call through /proc/<pid>/clear_refs), what-if calls, coverage, time to the first
  progress event, progress events per second and the longest gap between two of them.
- `apply_vs_bare`: the top CREATE INDEX suggestion on `events` carried through the job
  service (approve, APPLY job, watched with WatchJob, then a ROLLBACK job), against the same
  statement run directly on a plain session (the baseline), alternating which goes first.
- `concurrent`: many ANALYZE jobs at once over the job services against the one target,
  with pg_stat_activity sampled every 20 ms for the optimizer's sessions on it; baseline:
  the same job alone.
"""

# ruff: noqa: S608 - the SQL is built from the benchmark's own fixed names and numbers

from __future__ import annotations

import asyncio
import itertools
import re
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import grpc
from google.rpc import error_details_pb2

from bench._bigdb_build import DATABASE, UNTRACKED
from pgsage import tasks
from pgsage.jobs.v1 import job_pb2, job_service_pb2, job_service_pb2_grpc, suggestion_pb2
from pgsage.optimizer.v1 import analysis_pb2, optimizer_service_pb2, optimizer_service_pb2_grpc

TARGET = "bigdb"
Job = job_pb2.Job
TERMINAL = (Job.SUCCEEDED, Job.FAILED, Job.CANCELLED)
JobStub = job_service_pb2_grpc.JobServiceStub


def _hwm_reset(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def _hwm(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


@dataclass
class Analysis:
    """One Analyze call (an `error` when it was refused or failed)."""

    max_queries: int
    coverage_asked: float
    seconds: float = 0.0
    peak_rss: int = 0
    what_if_calls: int = 0
    cache_hits: int = 0
    analysed: int = 0
    coverage: float = 0.0
    total_statements: int = 0
    first_progress: float = 0.0
    progress_events: int = 0
    longest_gap: float = 0.0
    suggestions: int = 0
    incomplete: tuple[str, ...] = ()
    error: str = ""

    @property
    def events_per_second(self) -> float:
        return self.progress_events / self.seconds if self.seconds else 0.0


async def analyze(
    channel: grpc.aio.Channel, pid: int, max_queries: int, coverage: float = 0.0
) -> Analysis:
    """One Analyze of the target's pg_stat_statements with `max_queries` (0 coverage: the
    service's default, 95 %)."""
    stub = optimizer_service_pb2_grpc.OptimizerServiceStub(channel)
    request = optimizer_service_pb2.AnalyzeRequest(
        target=TARGET,
        options=analysis_pb2.AnalysisOptions(
            max_queries=max_queries, workload_coverage_percent=coverage
        ),
    )
    out = Analysis(max_queries, coverage)
    _hwm_reset(pid)
    progress: list[float] = []
    started = time.perf_counter()
    try:
        async for event in stub.Analyze(request, timeout=3600):
            kind = event.WhichOneof("event")
            if kind == "progress":
                progress.append(time.perf_counter() - started)
            elif kind == "workload":
                out.total_statements = event.workload.total_statements
            elif kind == "advice" and event.advice.kind == 1:  # ADVICE_KIND_CREATE_INDEX
                out.suggestions += 1
            elif kind == "summary":
                s = event.summary
                out.what_if_calls, out.cache_hits = s.what_if_calls, s.what_if_cache_hits
                out.analysed, out.coverage = s.queries_analyzed, s.workload_coverage_percent
                out.incomplete = tuple(s.incomplete_phases)
    except grpc.aio.AioRpcError as exc:
        out.error = f"{exc.code().name}: {exc.details()}"
    out.seconds = time.perf_counter() - started
    out.peak_rss = _hwm(pid)
    out.progress_events = len(progress)
    if progress:
        out.first_progress = progress[0]
        marks = [0.0, *progress, out.seconds]
        out.longest_gap = max(b - a for a, b in itertools.pairwise(marks))
    return out


async def wait_job(stub: JobStub, name: str, limit: float = 7200) -> job_pb2.Job:
    deadline = time.monotonic() + limit
    while True:
        job = await stub.GetJob(job_service_pb2.GetJobRequest(name=name), timeout=10)
        if job.state in TERMINAL:
            return job
        if time.monotonic() > deadline:
            raise TimeoutError(f"{name} still {Job.State.Name(job.state)} after {limit:.0f} s")
        await asyncio.sleep(0.1)


async def create(stub: JobStub, job: job_pb2.Job) -> job_pb2.Job:
    return await stub.CreateJob(job_service_pb2.CreateJobRequest(job=job), timeout=30)


def _failure(job: job_pb2.Job) -> str:
    return f"{Job.State.Name(job.state)}: {job.error.message}"


@dataclass
class Build:
    """One build of the index: through pgsage (an APPLY job) or bare."""

    seconds: float
    job_seconds: float = 0.0  # the job's own start_time → end_time (the store's clock)
    first_progress: float = 0.0
    progress_events: int = 0
    phases: tuple[str, ...] = ()

    @property
    def events_per_second(self) -> float:
        span = self.seconds - self.first_progress
        return self.progress_events / span if span > 0 else 0.0


@dataclass
class Apply:
    """The APPLY of the top suggestion against the bare build of the same statement."""

    suggestion_sql: str = ""
    table: str = ""
    estimated_bytes: int = 0
    index_bytes: int = 0
    pgsage: list[Build] = field(default_factory=list)
    bare: list[Build] = field(default_factory=list)
    error: str = ""


async def _suggestion(stub: JobStub, max_queries: int) -> suggestion_pb2.Suggestion:
    """The top CREATE INDEX suggestion on `events` of an analysis job (else the top one)."""
    job = await create(
        stub,
        Job(
            kind=Job.ANALYZE,
            target=TARGET,
            options=job_pb2.AnalysisOptions(max_queries=max_queries),
        ),
    )
    done = await wait_job(stub, job.name)
    if done.state != Job.SUCCEEDED:
        raise RuntimeError(f"the analysis job {_failure(done)}")
    listed = await stub.ListSuggestions(
        job_service_pb2.ListSuggestionsRequest(
            parent=done.name, filter="kind = CREATE_INDEX", page_size=100
        ),
        timeout=10,
    )
    if not listed.suggestions:
        raise RuntimeError("the analysis suggested no index")
    on_events = [s for s in listed.suggestions if any(t.endswith("events") for t in s.tables)]
    return (on_events or list(listed.suggestions))[0]


async def _apply_once(stub: JobStub, name: str) -> Build:
    started = time.perf_counter()
    job = await create(stub, Job(kind=Job.APPLY, target=TARGET, suggestion=name))
    marks: list[float] = []
    phases: list[str] = []
    request = job_service_pb2.WatchJobRequest(name=job.name, since_revision=job.revision)
    last = job
    async for change in stub.WatchJob(request, timeout=7200):
        last = change.job
        p = change.job.progress
        if change.event_type == "progress" and p.stage == "build":
            marks.append(time.perf_counter() - started)
            phase = re.sub(r" \(\d+ s\)$", "", p.message.split(",")[0])
            if not phases or phases[-1] != phase:
                phases.append(phase)
        if last.state in TERMINAL:
            break
    seconds = time.perf_counter() - started
    if last.state != Job.SUCCEEDED:
        raise RuntimeError(f"the APPLY job {_failure(last)}")
    job_seconds = last.end_time.ToDatetime() - last.start_time.ToDatetime()
    return Build(
        seconds=seconds,
        job_seconds=job_seconds.total_seconds(),
        first_progress=marks[0] if marks else 0.0,
        progress_events=len(marks),
        phases=tuple(phases),
    )


async def _rollback(stub: JobStub, name: str) -> None:
    job = await create(stub, Job(kind=Job.ROLLBACK, target=TARGET, suggestion=name))
    done = await wait_job(stub, job.name)
    if done.state != Job.SUCCEEDED:
        raise RuntimeError(f"the ROLLBACK job {_failure(done)}")


async def _bare(dsn: str, sql: str, rollback_sql: str) -> tuple[Build, int]:
    """The statement alone on a plain session (no timeouts), timed; its index's size, then
    dropped."""
    conn = await asyncpg.connect(dsn, command_timeout=None, server_settings=UNTRACKED)
    try:
        started = time.perf_counter()
        await conn.execute(sql)
        seconds = time.perf_counter() - started
        size = await conn.fetchval(
            "SELECT sum(pg_relation_size(indexrelid)) FROM pg_index"
            " WHERE indrelid = 'events'::regclass AND indexrelid::regclass::text LIKE '%pgsage%'"
        )
        await conn.execute(rollback_sql)
    finally:
        await conn.close()
    return Build(seconds=seconds), int(size or 0)


async def apply_vs_bare(stub: JobStub, dsn: str, repeats: int, max_queries: int = 200) -> Apply:
    """`repeats` rounds of (bare build, APPLY job) in alternating order; the APPLY is rolled
    back through a ROLLBACK job after each."""
    out = Apply()
    try:
        s = await _suggestion(stub, max_queries)
        out.suggestion_sql, out.table = s.sql, ", ".join(s.tables)
        out.estimated_bytes = s.estimated_size_bytes
        await stub.ApproveSuggestion(
            job_service_pb2.ApproveSuggestionRequest(name=s.name), timeout=10
        )
        for n in range(repeats):
            for which in ("bare", "pgsage") if n % 2 == 0 else ("pgsage", "bare"):
                if which == "bare":
                    build, out.index_bytes = await _bare(dsn, s.sql, s.rollback_sql)
                    out.bare.append(build)
                else:
                    out.pgsage.append(await _apply_once(stub, s.name))
                    await _rollback(stub, s.name)
    except (RuntimeError, TimeoutError, grpc.aio.AioRpcError, asyncpg.PostgresError) as exc:
        out.error = str(exc) if not isinstance(exc, grpc.aio.AioRpcError) else exc.details()
    return out


@dataclass
class Concurrency:
    jobs: int
    cap: int
    alone_seconds: float = 0.0
    seconds: float = 0.0
    peak_sessions: int = 0
    peak_working: int = 0
    samples: int = 0
    states: dict[str, int] = field(default_factory=dict)
    same_suggestions: bool = False
    error: str = ""


class SessionSampler:
    """The optimizer's sessions on the target, counted in pg_stat_activity every 20 ms."""

    SQL = f"""
        SELECT count(*) AS total,
               count(*) FILTER (WHERE application_name NOT LIKE '%(idle)') AS working
        FROM pg_stat_activity
        WHERE datname = '{DATABASE}' AND application_name LIKE 'pgsage-optimizer%'"""

    def __init__(self, admin_dsn: str) -> None:
        self.admin_dsn = admin_dsn
        self.peak = self.peak_working = self.samples = 0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        conn = await asyncpg.connect(self.admin_dsn, server_settings=UNTRACKED)
        try:
            while True:
                row = await conn.fetchrow(self.SQL)
                self.peak = max(self.peak, row["total"])
                self.peak_working = max(self.peak_working, row["working"])
                self.samples += 1
                await asyncio.sleep(0.02)
        finally:
            await conn.close()

    async def __aenter__(self) -> SessionSampler:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        await tasks.stop(self._task)


async def _fingerprints(stub: JobStub, name: str) -> frozenset[str]:
    listed = await stub.ListSuggestions(
        job_service_pb2.ListSuggestionsRequest(
            parent=name, filter="kind = CREATE_INDEX", page_size=100
        ),
        timeout=10,
    )
    return frozenset(s.fingerprint for s in listed.suggestions)


async def concurrent(
    stubs: list[JobStub], admin_dsn: str, jobs: int, cap: int, max_queries: int
) -> Concurrency:
    """`jobs` ANALYZE jobs created at once, spread over `stubs`; one alone first."""
    out = Concurrency(jobs, cap)
    job = Job(
        kind=Job.ANALYZE, target=TARGET, options=job_pb2.AnalysisOptions(max_queries=max_queries)
    )
    try:
        started = time.perf_counter()
        alone = await wait_job(stubs[0], (await create(stubs[0], job)).name)
        out.alone_seconds = time.perf_counter() - started
        expected = await _fingerprints(stubs[0], alone.name)
        async with SessionSampler(admin_dsn) as sampler:
            started = time.perf_counter()
            created = await asyncio.gather(
                *(create(stubs[n % len(stubs)], job) for n in range(jobs))
            )
            done = await asyncio.gather(
                *(wait_job(stubs[n % len(stubs)], j.name) for n, j in enumerate(created))
            )
            out.seconds = time.perf_counter() - started
        out.peak_sessions, out.peak_working = sampler.peak, sampler.peak_working
        out.samples = sampler.samples
        for j in done:
            state = Job.State.Name(j.state)
            out.states[state] = out.states.get(state, 0) + 1
        seen = await asyncio.gather(*(_fingerprints(stubs[0], j.name) for j in done))
        out.same_suggestions = all(s == expected for s in seen)
    except (RuntimeError, TimeoutError, grpc.aio.AioRpcError) as exc:
        out.error = str(exc) if not isinstance(exc, grpc.aio.AioRpcError) else exc.details()
    return out


async def job_refused(stub: JobStub, max_queries: int) -> str:
    """What the job service does with an ANALYZE job of `max_queries`: refused at CreateJob,
    or the job's end."""
    options = job_pb2.AnalysisOptions(max_queries=max_queries)
    job = Job(kind=Job.ANALYZE, target=TARGET, options=options)
    try:
        created = await create(stub, job)
    except grpc.aio.AioRpcError as exc:
        return f"CreateJob {exc.code().name}: {exc.details()}"
    done = await wait_job(stub, created.name, limit=600)
    reason = next((d.reason for d in _error_infos(done)), "")
    return (
        f"CreateJob OK, job {_failure(done)}"
        + (f" ({reason})" if reason else "")
        + f", after {done.attempt} of {done.max_attempts} attempts"
    )


def _error_infos(job: job_pb2.Job) -> list[error_details_pb2.ErrorInfo]:
    infos = []
    for detail in job.error.details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            infos.append(info)
    return infos


def med(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0
