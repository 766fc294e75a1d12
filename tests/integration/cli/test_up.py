"""`pgsage up` starts the whole stack (embedded PostgreSQL, demo target, optimizer, job
service, gateway), prints the UI address, and SIGTERM stops everything cleanly."""

from __future__ import annotations

import asyncio
import shutil
import signal
import tempfile
from pathlib import Path

import httpx
import psutil

from pgsage.embedded import free_port
from tests.support import clusters
from tests.support.cli import PGSAGE


async def test_up_serves_the_ui_and_the_demo_target_then_stops_cleanly():
    data_dir = Path(tempfile.mkdtemp(prefix="pgsage-up-"))
    http_port, jobs_port, optimizer_port = free_port(), free_port(), free_port()
    process = await asyncio.create_subprocess_exec(
        str(PGSAGE),
        "up",
        "--data-dir",
        str(data_dir),
        "--http-port",
        str(http_port),
        "--jobs-port",
        str(jobs_port),
        "--optimizer-port",
        str(optimizer_port),
        "--demo-scale",
        "0.01",
        "--demo-rounds",
        "1",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    lines: list[str] = []
    children: list[psutil.Process] = []
    try:
        async with asyncio.timeout(240):
            async for raw in process.stdout:
                lines.append(raw.decode().rstrip())
                if lines[-1].startswith("pgsage is up: "):
                    break
        assert lines and lines[-1] == f"pgsage is up: http://127.0.0.1:{http_port}", lines
        children = psutil.Process(process.pid).children(recursive=True)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{http_port}") as client:
            ready = await client.get("/readyz")
            targets = await client.get("/v1/targets")
            ui = await client.get("/")
        assert ready.status_code == 200 and ready.json()["status"] == "pass", ready.text
        demo = targets.json()["targets"][0]
        assert demo["name"] == "demo" and demo["reachable"] is True
        # The demo verifies an apply within minutes, with a workload running meanwhile.
        assert demo["verificationWindow"] == "120s"
        assert "demo workload: 20 calls/s on the demo target" in lines
        assert ui.status_code in (200, 503)  # 503 only when gateway/ui/dist is not built
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(60):
            rest, err = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
            # A killed `pgsage up` leaves its embedded clusters running: stop them.
            await asyncio.to_thread(clusters.stop_clusters_under, data_dir)
        shutil.rmtree(data_dir, ignore_errors=True)
    output = "\n".join(lines) + rest.decode()
    assert process.returncode == 0, output + err.decode()
    assert "Traceback" not in err.decode()
    for name in (
        "stopping demo-workload",
        "stopping gateway",
        "stopping job-service",
        "stopping optimizer",
    ):
        assert name in output
    assert output.rstrip().endswith("pgsage stopped")
    assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
