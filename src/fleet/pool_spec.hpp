#pragma once

// A worker pool as configured (`[pool.NAME]`): what fleetd keeps running for it.

#include "fleet/sandbox_config.hpp"

#include <caf/error.hpp>
#include <caf/settings.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace fleet {

struct pool_spec {
  std::string name;
  std::vector<std::string> argv;
  std::vector<std::string> types;
  int32_t size = 1;
  /// Requests a process holds at once (1: one attempt at a time). More lets a process find its
  /// next request waiting when it answers one, instead of a round trip through fleetd.
  int32_t in_flight = 1;
  std::map<std::string, std::string> env;
  int64_t restart_base_ms = 200;   ///< a process that ends is started again after this, doubling
  int64_t restart_cap_ms = 30'000; ///< up to this while it keeps ending early
  child_sandbox sandbox;           ///< environment, user, directory and limits of its processes
};

/// Reads the `[pool.NAME]` sections of a config file (`pools` is the `pool` group): argv (a list
/// of strings), types (a list of strings), size (1..1000), in-flight (1..64), and the keys of a
/// child_sandbox. Errors name the pool and key.
caf::error read_pools(const caf::settings& pools, const std::string& where, std::vector<pool_spec>& out);

/// Checks pools against each other: names of 1-64 of A-Z a-z 0-9 . _ -, a program, 1-100 types of
/// UTF-8 text without control characters, no type in two pools.
caf::error validate(const std::vector<pool_spec>& pools);

/// resolve() of every pool's sandbox: what only the running system can tell.
caf::error resolve_sandboxes(std::vector<pool_spec>& pools);

} // namespace fleet
