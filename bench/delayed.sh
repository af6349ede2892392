#!/usr/bin/env bash
# Delayed tasks cost the manager no more memory than pending ones (issue 20): fleetd with the
# fleet paused takes N tasks that are due at once, and, on a fresh database, N tasks delayed by an
# hour; after each submit it reports fleetd's resident memory (VmRSS) and its peak (VmHWM). Last,
# N tasks due 5 s after their submit, all at once: how long after their time until every one is
# pending (10,000 per group commit). Alternates ROUNDS times (this VM's speed drifts).
# Run on demand, never in CI:
#   bench/delayed.sh [N]     (default 1000000)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000000}
rounds=${FLEETD_BENCH_REPEATS:-2}
port=${FLEETD_BENCH_PORT:-4493}
scripts/setup.sh --packages >/dev/null
cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-release --target fleetd fleetctl >/dev/null
bin=build-release/bin
work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
awk -v n="$n" 'BEGIN { for (i = 0; i < n; ++i) print "{\"type\":\"echo\"}" }' >"$work/tasks.jsonl"
ctl() { "$bin/fleetctl" --port "$port" --timeout 600000 "$@"; }
kib() { sed -n "s/^$1:[[:space:]]*\([0-9]*\) kB/\1/p" "/proc/$pid/status"; }

start() {
  rm -f "$work"/fleet.db*
  "$bin/fleetd" --fleet.db="$work/fleet.db" --fleet.port="$port" --fleet.plaintext-loopback=true \
    --fleet.log-level=warn 2>>"$work/fleetd.log" &
  pid=$!
  for _ in $(seq 200); do ctl stats >/dev/null 2>&1 && break; sleep 0.05; done
}
stop() { kill -TERM "$pid"; wait "$pid" || true; pid=; }

measure() { # kind, fleetctl submit options...
  local kind=$1
  shift
  start
  ctl pause --fleet >/dev/null
  local before
  before=$(kib VmRSS)
  local t0
  t0=$(date +%s%N)
  ctl submit "$@" "$work/tasks.jsonl" >/dev/null
  local t1
  t1=$(date +%s%N)
  sleep 2 # the writer's caches settle
  echo "kind=$kind tasks=$n rss_before_kib=$before rss_after_kib=$(kib VmRSS) peak_kib=$(kib VmHWM)" \
    "submit_ms=$(( (t1 - t0) / 1000000 ))" \
    "scheduled=$(ctl --json stats | python3 -c 'import json,sys; print(json.load(sys.stdin)["scheduled_tasks"])')"
  stop
}

promotion() { # n tasks due 5 s after the submit, fleet paused: time until all are pending
  start
  ctl pause --fleet >/dev/null
  ctl submit --delay 5s "$work/tasks.jsonl" >/dev/null
  local t0
  t0=$(date +%s%N)
  while [ "$(ctl --json stats | python3 -c 'import json,sys; print(json.load(sys.stdin)["scheduled_tasks"])')" != 0 ]; do
    sleep 0.05
  done
  local t1
  t1=$(date +%s%N)
  echo "kind=promotion tasks=$n all_pending_ms_after_due=$(( (t1 - t0) / 1000000 - 5000 ))" \
    "rss_kib=$(kib VmRSS) peak_kib=$(kib VmHWM)"
  stop
}

echo "# $(date -u +%FT%TZ) $(nproc) cores, $(uname -r)"
for r in $(seq "$rounds"); do
  measure pending
  measure delayed --delay 1h
done
promotion
