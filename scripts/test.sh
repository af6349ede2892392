#!/usr/bin/env bash
# Installs what is needed, builds, and runs every test (unit, actor, restart).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
ctest --test-dir build --output-on-failure -j"$(nproc)" --timeout 300
