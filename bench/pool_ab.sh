#!/usr/bin/env bash
# Worker pools, build A against build B (docs/BENCHMARKS.md, 2026-12-04): the trivial Python pool
# worker, 4 processes, in-flight=1 at c=16 and in-flight=4 at c=64, alternating A, B with A's helper
# and B with B's helper, each build with its own fleet-bench (the protocol may differ). Run on
# demand, never in CI:
#   A=/path/to/old/checkout B=/path/to/new/checkout N=50000 bench/pool_ab.sh
# Both checkouts built with: cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DFLEETD_BUILD_BENCH=ON
# and the targets fleetd fleet-bench.
set -uo pipefail
N=${N:-50000}
port=4493
work=$(mktemp -d)
trap 'pkill -P $$ fleetd 2>/dev/null; rm -rf "$work"' EXIT
run_once() { # fleetd worker inflight c
  local bench=$(dirname "$1")/fleet-bench
  cat >"$work/f.ini" <<INI
[fleet]
db="$work/fleet.db"
port=$port
log-level="warn"
plaintext-loopback=true

[pool.bench]
argv=["python3", "$2"]
types=["pynoop"]
size=4
in-flight=$3
INI
  "$1" --config-file="$work/f.ini" 2>>"$work/fleetd.log" &
  local pid=$!
  for _ in $(seq 200); do "$bench" ping --port $port >/dev/null 2>&1 && break; sleep 0.05; done
  "$bench" run --port $port --pid "$pid" --n "$N" --c "$4" --workload pool --worker "$2" | sed -n "s/.*tasks_per_s=\([0-9]*\).*/\1/p"
  kill -TERM "$pid"; wait "$pid" 2>/dev/null; rm -f "$work"/fleet.db*
}
a_tree=${A:?A=old checkout}; b_tree=${B:?B=new checkout}
A=$a_tree/build-release/bin/fleetd; B=$b_tree/build-release/bin/fleetd
oldw=$a_tree/bench/pool_worker.py; neww=$b_tree/bench/pool_worker.py
for r in $(seq "${FLEETD_BENCH_REPEATS:-2}"); do
  for cfg in "1 16" "4 64"; do
    set -- $cfg
    a=$(run_once $A $oldw $1 $2); c=$(run_once $B $oldw $1 $2); b=$(run_once $B $neww $1 $2)
    echo "round=$r in_flight=$1 c=$2 A: $a | B with A's helper: $c | B: $b"
  done
done
rm -rf "$work"
