#!/usr/bin/env bash
# Records the gRPC contract of a release: `scripts/release_protos.sh 0.1.0` builds the buf
# image of the protos (every file, its imports, no source info) into
# protos/releases/v0.1.0.binpb, to commit with the release. scripts/check.sh runs
# `buf breaking` against the newest image there, so CI compares with the last release
# without needing git tags (a CI checkout has none of the earlier ones).
set -euo pipefail
cd "$(dirname "$0")/.."
version="${1:?usage: scripts/release_protos.sh VERSION (e.g. 0.1.0)}"
version="${version#v}"
if ! [[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
  echo "release_protos.sh: VERSION must be MAJOR.MINOR.PATCH, not '$version'" >&2
  exit 2
fi
out="protos/releases/v${version}.binpb"
if [ -e "$out" ]; then
  echo "release_protos.sh: $out exists: a release's contract is never rewritten" >&2
  exit 1
fi
mkdir -p protos/releases
# pgsage's own files (the vendored googleapis ones are not our contract).
.venv/bin/buf build --path protos/pgsage --exclude-source-info -o "$out"
echo "wrote $out ($(wc -c <"$out") bytes): commit it with the release"
