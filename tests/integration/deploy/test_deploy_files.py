"""The deployment files, checked offline as CI does (no Docker engine, no cluster).

docker-compose.yml and its Dockerfiles (scripts/check_compose.py, scripts/check_dockerfile.py),
the Kubernetes manifests rendered and validated against the Kubernetes schemas
(scripts/check_k8s.py), and what the checks say about broken copies of them; the image's
entrypoint that turns secret files into settings.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[3]


def run(*args: str | pathlib.Path, env: dict[str, str] | None = None, cwd=ROOT):
    return subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=120, env=env, cwd=cwd
    )


def check_compose(path: pathlib.Path):
    return run(sys.executable, ROOT / "scripts/check_compose.py", path)


def test_the_compose_file_its_dockerfiles_and_referenced_files_are_valid():
    result = check_compose(ROOT / "docker-compose.yml")
    assert result.returncode == 0, result.stderr
    assert "valid (6 services" in result.stdout


def test_compose_check_names_each_broken_reference(tmp_path):
    (tmp_path / "app").mkdir()
    (tmp_path / "app/Dockerfile").write_text(
        "FROM python:3.11-slim AS base\nCOPY missing.txt /x\nFETCH it\nCOPY --from=nowhere /a /b\n"
        'CMD ["python", 3]\n'
    )
    (tmp_path / "docker-compose.yml").write_text(
        """
services:
  gateway:
    build: ./app
    ports: ["8080:8080"]
    healthcheck: {test: ["CMD", "true"]}
    volumes: ["./config.toml:/etc/config.toml:ro"]
    secrets: [token]
  job-service:
    build: {context: ./nothere}
    ports: ["50051:50051"]
    depends_on:
      gateway: {condition: service_healthy}
      ghost: {condition: service_started}
secrets:
  token:
    file: ./secrets/token
"""
    )
    result = check_compose(tmp_path / "docker-compose.yml")
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    expected = [
        "job-service publishes ports; only gateway may",
        "job-service has no healthcheck",
        "job-service depends on unknown service ghost",
        "job-service: build context ./nothere does not exist",
        "Dockerfile:2: COPY source missing.txt is not in the context",
        "Dockerfile:3: unknown instruction FETCH",
        "Dockerfile:4: COPY --from=nowhere names no earlier stage",
        "Dockerfile:5: CMD must be a JSON array of strings",
        "gateway mounts ./config.toml, which does not exist",
        "secret token: ./secrets/token does not exist, and scripts/compose-secrets.sh does "
        "not make it",
    ]
    for text in expected:
        assert any(text in line for line in lines), (text, lines)


def test_compose_check_refuses_a_copy_source_the_dockerignore_leaves_out(tmp_path):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes/a.txt").write_text("a")
    (tmp_path / ".dockerignore").write_text("notes\n")
    (tmp_path / "Dockerfile").write_text("FROM scratch\nCOPY notes/a.txt /a\n")
    (tmp_path / "docker-compose.yml").write_text(
        "services:\n  gateway:\n    build: .\n    healthcheck: {test: [CMD, 'true']}\n"
    )
    result = check_compose(tmp_path / "docker-compose.yml")
    assert result.returncode == 1
    assert "COPY source notes/a.txt is excluded by" in result.stderr


def test_the_kubernetes_manifests_render_and_validate():
    result = run(sys.executable, ROOT / "scripts/check_k8s.py", ROOT / "deploy/k8s")
    assert result.returncode == 0, result.stderr
    assert "valid (" in result.stdout


def test_kubernetes_check_names_an_unknown_field_and_a_missing_secret(tmp_path):
    k8s = tmp_path / "k8s"
    shutil.copytree(ROOT / "deploy/k8s", k8s)
    optimizer = k8s / "base/optimizer.yaml"
    text = optimizer.read_text()
    text = text.replace("  replicas: 1\n", "  replica: 1\n", 1)
    text = text.replace("secretName: pgsage-optimizer-targets", "secretName: pgsage-targetz")
    optimizer.write_text(text)
    result = run(sys.executable, ROOT / "scripts/check_k8s.py", k8s)
    assert result.returncode == 1
    assert "Deployment/optimizer (Kubernetes 1.29.0): spec: Additional properties" in (
        result.stderr
    )
    assert "'replica' was unexpected" in result.stderr
    assert (
        "Deployment/optimizer refers to Secret/pgsage-targetz, which is neither a resource "
        "nor in secrets.example.yaml" in result.stderr
    )


def test_kubernetes_check_says_what_its_renderer_does_not_support(tmp_path):
    k8s = tmp_path / "k8s"
    shutil.copytree(ROOT / "deploy/k8s", k8s)
    overlay = k8s / "overlays/demo/kustomization.yaml"
    overlay.write_text(overlay.read_text() + "commonLabels:\n  team: dba\n")
    result = run(sys.executable, ROOT / "scripts/check_k8s.py", k8s)
    assert result.returncode == 1
    assert "commonLabels is not supported by this renderer" in result.stderr


def test_entrypoint_turns_setting_secrets_into_variables_and_leaves_the_rest(tmp_path):
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "pgsage_gateway_session_secret").write_text("s3cret with $pace\n")
    (secrets / "pgsage_jobs_database_url").write_text("postgresql://u:p@db/x")
    (secrets / "job-service.key").write_text("not a setting")
    env = {
        "PATH": os.environ["PATH"],
        "PGSAGE_SECRETS_DIR": str(secrets),
        "PGSAGE_JOBS_DATABASE_URL": "postgresql://already@set/x",
    }
    result = run(
        "sh",
        ROOT / "deploy/docker/entrypoint.sh",
        "sh",
        "-c",
        'printf "%s|%s|%s" "$PGSAGE_GATEWAY_SESSION_SECRET" "$PGSAGE_JOBS_DATABASE_URL" '
        '"${JOB_SERVICE_KEY:-unset}"',
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "s3cret with $pace|postgresql://already@set/x|unset"


def test_the_grpc_services_have_native_grpc_probes_on_their_health_only_port():
    import yaml

    from job_service.settings import Settings as JobSettings
    from optimizer_service.settings import Settings as OptimizerSettings

    wanted = {
        "job-service.yaml": ("PGSAGE_JOBS_HEALTH_PORT", "pgsage.jobs.v1.JobService"),
        "optimizer.yaml": ("PGSAGE_OPTIMIZER_HEALTH_PORT", "pgsage.optimizer.v1.OptimizerService"),
    }
    # The settings the manifests name exist (a typo would start a service without the port).
    assert "health_port" in JobSettings.model_fields
    assert "health_port" in OptimizerSettings.model_fields
    for name, (setting, service) in wanted.items():
        docs = list(yaml.safe_load_all((ROOT / "deploy/k8s/base" / name).read_text()))
        [deployment] = [d for d in docs if d["kind"] == "Deployment"]
        [container] = deployment["spec"]["template"]["spec"]["containers"]
        env = {e["name"]: e.get("value") for e in container["env"]}
        port = int(env[setting])
        assert port in [p["containerPort"] for p in container["ports"]]
        assert port != int(env[setting.replace("HEALTH", "GRPC")])
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert container[probe]["grpc"]["port"] == port, (name, probe)
        assert container["readinessProbe"]["grpc"]["service"] == service
    policies = yaml.safe_load_all((ROOT / "deploy/k8s/base/network-policies.yaml").read_text())
    [health] = [p for p in policies if p["metadata"]["name"] == "health-ports-from-anywhere"]
    assert {p["port"] for p in health["spec"]["ingress"][0]["ports"]} == {50061, 50062}
