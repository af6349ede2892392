#!/usr/bin/env bash
# Retention under a steady load (issue 20): fleetd with fleet.retain-finished=1m against the same
# load with retention off, each for SECONDS: batches of 2,000 no-op tasks submitted and awaited
# back to back. Every 30 s it prints the database's size (file + WAL) and the tasks finished so
# far; at the end the throughput of each. With retention the size should stay flat after the
# first minutes, and the throughput within 10% of the run without it. Run on demand, never in CI:
#   bench/retention.sh [SECONDS]     (default 600)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
port=${FLEETD_BENCH_PORT:-4494}
scripts/setup.sh --packages >/dev/null
cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-release --target fleetd fleetctl >/dev/null
bin=build-release/bin
work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
awk 'BEGIN { for (i = 0; i < 2000; ++i) print "{\"type\":\"echo\"}" }' >"$work/batch.jsonl"
ctl() { "$bin/fleetctl" --port "$port" --timeout 600000 "$@"; }
bytes() { cat "$work"/fleet.db "$work"/fleet.db-wal 2>/dev/null | wc -c; }

run() { # retain-finished value
  rm -f "$work"/fleet.db*
  "$bin/fleetd" --fleet.db="$work/fleet.db" --fleet.port="$port" --fleet.plaintext-loopback=true \
    --fleet.log-level=warn --fleet.max-workers=16 --fleet.retain-finished="$1" --fleet.retain-events="$1" \
    2>>"$work/fleetd.log" &
  pid=$!
  for _ in $(seq 200); do ctl stats >/dev/null 2>&1 && break; sleep 0.05; done
  local start now next=30 done_tasks=0
  start=$(date +%s)
  while :; do
    now=$(date +%s)
    [ $((now - start)) -ge "$seconds" ] && break
    ctl submit --wait "$work/batch.jsonl" >/dev/null
    done_tasks=$((done_tasks + 2000))
    if [ $((now - start)) -ge $next ]; then
      echo "retain_finished=$1 t_s=$((now - start)) tasks=$done_tasks db_bytes=$(bytes)"
      next=$((next + 30))
    fi
  done
  now=$(date +%s)
  echo "retain_finished=$1 total_s=$((now - start)) tasks=$done_tasks tasks_per_s=$((done_tasks / (now - start)))" \
    "db_bytes=$(bytes) pruned_in_last_pass=$(ctl --json prune --now | python3 -c 'import json,sys; print(json.load(sys.stdin)["batches"])')"
  kill -TERM "$pid"; wait "$pid" || true; pid=
}

echo "# $(date -u +%FT%TZ) $(nproc) cores, $(uname -r), ${seconds} s per run"
run 1m
run 0
