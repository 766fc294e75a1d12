"""`python -m job_service` as a real process: serves, keeps every job across a restart,
exits 0 on SIGTERM, refuses a second replica on one embedded store, never logs a secret."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys

import grpc

from pgsage.embedded import EmbeddedPostgres, free_port
from pgsage.jobs.v1 import job_pb2, job_service_pb2, job_service_pb2_grpc


class Process:
    """A job service subprocess whose log is collected as it runs."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = {**os.environ, **env}
        self.port = int(env["PGSAGE_JOBS_GRPC_PORT"])
        self.log: list[str] = []
        self.proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task | None = None

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "job_service",
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        async for line in self.proc.stdout:
            self.log.append(line.decode(errors="replace"))

    async def serving(self) -> None:
        """Waits for the 'listening' line (or the process to end, which fails)."""
        for _ in range(600):
            if any("job service listening on" in line for line in self.log):
                return
            assert self.proc is not None
            if self.proc.returncode is not None:
                raise AssertionError("job service exited:\n" + "".join(self.log))
            await asyncio.sleep(0.1)
        raise AssertionError("job service never listened:\n" + "".join(self.log))

    async def wait(self) -> int:
        assert self.proc is not None
        code = await asyncio.wait_for(self.proc.wait(), 60)
        if self._reader is not None:
            await self._reader
        return code

    async def terminate(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return await self.wait()

    def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()


def env_for(**values: str) -> dict[str, str]:
    env = {
        "PGSAGE_JOBS_GRPC_HOST": "127.0.0.1",
        "PGSAGE_JOBS_GRPC_PORT": str(free_port()),
        # API-only replica: jobs stay as the test created them (see conftest).
        "PGSAGE_JOBS_MAX_CONCURRENT_JOBS": "0",
    }
    env.update({f"PGSAGE_JOBS_{k.upper()}": v for k, v in values.items()})
    return env


async def test_embedded_store_survives_restarts_and_serves_one_replica(scratch_dir):
    data_dir = str(scratch_dir / "jobs-postgres")
    first = Process(env_for(data_dir=data_dir))
    second = Process(env_for(data_dir=data_dir))
    again = Process(env_for(data_dir=data_dir))
    try:
        await first.start()
        await first.serving()
        assert f"job service listening on 127.0.0.1:{first.port}" in "".join(first.log)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{first.port}") as channel:
            stub = job_service_pb2_grpc.JobServiceStub(channel)
            created = [
                await stub.CreateJob(
                    job_service_pb2.CreateJobRequest(job=job_pb2.Job(target=f"t{i}")), timeout=10
                )
                for i in range(3)
            ]

        await second.start()
        assert await second.wait() != 0
        assert "a real PostgreSQL" in "".join(second.log)

        assert await first.terminate() == 0
        assert any("stopping" in line for line in first.log)

        await again.start()
        await again.serving()
        async with grpc.aio.insecure_channel(f"127.0.0.1:{again.port}") as channel:
            stub = job_service_pb2_grpc.JobServiceStub(channel)
            for job in created:
                got = await stub.GetJob(job_service_pb2.GetJobRequest(name=job.name), timeout=10)
                assert got == job
        assert await again.terminate() == 0
    finally:
        for p in (first, second, again):
            p.kill()
        # A killed service leaves its embedded cluster running: stop it.
        await asyncio.to_thread(EmbeddedPostgres(data_dir).stop, "immediate")


async def test_database_url_is_migrated_and_never_logged(module_db):
    secret_url = module_db.replace("postgres@", "postgres:s3cret-pw@", 1)
    process = Process(env_for(database_url=secret_url))
    try:
        await process.start()
        await process.serving()
        async with grpc.aio.insecure_channel(f"127.0.0.1:{process.port}") as channel:
            stub = job_service_pb2_grpc.JobServiceStub(channel)
            job = await stub.CreateJob(
                job_service_pb2.CreateJobRequest(job=job_pb2.Job(target="proc")), timeout=10
            )
            assert job.state == job_pb2.Job.PENDING
        assert await process.terminate() == 0
        log = "".join(process.log)
        assert "s3cret-pw" not in log and module_db not in log
    finally:
        process.kill()
