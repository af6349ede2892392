#pragma once

#include "fleetd/version.hpp"

#include <caf/error.hpp>
#include <caf/meta/type_name.hpp>

#include <cstdint>
#include <string>

namespace fleet {

/// Who speaks which protocol: sent by a client or node when it connects (hello_atom), answered by
/// fleetd. Its shape and the hello message never change, so that any two releases can tell each
/// other their versions instead of failing on a message one of them does not know.
struct peer_version {
  int32_t interface_version = 0; ///< fleet::interface_version
  std::string release{};         ///< FLEETD_VERSION
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, peer_version& x) {
  return f(caf::meta::type_name("fleet.peer_version"), x.interface_version, x.release);
}

/// This build's versions.
inline peer_version this_release() {
  return {interface_version, FLEETD_VERSION};
}

/// errc::incompatible_version naming both sides if `theirs` speaks another protocol than `ours`;
/// `who` names the peer in the message ("this client", "the fleet-node n1").
caf::error check_peer_version(const peer_version& ours, const peer_version& theirs, const std::string& who);

} // namespace fleet
