#!/usr/bin/env bash
# A throwaway PostgreSQL server on loopback for the distributed tests.
#   .ci/postgres.sh start   installs PostgreSQL from Debian's packages if missing (needs root),
#                           initialises a cluster in a temporary folder, starts it on 127.0.0.1,
#                           creates database "handkp", and prints the storage URL
#   .ci/postgres.sh stop    stops it and removes the folder
set -euo pipefail
PORT="${HANDKP_PG_PORT:-54329}"
DIR="${HANDKP_PG_DIR:-/tmp/handkp-pg}"
URL="postgresql+psycopg://postgres@127.0.0.1:${PORT}/handkp"

as_postgres() {
  if [ "$(id -u)" = 0 ]; then su postgres -s /bin/bash -c "$*"; else bash -c "$*"; fi
}

bindir() {
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1
}

case "${1:-}" in
  start)
    if [ -z "$(bindir)" ]; then
      if [ "$(id -u)" != 0 ]; then echo "PostgreSQL is not installed and this is not root" >&2; exit 1; fi
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq >/dev/null
      apt-get install -y -qq postgresql >/dev/null
    fi
    BIN="$(bindir)"
    if [ -d "$DIR/data" ]; then  # a server left by an earlier start: stop it first
      as_postgres "'$BIN/pg_ctl' -D '$DIR/data' -m fast -w stop >/dev/null 2>&1" || true
    fi
    rm -rf "$DIR"; mkdir -p "$DIR"
    if [ "$(id -u)" = 0 ]; then chown postgres "$DIR"; fi
    as_postgres "'$BIN/initdb' -D '$DIR/data' -U postgres -A trust >'$DIR/initdb.log' 2>&1"
    as_postgres "'$BIN/pg_ctl' -D '$DIR/data' -l '$DIR/server.log' -w -o \"-c listen_addresses=127.0.0.1 -p $PORT -k '$DIR' -c max_connections=200 -c fsync=off\" start >/dev/null"
    as_postgres "'$BIN/createdb' -h 127.0.0.1 -p $PORT -U postgres handkp"
    echo "$URL"
    ;;
  stop)
    BIN="$(bindir)"
    if [ -n "$BIN" ] && [ -d "$DIR/data" ]; then
      as_postgres "'$BIN/pg_ctl' -D '$DIR/data' -m fast -w stop >/dev/null" || true
    fi
    rm -rf "$DIR"
    ;;
  *)
    echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
