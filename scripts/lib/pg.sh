# shellcheck shell=bash
# Throwaway PostgreSQL server for the test suite. Source this file, then:
#   pg_start   # initdb + start on 127.0.0.1:<free port>, create role terrain,
#              # export TERRAIN_TEST_PG_URL
#   pg_stop    # stop the server and delete its directory (idempotent)
# As root the server runs as the `postgres` system user (root cannot run it).

PG_TMP=""
PG_PORT=""
PG_BIN=""
PG_RUN=()

_pg_log() { printf '[pg] %s\n' "$*" >&2; }

_pg_find_bin() {
  local d best=""
  # Highest installed major version wins.
  for d in /usr/lib/postgresql/*/bin; do
    if [ ! -x "$d/postgres" ] || [ ! -x "$d/initdb" ] || [ ! -x "$d/pg_ctl" ]; then continue; fi
    if [ -z "$best" ] || [ "$(basename "$(dirname "$d")")" -gt "$(basename "$(dirname "$best")")" ]; then
      best="$d"
    fi
  done
  [ -n "$best" ] || return 1
  printf '%s\n' "$best"
}

_pg_free_port() {
  python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

pg_start() {
  if [ -n "$PG_TMP" ]; then
    _pg_log "already started in $PG_TMP"
    return 0
  fi
  PG_BIN="$(_pg_find_bin)" || { _pg_log "no PostgreSQL server under /usr/lib/postgresql/*/bin (run scripts/install-deps)"; return 1; }

  # /tmp explicitly: the postgres user must be able to reach the directory.
  PG_TMP="$(mktemp -d /tmp/terrain-pg.XXXXXX)"
  if [ "$(id -u)" -eq 0 ]; then
    chown postgres:postgres "$PG_TMP"
    PG_RUN=(runuser -u postgres --)
  else
    PG_RUN=()
  fi

  local data="$PG_TMP/data" logf="$PG_TMP/server.log" attempt
  if ! "${PG_RUN[@]}" "$PG_BIN/initdb" -D "$data" -U postgres \
      --auth-local=trust --auth-host=scram-sha-256 \
      --encoding=UTF8 --locale=C >"$PG_TMP/initdb.log" 2>&1; then
    _pg_log "initdb failed:"; cat "$PG_TMP/initdb.log" >&2
    return 1
  fi

  for attempt in 1 2 3; do
    PG_PORT="$(_pg_free_port)"
    # Settings for a throwaway test server: speed over durability.
    "${PG_RUN[@]}" tee "$data/postgresql.auto.conf" >/dev/null <<CONF
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$PG_TMP'
max_connections = 300
fsync = off
synchronous_commit = off
full_page_writes = off
CONF
    if "${PG_RUN[@]}" "$PG_BIN/pg_ctl" -D "$data" -l "$logf" -w -t 60 start >/dev/null 2>&1; then
      break
    fi
    _pg_log "start on port $PG_PORT failed (attempt $attempt):"; tail -n 20 "$logf" >&2 || true
    PG_PORT=""
  done
  [ -n "$PG_PORT" ] || return 1

  if ! "${PG_RUN[@]}" "$PG_BIN/psql" -X -q -h "$PG_TMP" -p "$PG_PORT" -U postgres -d postgres \
      -v ON_ERROR_STOP=1 -c "CREATE ROLE terrain LOGIN PASSWORD 'terrain' CREATEDB" >/dev/null; then
    _pg_log "could not create role terrain"
    return 1
  fi

  export TERRAIN_TEST_PG_URL="postgres://terrain:terrain@127.0.0.1:$PG_PORT/postgres"
  _pg_log "PostgreSQL $(basename "$(dirname "$PG_BIN")") on 127.0.0.1:$PG_PORT (dir $PG_TMP)"
}

pg_stop() {
  [ -n "$PG_TMP" ] || return 0
  if [ -n "$PG_BIN" ] && [ -f "$PG_TMP/data/postmaster.pid" ]; then
    "${PG_RUN[@]}" "$PG_BIN/pg_ctl" -D "$PG_TMP/data" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
  fi
  rm -rf "$PG_TMP"
  PG_TMP=""
  PG_PORT=""
  unset TERRAIN_TEST_PG_URL
}
