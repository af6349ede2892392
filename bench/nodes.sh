#!/usr/bin/env bash
# Throughput with 0, 1 and 2 extra fleet-node processes (issue 6), no-op and 1 ms tasks. Run on
# demand, never in CI:
#   bench/nodes.sh [N] [NODE_CAPACITY]      (defaults: 50000 tasks per run, capacity 32 per node)
# Every process runs on this machine: with 2 cores the nodes compete with fleetd for CPU, so the
# figures show what a node costs (the network hop, the extra actor), not what more machines add.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-50000}
capacity=${2:-32}
port=${FLEETD_BENCH_PORT:-4491}
scripts/setup.sh >/dev/null
cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release -DFLEETD_BUILD_BENCH=ON >/dev/null
cmake --build build-release --target fleetd fleet-node fleetctl fleet-bench >/dev/null
bin=build-release/bin
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

run() { # workload c extra_nodes local_workers
  local workload=$1 c=$2 extra=$3 local_workers=$4
  "$bin/fleetd" --fleet.db="$work/fleet.db" --fleet.port=$port --fleet.log-level=warn \
    --fleet.plaintext-loopback=true --fleet.local-workers="$local_workers" 2>>"$work/fleetd.log" &
  local fleetd=$!
  pids=("$fleetd")
  for _ in $(seq 200); do "$bin/fleet-bench" ping --port $port >/dev/null 2>&1 && break; sleep 0.05; done
  for i in $(seq "$extra"); do
    "$bin/fleet-node" --node.fleetd-port=$port --node.name="bench-$i" --node.types=echo,sleep \
      --node.capacity="$capacity" --node.log-level=warn 2>>"$work/node-$i.log" &
    pids+=("$!")
  done
  for _ in $(seq 200); do
    [ "$("$bin/fleetctl" --port $port --json nodes | grep -o '"name"' | wc -l)" -eq $((extra + 1)) ] && break
    sleep 0.05
  done
  local line; line=$("$bin/fleet-bench" run --port $port --pid "$fleetd" --n "$n" --c "$c" --workload "$workload")
  echo "$line nodes=$extra local_workers=$local_workers"
  for p in "${pids[@]:1}"; do kill -TERM "$p"; wait "$p" 2>/dev/null || true; done
  kill -TERM "$fleetd"; wait "$fleetd" 2>/dev/null || true
  pids=()
  rm -f "$work"/fleet.db*
}

echo "# $(date -u +%FT%TZ) $(nproc) cores, $(uname -r), node capacity $capacity"
for extra in 0 1 2; do
  run noop 16 "$extra" -1
  run sleep1ms 64 "$extra" -1
done
# Everything on the nodes: fleetd only dispatches and writes.
for extra in 1 2; do
  run noop 16 "$extra" 0
  run sleep1ms 64 "$extra" 0
done
