#!/usr/bin/env bash
# go-binary.sh MODULE@VERSION: builds a Go command once (static, CGO off) and
# prints its path. Cached outside the repository like the Temporal CLI; the
# builds take minutes, so they are never repeated for the same version.
set -euo pipefail
module="$1"
CACHE_DIR="${DOCKFLOW_CACHE_DIR:-$HOME/.cache/dockflow}"
dir="$CACHE_DIR/gobuild/$(echo "$module" | tr '/@' '__')"
bin="$dir/$(basename "${module%@*}")"
if [ ! -x "$bin" ]; then
  command -v go >/dev/null 2>&1 || { echo "[images] go is not installed: cannot build $module" >&2; exit 1; }
  echo "[images] go install $module (takes minutes, once)" >&2
  mkdir -p "$dir.tmp"
  CGO_ENABLED=0 GOBIN="$dir.tmp" go install "$module" >&2
  mkdir -p "$dir"
  mv "$dir.tmp/$(basename "$bin")" "$bin"
  rmdir "$dir.tmp"
fi
echo "$bin"
