#pragma once

#include <caf/error.hpp>
#include <spdlog/spdlog.h>

#include <string>

namespace fleet {

/// Sends fleetd's log to stderr with time and level. `level` is trace|debug|info|warn|error|off.
/// CAF's own logging is compiled out of Debian's build, so this is the only log.
caf::error init_logging(const std::string& level = "info");

} // namespace fleet
