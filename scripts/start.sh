#!/usr/bin/env bash
# Quick start: installs what is needed, builds, and runs fleetd in the foreground on the default
# config (config/fleetd.ini: database var/fleet.db, 127.0.0.1:4242). Extra arguments go to fleetd,
# e.g. scripts/start.sh --fleet.port=5000. Stop it with Ctrl-C (it drains, then exits 0).
set -euo pipefail
cd "$(dirname "$0")/.."
# Only what it runs (and fleetctl to talk to it): the tests are built by scripts/test.sh.
scripts/setup.sh "${FLEETD_BUILD_TYPE:-RelWithDebInfo}" fleetd fleetctl
exec build/bin/fleetd --config-file=config/fleetd.ini "$@"
