#!/usr/bin/env bash
# `npm start`: everything on embedded defaults. Makes sure a Docker engine
# answers, builds the Temporal CLI once when Go is available (otherwise the
# Temporal SDK downloads it), then runs `dockflow dev --demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/testbed.sh docker
if command -v go >/dev/null 2>&1; then
  TEMPORAL_CLI_PATH="$(bash scripts/testbed.sh temporal | tail -n 1)"
  export TEMPORAL_CLI_PATH
fi
exec node bin/dockflow.js dev --demo "$@"
