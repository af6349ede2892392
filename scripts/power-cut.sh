#!/usr/bin/env bash
# The power-cut loop's long form (issue 22): builds, then runs the three power-cut cases with many
# cycles each (synchronous=full with unsynced writes dropped, full with torn writes, normal).
# Usage: scripts/power-cut.sh [CYCLES] [SEED]    (defaults 500 and the current time)
# CI runs the same cases in their short form (12 cycles, seed 1) as part of scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh "${FLEETD_BUILD_TYPE:-RelWithDebInfo}" power_cut_tests >/dev/null
FLEET_POWERCUT_CYCLES=${1:-500} FLEET_POWERCUT_SEED=${2:-$(date +%s)} \
  build/bin/power_cut_tests --test-case="power cut*" --success=false 2>&1 | grep -v '^\[20'
