#pragma once

// Who asks for changes: what fleetd knows of each remote node that sent it requests, so that the
// events of a change name who asked (the events' requested_by column, schema/0011). A client
// announces a name (identify_atom; fleetctl sends user@host); the peer's address comes from CAF's
// middleman, the certificate subject from the TLS layer (fleet::tls_peer_subject).

#include "fleet/bounded_map.hpp"

#include <caf/actor_addr.hpp>
#include <caf/node_id.hpp>

#include <cstdint>
#include <string>

namespace fleet {

class requesters {
public:
  /// The most nodes remembered; the oldest is forgotten first.
  static constexpr size_t max_nodes = 4096;

  /// The longest name a client may announce.
  static constexpr size_t max_name_bytes = 200;

  /// An error text if `name` cannot be a client's name (too long, not UTF-8, control characters).
  static std::string check_name(const std::string& name);

  void announce(const caf::node_id& node, std::string client_name);

  /// The node's connection is at `host:port` (its end), with the TLS subject `tls` (may be empty).
  void found_at(const caf::node_id& node, const std::string& host, uint16_t port, std::string tls);

  /// Whether the node's address is known (else the caller asks the middleman).
  bool located(const caf::node_id& node) const;

  /// The JSON object stored with the events of a change this node asked for.
  std::string describe(const caf::node_id& node) const;

  /// An actor of fleetd's own process asks on behalf of someone: `announced` is a JSON object
  /// (the HTTP API sends {"http_token": NAME, "http_peer": ADDRESS}) or a plain name. Trusted: it
  /// comes from this process. The last max_local actors are remembered (the HTTP API's clients
  /// live for one request).
  void announce_local(caf::actor_id actor, const std::string& announced);

  /// The JSON object for a change an actor of this process asks for; empty if it never announced.
  std::string describe_local(caf::actor_id actor) const;

  static constexpr size_t max_local = 1024;

private:
  struct peer {
    std::string client;
    std::string address;
    std::string tls;
    bool located = false;
  };

  bounded_map<caf::node_id, peer> peers_{max_nodes};
  bounded_map<caf::actor_id, std::string> local_{max_local};
};

} // namespace fleet
