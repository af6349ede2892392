#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/) with clang in build-fuzz/ and runs each for SECONDS
# (default 20) over its seed corpus in fuzz/corpus/. New inputs go to a temporary directory, so
# the repository's corpus only changes by hand. A crash leaves build-fuzz/NAME-crash-* and fails.
#   scripts/fuzz.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
scripts/setup.sh >/dev/null # the packages every build needs
if ! command -v clang++ >/dev/null; then
  echo "fuzz: installing clang" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends clang >/dev/null
fi
CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DFLEETD_BUILD_FUZZERS=ON >/dev/null
cmake --build build-fuzz --target fuzzers >/dev/null
for name in task_file task_data config_value config_file upload_part text worker_line cron queue_setting http_body; do
  work=$(mktemp -d)
  if ! build-fuzz/bin/${name}_fuzzer -max_total_time="$seconds" -max_len=8192 -print_final_stats=1 \
      -artifact_prefix="build-fuzz/$name-" "$work" "fuzz/corpus/$name" >"$work.log" 2>&1; then
    tail -40 "$work.log" >&2
    echo "fuzz: $name FAILED (input saved as build-fuzz/$name-*)" >&2
    exit 1
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work.log")
  echo "fuzz: $name ok, $runs inputs in ${seconds} s, corpus $(ls "$work" | wc -l) new inputs"
  rm -rf "$work" "$work.log"
done
