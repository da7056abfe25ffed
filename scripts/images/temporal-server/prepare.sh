#!/usr/bin/env bash
# The Temporal server and its schema tool at the pinned version.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
cp "$("$here/go-binary.sh" go.temporal.io/server/cmd/server@v1.29.1)" "$1/temporal-server"
cp "$("$here/go-binary.sh" go.temporal.io/server/cmd/tools/sql@v1.29.1)" "$1/temporal-sql-tool"
