#!/usr/bin/env bash
# Makes the files docker-compose.yml mounts as secrets, in deploy/compose/secrets/ (ignored
# by git): a CA for the gRPC links and the certificates it signs, random passwords for the two
# PostgreSQL servers and the URLs/DSNs that carry them, the optimizer's targets file, and the
# gateway's session secret. Needs openssl. Idempotent: a file that exists is kept, so run it
# again after deleting one to make that one anew (delete ca.crt to start a new CA: then
# delete the certificates too).
#
#   scripts/compose-secrets.sh && cp deploy/compose/env.example .env && docker compose up -d
#
# Compose (outside swarm) bind-mounts secret files with their mode on this machine, and the
# containers run as another user, so the files are 0644 inside a 0700 directory: readable
# in the containers, not by other users here.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=deploy/compose/secrets
DAYS=${PGSAGE_CERT_DAYS:-825}
mkdir -p "$DIR"
chmod 700 "$DIR"
cd "$DIR"

made=()
new() { [ ! -s "$1" ] && made+=("$1"); }
password() { openssl rand -hex 24; }
# openssl, quiet when it works and loud when it does not.
ssl() {
  local out
  out=$(openssl "$@" 2>&1) || { echo "openssl $1 failed: $out" >&2; exit 1; }
}

if new ca.crt; then
  ssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days "$DAYS" \
    -subj "/CN=pgsage compose CA" -keyout ca.key -out ca.crt \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign"
fi

# A certificate for NAME (its SAN DNS:NAME, the identity the optimizer checks), usable as
# server and client: the job service serves the gateway and calls the optimizer; the
# optimizer's healthcheck presents its own certificate.
leaf() {
  local name=$1
  new "$name.crt" || return 0
  ssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$name" \
    -keyout "$name.key" -out "$name.csr"
  printf '%s\n' "subjectAltName=DNS:$name" "basicConstraints=critical,CA:FALSE" \
    "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth,clientAuth" >"$name.ext"
  ssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -CAcreateserial \
    -days "$DAYS" -extfile "$name.ext" -out "$name.crt"
  rm -f "$name.csr" "$name.ext"
}
leaf job-service # job-service.crt, job-service.key
leaf optimizer   # optimizer.crt, optimizer.key

if new jobs_db_password; then password >jobs_db_password; fi
if new pgsage_jobs_database_url; then
  echo "postgresql://pgsage:$(cat jobs_db_password)@jobs-db:5432/pgsage" >pgsage_jobs_database_url
fi
if new demo_db_password; then password >demo_db_password; fi
if new demo_admin_dsn; then
  echo "postgresql://postgres:$(cat demo_db_password)@demo-db:5432/postgres" >demo_admin_dsn
fi
if new optimizer_targets.toml; then
  cat >optimizer_targets.toml <<TOML
# The optimizer's targets (PGSAGE_OPTIMIZER_TARGETS_FILE): add yours as more [[targets]].
[[targets]]
name = "demo"
dsn = "postgresql://postgres:$(cat demo_db_password)@demo-db:5432/pgsage_demo"
what_if_engine = "hypopg"
apply_allowed = true
benchmark_sampling = true
TOML
fi
if new pgsage_gateway_session_secret; then openssl rand -hex 32 >pgsage_gateway_session_secret; fi
# Your OpenID Connect client's secret: write it into this file (empty: a public client).
if [ ! -e pgsage_gateway_oidc_client_secret ]; then
  made+=(pgsage_gateway_oidc_client_secret)
  : >pgsage_gateway_oidc_client_secret
fi

chmod 600 ca.key
chmod 644 ./*.crt job-service.key optimizer.key jobs_db_password pgsage_jobs_database_url \
  demo_db_password demo_admin_dsn optimizer_targets.toml pgsage_gateway_session_secret \
  pgsage_gateway_oidc_client_secret
if [ ${#made[@]} -gt 0 ]; then
  echo "made in $DIR: ${made[*]}"
else
  echo "$DIR: every file is there already"
fi
