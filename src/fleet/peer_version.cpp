#include "fleetd/peer_version.hpp"

#include "fleetd/error.hpp"

#include <fmt/format.h>

namespace fleet {

caf::error check_peer_version(const peer_version& ours, const peer_version& theirs, const std::string& who) {
  if (ours.interface_version == theirs.interface_version)
    return caf::none;
  auto older = theirs.interface_version < ours.interface_version ? who : std::string{"fleetd"};
  return caf::make_error(errc::incompatible_version,
                         fmt::format("fleetd {} speaks protocol version {}, {} (fleetd {}) speaks version {}: "
                                     "use clients and nodes of fleetd's release (upgrade {})",
                                     ours.release, ours.interface_version, who, theirs.release,
                                     theirs.interface_version, older));
}

} // namespace fleet
