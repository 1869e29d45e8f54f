#!/usr/bin/env bash
# Prepares what devdb's tests (and a machine without registry access) need, idempotently:
#   - libclang, which building devdb needs (pg_query)
#   - a Docker engine answering on /var/run/docker.sock (installed and started when none answers)
#   - devdb-base:bookworm, devdb-base:trixie and devdb-base:forky, Postgres 15, 17 and 18 base
#     images made with mmdebstrap from Debian's apt sources
#   - devdb-postgres:15, devdb-postgres:17 and devdb-postgres:18, images that behave like the
#     official postgres image of that major (same env contract and, for 18, the same data layout:
#     PGDATA /var/lib/postgresql/18/docker under a volume at /var/lib/postgresql), for tests
#     across Postgres majors
#   - a local registry on 127.0.0.1:5000 holding a copy of it, so the pull path is tested for real
# Source it and call the functions you need; every step is skipped when its result already exists.
set -euo pipefail

DEVDB_BASE_IMAGE=${DEVDB_BASE_IMAGE:-devdb-base:bookworm}
DEVDB_LOCAL_IMAGE=${DEVDB_LOCAL_IMAGE:-devdb-postgres:15}
DEVDB_BASE_IMAGE_17=${DEVDB_BASE_IMAGE_17:-devdb-base:trixie}
DEVDB_LOCAL_IMAGE_17=${DEVDB_LOCAL_IMAGE_17:-devdb-postgres:17}
DEVDB_BASE_IMAGE_18=${DEVDB_BASE_IMAGE_18:-devdb-base:forky}
DEVDB_LOCAL_IMAGE_18=${DEVDB_LOCAL_IMAGE_18:-devdb-postgres:18}
DEVDB_REGISTRY=${DEVDB_REGISTRY:-127.0.0.1:5000}
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

log() { printf '==> %s\n' "$*" >&2; }

# installed PKG: true when dpkg records PKG as installed (a removed package whose config files
# remain is "deinstall", which `dpkg -s` still answers with success).
installed() {
  [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]
}

apt_install() {
  local missing=()
  for pkg in "$@"; do installed "$pkg" || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
}

# libclang_in DIR: true when DIR holds a libclang that bindgen (clang-sys) loads: `libclang.so`,
# `libclang.so.<N>`, `libclang-<major>.so[.N]`. `libclang-cpp.so.<N>` (the C++ API, preinstalled
# on fresh machines) is not libclang and does not count.
libclang_in() {
  local f
  for f in "$1"/libclang.so "$1"/libclang.so.[0-9]* "$1"/libclang-[0-9]*.so "$1"/libclang-[0-9]*.so.*; do
    [ -e "$f" ] && return 0
  done
  return 1
}

# has_libclang [ROOT]: true when $LIBCLANG_PATH (without ROOT) or the LLVM or multiarch library
# folders under ROOT (default /) hold a libclang (see libclang_in).
has_libclang() {
  local root=${1:-} dir
  if [ -z "$root" ] && [ -n "${LIBCLANG_PATH:-}" ] && libclang_in "$LIBCLANG_PATH"; then
    return 0
  fi
  for dir in "$root"/usr/lib/llvm-*/lib "$root"/usr/lib/*-linux-gnu "$root"/usr/lib "$root"/usr/local/lib; do
    [ -d "$dir" ] && libclang_in "$dir" && return 0
  done
  return 1
}

# pg_query (Postgres's parser, used for migrations) generates its bindings with libclang.
ensure_build_deps() {
  has_libclang || apt_install libclang-dev
}

ensure_engine() {
  if docker version >/dev/null 2>&1; then return 0; fi
  apt_install docker.io
  if ! docker version >/dev/null 2>&1; then
    log "starting dockerd"
    nohup dockerd >/var/log/devdb-dockerd.log 2>&1 &
    for _ in $(seq 1 60); do
      docker version >/dev/null 2>&1 && break
      sleep 1
    done
  fi
  docker version >/dev/null 2>&1 || { log "dockerd did not start; see /var/log/devdb-dockerd.log"; exit 1; }
}

# pg_suite MAJOR: the Debian release whose main archive carries postgresql-MAJOR.
pg_suite() {
  case "$1" in
    15) echo bookworm ;;
    17) echo trixie ;;
    18) echo forky ;;
    *) log "no Debian release known for PostgreSQL ${1:-(none given)}; known majors: 15, 17, 18"; return 1 ;;
  esac
}

# base_image_for MAJOR / local_image_for MAJOR: the image names for PostgreSQL MAJOR; an unknown
# major is an error (handing out another major's image would test the wrong server silently).
base_image_for() {
  case "${1:-}" in
    15) echo "$DEVDB_BASE_IMAGE" ;;
    17) echo "$DEVDB_BASE_IMAGE_17" ;;
    18) echo "$DEVDB_BASE_IMAGE_18" ;;
    *) log "no base image known for PostgreSQL ${1:-(none given)}; known majors: 15, 17, 18"; return 1 ;;
  esac
}
local_image_for() {
  case "${1:-}" in
    15) echo "$DEVDB_LOCAL_IMAGE" ;;
    17) echo "$DEVDB_LOCAL_IMAGE_17" ;;
    18) echo "$DEVDB_LOCAL_IMAGE_18" ;;
    *) log "no stand-in image known for PostgreSQL ${1:-(none given)}; known majors: 15, 17, 18"; return 1 ;;
  esac
}

# layout_for MAJOR: the containers/postgres-local build target that lays the image out as the
# official image of MAJOR does (18 moved PGDATA and the VOLUME, see the Dockerfile).
layout_for() { if [ "$1" -ge 18 ]; then echo pg18; else echo legacy; fi; }

# ensure_base_image [MAJOR]: a Debian image with postgresql-MAJOR (default 15), via mmdebstrap.
ensure_base_image() {
  local major=${1:-15} image suite
  image=$(base_image_for "$major") || return 1
  suite=$(pg_suite "$major") || return 1
  docker image inspect "$image" >/dev/null 2>&1 && return 0
  apt_install mmdebstrap
  log "building $image (Debian $suite with PostgreSQL $major)"
  # Imported untagged and tagged only on success: `docker import` of a failed (empty) stream
  # makes an empty image, which would pass the cache check above from then on.
  # Check-Valid-Until=false: a testing suite's Release (forky) expires within a week, so a
  # mirror snapshot refuses it although its signature is fine; signatures are still verified.
  local id
  id=$(mmdebstrap --quiet --variant=apt --aptopt='Acquire::Check-Valid-Until "false"' \
         --include="postgresql-$major,postgresql-client-$major" "$suite" - \
       | docker import - ) || { log "building $image failed (see mmdebstrap's messages above)"; return 1; }
  docker tag "$id" "$image"
}

# stand_in_digest: a digest of containers/postgres-local, the stand-ins' build context. The
# images carry it as a label, so an image built from an older Dockerfile or entrypoint is
# rebuilt instead of being taken for done.
stand_in_digest() {
  (cd "$repo_root/containers/postgres-local" && sha256sum Dockerfile docker-entrypoint.sh) \
    | sha256sum | cut -c1-16
}

# ensure_local_postgres_image [MAJOR]: the official-image stand-in for PostgreSQL MAJOR.
ensure_local_postgres_image() {
  local major=${1:-15} image digest
  image=$(local_image_for "$major") || return 1
  ensure_base_image "$major" || return 1
  digest=$(stand_in_digest)
  [ "$(docker image inspect -f '{{ index .Config.Labels "devdb.stand-in" }}' "$image" 2>/dev/null)" \
    = "$digest" ] && return 0
  log "building $image"
  docker build -q --build-arg "BASE_IMAGE=$(base_image_for "$major")" --build-arg "PG_MAJOR=$major" \
    --label "devdb.stand-in=$digest" \
    --target "$(layout_for "$major")" -t "$image" "$repo_root/containers/postgres-local" >/dev/null
}

# registry_image_id REPOSITORY TAG: the image id (its config digest) the registry holds there.
registry_image_id() {
  curl -fsS "http://$DEVDB_REGISTRY/v2/$1/manifests/$2" \
    -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' 2>/dev/null \
    | tr -d ' \n' | sed -n 's/.*"config":{[^}]*"digest":"\(sha256:[0-9a-f]*\)".*/\1/p'
}

ensure_registry() {
  if ! curl -fsS "http://$DEVDB_REGISTRY/v2/" >/dev/null 2>&1; then
    apt_install docker-registry curl
    local dir=/var/lib/devdb-registry
    mkdir -p "$dir"
    cat >"$dir/config.yml" <<CONF
version: 0.1
storage:
  filesystem:
    rootdirectory: $dir/data
http:
  addr: $DEVDB_REGISTRY
CONF
    log "starting a local registry on $DEVDB_REGISTRY"
    nohup docker-registry serve "$dir/config.yml" >/var/log/devdb-registry.log 2>&1 &
    for _ in $(seq 1 30); do
      curl -fsS "http://$DEVDB_REGISTRY/v2/" >/dev/null 2>&1 && break
      sleep 0.5
    done
  fi
  # The pull test pulls this reference after untagging it locally; pushed again when the
  # stand-in was rebuilt.
  local ref="$DEVDB_REGISTRY/devdb/postgres:15"
  if [ "$(registry_image_id devdb/postgres 15)" != \
       "$(docker image inspect -f '{{.Id}}' "$DEVDB_LOCAL_IMAGE")" ]; then
    log "pushing $ref"
    docker tag "$DEVDB_LOCAL_IMAGE" "$ref"
    docker push -q "$ref" >/dev/null
  fi
}

# ensure_ssh_tools: sshd and ssh for the ssh:// engine test (tests/it/remote.rs starts an sshd
# in its network namespace; under CI=true a missing sshd fails that test).
ensure_ssh_tools() {
  apt_install openssh-server openssh-client
}
