# shellcheck shell=bash
# A private, throw-away PostgreSQL server for tests and benchmarks. Needs common.sh (and
# rc_init, so that the server is stopped and its files removed at exit).
#
#   start_pg          initdb + start on a free loopback port; sets PG_DIR, PG_PORT,
#                     PG_URL (postgres://postgres@127.0.0.1:PORT/postgres)
#   pg_create_db NAME creates a database; prints its URL
#   stop_pg           stops the server and removes its directory
#
# The server binaries are Debian's (package `postgresql`), under /usr/lib/postgresql/N/bin:
# never whatever `postgres` or `pg_ctl` happens to be first on PATH.

PG_BIN="${PG_BIN:-}"
PG_DIR=""
PG_PORT=""
# shellcheck disable=SC2034 # read by the scripts that source this file
PG_URL=""

pg_find_bin() {
  if [ -z "$PG_BIN" ]; then
    if [ -x /usr/lib/postgresql/15/bin/initdb ]; then
      PG_BIN=/usr/lib/postgresql/15/bin
    else
      # Another Debian release: the newest installed server version.
      PG_BIN="$(find /usr/lib/postgresql -mindepth 3 -maxdepth 3 -path '*/bin/initdb' 2>/dev/null |
        sort -V | tail -n 1 | xargs -r dirname)"
    fi
  fi
  if [ -z "$PG_BIN" ] || [ ! -x "$PG_BIN/initdb" ] || [ ! -x "$PG_BIN/pg_ctl" ]; then
    die "PostgreSQL server binaries not found under /usr/lib/postgresql (package postgresql)"
  fi
}

# Runs a command as the `postgres` user when we are root (initdb and postgres refuse to run
# as root), from / so that an unreadable working directory does not matter.
pg_as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    (cd / && runuser -u postgres -- "$@")
  else
    (cd / && "$@")
  fi
}

start_pg() {
  local attempt
  pg_find_bin
  if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
    die "user postgres does not exist (it comes with the postgresql package)"
  fi
  # Not under $TMPDIR: that may be a directory the postgres user cannot enter.
  PG_DIR="$(mktemp -d /tmp/rollcall-pg.XXXXXX)"
  on_exit stop_pg
  mkdir -p "$PG_DIR/data" "$PG_DIR/socket"
  if [ "$(id -u)" -eq 0 ]; then
    chown -R postgres: "$PG_DIR"
  fi
  if ! pg_as_owner "$PG_BIN/initdb" -D "$PG_DIR/data" -A trust -U postgres -E UTF8 \
    --locale=C --no-sync >"$PG_DIR/initdb.log" 2>&1; then
    cat "$PG_DIR/initdb.log" >&2
    die "initdb failed"
  fi
  local opts
  for attempt in 1 2 3 4 5; do
    free_port PG_PORT
    # Durability off: the data is thrown away at exit.
    opts="-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PG_DIR/socket -c max_connections=200"
    opts+=" -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    if pg_as_owner "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 \
      -o "$opts" start >"$PG_DIR/pg_ctl.log" 2>&1; then
      PG_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres"
      log "PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PG_PORT ($PG_DIR)"
      return 0
    fi
    warn "PostgreSQL did not start on port $PG_PORT (attempt $attempt)"
    tail -n 5 "$PG_DIR/server.log" >&2 2>/dev/null || true
  done
  die "PostgreSQL did not start; see the log above"
}

# pg_create_db NAME: creates database NAME (a plain identifier) and prints its URL.
pg_create_db() {
  local name=$1
  [ -n "$PG_PORT" ] || die "pg_create_db: PostgreSQL is not running"
  "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres \
    -c "CREATE DATABASE \"$name\"" >&2 </dev/null || return 1
  echo "postgres://postgres@127.0.0.1:$PG_PORT/$name"
}

stop_pg() {
  [ -n "$PG_DIR" ] || return 0
  if [ -f "$PG_DIR/data/postmaster.pid" ]; then
    pg_as_owner "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w -t 20 stop >/dev/null 2>&1 ||
      pg_as_owner "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate -w -t 20 stop >/dev/null 2>&1 ||
      true
  fi
  rm -rf "$PG_DIR"
  PG_DIR=""
  PG_PORT=""
  # shellcheck disable=SC2034
  PG_URL=""
}
