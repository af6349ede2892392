#pragma once

// How fleetd's processes open and reach CAF ports: through the connection guard
// (client/guarded_io.hpp), over TLS once enable_tls (client/tls.hpp) configured it, and never
// waiting longer than asked.

#include "fleet/connection_limits.hpp"

#include <caf/expected.hpp>
#include <caf/fwd.hpp>

#include <chrono>
#include <cstdint>
#include <set>
#include <string>

namespace fleet {

/// Loads CAF's middleman with the guarded backend. Call on the config before the actor system
/// exists (configure_client does).
void load_guarded_middleman(caf::actor_system_config& cfg);

/// Sets the guard's limits and where its warnings go, for the connections opened from now on.
void configure_connections(caf::actor_system& sys, const connection_limits& limits, connection_log log = {});

/// Listens on host:port (0: a free port) for `whom`, with interface `sigs`. The port.
caf::expected<uint16_t> publish_actor(caf::actor_system& sys, caf::strong_actor_ptr whom,
                                      std::set<std::string> sigs, const std::string& host, uint16_t port);

/// Stops listening on `port` for `whom`.
caf::error unpublish_actor(caf::actor_system& sys, const caf::actor_addr& whom, uint16_t port);

/// The actor published at host:port, whatever its interface: the caller checks what it talks to
/// (connect_fleet with its hello, which every release understands). Fails with
/// caf::sec::request_timeout when the connection and handshake take longer than `timeout`.
caf::expected<caf::strong_actor_ptr> connect_actor(caf::actor_system& sys, const std::string& host, uint16_t port,
                                                   std::chrono::milliseconds timeout);

} // namespace fleet
