#!/bin/sh
# Starts PostgreSQL the way compose files written for the official image
# expect: on first start (an empty PGDATA) it creates the cluster with
# POSTGRES_USER / POSTGRES_PASSWORD, the database POSTGRES_DB, runs
# /docker-entrypoint-initdb.d/*.sql and *.sh, and accepts password logins
# from other containers. Later starts find PG_VERSION and just serve.
set -eu

if [ "${1#-}" != "$1" ]; then set -- postgres "$@"; fi
PGDATA="${PGDATA:-/var/lib/postgresql/data}"
export PGDATA

if [ "$1" = postgres ] && [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA" /var/run/postgresql
  # Only what is not already the server's (a large data set is not walked twice).
  find "$PGDATA" /var/run/postgresql \! -user postgres -exec chown postgres:postgres '{}' +
  chmod 700 "$PGDATA"
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

if [ "$1" = postgres ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
  user="${POSTGRES_USER:-postgres}"
  db="${POSTGRES_DB:-$user}"
  auth="${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}"
  if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "$auth" != trust ]; then
    echo "error: the database is uninitialised and POSTGRES_PASSWORD is empty; set it (or POSTGRES_HOST_AUTH_METHOD=trust)" >&2
    exit 1
  fi
  pwfile="$(mktemp)"
  printf '%s\n' "${POSTGRES_PASSWORD:-}" > "$pwfile"
  # shellcheck disable=SC2086 # POSTGRES_INITDB_ARGS is a word list, as upstream
  initdb --username="$user" --pwfile="$pwfile" --auth-local=trust --auth-host="$auth" ${POSTGRES_INITDB_ARGS:-} >/dev/null
  rm -f "$pwfile"
  echo "host all all all $auth" >> "$PGDATA/pg_hba.conf"
  echo "listen_addresses = '*'" >> "$PGDATA/postgresql.conf"
  # A private server, no TCP and its socket in a directory of its own: no
  # client (nor a pg_isready health check) sees it before initialisation ends.
  init_socket="$(mktemp -d)"
  pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -c unix_socket_directories=$init_socket" -w start >/dev/null
  export PGHOST="$init_socket"
  if [ "$db" != postgres ]; then
    # psql quotes the name itself (:"db"): no value reaches SQL unquoted.
    echo 'CREATE DATABASE :"db";' | psql -v ON_ERROR_STOP=1 --username "$user" --dbname postgres --set db="$db" -q
  fi
  for f in /docker-entrypoint-initdb.d/*; do
    case "$f" in
      *.sql) psql -v ON_ERROR_STOP=1 --username "$user" --dbname "$db" -q -f "$f" ;;
      *.sh) . "$f" ;;
    esac
  done
  pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
  unset PGHOST
  rmdir "$init_socket"
  echo "database initialised: user $user, database $db" >&2
fi

exec "$@"
