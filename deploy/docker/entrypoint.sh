#!/bin/sh
# Settings from secret files: every file in /run/secrets named after a pgsage setting
# (pgsage_gateway_session_secret, pgsage_jobs_database_url, ...) becomes that environment
# variable, unless the variable is already set; then the command runs. Secrets whose name is
# no setting (certificates, keys, the optimizer's targets file) are left alone: settings
# such as PGSAGE_JOBS_TLS_KEY_FILE point at them.
set -eu
secrets=${PGSAGE_SECRETS_DIR:-/run/secrets}
if [ -d "$secrets" ]; then
  for path in "$secrets"/pgsage_*; do
    [ -f "$path" ] || continue
    name=$(basename "$path" | tr '[:lower:]' '[:upper:]')
    case "$name" in *[!A-Z0-9_]*) continue ;; esac
    eval "current=\${$name:-}"
    if [ -z "$current" ]; then
      value=$(cat "$path")
      export "$name=$value"
    fi
  done
fi
exec "$@"
