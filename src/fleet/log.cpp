#include "fleet/log.hpp"

#include "fleet/error.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>

namespace fleet {

caf::error init_logging(const std::string& level) {
  auto lvl = spdlog::level::from_str(level);
  if (lvl == spdlog::level::off && level != "off")
    return caf::make_error(errc::invalid_config,
                           "log level must be trace, debug, info, warn, error or off (got \"" + level + "\")");
  auto logger = spdlog::stderr_color_mt("fleetd");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  logger->set_level(lvl);
  spdlog::set_default_logger(logger);
  return caf::none;
}

} // namespace fleet
