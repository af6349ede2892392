#pragma once

#include "fleetd/client.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

#include <functional>

namespace fleet::test {

/// An actor system of the test process that talks to fleetd over CAF's middleman as clients and
/// nodes do. `customize` adds to its config (a message type of the test's own) before it starts.
struct client_system {
  using customizer = std::function<void(caf::actor_system_config&)>;

  explicit client_system(const customizer& customize = {}) : sys(prepared(cfg, customize)) {}

  caf::actor_system_config cfg; // declared first: the system keeps a reference to it
  caf::actor_system sys;

private:
  static caf::actor_system_config& prepared(caf::actor_system_config& c, const customizer& customize) {
    configure_client(c);
    if (customize)
      customize(c);
    return c;
  }
};

} // namespace fleet::test
