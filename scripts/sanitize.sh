#!/usr/bin/env bash
# Builds every target with AddressSanitizer and UBSan in build-asan/ (-DFLEETD_SANITIZE) and runs
# the CTest suites there: a memory error or undefined behaviour in fleetd, fleet-node, fleetctl or
# a suite fails the run. On demand, not part of scripts/test.sh: on 2 cores the build takes 20-35
# minutes and the suites 7-11. The package tests are left out: they build other projects
# against an installed prefix without the sanitizers. UBSan's null check is compiled out
# (CMakeLists.txt says why); FLEETD_SANITIZE_LEAKS=1 turns LeakSanitizer on.
#   scripts/sanitize.sh [CTEST_ARGS...]     e.g. scripts/sanitize.sh -R crash
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --packages >/dev/null
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFLEETD_SANITIZE=address,undefined >/dev/null
cmake --build build-asan
# CAF, SQLite and libstdc++'s containers in Debian's libraries are not instrumented: container
# overflow checks across them give false reports. libfaketime (the crash loop's clock) is preloaded
# before the sanitizer's runtime. A process stops at its first report with a non-zero status, so
# a daemon that meets one fails the test that checks how it ended. Every process writes its reports
# to build-asan/sanitizer-reports/ (a daemon's own log goes with its test's temporary directory).
reports=$PWD/build-asan/sanitizer-reports
rm -rf "$reports" && mkdir -p "$reports"
export ASAN_OPTIONS="detect_container_overflow=0:verify_asan_link_order=0:detect_leaks=${FLEETD_SANITIZE_LEAKS:-0}:log_path=$reports/asan"
export UBSAN_OPTIONS="print_stacktrace=1:log_path=$reports/ubsan"
status=0
ctest --test-dir build-asan --output-on-failure -j"$(nproc)" --timeout 900 \
  -E "installed package|Debian packages" "$@" || status=$?
# A report fails the run even where its process's status went unchecked.
if compgen -G "$reports/*" >/dev/null; then
  for report in "$reports"/*; do
    echo "== $report" >&2
    cat "$report" >&2
  done
  echo "sanitize: the reports above are in $reports" >&2
  exit 1
fi
exit "$status"
