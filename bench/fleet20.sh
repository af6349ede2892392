#!/usr/bin/env bash
# A simulated larger fleet (issue 23): fleet-node processes with small capacities join fleetd on
# this machine and work; the manager's CPU per task is read for 5, 10 and 20 nodes; then, with 20
# nodes, 5 are killed at once (kill -9) in the middle of a batch. Run on demand, never in CI:
#   bench/fleet20.sh [TASKS]      (default 4000 tasks of 40 ms per run; node capacity 4)
# Prints, per fleet size, tasks/s and fleetd's CPU ms per task; for the kill, how long fleetd took
# to drop the 5 nodes (node-timeout 2000 ms here) and whether every task succeeded exactly once.
set -euo pipefail
cd "$(dirname "$0")/.."
tasks=${1:-4000}
port=${FLEETD_BENCH_PORT:-4496}
[ -n "${FLEETD_BENCH_SKIP_SETUP:-}" ] || scripts/setup.sh --packages >/dev/null
cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release -DFLEETD_BUILD_BENCH=ON >/dev/null
cmake --build build-release --target fleetd fleet-node fleetctl fleet-bench >/dev/null
bin=build-release/bin
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
now_ms() { date +%s%3N; }
cpu_ms() { # utime + stime of a pid, in ms
  awk -v hz="$(getconf CLK_TCK)" '{ print int(($14 + $15) * 1000 / hz) }' "/proc/$1/stat"
}
node_count() { "$bin/fleetctl" --port $port --json nodes | grep -o '"name"' | wc -l; }

start_fleet() { # nodes
  local nodes=$1
  "$bin/fleetd" --fleet.db="$work/fleet.db" --fleet.port=$port --fleet.log-level=warn \
    --fleet.plaintext-loopback=true --fleet.local-workers=0 --fleet.node-heartbeat=500 \
    --fleet.node-timeout=2000 2>>"$work/fleetd.log" &
  fleetd=$!
  pids=("$fleetd")
  for _ in $(seq 200); do "$bin/fleet-bench" ping --port $port >/dev/null 2>&1 && break; sleep 0.05; done
  for i in $(seq "$nodes"); do
    "$bin/fleet-node" --node.fleetd-port=$port --node.name="n$i" --node.types=sleep --node.capacity=4 \
      --node.log-level=warn --node.state-dir="" 2>>"$work/node-$i.log" &
    pids+=("$!")
  done
  for _ in $(seq 400); do [ "$(node_count)" -eq $((nodes + 1)) ] && break; sleep 0.05; done
  "$bin/fleetctl" --port $port scale $((nodes * 4)) >/dev/null
}

stop_fleet() {
  for p in "${pids[@]:1}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]:1}"; do wait "$p" 2>/dev/null || true; done
  kill -TERM "$fleetd"; wait "$fleetd" 2>/dev/null || true
  pids=()
  rm -f "$work"/fleet.db*
}

echo "# $(date -u +%FT%TZ) $(nproc) cores, $(uname -r), $(git rev-parse --short HEAD), $tasks tasks of 40 ms, capacity 4 per node"
for nodes in 5 10 20; do
  start_fleet "$nodes"
  cpu0=$(cpu_ms "$fleetd"); t0=$(now_ms)
  batch=$("$bin/fleet-bench" submit --port $port --n "$tasks" --c $((nodes * 4)) --workload sleep40ms | grep -o 'batch=[^ ]*' | cut -d= -f2)
  "$bin/fleetctl" --port $port --json wait "$batch" >/dev/null || true
  t1=$(now_ms); cpu1=$(cpu_ms "$fleetd")
  awk -v n="$nodes" -v t="$tasks" -v ms=$((t1 - t0)) -v cpu=$((cpu1 - cpu0)) \
    'BEGIN { printf "nodes=%d tasks_per_s=%.0f fleetd_cpu_ms_per_task=%.3f\n", n, t * 1000 / ms, cpu / t }'
  stop_fleet
done

# 20 nodes, 5 killed at once in the middle of a batch.
start_fleet 20
batch=$("$bin/fleet-bench" submit --port $port --n "$tasks" --c 80 --workload sleep40ms | grep -o 'batch=[^ ]*' | cut -d= -f2)
sleep 1
killed_at=$(now_ms)
for i in 2 3 4 5 6; do disown "${pids[$i]}" 2>/dev/null || true; kill -9 "${pids[$i]}"; done
for _ in $(seq 400); do [ "$(node_count)" -le 16 ] && break; sleep 0.02; done
detected_ms=$(($(now_ms) - killed_at))
"$bin/fleetctl" --port $port --json wait "$batch" >/dev/null || true
q() { sqlite3 "$work/fleet.db" "$1"; }
succeeded=$(q "SELECT count(*) FROM tasks WHERE state = 'succeeded'")
once=$(q "SELECT count(*) FROM (SELECT task_seq FROM attempts WHERE outcome = 'succeeded' GROUP BY task_seq HAVING count(*) = 1)")
interrupted=$(q "SELECT count(*) FROM attempts WHERE outcome = 'interrupted'")
dropped=$(q "SELECT count(*) FROM events WHERE kind = 'node_dropped'")
echo "kill: 5 of 20 nodes; dropped within ${detected_ms} ms (node-timeout 2000); node_dropped events=$dropped;" \
     "interrupted attempts=$interrupted; tasks succeeded=$succeeded of $tasks; succeeded exactly once=$once"
[ "$succeeded" -eq "$tasks" ] && [ "$once" -eq "$tasks" ] && [ "$dropped" -eq 5 ]
stop_fleet
