#include "fleet/store_options.hpp"

#include "fleetd/error.hpp"

#include <fmt/format.h>

namespace fleet {

caf::error validate_synchronous(const std::string& mode) {
  if (mode == "off" || mode == "normal" || mode == "full")
    return caf::none;
  return caf::make_error(errc::invalid_config,
                         fmt::format("synchronous must be off, normal or full (got \"{}\")", mode));
}

} // namespace fleet
