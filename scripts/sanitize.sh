#!/usr/bin/env bash
# Builds every target with AddressSanitizer and UBSan in build-asan/ (-DFLEETD_SANITIZE) and runs
# the CTest suites there: a memory error or undefined behaviour in fleetd, fleet-node, fleetctl or
# a suite fails the run. On demand, not part of scripts/test.sh: on 2 cores the build takes 20-35
# minutes and the suites about 11. The package tests are left out: they build other projects
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
# a daemon that meets one fails the test that checks how it ended.
export ASAN_OPTIONS="detect_container_overflow=0:verify_asan_link_order=0:detect_leaks=${FLEETD_SANITIZE_LEAKS:-0}"
export UBSAN_OPTIONS="print_stacktrace=1"
status=0
ctest --test-dir build-asan --output-on-failure -j"$(nproc)" --timeout 900 \
  -E "installed package|Debian packages" "$@" || status=$?
# A report in a test process that went on (or in output a test passed through) fails it too.
if grep -E "runtime error:|ERROR: (Address|Leak)Sanitizer" build-asan/Testing/Temporary/LastTest.log >&2; then
  echo "sanitize: reports above (build-asan/Testing/Temporary/LastTest.log)" >&2
  exit 1
fi
exit "$status"
