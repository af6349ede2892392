#!/usr/bin/env bash
# The crash loop's long form (issue 5): builds, then runs the e2e crash-loop test with many cycles.
# Usage: scripts/crash-loop.sh [CYCLES] [SEED]    (defaults 200 and the current time)
# CI runs the same test in its short form (12 cycles, seed 1) as part of scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
FLEET_CRASHLOOP_CYCLES=${1:-200} FLEET_CRASHLOOP_SEED=${2:-$(date +%s)} \
  build/bin/e2e_tests --test-case="crash loop*" --success=false
