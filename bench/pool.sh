#!/usr/bin/env bash
# Worker pools against exec (issue 19): a trivial Python worker (bench/pool_worker.py) served by a
# pool of 4 long-lived processes (one request at a time each, c=16; and with in-flight=4, c=64),
# against `exec` starting the same program once per task. Runs
# each ROUNDS times, alternating (this VM's speed drifts), and prints each run, the medians and
# their ratio. Run on demand, never in CI:
#   bench/pool.sh [POOL_N] [EXEC_N]     (defaults: 100000 pool tasks, 2000 exec tasks)
# exec needs ~25 ms of CPU per task to start Python, so it runs fewer tasks; the rate is per task.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
pool_n=${1:-100000}
exec_n=${2:-2000}
rounds=${FLEETD_BENCH_REPEATS:-3}
port=${FLEETD_BENCH_PORT:-4491}
scripts/setup.sh --packages >/dev/null
cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release -DFLEETD_BUILD_BENCH=ON >/dev/null
cmake --build build-release --target fleetd fleet-bench >/dev/null
bin=build-release/bin
work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
worker=$PWD/bench/pool_worker.py
cat >"$work/fleetd.ini" <<INI
[fleet]
db="$work/fleet.db"
port=$port
log-level="warn"
plaintext-loopback=true
exec-allow="python3"

[pool.bench]
argv=["python3", "$worker"]
types=["pynoop"]
size=4
INI
sed 's/^size=4$/size=4\nin-flight=4/' "$work/fleetd.ini" >"$work/fleetd-if4.ini"

run_once() { # workload n c [config]: fleet-bench's line
  "$bin/fleetd" --config-file="$work/${4:-fleetd.ini}" 2>>"$work/fleetd.log" &
  pid=$!
  for _ in $(seq 200); do "$bin/fleet-bench" ping --port $port >/dev/null 2>&1 && break; sleep 0.05; done
  "$bin/fleet-bench" run --port $port --pid "$pid" --n "$2" --c "$3" --workload "$1" --worker "$worker"
  kill -TERM "$pid"; wait "$pid" || true; pid=; rm -f "$work"/fleet.db*
}

echo "# $(date -u +%FT%TZ) $(nproc) cores, $(uname -r), $(python3 --version)"
pool_rates=() pool4_rates=() exec_rates=()
for r in $(seq "$rounds"); do
  line=$(run_once pool "$pool_n" 16); echo "$line pool_size=4 in_flight=1 run=$r"; pool_rates+=("$(rate "$line")")
  line=$(run_once pool "$pool_n" 64 fleetd-if4.ini); echo "$line pool_size=4 in_flight=4 run=$r"
  pool4_rates+=("$(rate "$line")")
  line=$(run_once execpy "$exec_n" 8); echo "$line run=$r"; exec_rates+=("$(rate "$line")")
done
p=$(median "${pool_rates[@]}")
p4=$(median "${pool4_rates[@]}")
e=$(median "${exec_rates[@]}")
echo "pool_median_tasks_per_s=$p pool_in_flight_4_median_tasks_per_s=$p4 exec_median_tasks_per_s=$e" \
  "pool_over_exec=$(awk -v p="$p" -v e="$e" 'BEGIN { printf "%.1f", p / e }')"
