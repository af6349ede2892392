#!/usr/bin/env bash
# Throughput with fleet-node processes against fleetd alone (issues 6 and 23). Run on demand, never
# in CI:
#   bench/nodes.sh [N] [ROUNDS]      (defaults: 50000 tasks per run, 2 rounds)
#   FLEETD_BENCH_BIN=DIR bench/nodes.sh ...   (another build's fleetd, fleet-node, fleetctl, fleet-bench)
# Each round runs every configuration once, in the same order, so that ratios compare runs of the
# same minutes. Every process runs on this machine: with 2 cores the nodes compete with fleetd for
# CPU, so the no-op figures show what a node costs (the messages, the extra process), and the
# 40 ms figures what capacity nodes add when the work waits rather than computes. No-op runs go at
# two windows: c=16, where an attempt's slot through a node is held for a whole round trip and
# c / round trip bounds the rate (Little's law), and c=256, a window sized for that round trip, with
# fleetd alone at the same c. Each round ends with its ratios to fleetd alone.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-50000}
rounds=${2:-2}
port=${FLEETD_BENCH_PORT:-4491}
[ -n "${FLEETD_BENCH_SKIP_SETUP:-}" ] || scripts/setup.sh --packages >/dev/null
source bench/lib.sh
cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release -DFLEETD_BUILD_BENCH=ON >/dev/null
cmake --build build-release --target fleetd fleet-node fleetctl fleet-bench >/dev/null
bin=${FLEETD_BENCH_BIN:-build-release/bin} # another build to compare with
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

run() { # label workload tasks c extra_nodes node_capacity local_workers
  local label=$1 workload=$2 tasks=$3 c=$4 extra=$5 capacity=$6 local_workers=$7
  "$bin/fleetd" --fleet.db="$work/fleet.db" --fleet.port="$port" --fleet.log-level=warn \
    --fleet.plaintext-loopback=true --fleet.local-workers="$local_workers" 2>>"$work/fleetd.log" &
  local fleetd=$!
  pids=("$fleetd")
  for _ in $(seq 200); do "$bin/fleet-bench" ping --port "$port" >/dev/null 2>&1 && break; sleep 0.05; done
  for i in $(seq "$extra"); do
    "$bin/fleet-node" --node.fleetd-port="$port" --node.name="bench-$i" --node.types=echo,sleep \
      --node.capacity="$capacity" --node.log-level=warn 2>>"$work/node-$i.log" &
    pids+=("$!")
  done
  for _ in $(seq 200); do
    [ "$("$bin/fleetctl" --port "$port" --json nodes | grep -o '"name"' | wc -l)" -eq $((extra + 1)) ] && break
    sleep 0.05
  done
  local line; line=$("$bin/fleet-bench" run --port "$port" --pid "$fleetd" --n "$tasks" --c "$c" --workload "$workload")
  echo "label=$label $line nodes=$extra node_capacity=$capacity local_workers=$local_workers" | tee -a "$work/results"
  for p in "${pids[@]:1}"; do kill -TERM "$p"; wait "$p" 2>/dev/null || true; done
  kill -TERM "$fleetd"; wait "$fleetd" 2>/dev/null || true
  pids=()
  rm -f "$work"/fleet.db*
}

echo "# $(date -u +%FT%TZ) $(nproc) cores, $(uname -r), $(git rev-parse --short HEAD)"
slow=$((n / 10)) # 40 ms tasks: a tenth as many
# rate_of LABEL: the tasks/s of this round's run LABEL.
rate_of() { median_of "$work/results" tasks_per_s "label=$1 "; }

for round in $(seq "$rounds"); do
  echo "# round $round"
  : >"$work/results"
  run noop-alone noop "$n" 16 0 0 -1
  run noop-1node noop "$n" 16 1 32 0
  run noop-2nodes noop "$n" 16 2 32 0
  run noop-alone-c256 noop "$n" 256 0 0 -1
  run noop-1node-c256 noop "$n" 256 1 256 0
  run noop-2nodes-c256 noop "$n" 256 2 128 0
  run sleep40-alone4 sleep40ms "$slow" 4 0 0 -1
  run sleep40-4+2x8 sleep40ms "$slow" 20 2 8 4
  run sleep1ms-alone sleep1ms "$n" 64 0 0 -1
  run sleep1ms-2nodes sleep1ms "$n" 64 2 32 0
  echo "# round $round ratios to fleetd alone:" \
    "noop c=16 one node $(ratio "$(rate_of noop-1node)" "$(rate_of noop-alone)")," \
    "two nodes $(ratio "$(rate_of noop-2nodes)" "$(rate_of noop-alone)");" \
    "noop c=256 one node $(ratio "$(rate_of noop-1node-c256)" "$(rate_of noop-alone-c256)")," \
    "two nodes $(ratio "$(rate_of noop-2nodes-c256)" "$(rate_of noop-alone-c256)");" \
    "40 ms $(ratio "$(rate_of sleep40-4+2x8)" "$(rate_of sleep40-alone4)");" \
    "1 ms c=64 two nodes $(ratio "$(rate_of sleep1ms-2nodes)" "$(rate_of sleep1ms-alone)")"
done
