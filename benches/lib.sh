# Shared helpers for the benchmark scripts (sourced).
set -euo pipefail
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$repo_root/scripts/engine.sh"
ensure_build_deps
ensure_engine
ensure_local_postgres_image
cargo build --release --quiet --manifest-path "$repo_root/Cargo.toml"
DEVDB="${CARGO_TARGET_DIR:-$repo_root/target}/release/devdb"

# now_ms: wall clock in milliseconds.
now_ms() { date +%s%3N; }

# median of the numbers given as arguments.
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

# new_project NAME: a scratch project folder using the local image; prints its path.
new_project() {
  local dir
  dir=$(mktemp -d "/tmp/devdb-bench-$1-XXXX")
  mkdir -p "$dir/compose"
  cat >"$dir/compose/docker-compose.yaml" <<YAML
name: $(basename "$dir" | tr 'A-Z' 'a-z')
services:
  postgres:
    image: $DEVDB_LOCAL_IMAGE
    environment: { POSTGRES_USER: app, POSTGRES_PASSWORD: bench, POSTGRES_DB: app }
    ports: ["5432"]
    volumes: ["pgdata:/var/lib/postgresql/data"]
volumes:
  pgdata:
YAML
  echo "$dir"
}
