#!/usr/bin/env bash
# fleetd's benchmark (issue 4): builds in Release, runs each workload against a fresh fleetd on a
# temporary database (synchronous=full, WAL), then the BullMQ peer script, and prints one line
# per measurement plus the ratios. Run on demand, never in CI:
#   bench/run.sh [N] [BIG_N]     (defaults: 100000 tasks per workload, 1000000 for the memory run)
# Each workload of N tasks runs FLEETD_BENCH_REPEATS times (default 3); its figure and its ratio
# to BullMQ are the median.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
n=${1:-100000}
big=${2:-1000000}
repeats=${FLEETD_BENCH_REPEATS:-3} # runs per workload of N tasks; the median counts
port=${FLEETD_BENCH_PORT:-4490}
scripts/setup.sh --packages >/dev/null
cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release -DFLEETD_BUILD_BENCH=ON >/dev/null
cmake --build build-release --target fleetd fleet-bench >/dev/null
bin=build-release/bin
work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

start_fleetd() { # extra fleetd options...
  "$bin/fleetd" --fleet.db="$work/fleet.db" --fleet.port=$port --fleet.log-level=warn --fleet.plaintext-loopback=true "$@" 2>>"$work/fleetd.log" &
  pid=$!
  for _ in $(seq 200); do "$bin/fleet-bench" ping --port $port >/dev/null 2>&1 && return; sleep 0.05; done
  echo "fleetd did not start: $(tail -3 "$work/fleetd.log")" >&2; exit 1
}
stop_fleetd() { kill -TERM "$pid"; wait "$pid" || true; pid=; rm -f "$work"/fleet.db*; }

declare -A fleetd_rate
last_line=
run_once() { # workload c n [fleetd options...]: fleet-bench's line in last_line
  local workload=$1 c=$2 count=$3; shift 3
  start_fleetd "$@"
  last_line=$("$bin/fleet-bench" run --port $port --pid "$pid" --n "$count" --c "$c" --workload "$workload")
  stop_fleetd
}
run() { # workload c n [fleetd options...]: one run
  run_once "$@"
  echo "$last_line"
}
run_median() { # workload c n [fleetd options...]: REPEATS runs, each printed, then their median
  # This VM's speed drifts by 20-30% from one run to the next (docs/BENCHMARKS.md), so a
  # workload's figure, and its ratio to BullMQ, is the median of its runs.
  local workload=$1 c=$2 count=$3 rates=()
  for r in $(seq "$repeats"); do
    run_once "$@"
    echo "$last_line run=$r"
    rates+=("$(rate "$last_line")")
  done
  local median; median=$(median "${rates[@]}")
  echo "system=fleetd workload=$workload n=$count c=$c median_tasks_per_s=$median runs=$(IFS=,; echo "${rates[*]}")"
  fleetd_rate["$workload/$c"]=$median
}

echo "# $(date -u +%FT%TZ) $(nproc) cores, $(uname -r)"
run_median noop 16 "$n"
run_median noop 64 "$n"
run_median sleep1ms 64 "$n"
run_median flaky 16 "$n" --fleet.backoff-base=0 --fleet.backoff-cap=0
for d in 0 1 2 5 10; do
  echo -n "commit-delay=$d "; run noop 16 "$n" --fleet.commit-delay=$d
done
run noop 16 "$big"

# Restart recovery: BIG_N pending tasks, kill -9, time from exec to the first dispatch.
start_fleetd --fleet.max-workers=1
"$bin/fleet-bench" submit --port $port --n "$big" --workload sleep1s --c 1
kill -9 "$pid"; wait "$pid" 2>/dev/null || true
since=$(date +%s%3N)
"$bin/fleetd" --fleet.db="$work/fleet.db" --fleet.port=$port --fleet.log-level=warn --fleet.plaintext-loopback=true 2>>"$work/fleetd.log" &
pid=$!
"$bin/fleet-bench" first-dispatch --port $port --since-ms "$since" | sed "s/\$/ n=$big/"
stop_fleetd

# The peer, in the same run.
peer=../shared/peers/bullmq/run.sh
if [ -x "$peer" ] || [ -f "$peer" ]; then
  while read -r line; do
    echo "$line"
    w=$(sed -n 's/.*workload=\([a-z0-9]*\).*/\1/p' <<<"$line"); c=$(sed -n 's/.* c=\([0-9]*\).*/\1/p' <<<"$line")
    r=$(rate "$line")
    f=${fleetd_rate["$w/$c"]:-}
    [ -n "$f" ] && [ -n "$r" ] && awk -v f="$f" -v r="$r" -v w="$w" -v c="$c" \
      'BEGIN { printf "ratio workload=%s c=%s fleetd/bullmq=%.1f\n", w, c, f / r }'
  done < <(bash "$peer" 20000 always)
else
  echo "peer script $peer not found: no ratios" >&2
fi
