#!/usr/bin/env bash
# Installs what is needed, builds, and runs every test: the doctest suites through CTest (unit,
# actor, end-to-end with the crash loop and TLS), then each libFuzzer target for 15 s.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# The status page's end-to-end test drives Debian's headless Chromium through ChromeDriver.
if ! dpkg-query -W -f='${Status}' chromium-driver 2>/dev/null | grep -q "install ok installed"; then
  echo "test: installing chromium and chromium-driver for the status page test" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
fi
ctest --test-dir build --output-on-failure -j"$(nproc)" --timeout 300
scripts/fuzz.sh 15
