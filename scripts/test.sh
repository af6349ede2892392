#!/usr/bin/env bash
# Installs what is needed, builds, and runs every test: the doctest suites through CTest (unit,
# actor, end-to-end with the crash loop and TLS), then each libFuzzer target for 15 s.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# The status page's end-to-end test drives Debian's headless Chromium through ChromeDriver; the
# worker pool tests run the Python helper on Debian's python3; the HTTP API tests use curl too;
# the crash loop steps fleetd's wall clock with libfaketime (Debian's faketime); postgres_tests run a
# private PostgreSQL server (Debian's postgresql; its own data directory, never the machine's cluster);
# the fuzzers build with clang.
missing=()
for p in chromium chromium-driver python3 curl faketime postgresql clang; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "test: installing ${missing[*]} for the status page, worker pool and PostgreSQL tests and the fuzzers" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
ctest --test-dir build --output-on-failure -j"$(nproc)" --timeout 300
scripts/fuzz.sh 15
