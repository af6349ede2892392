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
#   FLEETD_BENCH_BASELINE=REV bench/queues.sh ...  (adds REV's no-op run to every round, built from a
#       git worktree in build-baseline/ with its own fleet-bench: issue 21 measures the queues against
#       the no-op benchmark of the code it was filed against, 99e0486)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
n=${1:-100000}
rounds=${2:-3}
port=${FLEETD_BENCH_PORT:-4495}
scripts/setup.sh --packages >/dev/null
cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release -DFLEETD_BUILD_BENCH=ON >/dev/null
cmake --build build-release --target fleetd fleet-bench >/dev/null
bin=build-release/bin
base_bin=
if [ -n "${FLEETD_BENCH_BASELINE:-}" ]; then
  base_src=build-baseline/src
  [ -d "$base_src" ] || git worktree add --detach "$base_src" "$FLEETD_BENCH_BASELINE" >/dev/null
  git -C "$base_src" checkout -q --detach "$FLEETD_BENCH_BASELINE"
  cmake -S "$base_src" -B "$base_src/build-release" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DFLEETD_BUILD_BENCH=ON >/dev/null
  cmake --build "$base_src/build-release" --target fleetd fleet-bench >/dev/null
  base_bin=$base_src/build-release/bin
fi
work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

run() { # workload [bin]
  local bin=${2:-$bin}
  "$bin/fleetd" --fleet.db="$work/fleet.db" --fleet.port=$port --fleet.log-level=warn \
    --fleet.plaintext-loopback=true 2>>"$work/fleetd.log" &
  pid=$!
  for _ in $(seq 200); do "$bin/fleet-bench" ping --port $port >/dev/null 2>&1 && break; sleep 0.05; done
  "$bin/fleet-bench" run --port $port --pid "$pid" --n "$n" --c 16 --workload "$1" --chunk "${FLEETD_BENCH_CHUNK:-10000}"
  kill -TERM "$pid"; wait "$pid" || true; pid=; rm -f "$work"/fleet.db*
}

echo "# $(date -u +%FT%TZ) $(nproc) cores, $(uname -r), $(git rev-parse --short HEAD)"
for r in $(seq "$rounds"); do
  if [ -n "$base_bin" ]; then
    echo "baseline=$FLEETD_BENCH_BASELINE $(run noop "$base_bin") round=$r" | tee -a "$work/lines"
  fi
  for w in noop queues queues-only groups-only; do echo "$(run $w) round=$r" | tee -a "$work/lines"; done
done
# Medians (bench/lib.sh), and the ratios issue 21 names: the 100 queues
# against the default queue of this build and, with a baseline, against the baseline's no-op run.
rate_median() { median_of "$work/lines" tasks_per_s "$1"; } # the lines' pattern
for w in noop queues queues-only groups-only; do
  echo "median workload=$w tasks_per_s=$(rate_median "^system=fleetd workload=$w ")"
done
echo "ratio queues/noop=$(ratio "$(rate_median '^system=fleetd workload=queues ')" "$(rate_median '^system=fleetd workload=noop ')")"
if [ -n "$base_bin" ]; then
  base=$(rate_median "^baseline=.* workload=noop ")
  echo "median baseline=$FLEETD_BENCH_BASELINE workload=noop tasks_per_s=$base"
  echo "ratio queues/baseline-noop=$(ratio "$(rate_median '^system=fleetd workload=queues ')" "$base")"
fi
