#!/bin/sh
# db-copy JOB ARGS...: runs one pg_dump/psql job; its exit code is the container's.
#   structure SOURCE_URL TABLE...   print the DDL of the given relations (pg_dump --schema-only)
#   sql TARGET_URL                  run SQL from stdin with ON_ERROR_STOP
set -eu
job=${1:-}
[ -n "$job" ] || { echo "usage: db-copy structure|sql ..." >&2; exit 64; }
shift
case "$job" in
  structure)
    source_url=$1; shift
    # Each relation becomes `-t NAME` as one word: quoted names may hold spaces.
    count=$#
    for table in "$@"; do set -- "$@" -t "$table"; done
    shift "$count"
    exec pg_dump --schema-only --no-owner --no-privileges "$@" "$source_url"
    ;;
  sql)
    exec psql -v ON_ERROR_STOP=1 --quiet "$1"
    ;;
  *)
    echo "db-copy: unknown job '$job'" >&2; exit 64 ;;
esac
