#!/usr/bin/env bash
# Quick start: installs what is needed, builds, and runs fleetd's demo on var/demo.db.
# (Once the daemon lands, this starts fleetd on config/fleetd.ini instead.)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec build/bin/fleet-demo "${1:-var/demo.db}"
