#!/usr/bin/env bash
# Builds pgsage's wheel (the built UI inside) and proves it: installed into a clean virtual
# environment, outside the checkout and with no PYTHONPATH, `pgsage --version` answers and
# `pgsage up` serves /healthz and the UI's index.html, then stops cleanly on SIGTERM.
#
#   scripts/check_wheel.sh [DIR]   DIR keeps the wheel (default: a temporary directory)
#
# Needs the UI built (scripts/setup-run.sh) and the repository's .venv (or PYTHON).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
py=${PYTHON:-$repo/.venv/bin/python}
work=$(mktemp -d "${TMPDIR:-/tmp}/pgsage-wheel-XXXXXX")
up_pid=
cleanup() {
  if [ -n "$up_pid" ] && kill -0 "$up_pid" 2>/dev/null; then
    kill -TERM "$up_pid"
    wait "$up_pid" || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "check_wheel: $*" >&2
  exit 1
}

[ -f "$repo/gateway/ui/dist/index.html" ] ||
  fail "gateway/ui/dist is not built: run scripts/setup-run.sh first"

# A copy of what the wheel is built from (tracked and new files, no build/ leftovers).
mkdir -p "$work/src"
(cd "$repo" && git ls-files -z -co --exclude-standard -- pyproject.toml README.md pgsage \
  job_service optimizer_service gateway ':!:gateway/ui' |
  while IFS= read -r -d '' f; do [ -f "$f" ] && printf '%s\0' "$f"; done |
  xargs -0 cp --parents -t "$work/src")
mkdir -p "$work/src/gateway/ui"
cp -r "$repo/gateway/ui/dist" "$work/src/gateway/ui/dist"

out=${1:-$work/wheel}
mkdir -p "$out"
# The environment's setuptools when it meets pyproject.toml's build requirement, else pip
# fetches one into an isolated build environment.
isolation=--no-build-isolation
"$py" -c 'import setuptools as s, sys; sys.exit(int(s.__version__.split(".")[0]) < 75)' \
  2>/dev/null || isolation=
"$py" -m pip wheel -q --no-deps $isolation -w "$out" "$work/src" \
  >"$work/build.log" 2>&1 || { cat "$work/build.log" >&2; fail "the wheel did not build"; }
version=$("$py" -c 'import tomllib,sys; print(tomllib.load(open(sys.argv[1],"rb"))["project"]["version"])' \
  "$repo/pyproject.toml")
wheel="$out/pgsage-$version-py3-none-any.whl"
[ -f "$wheel" ] || fail "no $wheel"
"$py" - "$wheel" <<'PY' || fail "the wheel's UI files are wrong"
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
ui = [n for n in names if n.startswith("gateway/ui/")]
assert "gateway/ui/dist/index.html" in ui, ui
assert any(n.startswith("gateway/ui/dist/assets/") for n in ui), ui
assert all(n.startswith("gateway/ui/dist/") and "/." not in n for n in ui), ui
PY
echo "built $(basename "$wheel") (UI included)"

# A clean environment from the same interpreter, away from the checkout.
base=$("$py" -c 'import sys; print(sys._base_executable)')
"$base" -m venv "$work/venv"
cd "$work"
unset PYTHONPATH
"$work/venv/bin/pip" install -q "$wheel" >"$work/install.log" 2>&1 ||
  { cat "$work/install.log" >&2; fail "pip install $wheel failed"; }
where=$("$work/venv/bin/python" -c 'import gateway; print(gateway.__file__)')
case "$where" in "$work/venv/"*) ;; *) fail "gateway imported from $where" ;; esac

said=$("$work/venv/bin/pgsage" --version)
[ "$said" = "pgsage $version" ] || fail "pgsage --version said '$said'"
echo "$said"

port() { "$work/venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
http=$(port) jobs=$(port) optimizer=$(port)
"$work/venv/bin/pgsage" up --data-dir "$work/data" --http-port "$http" --jobs-port "$jobs" \
  --optimizer-port "$optimizer" --demo-scale 0.01 --demo-rounds 1 >"$work/up.out" 2>&1 &
up_pid=$!
url="http://127.0.0.1:$http"
for _ in $(seq 1 300); do
  grep -q "^pgsage is up: " "$work/up.out" && break
  kill -0 "$up_pid" 2>/dev/null || { cat "$work/up.out" >&2; fail "pgsage up exited"; }
  sleep 0.5
done
grep -qx "pgsage is up: $url" "$work/up.out" || { cat "$work/up.out" >&2; fail "pgsage up did not come up"; }

get() { "$work/venv/bin/python" -c 'import sys,urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())' "$1"; }
health=$(get "$url/healthz")
"$work/venv/bin/python" -c 'import json,sys; b=json.loads(sys.argv[1]); assert b["status"]=="pass" and b["version"]==sys.argv[2], b' \
  "$health" "$version" || fail "/healthz said $health"
echo "healthz: $health"
get "$url/" >"$work/index.html"
cmp -s "$work/index.html" "$repo/gateway/ui/dist/index.html" ||
  fail "GET / is not the built UI's index.html: $(head -c 300 "$work/index.html")"
asset=$(grep -o 'src="/assets/[^"]*"' "$work/index.html" | head -1 | cut -d'"' -f2)
[ -n "$asset" ] && get "$url$asset" >/dev/null || fail "the UI's script $asset is not served"
echo "GET / serves the UI ($asset)"

kill -TERM "$up_pid"
code=0
wait "$up_pid" || code=$?
up_pid=
[ "$code" = 0 ] || { cat "$work/up.out" >&2; fail "pgsage up exited with $code on SIGTERM"; }
tail -1 "$work/up.out"
echo "check_wheel: ok"
