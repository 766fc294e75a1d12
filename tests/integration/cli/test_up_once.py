"""One `pgsage up` at a time: a second one says where the first runs and leaves (exit 1)
touching nothing; a port another program holds is one line naming it and its flag (exit 2).
`pgsage --version` and the gateway's /healthz name the installed version."""

from __future__ import annotations

import asyncio
import shutil
import signal
import socket
import subprocess
import tempfile
from importlib import metadata
from pathlib import Path

import httpx

from pgsage.embedded import free_port
from tests.support.cli import PGSAGE

VERSION = metadata.version("pgsage")


def _up_args(data_dir: Path, http: int, jobs: int, optimizer: int) -> list[str]:
    return [
        str(PGSAGE),
        "up",
        "--data-dir",
        str(data_dir),
        "--http-port",
        str(http),
        "--jobs-port",
        str(jobs),
        "--optimizer-port",
        str(optimizer),
        "--demo-scale",
        "0.01",
        "--demo-rounds",
        "1",
    ]


def _names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


async def _run(*argv: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    async with asyncio.timeout(60):
        out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def test_version_comes_from_the_package_metadata():
    result = subprocess.run(
        [str(PGSAGE), "--version"], capture_output=True, text=True, timeout=60, check=False
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, f"pgsage {VERSION}\n", "")


async def test_a_second_up_says_where_the_first_runs_and_leaves_it_alone():
    data_dir = Path(tempfile.mkdtemp(prefix="pgsage-up-once-"))
    other_dir = Path(tempfile.mkdtemp(prefix="pgsage-up-other-"))
    ports = free_port(), free_port(), free_port()
    url = f"http://127.0.0.1:{ports[0]}"
    # The demo PostgreSQL's remembered port is another program's: it takes a new one.
    holder = socket.create_server(("127.0.0.1", 0))
    held = holder.getsockname()[1]
    (data_dir / ".demo-postgres.port").write_text(str(held))
    first = await asyncio.create_subprocess_exec(
        *_up_args(data_dir, *ports), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    assert first.stdout is not None
    lines: list[str] = []
    try:
        async with asyncio.timeout(240):
            async for raw in first.stdout:
                lines.append(raw.decode().rstrip())
                if lines[-1].startswith("pgsage is up: "):
                    break
        assert lines[-1] == f"pgsage is up: {url}", lines
        demo_line = lines[0]
        assert demo_line.startswith("starting PostgreSQL for the demo target on port "), lines
        assert demo_line.rsplit(" ", 1)[1] != str(held)
        async with httpx.AsyncClient(base_url=url) as client:
            health = (await client.get("/healthz")).json()
            assert health["status"] == "pass" and health["version"] == VERSION, health
            assert isinstance(health["uptime_seconds"], int) and health["uptime_seconds"] >= 0

            # The same data directory (other ports: the lock answers before any port check),
            # then the same UI port from another data directory.
            again = await _run(*_up_args(data_dir, free_port(), free_port(), free_port()))
            beside = await _run(*_up_args(other_dir, *ports))
            for code, out, err in (again, beside):
                assert (code, out, err) == (1, "", f"pgsage is already running at {url}\n")
            assert _names(other_dir) == ["up.lock"]

            ready = await client.get("/readyz")
            targets = (await client.get("/v1/targets")).json()["targets"]
        assert ready.status_code == 200, ready.text
        assert [(t["name"], t["reachable"]) for t in targets] == [("demo", True)]
        first.send_signal(signal.SIGTERM)
        async with asyncio.timeout(60):
            rest, err = await first.communicate()
    finally:
        holder.close()
        if first.returncode is None:
            first.kill()
            await first.wait()
        shutil.rmtree(data_dir, ignore_errors=True)
        shutil.rmtree(other_dir, ignore_errors=True)
    assert first.returncode == 0, err.decode()
    assert rest.decode().rstrip().endswith("pgsage stopped")


async def test_a_port_another_program_holds_is_one_line_naming_its_flag():
    data_dir = Path(tempfile.mkdtemp(prefix="pgsage-up-port-"))
    try:
        for flag in ("--http-port", "--jobs-port", "--optimizer-port"):
            with socket.socket() as holder:
                holder.bind(("127.0.0.1", 0))
                holder.listen()
                taken = holder.getsockname()[1]
                ports = {"--http-port": free_port(), "--jobs-port": free_port()}
                ports["--optimizer-port"] = free_port()
                ports[flag] = taken
                code, out, err = await _run(*_up_args(data_dir, *ports.values()))
            assert code == 2, err
            assert out == ""
            assert err == (
                f"pgsage: port {taken} on 127.0.0.1 is already in use: choose another with "
                f"`pgsage up {flag} N` (or `make run ARGS='{flag} N'`)\n"
            )
        # Nothing was started: no logs, no PostgreSQL, only the lock it let go of.
        assert _names(data_dir) == ["up.lock"]
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
