#!/usr/bin/env bash
# Install what the container path needs, from Debian's packages only, when it is missing:
# dockerd (docker.io), debootstrap for the base image, and Compose v2. Idempotent.
#
# Compose v2 is not packaged for Debian 12: Debian 13's `docker-compose` (a static Go binary
# needing only libc6 >= 2.34) is fetched through a separate, private source list, so the
# machine's own sources stay on bookworm.
set -euo pipefail

TRIXIE_DIR=/var/cache/switchyard-trixie
if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi

missing=""
command -v dockerd >/dev/null || missing="$missing docker.io"
command -v debootstrap >/dev/null || missing="$missing debootstrap"
command -v iptables >/dev/null || missing="$missing iptables"
if [ -n "$missing" ]; then
  echo "installing:$missing"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
  # The lab runs its own loopback-only engine (images/engine.sh), never apt's system one.
  for unit in docker.socket docker containerd; do
    $SUDO systemctl disable --now "$unit" >/dev/null 2>&1 || true
  done
fi

if ! docker compose version >/dev/null 2>&1; then
  echo "installing: docker-compose (Compose v2) from Debian 13"
  $SUDO mkdir -p "$TRIXIE_DIR/lists/partial" "$TRIXIE_DIR/archives/partial"
  echo "deb http://deb.debian.org/debian trixie main" | $SUDO tee "$TRIXIE_DIR/sources.list" >/dev/null
  apt_opts=(
    -o "Dir::Etc::SourceList=$TRIXIE_DIR/sources.list" -o Dir::Etc::SourceParts=/dev/null
    -o "Dir::State::Lists=$TRIXIE_DIR/lists" -o "Dir::Cache::Archives=$TRIXIE_DIR/archives"
  )
  $SUDO apt-get "${apt_opts[@]}" update -qq
  (cd "$TRIXIE_DIR" && $SUDO apt-get "${apt_opts[@]}" download -qq docker-compose 2>/dev/null)
  $SUDO dpkg -i "$TRIXIE_DIR"/docker-compose_*.deb >/dev/null
  docker compose version
fi
