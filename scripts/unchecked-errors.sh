#!/usr/bin/env bash
# Finds every call whose caf::error or caf::expected result is dropped unread, in the whole tree
# (library, daemons, tools, tests). CAF 0.17 does not mark either type [[nodiscard]]; this builds
# once with copies of its two headers that do, and fails on any such call. Run on demand (6 minutes
# from scratch on 2 cores), never in CI. A result dropped on purpose is cast to (void) with the reason.
# Usage: scripts/unchecked-errors.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --packages >/dev/null
include=build-unchecked/include
mkdir -p "$include/caf"
sed 's/^class error : /class [[nodiscard]] error : /' /usr/include/caf/error.hpp >"$include/caf/error.hpp"
sed 's/^class expected {/class [[nodiscard]] expected {/' /usr/include/caf/expected.hpp >"$include/caf/expected.hpp"
for h in error expected; do
  grep -q "class \[\[nodiscard\]\] $h" "$include/caf/$h.hpp" || { echo "unchecked-errors: caf/$h.hpp changed shape" >&2; exit 2; }
done
# Debug at -O0 without debug information: only the compiler's front end matters here.
cmake -S . -B build-unchecked -G Ninja -DCMAKE_BUILD_TYPE=Debug \
  -DCMAKE_CXX_FLAGS="-I$PWD/$include -O0 -g0 -Werror=unused-result" >/dev/null
cmake --build build-unchecked -j"$(nproc)"
echo "unchecked-errors: no caf::error or caf::expected is dropped unread"
