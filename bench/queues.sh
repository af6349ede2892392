#!/usr/bin/env bash
# Queues cost dispatch little (issue 21): the no-op workload in the default queue against the same
# tasks spread over 100 queues (weights 1-5, max-workers 1000) and 10,000 groups
# (group-max-workers 4), limits that never bind at this concurrency, so that what is measured is
# their bookkeeping; then the two halves apart (queues-only: the 100 queues without groups,
# groups-only: the 10,000 groups in the default queue). They alternate on one fleetd build (this
# VM's speed drifts between hours), each on a fresh database. Run on demand:
#   bench/queues.sh [N] [ROUNDS]     (defaults: 100000 tasks, 3 rounds of the four)
#   FLEETD_BENCH_CHUNK=N bench/queues.sh ...   (tasks per submit message: 10,000 by default, as the
#                                               client library sends them; N >= the tasks: one submit)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-100000}
rounds=${2:-3}
port=${FLEETD_BENCH_PORT:-4495}
scripts/setup.sh >/dev/null
cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release -DFLEETD_BUILD_BENCH=ON >/dev/null
cmake --build build-release --target fleetd fleet-bench >/dev/null
bin=build-release/bin
work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

run() { # workload
  "$bin/fleetd" --fleet.db="$work/fleet.db" --fleet.port=$port --fleet.log-level=warn \
    --fleet.plaintext-loopback=true 2>>"$work/fleetd.log" &
  pid=$!
  for _ in $(seq 200); do "$bin/fleet-bench" ping --port $port >/dev/null 2>&1 && break; sleep 0.05; done
  "$bin/fleet-bench" run --port $port --pid "$pid" --n "$n" --c 16 --workload "$1" --chunk "${FLEETD_BENCH_CHUNK:-10000}"
  kill -TERM "$pid"; wait "$pid" || true; pid=; rm -f "$work"/fleet.db*
}

echo "# $(date -u +%FT%TZ) $(nproc) cores, $(uname -r)"
for r in $(seq "$rounds"); do
  for w in noop queues queues-only groups-only; do echo "$(run $w) round=$r"; done
done
