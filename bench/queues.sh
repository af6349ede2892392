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
    echo "$(run noop "$base_bin") round=$r build=$FLEETD_BENCH_BASELINE" | tee -a "$work/lines"
  fi
  for w in noop queues queues-only groups-only; do echo "$(run $w) round=$r" | tee -a "$work/lines"; done
done
# Medians per workload, and the ratios issue 21 names: the 100 queues against the default queue of
# the same build, and (with a baseline) against the baseline's no-op run.
awk '{ w = ""; t = 0
       for (i = 1; i <= NF; i++) {
         if ($i ~ /^workload=/) w = substr($i, 10)
         if ($i ~ /^tasks_per_s=/) t = substr($i, 13) + 0
         if ($i ~ /^build=/) w = "baseline-" w }
       v[w, ++n[w]] = t }
     function median(w,   i, j, x, a) {
       for (i = 1; i <= n[w]; i++) a[i] = v[w, i]
       for (i = 1; i <= n[w]; i++) for (j = i + 1; j <= n[w]; j++) if (a[j] < a[i]) { x = a[i]; a[i] = a[j]; a[j] = x }
       return n[w] % 2 ? a[(n[w] + 1) / 2] : (a[n[w] / 2] + a[n[w] / 2 + 1]) / 2 }
     END {
       for (w in n) printf "median workload=%s tasks_per_s=%d runs=%d\n", w, median(w), n[w]
       printf "ratio queues/noop=%.2f\n", median("queues") / median("noop")
       if ("baseline-noop" in n) printf "ratio queues/baseline-noop=%.2f\n", median("queues") / median("baseline-noop") }' \
  "$work/lines"

