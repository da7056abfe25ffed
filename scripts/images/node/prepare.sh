#!/usr/bin/env bash
# Node 20 and npm from this machine: Debian bookworm's own nodejs is 18, and
# the worker needs 20 or newer. The image is tagged node:20, so only a 20 fits.
set -euo pipefail
node_bin="$(readlink -f "$(command -v node)")"
major="$("$node_bin" -p 'process.versions.node.split(".")[0]')"
[ "$major" = 20 ] || { echo "[images] node $major on this machine; dockflow-local/node:20 needs Node 20" >&2; exit 1; }
npm_dir="$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")"
cp "$node_bin" "$1/node"
cp -a "$npm_dir" "$1/npm"
