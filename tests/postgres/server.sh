#!/usr/bin/env bash
# A private PostgreSQL for the postgres_tests suite (issue 24), started and stopped by CTest's
# fixture (tests/CMakeLists.txt):
#   tests/postgres/server.sh start STATE_DIR   initdb in a fresh directory, start the server on a
#                                              Unix socket only, write STATE_DIR/conninfo
#   tests/postgres/server.sh stop STATE_DIR    stop it by pid and remove the data
# The data directory lives under /tmp (a socket path must be short). As root, the server runs as
# the `postgres` user that Debian's postgresql package creates (initdb refuses root); scripts/test.sh
# installs that package. Never the machine's own cluster: nothing outside STATE_DIR is touched.
set -euo pipefail
action=$1
state=$2
mkdir -p "$state"

stop() {
  local data pid
  [ -f "$state/data_dir" ] || return 0
  data=$(cat "$state/data_dir")
  if [ -f "$data/db/postmaster.pid" ]; then
    pid=$(head -1 "$data/db/postmaster.pid")
    # SIGQUIT: immediate shutdown; the data is thrown away anyway.
    kill -QUIT "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -rf "$data" "$state/data_dir" "$state/conninfo"
}

case "$action" in
  stop) stop ;;
  start)
    stop # a leftover of an interrupted run
    bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
    if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
      echo "server.sh: PostgreSQL's server is not installed (Debian package postgresql; scripts/test.sh installs it)" >&2
      exit 1
    fi
    data=$(mktemp -d /tmp/fleetd-test-pg.XXXXXX)
    echo "$data" >"$state/data_dir"
    as=()
    if [ "$(id -u)" = 0 ]; then
      chown postgres:postgres "$data"
      as=(setpriv --reuid=postgres --regid=postgres --init-groups --)
    fi
    "${as[@]}" "$bin/initdb" -D "$data/db" -U postgres --auth=trust -E UTF8 --no-sync >"$data/initdb.log" 2>&1 ||
      { cat "$data/initdb.log" >&2; exit 1; }
    "${as[@]}" "$bin/pg_ctl" -D "$data/db" -l "$data/server.log" -w -t 60 \
      -o "-c listen_addresses='' -k $data -p 5432 -c max_connections=100" start >/dev/null ||
      { cat "$data/server.log" >&2; exit 1; }
    echo "host=$data port=5432 user=postgres dbname=postgres" >"$state/conninfo"
    ;;
  *) echo "usage: server.sh start|stop STATE_DIR" >&2; exit 2 ;;
esac
