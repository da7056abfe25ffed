#!/usr/bin/env bash
# The bench's anchors on top of the test bed: Debian's docker-compose (1.29).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/testbed.sh all >/dev/null
if ! command -v docker-compose >/dev/null 2>&1; then
  echo "[bench] installing Debian's docker-compose" >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker-compose >/dev/null
fi
# The docker CLI drives Swarm; Debian's docker.io package brings it.
command -v docker >/dev/null
