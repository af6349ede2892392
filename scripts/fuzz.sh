#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/) with clang in build-fuzz/ and runs each for SECONDS
# (default 20) over its seed corpus in fuzz/corpus/, as many at once as there are cores. New
# inputs go to a temporary directory, so the repository's corpus only changes by hand. A crash
# leaves build-fuzz/NAME-crash-* and fails.
#   scripts/fuzz.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
scripts/setup.sh --packages >/dev/null # the packages every build needs
if ! command -v clang++ >/dev/null; then
  echo "fuzz: installing clang" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends clang >/dev/null
fi
CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DFLEETD_BUILD_FUZZERS=ON >/dev/null
cmake --build build-fuzz --target fuzzers >/dev/null
# Each fuzzer runs on one core: as many run at once as there are cores, each for the full SECONDS.
# Their reports are printed in this order once all have finished.
names=(task_file task_data config_value config_file upload_part text worker_line cron queue_setting http_body peer_frame)
parallel=$(nproc)
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
fuzz_one() { # name: runs it, leaves $logs/name.log and $logs/name.status
  local name=$1 work
  work=$(mktemp -d)
  if build-fuzz/bin/${name}_fuzzer -max_total_time="$seconds" -max_len=8192 -print_final_stats=1 \
      -artifact_prefix="build-fuzz/$name-" "$work" "fuzz/corpus/$name" >"$logs/$name.log" 2>&1; then
    echo "ok $(ls "$work" | wc -l)" >"$logs/$name.status"
  else
    echo failed >"$logs/$name.status"
  fi
  rm -rf "$work"
}
for name in "${names[@]}"; do
  while (($(jobs -rp | wc -l) >= parallel)); do wait -n || true; done
  fuzz_one "$name" &
done
wait
failed=0
for name in "${names[@]}"; do
  read -r status found <"$logs/$name.status"
  if [ "$status" != ok ]; then
    tail -40 "$logs/$name.log" >&2
    echo "fuzz: $name FAILED (input saved as build-fuzz/$name-*)" >&2
    failed=1
    continue
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$logs/$name.log")
  echo "fuzz: $name ok, $runs inputs in ${seconds} s, corpus $found new inputs"
done
exit $failed
