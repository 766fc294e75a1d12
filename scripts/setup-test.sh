#!/usr/bin/env bash
# Installs what pgsage's tests need on a Debian machine, idempotently: PostgreSQL 15's server
# binaries with HypoPG (the tests initdb a server of their own in a temporary folder, with
# pg_stat_statements preloaded: no server already running here is edited or restarted),
# Chromium for the browser tests, the Python virtual environment with the dev extras, the UI
# build and the test OpenID provider. `make run` needs none of the system parts: see
# scripts/setup-run.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
dpkg -s postgresql-15 >/dev/null 2>&1 || need_apt+=(postgresql-15)
dpkg -s postgresql-15-hypopg >/dev/null 2>&1 || need_apt+=(postgresql-15-hypopg)
dpkg -s chromium >/dev/null 2>&1 || need_apt+=(chromium)
if ((${#need_apt[@]})); then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: the tests need these Debian packages: ${need_apt[*]}" >&2
    echo "setup: install them (sudo apt-get install ${need_apt[*]}), then run make test again" >&2
    exit 1
  fi
  echo "setup: installing ${need_apt[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# The Python environment with the dev extras, and the UI build.
bash scripts/setup-run.sh dev

# The test OpenID provider (oidc-provider) for the gateway's sign-in tests.
if [ ! -L tests/oidc/node_modules ] && { [ ! -d tests/oidc/node_modules ] ||
   [ tests/oidc/package-lock.json -nt tests/oidc/node_modules ]; }; then
  (cd tests/oidc && npm ci --no-audit --no-fund --no-update-notifier --loglevel=error && touch node_modules)
fi
