#!/usr/bin/env bash
# Installs every Debian package fleetd needs (idempotent), then configures and builds it.
# Usage: scripts/setup.sh [Debug|Release] [TARGET...]   (run as root on Debian 12)
#        scripts/setup.sh --packages                     (the packages only: for scripts that
#                                                         build elsewhere, bench/ and the fuzzers)
# With TARGETs (for example fleetd fleetctl) only those are built; without, everything (tests too).
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(build-essential cmake ninja-build pkg-config libcaf-dev libsqlite3-dev sqlite3
          libfmt-dev doctest-dev nlohmann-json3-dev libspdlog-dev libssl-dev openssl
          libcpp-httplib-dev libcctz-dev tzdata zlib1g-dev libpq-dev libjemalloc-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
[ "${1:-}" = --packages ] && exit 0

build_type=${1:-${FLEETD_BUILD_TYPE:-RelWithDebInfo}}
shift || true
targets=()
for t in "$@"; do targets+=(--target "$t"); done
# RelWithDebInfo with line tables only (-g1): backtraces and perf keep file and line, and the
# build takes a third less time than with -g's full debug information.
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE="$build_type" -DFLEETD_WERROR=ON \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" >/dev/null
cmake --build build -j"$(nproc)" "${targets[@]}"
