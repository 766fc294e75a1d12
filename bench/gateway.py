"""GET job and list jobs through the REST gateway, req/s, beside the same calls straight over
gRPC to the same job service in the same run — BENCH.md "gateway"; target REST ≥ 50 % of gRPC.

    .venv/bin/python -m bench.gateway [--seconds 4] [--in-flight 16] [--rounds 3]

The job service and the gateway run as subprocesses (`python -m job_service`,
`python -m gateway`) on a database of their own; this process drives both. The HTTP side uses
a minimal keep-alive HTTP/1.1 client (one connection per call in flight) so that the client's
own cost does not count against the gateway; rounds alternate gRPC and REST and the medians
are reported.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import signal
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import grpc

from bench import _platform as bp
from pgsage.embedded import free_port
from pgsage.jobs.v1 import job_pb2, job_service_pb2

JOBS = 1000
PAGE = 20


@contextlib.asynccontextmanager
async def gateway(address: str) -> AsyncIterator[int]:
    """Runs `python -m gateway` in front of `address`; yields its HTTP port."""
    port = free_port()
    env = {
        **os.environ,
        "PGSAGE_GATEWAY_HOST": "127.0.0.1",
        "PGSAGE_GATEWAY_HTTP_PORT": str(port),
        "PGSAGE_GATEWAY_JOB_SERVICE_ADDRESS": address,
        "PGSAGE_GATEWAY_LOG_LEVEL": "WARNING",
    }
    log_path = Path(tempfile.gettempdir()) / f"pgsage-bench-gateway-{port}.log"
    with log_path.open("wb") as log_file:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gateway", env=env, stdout=log_file, stderr=log_file
        )
        try:
            for _ in range(300):
                with contextlib.suppress(OSError):
                    status, _ = await HttpConnection.once(port, "/healthz")
                    if status == 200:
                        break
                if proc.returncode is not None:
                    raise RuntimeError(f"gateway exited during start-up; see {log_path}")
                await asyncio.sleep(0.1)
            yield port
        finally:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(proc.wait(), 30)
                except TimeoutError:
                    proc.kill()


class HttpConnection:
    """One keep-alive HTTP/1.1 connection issuing GETs and reading Content-Length bodies."""

    def __init__(
        self, port: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.port, self.reader, self.writer = port, reader, writer

    @classmethod
    async def open(cls, port: int) -> HttpConnection:
        return cls(port, *await asyncio.open_connection("127.0.0.1", port))

    @classmethod
    async def once(cls, port: int, path: str) -> tuple[int, bytes]:
        conn = await cls.open(port)
        try:
            return await conn.get(path)
        finally:
            conn.writer.close()

    async def get(self, path: str) -> tuple[int, bytes]:
        try:
            return await self._get(path)
        except (asyncio.IncompleteReadError, ConnectionError):
            # The server closed an idle keep-alive connection (between rounds): reconnect.
            self.writer.close()
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
            return await self._get(path)

    async def _get(self, path: str) -> tuple[int, bytes]:
        self.writer.write(f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length = next(
            int(line.split(":", 1)[1])
            for line in lines
            if line.lower().startswith("content-length")
        )
        return status, await self.reader.readexactly(length)


async def http_calls(
    port: int, in_flight: int, path_of: Callable[[], str]
) -> tuple[list[HttpConnection], Callable[[int], Awaitable[object]]]:
    """A call for `bp.closed_loop` that uses one connection per worker."""
    pool = [await HttpConnection.open(port) for _ in range(in_flight)]
    free: asyncio.Queue[HttpConnection] = asyncio.Queue()
    for conn in pool:
        free.put_nowait(conn)

    async def call(_: int) -> object:
        conn = await free.get()
        try:
            status, body = await conn.get(path_of())
            if status != 200:
                raise RuntimeError(f"HTTP {status}: {body[:200]!r}")
            return body
        finally:
            free.put_nowait(conn)

    return pool, call


async def main(seconds: float, in_flight: int, rounds: int) -> None:
    name = bp.unique_name("pgsage_bench_gateway")
    url = await bp.create_database(name)
    results: dict[tuple[str, str], list[bp.Run]] = {}
    try:
        async with bp.job_service(url) as address, gateway(address) as port:
            async with grpc.aio.insecure_channel(address) as channel:
                stub = bp.jobs_stub(channel)
                names = [
                    (
                        await stub.CreateJob(
                            job_service_pb2.CreateJobRequest(job=job_pb2.Job(target=f"t{i % 10}")),
                            timeout=10,
                        )
                    ).name
                    for i in range(JOBS)
                ]
                rng = random.Random(7)

                async def grpc_get(_: int) -> object:
                    request = job_service_pb2.GetJobRequest(name=rng.choice(names))
                    return await stub.GetJob(request, timeout=10)

                async def grpc_list(_: int) -> object:
                    request = job_service_pb2.ListJobsRequest(page_size=PAGE)
                    return await stub.ListJobs(request, timeout=10)

                pool, rest_get = await http_calls(
                    port, in_flight, lambda: f"/v1/{rng.choice(names)}"
                )
                _, rest_list = await http_calls(
                    port, in_flight, lambda: f"/v1/jobs?pageSize={PAGE}"
                )
                calls = {
                    ("GetJob", "gRPC"): grpc_get,
                    ("GetJob", "REST"): rest_get,
                    ("ListJobs", "gRPC"): grpc_list,
                    ("ListJobs", "REST"): rest_list,
                }
                for call in calls.values():  # warm-up: connections, caches, JIT-free paths
                    await bp.closed_loop(call, in_flight=in_flight, calls=200)
                for _ in range(rounds):
                    for key, call in calls.items():
                        run = await bp.closed_loop(call, in_flight=in_flight, seconds=seconds)
                        results.setdefault(key, []).append(run)
                for conn in pool:
                    conn.writer.close()
    finally:
        await bp.drop_database(name)

    def median_run(key: tuple[str, str]) -> bp.Run:
        runs = sorted(results[key], key=lambda r: r.rate)
        return runs[len(runs) // 2]

    rows = []
    ratios = {}
    for rpc in ("GetJob", "ListJobs"):
        base, rest = median_run((rpc, "gRPC")), median_run((rpc, "REST"))
        ratios[rpc] = rest.rate / base.rate
        for label, run in (("gRPC (baseline)", base), ("REST via gateway", rest)):
            rows.append([rpc, label, f"{run.rate:.0f}", bp.ms(run.p(0.5)), bp.ms(run.p(0.99))])
        rows.append([rpc, "REST / gRPC", f"{ratios[rpc]:.0%}", "", ""])
    print(
        bp.table(
            f"gateway: {JOBS} jobs; {in_flight} in flight; median of {rounds} rounds of "
            f"{seconds:g} s; ListJobs pageSize={PAGE}",
            ["call", "path", "req/s", "p50 ms", "p99 ms"],
            rows,
        )
    )
    worst = min(ratios.values())
    verdict = "met" if worst >= 0.5 else "MISSED"
    print(f"\nREST reaches {worst:.0%} of gRPC at worst (target >= 50 %: {verdict})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=4)
    parser.add_argument("--in-flight", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.seconds, args.in_flight, args.rounds))
