#!/usr/bin/env bash
# Installs what pgsage's tests need on a Debian machine, idempotently: HypoPG for the local
# PostgreSQL 15, pg_stat_statements preloaded there (a restart of that server), Chromium for
# the browser tests, the Python virtual environment with the dev extras, the UI build and the
# test OpenID provider. `make run` needs none of the system parts: see scripts/setup-run.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
dpkg -s postgresql-15-hypopg >/dev/null 2>&1 || need_apt+=(postgresql-15-hypopg)
dpkg -s chromium >/dev/null 2>&1 || need_apt+=(chromium)
if ((${#need_apt[@]})); then
  echo "setup: installing ${need_apt[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# The shared server on 5432: pg_stat_statements must be preloaded (needs a restart).
PGVER=$(ls /etc/postgresql | sort -n | tail -1)
CONF=/etc/postgresql/$PGVER/main/postgresql.conf
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  echo "setup: starting PostgreSQL $PGVER"
  pg_ctlcluster --skip-systemctl-redirect "$PGVER" main start || true
fi
if ! psql -h 127.0.0.1 -U postgres -tAc "show shared_preload_libraries" | grep -q pg_stat_statements; then
  echo "setup: preloading pg_stat_statements (restarting PostgreSQL $PGVER)"
  grep -q "^shared_preload_libraries = 'pg_stat_statements'" "$CONF" ||
    echo "shared_preload_libraries = 'pg_stat_statements'" >> "$CONF"
  pg_ctlcluster --skip-systemctl-redirect "$PGVER" main restart
fi
for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done

# The Python environment with the dev extras, and the UI build.
bash scripts/setup-run.sh dev

# The test OpenID provider (oidc-provider) for the gateway's sign-in tests.
if [ ! -L tests/oidc/node_modules ] && { [ ! -d tests/oidc/node_modules ] ||
   [ tests/oidc/package-lock.json -nt tests/oidc/node_modules ]; }; then
  (cd tests/oidc && npm ci --no-audit --no-fund --no-update-notifier --loglevel=error && touch node_modules)
fi
