#!/usr/bin/env bash
# Installs and starts the real test bed: a Docker engine (Debian's docker.io)
# and the Temporal CLI dev server binary (built once with `go install`, cached
# outside the repository). Idempotent: every step first checks whether it is
# already done. Prints the Temporal binary's path on its last line.
set -euo pipefail

TEMPORAL_CLI_VERSION="${TEMPORAL_CLI_VERSION:-v1.5.1}"
CACHE_DIR="${DOCKFLOW_CACHE_DIR:-$HOME/.cache/dockflow}"
TEMPORAL_BIN_DIR="$CACHE_DIR/temporal-$TEMPORAL_CLI_VERSION"
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"

log() { echo "[testbed] $*" >&2; }

apt_updated=0
apt_install() {
  if [ "$apt_updated" = 0 ]; then
    $SUDO apt-get update -qq >&2
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@" >&2
}

docker_answers() {
  curl -fsS --max-time 3 --unix-socket /var/run/docker.sock http://localhost/_ping >/dev/null 2>&1
}

ensure_packages() {
  local missing=()
  command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
  [ -x /bin/busybox ] && /bin/busybox --list 2>/dev/null | grep -qx httpd || missing+=(busybox-static)
  dpkg -s busybox-static >/dev/null 2>&1 || missing+=(busybox-static)
  command -v curl >/dev/null 2>&1 || missing+=(curl)
  # docker-compose 1.29: the anchor of the benchmarks, the stack a take-over
  # test starts, and the reference of the differential test.
  command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
  if [ "${#missing[@]}" -gt 0 ]; then
    log "installing ${missing[*]}"
    apt_install $(printf '%s\n' "${missing[@]}" | sort -u)
  fi
}

# The UI test (test/integration/ui.test.ts) drives Debian's headless Chromium.
ensure_browser() {
  if command -v chromium >/dev/null 2>&1; then return; fi
  log "installing chromium (for the Temporal UI test)"
  apt_install chromium
}

ensure_dockerd() {
  if docker_answers; then return; fi
  log "starting dockerd"
  mkdir -p "$CACHE_DIR"
  # setsid: dockerd must outlive the shell that started it (CI steps, test runs).
  $SUDO setsid dockerd >"$CACHE_DIR/dockerd.log" 2>&1 < /dev/null &
  for _ in $(seq 1 60); do
    if docker_answers; then log "dockerd is up"; return; fi
    sleep 1
  done
  log "dockerd did not answer within 60 s; last log lines:"
  tail -n 30 "$CACHE_DIR/dockerd.log" >&2 || true
  exit 1
}

ensure_temporal() {
  local bin="$TEMPORAL_BIN_DIR/temporal"
  if [ -x "$bin" ]; then echo "$bin"; return; fi
  if ! command -v go >/dev/null 2>&1; then
    log "go is not installed: cannot build the Temporal CLI"
    exit 1
  fi
  log "building temporal CLI $TEMPORAL_CLI_VERSION with go install (takes minutes, once)"
  mkdir -p "$TEMPORAL_BIN_DIR"
  GOBIN="$TEMPORAL_BIN_DIR.tmp" go install "github.com/temporalio/cli/cmd/temporal@$TEMPORAL_CLI_VERSION" >&2
  mv "$TEMPORAL_BIN_DIR.tmp/temporal" "$bin"
  rmdir "$TEMPORAL_BIN_DIR.tmp" 2>/dev/null || true
  echo "$bin"
}

# Local images built from Debian's packages (scripts/images/): a real
# PostgreSQL and nginx for the tests, since no registry serves them here.
ensure_images() {
  bash "$(dirname "$0")/images/build.sh" >&2
}

# versitygw: a real S3-compatible server for the S3 backup destination's
# tests (test/support/s3-server.ts), built once and cached like the other Go
# binaries.
ensure_versitygw() {
  bash "$(dirname "$0")/images/go-binary.sh" github.com/versity/versitygw/cmd/versitygw@v1.8.0 >&2
}

case "${1:-all}" in
  docker) ensure_packages; ensure_dockerd ;;
  temporal) ensure_temporal ;;
  browser) ensure_browser ;;
  s3) ensure_versitygw ;;
  images) ensure_packages; ensure_dockerd; ensure_images ;;
  all) ensure_packages; ensure_browser; ensure_dockerd; ensure_images; ensure_versitygw; ensure_temporal ;;
  *) echo "usage: $0 [all|docker|temporal|browser|images|s3]" >&2; exit 2 ;;
esac
