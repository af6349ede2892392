#!/usr/bin/env bash
# The whole fleetd on PostgreSQL (issue 24) against fleetd on SQLite, graphile-worker (batched) and
# BullMQ, in one run. Run on demand, never in CI:
#   bench/postgres_fleetd.sh [N] [ROUNDS]     (defaults: 100000 no-op tasks at c=16, 2 rounds)
# Each round runs fleetd on SQLite (a fresh file, synchronous=full), on a fresh private PostgreSQL
# 15 (../shared/peers/lib/services.sh: fsync on, synchronous_commit on, 127.0.0.1:5499) and
# graphile-worker's batched mode on its own fresh server, in turn; the medians and their ratio
# close the run, then BullMQ runs once.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
n=${1:-100000}
rounds=${2:-2}
port=${FLEETD_BENCH_PORT:-4491}
peers=$(cd ../shared/peers && pwd)
[ -n "${FLEETD_BENCH_SKIP_SETUP:-}" ] || scripts/setup.sh --packages >/dev/null
cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release -DFLEETD_BUILD_BENCH=ON >/dev/null
cmake --build build-release --target fleetd fleet-bench >/dev/null
bin=${FLEETD_BENCH_BIN:-build-release/bin} # another build to compare with
work=$(mktemp -d)
pid=
# shellcheck source=/dev/null
source "$peers/lib/common.sh"
# shellcheck source=/dev/null
source "$peers/lib/services.sh"
cleanup() { [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; pg_stop; rm -rf "$work"; }
trap cleanup EXIT
pg_bin=$(pg_bindir)
admin="host=127.0.0.1 port=$PG_PORT user=postgres dbname=postgres"

start_fleetd() { # fleetd options...
  "$bin/fleetd" --fleet.db="$work/fleet.db" --fleet.port=$port --fleet.log-level=warn \
    --fleet.plaintext-loopback=true "$@" 2>>"$work/fleetd.log" &
  pid=$!
  for _ in $(seq 400); do "$bin/fleet-bench" ping --port $port >/dev/null 2>&1 && return; sleep 0.05; done
  echo "fleetd did not start: $(tail -3 "$work/fleetd.log")" >&2; exit 1
}
stop_fleetd() { kill -TERM "$pid"; wait "$pid" || true; pid=; rm -f "$work"/fleet.db*; }
run() { # label fleetd options...
  local label=$1; shift
  start_fleetd "$@"
  echo "store=$label $("$bin/fleet-bench" run --port $port --pid "$pid" --n "$n" --c 16 --workload noop)"
  stop_fleetd
}

echo "# $(date -u +%FT%TZ) $(nproc) cores, $(uname -r), $(git rev-parse --short HEAD)"
# Each round runs fleetd on SQLite, fleetd on PostgreSQL and graphile-worker (batched, on a
# server of its own started by its script) one after the other, so that the ratio compares runs
# of the same minutes: this VM's speed drifts by 2-3x between hours.
for round in $(seq "$rounds"); do
  run sqlite | tee -a "$work/results"
  pg_start >/dev/null
  "$pg_bin/psql" -q "$admin" -c "CREATE DATABASE fleet_$round"
  run postgres --fleet.store=postgres --fleet.postgres="host=127.0.0.1 port=$PG_PORT user=postgres dbname=fleet_$round" \
    | tee -a "$work/results"
  pg_stop
  (cd "$peers/graphile-worker" && N=${PEER_N:-20000} RUNS=1 WORKLOADS=noop:16 GW_MODES=batched ./run.sh 2>/dev/null) \
    | grep '^peer=' | tee -a "$work/results"
done
pg=$(median_of "$work/results" tasks_per_s store=postgres)
gw=$(median_of "$work/results" tasks_per_s peer=graphile-worker)
echo "medians: sqlite $(median_of "$work/results" tasks_per_s store=sqlite), postgres $pg, graphile-worker batched $gw tasks/s;" \
  "postgres / graphile-worker = $(ratio "$pg" "$gw")"
trap 'rm -rf "$work"' EXIT
(cd "$peers/bullmq" && ./run.sh "${PEER_N:-20000}" | grep "noop" | head -1) || true
