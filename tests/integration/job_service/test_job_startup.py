"""`python -m job_service` start-up failures: one line naming what to change, exit code 2,
and nothing left behind (the job store is untouched, the port stays with its holder)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys


def _start(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "job_service"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_taken_port_is_one_line_naming_the_setting(module_db):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        done = _start(
            {
                "PGSAGE_JOBS_DATABASE_URL": module_db,
                "PGSAGE_JOBS_GRPC_HOST": "127.0.0.1",
                "PGSAGE_JOBS_GRPC_PORT": str(port),
            }
        )
        # The holder still has its port: nothing took it over or closed it.
        holder.settimeout(0.2)
        probe = socket.create_connection(("127.0.0.1", port), timeout=2)
        probe.close()
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    [line] = [ln for ln in done.stderr.splitlines() if " ERROR " in ln]
    assert f"port {port} on 127.0.0.1 is already in use" in line
    assert "PGSAGE_JOBS_GRPC_PORT" in line
    assert module_db not in done.stderr  # the store's URL is a secret


def test_an_unreachable_store_is_one_line_and_exit_1(unused_tcp_port):
    url = f"postgresql://pgsage:s3cret@127.0.0.1:{unused_tcp_port}/pgsage"
    done = _start(
        {
            "PGSAGE_JOBS_DATABASE_URL": url,
            "PGSAGE_JOBS_GRPC_HOST": "127.0.0.1",
            "PGSAGE_JOBS_GRPC_PORT": "0",
            "PGSAGE_JOBS_CONNECT_TIMEOUT": "PT1S",
        }
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    [line] = [ln for ln in done.stderr.splitlines() if " ERROR " in ln]
    assert "cannot start the job service" in line
    assert "s3cret" not in done.stderr
