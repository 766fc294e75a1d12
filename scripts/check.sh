#!/usr/bin/env bash
# Static checks run by `make test` (and so by CI): proto lint and format, no breaking change
# since the last release's contract (protos/releases), generated code
# in sync with the protos, the UI's TypeScript types in sync with the OpenAPI document, ruff,
# mypy on the services' code, the import rules (pyproject.toml), docker-compose.yml against the
# compose schema (its Dockerfiles and referenced files too), the Kubernetes manifests against
# the Kubernetes schemas.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python

echo "check: buf lint / buf format"
.venv/bin/buf lint
.venv/bin/buf format --diff --exit-code

# The last release's contract is a committed buf image (scripts/release_protos.sh): CI's
# checkout has no earlier git tags to compare with.
release="$(ls protos/releases/v*.binpb | sort -V | tail -n 1)"
echo "check: buf breaking against ${release}"
.venv/bin/buf breaking --against "$release"

echo "check: generated code matches the protos"
$PY scripts/gen_protos.py
if ! git diff --quiet --exit-code -- pgsage/jobs pgsage/optimizer ||
   [ -n "$(git ls-files --others --exclude-standard -- pgsage/jobs pgsage/optimizer)" ]; then
  echo "generated code differs from the protos: run 'make protos' and commit" >&2
  git status --short -- pgsage/jobs pgsage/optimizer >&2
  exit 1
fi

echo "check: the UI's TypeScript types match the OpenAPI document"
(cd gateway/ui && npm run --silent gen:types >/dev/null)
if ! git diff --quiet --exit-code -- gateway/ui/src/api-types.ts ||
   [ -n "$(git ls-files --others --exclude-standard -- gateway/ui/src/api-types.ts)" ]; then
  echo "gateway/ui/src/api-types.ts differs from /openapi.json:" \
    "run 'cd gateway/ui && npm run gen:types' and commit" >&2
  git diff --stat -- gateway/ui/src/api-types.ts >&2
  exit 1
fi

echo "check: ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check . >/dev/null || { .venv/bin/ruff format --check . ; exit 1; }

echo "check: mypy"
.venv/bin/mypy job_service optimizer_service gateway pgsage/cli pgsage/*.py

echo "check: import rules (no cycles, the services meet only over gRPC, the domain apart from storage)"
.venv/bin/lint-imports --no-cache >/dev/null || .venv/bin/lint-imports --no-cache

echo "check: docker-compose.yml against the compose schema, its Dockerfiles and files"
$PY scripts/check_compose.py docker-compose.yml

echo "check: deploy/k8s rendered and validated against the Kubernetes schemas"
$PY scripts/check_k8s.py deploy/k8s
