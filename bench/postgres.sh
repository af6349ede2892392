#!/usr/bin/env bash
# The PostgreSQL write path of a no-op run (issue 24), against graphile-worker on the same server.
# Run on demand, never in CI:
#   bench/postgres.sh [N] [ROUNDS]     (defaults: 100000 tasks, 2 rounds)
# Starts a private PostgreSQL 15 (../shared/peers/lib/services.sh: fsync on, synchronous_commit on,
# 127.0.0.1:5499), then runs pg-write-path per row and per set in alternation, each in a fresh
# schema, and with GRAPHILE=1 graphile-worker's peer script on the same server afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-100000}
rounds=${2:-2}
peers=$(cd ../shared/peers && pwd)
[ -n "${FLEETD_BENCH_SKIP_SETUP:-}" ] || scripts/setup.sh --packages >/dev/null
cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release -DFLEETD_BUILD_BENCH=ON >/dev/null
cmake --build build-release --target pg-write-path >/dev/null
# shellcheck source=/dev/null
source "$peers/lib/common.sh"
# shellcheck source=/dev/null
source "$peers/lib/services.sh"
trap pg_stop EXIT
pg_start
conninfo="host=127.0.0.1 port=$PG_PORT user=postgres dbname=postgres"
echo "# $(date -u +%FT%TZ) $(nproc) cores, $(uname -r), $(git rev-parse --short HEAD)"
for round in $(seq "$rounds"); do
  for mode in rows sets; do
    build-release/bin/pg-write-path --conninfo "$conninfo" --n "$n" --group 256 --mode "$mode"
  done
done
if [ -n "${GRAPHILE:-}" ]; then
  pg_stop
  trap - EXIT
  (cd "$peers/graphile-worker" && N=20000 RUNS=3 WORKLOADS=noop:16 GW_MODES=${GW_MODES:-batched} ./run.sh)
fi
