#!/bin/sh
# Minimal version of the official image's entrypoint: init on first start, then run postgres.
set -eu
if [ "${1:-}" != "postgres" ]; then exec "$@"; fi

# old_layout_data: for 18+ with the default PGDATA and no cluster there yet, prints where a
# pre-18 layout holds data instead (a cluster elsewhere under /var/lib/postgresql, or a mount
# at the old /var/lib/postgresql/data). The official 18 image stops then rather than initdb an
# empty cluster beside the user's data (or inside the container, outside their volume).
old_layout_data() {
  [ "$PG_MAJOR" -ge 18 ] && [ "$PGDATA" = "/var/lib/postgresql/$PG_MAJOR/docker" ] || return 0
  [ -s "$PGDATA/PG_VERSION" ] && return 0
  found=
  for dir in /var/lib/postgresql /var/lib/postgresql/data /var/lib/postgresql/*/docker; do
    [ -s "$dir/PG_VERSION" ] && found="$found $dir"
  done
  if [ -z "$found" ] && mountpoint -q /var/lib/postgresql/data; then
    found=" /var/lib/postgresql/data (a mount that PostgreSQL $PG_MAJOR does not use)"
  fi
  printf '%s' "$found"
}
stray=$(old_layout_data)
if [ -n "$stray" ]; then
  cat >&2 <<MSG
error: PostgreSQL $PG_MAJOR keeps its data in $PGDATA (one folder per major, as pg_ctlcluster
       does), but the old pre-18 layout holds data or a mount here:
        $stray
       Mount the volume at /var/lib/postgresql instead of /var/lib/postgresql/data. Data written
       by an older major needs pg_upgrade (or a dump and restore) before this image can use it.
MSG
  exit 1
fi

: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=$POSTGRES_USER}"
if [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA" && chown -R postgres:postgres "$PGDATA" && chmod 700 "$PGDATA"
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

# first_start: the cluster of this container, as the official image's initdb would leave it:
# the template made at build time (see the Dockerfile), its bootstrap superuser (oid 10) renamed
# to POSTGRES_USER (a session cannot rename its own user, hence the passing role), with
# POSTGRES_PASSWORD (read by psql from the environment, so it is on no command line) and
# POSTGRES_DB; then the init scripts run, on a server listening on its socket only.
first_start() {
  if [ -z "${POSTGRES_PASSWORD:-}" ]; then
    echo "error: POSTGRES_PASSWORD is not set" >&2
    exit 1
  fi
  cp -a "$DEVDB_CLUSTER_TEMPLATE/." "$PGDATA/"
  pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
  psql -X -q -v ON_ERROR_STOP=1 --username postgres --dbname postgres \
    --set user="$POSTGRES_USER" --set db="$POSTGRES_DB" <<'SQL'
SELECT :'user' <> 'postgres' AS rename, :'db' <> 'postgres' AS create_db \gset
\if :rename
CREATE ROLE devdb_init SUPERUSER;
SET SESSION AUTHORIZATION devdb_init;
ALTER ROLE postgres RENAME TO :"user";
RESET SESSION AUTHORIZATION;
DROP ROLE devdb_init;
\endif
\getenv password POSTGRES_PASSWORD
ALTER ROLE :"user" PASSWORD :'password';
\unset password
\if :create_db
CREATE DATABASE :"db";
\endif
SQL
  for f in /docker-entrypoint-initdb.d/*; do
    case "$f" in
      *.sql) psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" -f "$f" ;;
      *.sh) . "$f" ;;
    esac
  done
  pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
  echo "PostgreSQL init process complete; ready for start up."
}
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  first_start
fi
exec "$@" -c listen_addresses='*'
