#!/usr/bin/env bash
# Installs what is needed, builds, and runs every test: the doctest suites through CTest (unit,
# actor, end-to-end with the crash loop and TLS), then each libFuzzer target for 15 s.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
ctest --test-dir build --output-on-failure -j"$(nproc)" --timeout 300
scripts/fuzz.sh 15
