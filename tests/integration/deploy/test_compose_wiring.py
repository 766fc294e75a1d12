"""docker-compose.yml's wiring, run without Docker: the secrets script's files, the services
started with the compose file's own environment, and its own healthcheck commands.

No Docker engine runs on pgsage's machines, so each service runs here as a process with the
environment docker-compose.yml gives it, /run/secrets standing for the folder that
scripts/compose-secrets.sh filled (through the image's entrypoint, which reads the
setting-named secrets). What differs from compose, and why: servers bind 127.0.0.1 on free
ports (no compose network), so OpenID Connect is left out (loopback needs none; the
settings' own tests cover the refusal without it), the certificates' names are given as
server names (no DNS names job-service and optimizer here), and the job store is a database
of the shared test server.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import socket
import subprocess
import sys
import time
import uuid

import asyncpg
import pytest
import yaml

from tests.support.loops import run_apart
from tests.support.pg import SHARED_PG

ROOT = pathlib.Path(__file__).resolve().parents[3]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
PORTS = {"job-service": "50051", "optimizer": "50052", "gateway": "8080"}


@pytest.fixture(scope="module")
def secrets(tmp_path_factory) -> pathlib.Path:
    """A checkout's copy of the secrets script, run once: the folder it fills."""
    root = tmp_path_factory.mktemp("compose")
    (root / "scripts").mkdir()
    shutil.copy(ROOT / "scripts/compose-secrets.sh", root / "scripts")
    made = subprocess.run(
        ["bash", str(root / "scripts/compose-secrets.sh")], capture_output=True, text=True
    )
    assert made.returncode == 0, made.stderr
    return root / "deploy/compose/secrets"


def secret_file(secrets: pathlib.Path, name: str) -> pathlib.Path:
    return secrets / pathlib.PurePosixPath(COMPOSE["secrets"][name]["file"]).name


def test_the_script_makes_every_secret_the_compose_file_mounts_and_keeps_them(secrets):
    for name in COMPOSE["secrets"]:
        assert secret_file(secrets, name).is_file(), name
    assert oct(secrets.stat().st_mode & 0o777) == "0o700"
    assert oct((secrets / "ca.key").stat().st_mode & 0o777) == "0o600"
    before = {p.name: p.read_bytes() for p in secrets.iterdir()}
    again = subprocess.run(
        ["bash", str(secrets.parents[2] / "scripts/compose-secrets.sh")],
        capture_output=True,
        text=True,
    )
    assert again.returncode == 0, again.stderr
    assert "every file is there already" in again.stdout
    assert {p.name: p.read_bytes() for p in secrets.iterdir()} == before
    url = (secrets / "pgsage_jobs_database_url").read_text().strip()
    password = (secrets / "jobs_db_password").read_text().strip()
    assert url == f"postgresql://pgsage:{password}@jobs-db:5432/pgsage"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def here(value: str, secrets: pathlib.Path, ports: dict[str, int]) -> str:
    """A value of docker-compose.yml as it reads on this machine."""
    value = value.replace("/run/secrets/", f"{secrets}/")
    for service, port in PORTS.items():
        value = value.replace(f"127.0.0.1:{port}", f"127.0.0.1:{ports[service]}")
        value = value.replace(f"{service}:{port}", f"127.0.0.1:{ports[service]}")
    return value


def service_env(name: str, secrets: pathlib.Path, ports: dict[str, int]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PGSAGE_")}
    for key, value in SERVICES[name]["environment"].items():
        if "${" in str(value) and "OIDC" in key:
            continue  # the issuer, from .env: left out on loopback (see the docstring)
        env[key] = here(str(value), secrets, ports)
    for key in ("PGSAGE_JOBS_GRPC_HOST", "PGSAGE_OPTIMIZER_GRPC_HOST", "PGSAGE_GATEWAY_HOST"):
        if key in env:
            env[key] = "127.0.0.1"
    for key in ("PGSAGE_JOBS_GRPC_PORT", "PGSAGE_OPTIMIZER_GRPC_PORT"):
        if key in env:
            env[key] = str(ports[name])
    env.pop("PGSAGE_GATEWAY_PUBLIC_URL", None)
    env.pop("PGSAGE_JOBS_ROLE_BINDINGS", None)
    if name == "gateway":
        env["PGSAGE_GATEWAY_HTTP_PORT"] = str(ports[name])
        env["PGSAGE_GATEWAY_JOB_SERVICE_TLS_SERVER_NAME"] = "job-service"
    if name == "job-service":
        env["PGSAGE_JOBS_OPTIMIZER_TLS_SERVER_NAME"] = "optimizer"
    env["PGSAGE_SECRETS_DIR"] = str(secrets)
    return env


def healthcheck(name: str, secrets: pathlib.Path, ports: dict[str, int]) -> list[str]:
    test = SERVICES[name]["healthcheck"]["test"]
    assert test[0] == "CMD"
    command = [here(word, secrets, ports) for word in test[1:]]
    return [sys.executable if word == "python" else word for word in command]


def wait_healthy(name: str, command: list[str], process: subprocess.Popen, log: pathlib.Path):
    for _ in range(120):
        if process.poll() is not None:
            raise AssertionError(f"{name} exited {process.returncode}: {log.read_text()}")
        if subprocess.run(command, capture_output=True, timeout=30).returncode == 0:
            return
        time.sleep(0.5)
    raise AssertionError(f"{name} never passed its healthcheck: {log.read_text()}")


def fetchval(dsn: str, query: str) -> object:
    """One query on a connection of its own (these tests are synchronous: they wait on
    processes)."""

    async def run() -> object:
        conn = await asyncpg.connect(dsn)
        try:
            return await conn.fetchval(query)
        finally:
            await conn.close()

    return run_apart(run())


def database(name: str) -> str:
    return SHARED_PG.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture
def job_store():
    name = f"deploy_{uuid.uuid4().hex[:12]}"
    fetchval(SHARED_PG, f'CREATE DATABASE "{name}"')
    try:
        yield database(name)
    finally:
        fetchval(SHARED_PG, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_services_pass_the_compose_healthchecks_over_its_tls_wiring(secrets, job_store, tmp_path):
    (secrets / "pgsage_jobs_database_url").write_text(job_store + "\n")
    ports = {name: free_port() for name in PORTS}
    started: list[subprocess.Popen] = []
    try:
        for name in ("optimizer", "job-service", "gateway"):
            log = tmp_path / f"{name}.log"
            with log.open("w") as out:
                process = subprocess.Popen(
                    [
                        "sh",
                        str(ROOT / "deploy/docker/entrypoint.sh"),
                        sys.executable,
                        *SERVICES[name]["command"][1:],
                    ],
                    env=service_env(name, secrets, ports),
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    cwd=tmp_path,
                )
            started.append(process)
            wait_healthy(name, healthcheck(name, secrets, ports), process, log)
        # The gateway's readiness reports the job service's links: the job store, and the
        # optimizer reached over mutual TLS with the job service's client certificate.
        ready = subprocess.run(
            [
                sys.executable,
                "-c",
                "import urllib.request; print(urllib.request.urlopen("
                f"'http://127.0.0.1:{ports['gateway']}/readyz', timeout=5).read().decode())",
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert ready.returncode == 0, ready.stderr
        assert '"database":[{"status":"pass"' in ready.stdout
        assert '"optimizer":[{"status":"pass"' in ready.stdout
        # Without a client certificate the optimizer's handshake fails: only holders of a
        # certificate of the compose CA get as far as its allow-list.
        bare = [w for w in healthcheck("optimizer", secrets, ports) if "--cert" not in w]
        bare = [w for w in bare if "--key" not in w]
        assert subprocess.run(bare, capture_output=True, timeout=30).returncode == 1
    finally:
        for process in reversed(started):
            process.terminate()
            process.wait(timeout=60)
    assert [p.returncode for p in started] == [0, 0, 0]


def test_the_demo_seed_names_an_unreadable_dsn_file(tmp_path):
    env = {**os.environ, "PGSAGE_DEMO_ADMIN_DSN_FILE": str(tmp_path / "missing")}
    seed = [sys.executable, str(ROOT / "deploy/compose/seed_demo.py")]
    result = subprocess.run(seed, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"PGSAGE_DEMO_ADMIN_DSN_FILE: cannot read {tmp_path / 'missing'}: No such file or directory"
    )
