"""`pgsage up`: the whole stack on one machine, stopped cleanly by Ctrl-C or SIGTERM.

Starts, in order: an embedded PostgreSQL holding the demo target (built once by
`python -m pgsage.demo`), the optimizer (configured with that target), the job service (its
own embedded PostgreSQL by default, in `<data-dir>/jobs-postgres`), and the gateway. Each
service is a subprocess in a session of its own, logging to `<data-dir>/logs/`; `up` waits for
each one's health before starting the next and stops them in reverse order. One `up` runs per
data directory (see `pgsage.cli.instance`); it never touches a system PostgreSQL unless
--demo-dsn or --database-url names one.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

import pgsage
from pgsage.cli import instance
from pgsage.cli.errors import FAILURE, OK, UNAVAILABLE, CliError
from pgsage.demo import config as demo_config
from pgsage.embedded import EmbeddedPostgres, free_port

DEMO_DATABASE = "pgsage_demo"
_STOP_GRACE = 15.0


@dataclass
class Child:
    """One service subprocess and its log file."""

    name: str
    process: subprocess.Popen
    log_path: Path

    def alive(self) -> bool:
        return self.process.poll() is None

    def tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(text[-lines:])

    def stop(self) -> None:
        if not self.alive():
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(_STOP_GRACE)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@dataclass
class Stack:
    data_dir: Path
    out: TextIO
    children: list[Child] = field(default_factory=list)
    demo_postgres: EmbeddedPostgres | None = None
    stopping: threading.Event = field(default_factory=threading.Event)

    def spawn(self, name: str, module: str, env: dict[str, str], *args: str) -> Child:
        logs = self.data_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        log_path = logs / f"{name}.log"
        handle = log_path.open("ab")
        # The services sit beside the pgsage package (a checkout or site-packages alike).
        root = str(Path(pgsage.__file__).resolve().parents[1])
        path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
        process = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            env={**os.environ, "PYTHONPATH": path, **env},
            stdin=subprocess.DEVNULL,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches `up` only; it stops them in order
        )
        handle.close()
        child = Child(name, process, log_path)
        self.children.append(child)
        return child

    def wait_for(self, child: Child, ready, what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.stopping.is_set():
                raise KeyboardInterrupt
            if not child.alive():
                raise CliError(
                    f"{child.name} exited with code {child.process.returncode} while starting; "
                    f"its log ({child.log_path}) ends with:\n{child.tail()}",
                    FAILURE,
                )
            if ready():
                return
            time.sleep(0.3)
        raise CliError(
            f"{child.name} did not become ready within {timeout:.0f} s ({what}); "
            f"its log ({child.log_path}) ends with:\n{child.tail()}",
            UNAVAILABLE,
        )

    def stop(self) -> None:
        for child in reversed(self.children):
            if child.alive():
                self.out.write(f"stopping {child.name}\n")
                self.out.flush()
            child.stop()
        if self.demo_postgres is not None:
            with contextlib.suppress(Exception):
                self.demo_postgres.stop()


def grpc_serving(address: str, service: str = "") -> bool:
    """Whether the gRPC server at `address` reports SERVING for `service`."""
    with grpc.insecure_channel(address) as channel:
        try:
            answer = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=1.0
            )
        except grpc.RpcError:
            return False
    return answer.status == health_pb2.HealthCheckResponse.SERVING


def http_ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _demo_target(stack: Stack, args: argparse.Namespace) -> Path:
    """The optimizer's targets file for the demo database, built once (`python -m pgsage.demo`)
    in an embedded PostgreSQL of its own unless --demo-dsn names a server."""
    if args.demo_dsn:
        server_dsn = args.demo_dsn
    else:
        postgres = EmbeddedPostgres(stack.data_dir / "demo-postgres")
        if not postgres.running() and instance.port_in_use(postgres.port):
            # Its last port is another program's now: a new one (the demo is built again,
            # its targets file naming the server's address).
            postgres = EmbeddedPostgres(stack.data_dir / "demo-postgres", port=free_port())
        stack.out.write(f"starting PostgreSQL for the demo target on port {postgres.port}\n")
        stack.out.flush()
        stack.demo_postgres = postgres
        try:
            postgres.start()
        except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
            raise CliError(
                f"the demo target's PostgreSQL did not start ({exc}); "
                f"see {postgres.data_dir / 'server.log'}",
                FAILURE,
            ) from None
        server_dsn = postgres.dsn("postgres")
    targets_file = stack.data_dir / "demo-targets.toml"
    marker = stack.data_dir / "demo.built"
    if args.rebuild_demo or not targets_file.exists() or _read(marker) != server_dsn:
        stack.out.write("building the demo database (once; --rebuild-demo builds it again)\n")
        stack.out.flush()
        demo = stack.spawn(
            "demo",
            "pgsage.demo",
            {},
            "build",
            "--dsn",
            server_dsn,
            "--database",
            DEMO_DATABASE,
            "--scale",
            str(args.demo_scale),
            "--rounds",
            str(args.demo_rounds),
            "--config",
            str(targets_file),
        )
        while demo.process.poll() is None:
            if stack.stopping.wait(0.3):
                raise KeyboardInterrupt
        stack.children.remove(demo)
        if demo.process.returncode != 0:
            raise CliError(
                f"building the demo database failed (exit {demo.process.returncode}); "
                f"{demo.log_path} ends with:\n{demo.tail()}",
                FAILURE,
            )
        marker.write_text(server_dsn)
    return targets_file


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def run(args: argparse.Namespace, out: TextIO) -> int:
    data_dir = Path(args.data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    url = f"http://127.0.0.1:{args.http_port}"
    ports = {
        "--http-port": args.http_port,
        "--jobs-port": args.jobs_port,
        "--optimizer-port": args.optimizer_port,
    }
    # Before anything starts: a second `up` touches nothing of the first one's.
    try:
        lock = instance.hold(data_dir, url)
    except instance.AlreadyRunning as exc:
        return _already_running(exc)
    try:
        instance.check_ports(url, ports)
        return _run_stack(Stack(data_dir=data_dir, out=out), args)
    except instance.AlreadyRunning as exc:
        return _already_running(exc)
    finally:
        os.close(lock)


def _already_running(exc: instance.AlreadyRunning) -> int:
    sys.stderr.write(f"{exc.message}\n")
    return exc.code


def _run_stack(stack: Stack, args: argparse.Namespace) -> int:
    out = stack.out

    def on_signal(signum, frame) -> None:
        stack.stopping.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        return _run(stack, args)
    except KeyboardInterrupt:
        return OK
    finally:
        stack.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        out.write("pgsage stopped\n")
        out.flush()


def _run(stack: Stack, args: argparse.Namespace) -> int:
    out = stack.out
    optimizer_address = f"127.0.0.1:{args.optimizer_port}"
    jobs_address = f"127.0.0.1:{args.jobs_port}"
    http = f"http://127.0.0.1:{args.http_port}"

    targets_file = _demo_target(stack, args)
    demo_dsn = demo_config.dsn_in(targets_file)
    # The demo's verification window, as this start asks (the file is rewritten each start).
    demo_config.write(targets_file, demo_dsn, args.demo_verification_window)
    optimizer = stack.spawn(
        "optimizer",
        "optimizer_service",
        {
            "PGSAGE_OPTIMIZER_GRPC_HOST": "127.0.0.1",
            "PGSAGE_OPTIMIZER_GRPC_PORT": str(args.optimizer_port),
            "PGSAGE_OPTIMIZER_TARGETS_FILE": str(targets_file),
        },
    )
    stack.wait_for(optimizer, lambda: grpc_serving(optimizer_address), "gRPC health", 60)
    out.write(f"optimizer serving on {optimizer_address}\n")

    jobs_env = {
        "PGSAGE_JOBS_GRPC_HOST": "127.0.0.1",
        "PGSAGE_JOBS_GRPC_PORT": str(args.jobs_port),
        "PGSAGE_JOBS_OPTIMIZER_ADDRESS": optimizer_address,
        "PGSAGE_JOBS_DATA_DIR": str(stack.data_dir / "jobs-postgres"),
    }
    if args.database_url:
        jobs_env["PGSAGE_JOBS_DATABASE_URL"] = args.database_url
    if "PGSAGE_JOBS_SNAPSHOT_INTERVAL" not in os.environ:
        jobs_env["PGSAGE_JOBS_SNAPSHOT_INTERVAL"] = f"PT{args.snapshot_interval:g}S"
    job_service = stack.spawn("job-service", "job_service", jobs_env)
    stack.wait_for(job_service, lambda: grpc_serving(jobs_address), "gRPC health", 120)
    out.write(f"job service serving on {jobs_address}\n")

    gateway = stack.spawn(
        "gateway",
        "gateway",
        {
            "PGSAGE_GATEWAY_HOST": "127.0.0.1",
            "PGSAGE_GATEWAY_HTTP_PORT": str(args.http_port),
            "PGSAGE_GATEWAY_JOB_SERVICE_ADDRESS": jobs_address,
        },
    )
    stack.wait_for(gateway, lambda: http_ready(f"{http}/readyz"), "/readyz", 60)
    if args.demo_rate > 0:
        stack.spawn(
            "demo-workload",
            "pgsage.demo.drive",
            {},
            "--dsn",
            demo_dsn,
            "--rate",
            str(args.demo_rate),
            "--scale",
            str(args.demo_scale),
        )
        out.write(f"demo workload: {args.demo_rate:g} calls/s on the demo target\n")
    out.write(f"\npgsage is up: {http}\n")
    out.write(f"  CLI:  pgsage --address {jobs_address} analyze --target demo --watch\n")
    out.write(f"  logs: {stack.data_dir / 'logs'}\n")
    out.write("Ctrl-C stops everything.\n")
    out.flush()
    while not stack.stopping.is_set():
        for child in stack.children:
            if not child.alive():
                raise CliError(
                    f"{child.name} exited unexpectedly (code {child.process.returncode}); "
                    f"{child.log_path} ends with:\n{child.tail()}",
                    FAILURE,
                )
        stack.stopping.wait(0.5)
    return OK
