#!/usr/bin/env bash
# Builds the test bed's local images from Debian's packages, without a
# registry: debootstrap a minimal root file system with the recipe's
# packages, strip apt's caches and documentation, `docker import` it, then
# give it the recipe's metadata (ENV, VOLUME, CMD, ...) with a Dockerfile
# that only copies files, so no build step needs the network.
#
#   scripts/images/build.sh [NAME...]     default: every recipe folder
#
# Each recipe folder holds `image` (the tag, e.g. dockflow-local/postgres:15),
# `packages` (what debootstrap includes, one per line), optionally `strip`
# (globs under the root file system to delete before import: what a package
# pulls in that the image never runs), optionally `prepare.sh` (called with a
# staging folder: puts there files that are not Debian packages, e.g. a Go
# binary built with `go install` at a pinned version), a `Dockerfile` whose
# first lines are `ARG ROOTFS` / `FROM ${ROOTFS}`, and any files it copies.
# An image is rebuilt only when its recipe changed: the recipe's hash is a
# label of the image, and root file systems are cached per package list
# (recipes with the same list share one).
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
CACHE_DIR="${DOCKFLOW_CACHE_DIR:-$HOME/.cache/dockflow}"
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"

log() { echo "[images] $*" >&2; }

# The first Debian mirror apt is configured with (deb822 or one-line format).
debian_mirror() {
  local uri
  uri="$(grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v security | head -n 1 || true)"
  [ -n "$uri" ] || uri="$(grep -hE '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' | grep -v security | head -n 1 || true)"
  [ -n "$uri" ] || { log "no Debian mirror found in /etc/apt"; exit 1; }
  echo "$uri"
}

recipe_hash() {
  (cd "$HERE/$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum; sha256sum "$HERE/build.sh" | cut -d' ' -f1) | sha256sum | cut -c1-16
}

image_label() {
  docker image inspect --format '{{index .Config.Labels "io.dockflow.recipe"}}' "$1" 2>/dev/null || true
}

ensure_debootstrap() {
  command -v debootstrap >/dev/null 2>&1 && return
  log "installing debootstrap"
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends debootstrap >&2
}

# A root file system per package list, kept until the list changes.
rootfs_for() {
  local name="$1" packages key dir
  packages="$(grep -vE '^\s*(#|$)' "$HERE/$name/packages" | sort -u | paste -sd, -)"
  key="$(echo "$packages" | sha256sum | cut -c1-12)"
  dir="$CACHE_DIR/rootfs/pkgs-$key"
  if [ ! -f "$dir.done" ]; then
    ensure_debootstrap
    log "debootstrap $name (${packages:-minbase only}): takes a few minutes, once"
    $SUDO rm -rf "$dir"
    mkdir -p "$CACHE_DIR/debs" "$CACHE_DIR/rootfs"
    $SUDO debootstrap --variant=minbase ${packages:+--include="$packages"} --cache-dir="$CACHE_DIR/debs" \
      bookworm "$dir" "$(debian_mirror)" >"$dir.log" 2>&1 || { tail -n 20 "$dir.log" >&2; exit 1; }
    # Small images: no package caches, lists, documentation or locales beyond C.
    $SUDO rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/cache/apt/*.bin "$dir"/var/lib/apt/lists/* \
      "$dir"/usr/share/doc/* "$dir"/usr/share/man/* "$dir"/usr/share/info/* "$dir"/usr/share/locale/* "$dir"/var/log/*.log
    touch "$dir.done"
  fi
  echo "$dir"
}

build_one() {
  local name="$1" tag hash rootfs base
  tag="$(cat "$HERE/$name/image")"
  hash="$(recipe_hash "$name")"
  if [ "$(image_label "$tag")" = "$hash" ]; then log "$tag is up to date"; return; fi
  rootfs="$(rootfs_for "$name")"
  base="dockflow-local/rootfs-$name:$hash"
  local excludes=()
  if [ -f "$HERE/$name/strip" ]; then
    while read -r glob; do excludes+=(--exclude="./$glob"); done < <(grep -vE '^\s*(#|$)' "$HERE/$name/strip")
  fi
  log "importing $base"
  $SUDO tar -C "$rootfs" "${excludes[@]}" -c . | docker import - "$base" >/dev/null
  local context
  context="$(mktemp -d)"
  cp -a "$HERE/$name/." "$context/"
  if [ -x "$HERE/$name/prepare.sh" ]; then
    log "preparing $name"
    "$HERE/$name/prepare.sh" "$context" >&2
  fi
  log "building $tag"
  # The legacy builder: every step is a COPY or a RUN that needs no network,
  # and it reads the imported image without BuildKit's extra machinery.
  DOCKER_BUILDKIT=0 docker build -q --build-arg "ROOTFS=$base" --label "io.dockflow.recipe=$hash" -t "$tag" "$context" \
    >"$CACHE_DIR/build-$name.log" 2>&1 || { tail -n 30 "$CACHE_DIR/build-$name.log" >&2; exit 1; }
  rm -rf "$context"
  docker image rm "$base" >/dev/null 2>&1 || true
  log "$tag built ($(docker image inspect --format '{{.Size}}' "$tag" | awk '{printf "%.0f MB", $1/1e6}'))"
}

if [ "$#" -eq 0 ]; then
  set -- $(cd "$HERE" && ls -d */ | tr -d /)
fi
for name in "$@"; do build_one "$name"; done
