#!/usr/bin/env bash
# `make images`: the images compose.yaml and the container topology name, built here from
# Debian's packages alone (no registry answers on this machine), under the upstream names so
# that compose.yaml runs unchanged:
#
#   debian:bookworm-slim          debootstrap --variant=minbase of this machine's mirror
#   postgres:15                   images/postgres   (an entrypoint with the official contract)
#   edoburu/pgbouncer:v1.25.1-p0  images/pgbouncer  (Debian's PgBouncer 1.18)
#   python:3.11-slim              images/python     (Debian's Python 3.11)
#   switchyard:local              ./Dockerfile      (the service, from a built wheel)
#
# Each image carries a label with a hash of its inputs (and of the image it is built FROM):
# an image whose inputs did not change is not built again. Needs the engine (images/engine.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

SUITE=bookworm
LABEL=org.switchyard.inputs
# The HTTPS proxy of this machine re-signs the package index with a local CA: builds that
# reach PyPI get the system bundle as a build secret, which never lands in a layer.
CA_BUNDLE=${SWITCHYARD_BUILD_CA:-/etc/ssl/certs/ca-certificates.crt}

# The Debian archive this machine's apt uses (other sources, e.g. a vendor's, are skipped).
mirror() {
  local uri
  uri=$({ awk '/^URIs:/ {print $2}' /etc/apt/sources.list.d/*.sources
    awk '$1 == "deb" {print $2}' /etc/apt/sources.list; } 2>/dev/null | grep -m1 '/debian/\?$' || true)
  echo "${uri:-http://deb.debian.org/debian}"
}

label_of() { docker image inspect --format "{{index .Config.Labels \"$LABEL\"}}" "$1" 2>/dev/null || true; }

image_id() { docker image inspect --format '{{.Id}}' "$1"; }

# A hash of files plus the id of the image they build on.
inputs_hash() {
  local from=$1
  shift
  { image_id "$from"; cat "$@"; } | sha256sum | cut -c1-16
}

build_base() {
  local tag=debian:$SUITE-slim want
  want="debootstrap-minbase-$SUITE"
  if [ "$(label_of "$tag")" = "$want" ]; then
    echo "$tag: cached"
    return
  fi
  local root
  root=$(mktemp -d /var/tmp/switchyard-rootfs.XXXXXX)
  trap 'rm -rf "$root"' RETURN
  echo "$tag: debootstrap $SUITE from $(mirror)"
  debootstrap --variant=minbase "$SUITE" "$root" "$(mirror)" >"$root.log" 2>&1 ||
    { tail -n 20 "$root.log" >&2; rm -f "$root.log"; return 1; }
  rm -f "$root.log"
  # No downloaded .debs or package lists in the image; apt-get update fetches them again.
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  tar -C "$root" -c . | docker import \
    --change "LABEL $LABEL=$want" --change 'CMD ["bash"]' - "$tag" >/dev/null
}

build_from_dir() {
  local tag=$1 dir=$2 want
  want=$(inputs_hash "debian:$SUITE-slim" "$dir"/*)
  if [ "$(label_of "$tag")" = "$want" ]; then
    echo "$tag: cached"
    return
  fi
  echo "$tag: building from $dir"
  docker build -q --label "$LABEL=$want" -t "$tag" "$dir" >/dev/null
}

build_service() {
  local tag=switchyard:local want files
  files=$(git ls-files -- Dockerfile .dockerignore pyproject.toml setup.py service migrations 2>/dev/null ||
    find Dockerfile .dockerignore pyproject.toml setup.py service migrations -type f -name '*.py')
  # shellcheck disable=SC2086  # a list of paths without spaces
  want=$(inputs_hash python:3.11-slim $files)
  if [ "$(label_of "$tag")" = "$want" ]; then
    echo "$tag: cached"
    return
  fi
  echo "$tag: building from ./Dockerfile"
  local secret=()
  [ -s "$CA_BUNDLE" ] && secret=(--secret "id=ca-bundle,src=$CA_BUNDLE")
  # BuildKit (for the secret): the engine's own CLI has it built in; a newer CLI without the
  # buildx plugin, which Debian 12 does not package, would fall back to the legacy builder.
  DOCKER_BUILDKIT=1 /usr/bin/docker build -q "${secret[@]}" --label "$LABEL=$want" -t "$tag" . >/dev/null
}

docker version --format '{{.Server.Version}}' >/dev/null ||
  { echo "no Docker engine answers at ${DOCKER_HOST:-the default socket}: images/engine.sh start" >&2; exit 1; }
started=$SECONDS
build_base
build_from_dir postgres:15 images/postgres
build_from_dir edoburu/pgbouncer:v1.25.1-p0 images/pgbouncer
build_from_dir python:3.11-slim images/python
build_service
# Images replaced by a rebuild lose their tag: drop them (the layer cache stays).
docker image prune --force >/dev/null
echo "images ready in $((SECONDS - started)) s"
