#!/usr/bin/env bash
# Dependencies inside a batch stay bounded for a million tasks (issue 21). Three graphs of N echo
# tasks, each submitted through fleetctl (an upload in chunks, the graph checked at the seal):
#   chain   task i runs after task i-1: N links, one at a time by definition; runs for
#           CHAIN_SECONDS and reports links per second, then cancels the rest (one transaction)
#   fanout  one root, every other task runs after it: the root's success releases N-1 tasks
#   fanin   groups of 1000 tasks, each group's collector after its 1000, a final task after the
#           collectors (the widest fan-in a task may have is 1000)
# For each: the submit (upload, seal, graph check) time, fleetd's resident memory after it and its
# peak (VmHWM), and for fanout and fanin the time until the batch finished. Run on demand:
#   bench/deps.sh [N]     (default 1000000)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000000}
chain_seconds=${CHAIN_SECONDS:-20}
port=${FLEETD_BENCH_PORT:-4494}
scripts/setup.sh --packages >/dev/null
cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-release --target fleetd fleetctl >/dev/null
bin=build-release/bin
work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
ctl() { "$bin/fleetctl" --port "$port" --timeout 1200000 "$@"; }
kib() { sed -n "s/^$1:[[:space:]]*\([0-9]*\) kB/\1/p" "/proc/$pid/status"; }
ms() { echo $(( $(date +%s%N) / 1000000 )); }

awk -v n="$n" 'BEGIN { print "{\"id\":\"c0\",\"type\":\"echo\"}";
  for (i = 1; i < n; ++i) printf "{\"id\":\"c%d\",\"type\":\"echo\",\"after\":[\"c%d\"]}\n", i, i - 1 }' >"$work/chain.jsonl"
awk -v n="$n" 'BEGIN { print "{\"id\":\"root\",\"type\":\"echo\"}";
  for (i = 1; i < n; ++i) printf "{\"id\":\"t%d\",\"type\":\"echo\",\"after\":[\"root\"]}\n", i }' >"$work/fanout.jsonl"
awk -v n="$n" 'BEGIN { groups = int((n - 1) / 1001); final = "";
  for (g = 0; g < groups; ++g) {
    after = "";
    for (i = 0; i < 1000; ++i) { printf "{\"id\":\"g%d-%d\",\"type\":\"echo\"}\n", g, i; after = after (i ? "," : "") "\"g" g "-" i "\"" }
    printf "{\"id\":\"collect%d\",\"type\":\"echo\",\"after\":[%s]}\n", g, after
    final = final (g ? "," : "") "\"collect" g "\""
  }
  printf "{\"id\":\"final\",\"type\":\"echo\",\"after\":[%s]}\n", final }' >"$work/fanin.jsonl"

start() {
  rm -f "$work"/fleet.db*
  "$bin/fleetd" --fleet.db="$work/fleet.db" --fleet.port="$port" --fleet.plaintext-loopback=true \
    --fleet.log-level=warn --fleet.max-workers=16 2>>"$work/fleetd.log" &
  pid=$!
  for _ in $(seq 200); do ctl stats >/dev/null 2>&1 && break; sleep 0.05; done
}
stop() { kill -TERM "$pid"; wait "$pid" || true; pid=; }
completed() { ctl --json status "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["completed"])'; }

run_graph() { # kind
  local kind=$1 t0 t1 id
  start
  t0=$(ms)
  id=$(ctl submit "$work/$kind.jsonl")
  t1=$(ms)
  local line="kind=$kind tasks=$(wc -l <"$work/$kind.jsonl") submit_ms=$((t1 - t0)) rss_after_submit_kib=$(kib VmRSS)"
  if [ "$kind" = chain ]; then
    sleep "$chain_seconds"
    local done_links
    done_links=$(completed "$id")
    t0=$(ms)
    ctl cancel "$id" >/dev/null
    t1=$(ms)
    line="$line links_per_s=$((done_links / chain_seconds)) cancel_ms=$((t1 - t0))"
  else
    local submitted=$t1
    ctl wait "$id" >/dev/null
    t1=$(ms)
    line="$line run_ms=$((t1 - submitted)) completed=$(completed "$id")"
  fi
  echo "$line peak_kib=$(kib VmHWM)"
  stop
}

echo "# $(date -u +%FT%TZ) $(nproc) cores, $(uname -r), n=$n"
for kind in chain fanout fanin; do run_graph "$kind"; done
