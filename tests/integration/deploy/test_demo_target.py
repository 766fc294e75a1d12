"""The compose demo target, without Docker: PostgreSQL 15 from Debian's packages with the
server options of deploy/demo-target/Dockerfile's CMD, its init script, the seed service's
script, and the optimizer analysing the result with HypoPG, configured by the targets file
scripts/compose-secrets.sh writes.

The cluster is this test's own (initdb in a temporary folder, a free port), never the shared
server's; PostgreSQL refuses to run as root, so as root it runs as the `postgres` user.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import pytest

from pgsage.demo import advice
from tests.support.loops import run_apart

ROOT = pathlib.Path(__file__).resolve().parents[3]
BIN = pathlib.Path("/usr/lib/postgresql/15/bin")
DOCKERFILE = ROOT / "deploy/demo-target/Dockerfile"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def as_postgres() -> dict:
    return {"user": "postgres"} if os.geteuid() == 0 else {}


def server_options() -> list[str]:
    """The `-c name=value` options of the Dockerfile's CMD (exec form)."""
    cmd = next(line for line in DOCKERFILE.read_text().splitlines() if line.startswith("CMD "))
    words = json.loads(cmd[4:])
    assert words[0] == "postgres"
    return words[1:]


@pytest.fixture
def demo_db():
    """A PostgreSQL 15 started as the demo target's image starts it: its DSN. Its folder is
    in /tmp, which the postgres user can reach (pytest's folders are private to root)."""
    cluster = pathlib.Path(tempfile.mkdtemp(prefix="pgsage-demo-target-"))
    data, sockets = cluster / "data", cluster / "sockets"
    sockets.mkdir()
    if os.geteuid() == 0:
        shutil.chown(cluster, "postgres")
        shutil.chown(sockets, "postgres")
    run = {"capture_output": True, "text": True, "timeout": 120, **as_postgres()}
    made = subprocess.run([BIN / "initdb", "-D", data, "-U", "postgres", "--auth=trust"], **run)
    assert made.returncode == 0, made.stderr
    port = free_port()
    options = " ".join([*server_options(), "-c", "listen_addresses=127.0.0.1"])
    options += f" -p {port} -k {sockets}"
    log = cluster / "postgres.log"
    started = subprocess.run(
        [BIN / "pg_ctl", "-D", data, "-o", options, "-l", log, "-w", "start"], **run
    )
    assert started.returncode == 0, started.stderr + (log.read_text() if log.exists() else "")
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([BIN / "pg_ctl", "-D", data, "-m", "immediate", "stop"], **run)
        shutil.rmtree(cluster)


def targets_file(tmp_path: pathlib.Path, server_dsn: str) -> pathlib.Path:
    """scripts/compose-secrets.sh's targets file, its demo-db address made this server's."""
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts/compose-secrets.sh", tmp_path / "scripts")
    made = subprocess.run(
        ["bash", str(tmp_path / "scripts/compose-secrets.sh")], capture_output=True, text=True
    )
    assert made.returncode == 0, made.stderr
    secrets = tmp_path / "deploy/compose/secrets"
    password = (secrets / "demo_db_password").read_text().strip()
    text = (secrets / "optimizer_targets.toml").read_text()
    host = server_dsn.removeprefix("postgresql://postgres@").removesuffix("/postgres")
    assert f"postgres:{password}@demo-db:5432/pgsage_demo" in text
    local = tmp_path / "targets.toml"
    local.write_text(text.replace(f"postgres:{password}@demo-db:5432", f"postgres@{host}"))
    return local


def test_the_demo_target_is_seeded_and_analysed_with_hypopg(demo_db, tmp_path):
    script = str(ROOT / "deploy/demo-target/extensions.sql")
    init = subprocess.run(
        ["psql", "-v", "ON_ERROR_STOP=1", "--no-psqlrc", demo_db, "-f", script],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert init.returncode == 0, init.stderr
    dsn_file = tmp_path / "demo_admin_dsn"
    dsn_file.write_text(demo_db + "\n")
    seed = [sys.executable, str(ROOT / "deploy/compose/seed_demo.py")]
    seed_env = {
        **os.environ,
        "PGSAGE_DEMO_ADMIN_DSN_FILE": str(dsn_file),
        "PGSAGE_DEMO_SCALE": "0.05",
    }
    seeded = subprocess.run(seed, env=seed_env, capture_output=True, text=True, timeout=300)
    assert seeded.returncode == 0, seeded.stderr
    assert "pgsage_demo seeded: customers 5,000" in seeded.stdout
    # The seed service runs at every `docker compose up`: a seeded database is left alone.
    again = subprocess.run(seed, env=seed_env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == "pgsage_demo is already seeded; nothing to do"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PGSAGE_")}
    env |= {
        "PGSAGE_OPTIMIZER_GRPC_PORT": str(port),
        "PGSAGE_OPTIMIZER_TARGETS_FILE": str(targets_file(tmp_path, demo_db)),
    }
    log = tmp_path / "optimizer.log"
    with log.open("w") as out:
        optimizer = subprocess.Popen(
            [sys.executable, "-m", "optimizer_service"], env=env, stdout=out, stderr=out
        )
    try:
        probe = [sys.executable, "-m", "pgsage.probe", f"127.0.0.1:{port}"]
        for _ in range(120):
            assert optimizer.poll() is None, log.read_text()
            if subprocess.run(probe, capture_output=True, timeout=30).returncode == 0:
                break
            time.sleep(0.5)
        got = run_apart(advice.analyze(f"127.0.0.1:{port}"))
    finally:
        optimizer.terminate()
        optimizer.wait(timeout=60)
    assert "Index on public.orders (customer_id)" in got.titles
    assert "Drop duplicate index public.customers_email_idx" in got.titles
    assert not [i for i in got.insights if "hypopg" in i.lower()], got.insights
