#!/usr/bin/env bash
# The whole test suite (`npm test`): installs and starts the test bed (Docker
# engine, Temporal CLI), type-checks and lints, then runs unit and
# integration tests against the real Docker engine and a real Temporal server.
set -euo pipefail
cd "$(dirname "$0")/.."

TEMPORAL_CLI_PATH="$(bash scripts/testbed.sh all | tail -n 1)"
export TEMPORAL_CLI_PATH
echo "test bed: Docker $(curl -fsS --unix-socket /var/run/docker.sock http://localhost/version | sed -E 's/.*"Version":"([^"]+)".*/\1/'), Temporal CLI $TEMPORAL_CLI_PATH"

npx tsc -p tsconfig.json --noEmit
npx eslint .

# One runner invocation, so its closing summary counts every test. Files run
# one at a time: integration files share the Docker engine and two cores.
exec node --import tsx --test --test-concurrency=1 --test-reporter=spec \
  test/unit/*.test.ts test/replay/*.test.ts test/workflows/*.test.ts test/integration/*.test.ts test/seeds/*.test.ts test/chaos/*.test.ts test/fuzz/*.test.ts
