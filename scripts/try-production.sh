#!/usr/bin/env bash
# `npm run try-production`: the production setup of the README on this
# machine. docker-compose.temporal.yml (Temporal server on PostgreSQL, its
# schema job, the UI, a dockflow worker built from the Dockerfile) comes up
# on the test bed's local images, the demo stack is deployed *through it*
# with the dockflow CLI, what it ran is printed, and everything is torn down.
#
#   scripts/try-production.sh [all|up|demo|codec|down]     (default all)
#
# With DOCKFLOW_ENCRYPTION_KEY_FILE set, payloads are encrypted with that key
# and the `codec` profile runs too: the codec server on 127.0.0.1:
# $DOCKFLOW_CODEC_HOST_PORT (default 8234), the UI pointed at it (`codec`
# alone recreates just that service, e.g. after setting
# DOCKFLOW_CODEC_TOKEN_FILE).
#
# The cluster is brought up with docker-compose, not with dockflow: dockflow
# needs a running Temporal to deploy anything, so the Temporal it runs on is
# the one thing it cannot bootstrap. docker-compose 1.29 (Debian's) predates
# the top-level `name:`, so the script hands it a copy without that line
# and the same name as -p; `docker compose` v2 reads the file as it is.
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
cd "$REPO"

PROJECT=dockflow-temporal
export POSTGRES_IMAGE="${POSTGRES_IMAGE:-dockflow-local/postgres:15}"
export TEMPORAL_ADMIN_TOOLS_IMAGE="${TEMPORAL_ADMIN_TOOLS_IMAGE:-dockflow-local/temporal-server:1.29.1}"
export TEMPORAL_SERVER_IMAGE="${TEMPORAL_SERVER_IMAGE:-dockflow-local/temporal-server:1.29.1}"
export TEMPORAL_UI_IMAGE="${TEMPORAL_UI_IMAGE:-dockflow-local/temporal-ui:2.42.1}"
export NODE_IMAGE="${NODE_IMAGE:-dockflow-local/node:20}"
export DOCKFLOW_WORKER_IMAGE="${DOCKFLOW_WORKER_IMAGE:-dockflow-worker:local}"
export DOCKFLOW_STACKS_DIR="${DOCKFLOW_STACKS_DIR:-$REPO/examples}"
export TEMPORAL_HOST_PORT="${TEMPORAL_HOST_PORT:-7233}"
export TEMPORAL_UI_HOST_PORT="${TEMPORAL_UI_HOST_PORT:-8233}"
export DOCKFLOW_METRICS_HOST_PORT="${DOCKFLOW_METRICS_HOST_PORT:-9464}"
export DOCKFLOW_CODEC_HOST_PORT="${DOCKFLOW_CODEC_HOST_PORT:-8234}"
if [ -n "${DOCKFLOW_ENCRYPTION_KEY_FILE:-}" ]; then
  # Absolute: compose resolves a relative secret path against the project directory.
  DOCKFLOW_ENCRYPTION_KEY_FILE="$(realpath "$DOCKFLOW_ENCRYPTION_KEY_FILE")"
  export DOCKFLOW_ENCRYPTION_KEY_FILE
  export COMPOSE_PROFILES=codec
  export DOCKFLOW_CODEC_ENDPOINT="${DOCKFLOW_CODEC_ENDPOINT:-http://127.0.0.1:$DOCKFLOW_CODEC_HOST_PORT}"
fi
# Certificates this host trusts locally (e.g. a TLS-inspecting proxy's), for
# the worker image's npm install; see the Dockerfile.
if [ -z "${NPM_CA_PEM:-}" ] && ls /usr/local/share/ca-certificates/*.crt >/dev/null 2>&1; then
  NPM_CA_PEM="$(cat /usr/local/share/ca-certificates/*.crt)"
  export NPM_CA_PEM
fi

log() { echo "[try-production] $*" >&2; }

compose_file="$(mktemp "${TMPDIR:-/tmp}/dockflow-temporal.XXXXXX.yml")"
trap 'rm -f "$compose_file"' EXIT
if command -v docker-compose >/dev/null 2>&1; then
  grep -v '^name:' docker-compose.temporal.yml > "$compose_file"
  compose() { docker-compose --ansi never -p "$PROJECT" -f "$compose_file" --project-directory "$REPO" "$@"; }
else
  compose() { docker compose -p "$PROJECT" -f docker-compose.temporal.yml "$@"; }
fi

up() {
  bash scripts/testbed.sh images
  log "building the worker image ($DOCKFLOW_WORKER_IMAGE on $NODE_IMAGE)"
  compose build worker >&2
  log "starting PostgreSQL, the schema job, Temporal, the UI and the worker"
  compose up -d >&2
  local deadline=$((SECONDS + 300))
  until [ "$(docker inspect -f '{{.State.Health.Status}}' "$(compose ps -q temporal)" 2>/dev/null)" = healthy ] \
      && compose logs worker 2>/dev/null | grep -q 'polling task queue' \
      && curl -fsS -o /dev/null "http://127.0.0.1:$TEMPORAL_UI_HOST_PORT/"; do
    if [ $SECONDS -gt $deadline ]; then
      log "the cluster did not come up within 300 s"; compose ps >&2; compose logs --tail 40 >&2; exit 1
    fi
    sleep 2
  done
  log "Temporal on 127.0.0.1:$TEMPORAL_HOST_PORT, UI on http://127.0.0.1:$TEMPORAL_UI_HOST_PORT, worker polling"
  if [ -n "${COMPOSE_PROFILES:-}" ]; then wait_codec; fi
}

# The codec server answers (any HTTP status: with a token, 401 to this probe).
wait_codec() {
  local deadline=$((SECONDS + 120))
  until curl -sS -o /dev/null -X POST "http://127.0.0.1:$DOCKFLOW_CODEC_HOST_PORT/decode" 2>/dev/null; do
    if [ $SECONDS -gt $deadline ]; then
      log "the codec server did not answer within 120 s"; compose logs --tail 40 codec >&2; exit 1
    fi
    sleep 1
  done
  log "codec server on http://127.0.0.1:$DOCKFLOW_CODEC_HOST_PORT, the UI's codec endpoint $DOCKFLOW_CODEC_ENDPOINT"
}

codec() {
  if [ -z "${COMPOSE_PROFILES:-}" ]; then log "codec needs DOCKFLOW_ENCRYPTION_KEY_FILE"; exit 2; fi
  compose up -d --no-deps codec >&2
  wait_codec
}

demo() {
  export TEMPORAL_ADDRESS="127.0.0.1:$TEMPORAL_HOST_PORT"
  # The demo's image is built on the host, as `npm start` does.
  node --import tsx -e "require('./src/demo/base-image').ensureBaseImage(new (require('dockerode'))()).catch((e) => { console.error(e); process.exit(1); })"
  log "deploying examples/demo through the production cluster"
  node bin/dockflow.js deploy -f "$DOCKFLOW_STACKS_DIR/demo/docker-compose.yml" -p demo-production
  node bin/dockflow.js ps -p demo-production
  node bin/dockflow.js history -p demo-production
  node bin/dockflow.js down -p demo-production --volumes
}

down() {
  log "tearing down"
  compose down --volumes --remove-orphans >&2
}

case "${1:-all}" in
  up) up ;;
  demo) demo ;;
  codec) codec ;;
  down) down ;;
  all) up; trap 'down; rm -f "$compose_file"' EXIT; demo ;;
  *) echo "usage: $0 [all|up|demo|codec|down]" >&2; exit 2 ;;
esac
