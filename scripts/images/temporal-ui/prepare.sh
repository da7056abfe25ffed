#!/usr/bin/env bash
# The Temporal UI server at the pinned version (the web UI is built into it).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
cp "$("$here/go-binary.sh" github.com/temporalio/ui-server/v2/cmd/server@v2.42.1)" "$1/temporal-ui-server"
