#pragma once

// What a peer that connected to this process may send once its handshake is done.
//
// CAF 0.17's BASP trusts the payload of three message types to name nodes: a routed message
// carries its source and destination node, and so do monitor and down messages. The receiver
// takes the source as the sender's node (a routed message's sender becomes a proxy on it, a down
// message kills the proxy of that node's actor) and forwards anything addressed to another node.
// So any connected peer could speak in the name of another node (a fleet-node's outcomes, its
// actor's death) or reach another node through this one (attempts "from fleetd"). No peer of
// fleetd needs either: clients and fleet-nodes talk to fleetd directly, and CAF sends a routed
// message only for a sender of a third node or a destination without a direct connection. So an
// accepted connection may send monitor and down messages in its own name only, to this node only,
// no routed message, and no handshake but in the name of the node it named first. Nor may its
// messages carry CAF's exit and down messages, which CAF makes locally: one exit with reason kill
// sent to fleetd's manager stopped fleetd. Nor may they reach CAF's config server, which keeps
// whatever a peer puts into it (200 puts of 1 MiB grew fleetd by 209 MB, for good), or its spawn
// server but for the one question every CAF node asks it on connecting (sys, get, "info").

#include <caf/fwd.hpp>
#include <caf/node_id.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace fleet::net {

/// BASP 0.17's message types (caf/io/basp/message_type.hpp), as the first byte of a header.
namespace basp_op {
inline constexpr uint8_t server_handshake = 0x00;
inline constexpr uint8_t client_handshake = 0x01;
inline constexpr uint8_t direct_message = 0x02;
inline constexpr uint8_t routed_message = 0x03;
inline constexpr uint8_t monitor_message = 0x04;
inline constexpr uint8_t down_message = 0x05;
inline constexpr uint8_t heartbeat = 0x06;
/// The header flag of a message to a named actor ("SpawnServ", "ConfigServ") instead of an id.
inline constexpr uint8_t named_receiver_flag = 0x01;
} // namespace basp_op

/// What the checks read of a BASP 0.17 header (32 bytes: op, 2 pad, flags, payload length,
/// operation data, source actor, destination actor; integers big-endian).
struct frame_header {
  uint8_t op = 0;
  uint8_t flags = 0;
  uint32_t length = 0;
  uint64_t dest_actor = 0; ///< an actor id, or with named_receiver_flag an atom value (a name)

  static frame_header read(const char* bytes);
};

/// The checks for one accepted connection. `self` is this process's node; `config_server` and
/// `spawn_server` are the ids of its CAF config and spawn servers (0: none).
class peer_frames {
public:
  explicit peer_frames(caf::node_id self, uint64_t config_server = 0, uint64_t spawn_server = 0)
    : self_(std::move(self)), config_server_(config_server), spawn_server_(spawn_server) {}

  /// Why a message with header `h` is refused after the handshake, or nothing.
  std::optional<std::string> refuse_header(const frame_header& h) const;

  /// Reads the peer's node from its client handshake's payload; why it is refused, or nothing.
  std::optional<std::string> handshake(caf::execution_unit* ctx, const char* payload, size_t n);

  /// Why the payload of the message with header `h` is refused, or nothing.
  std::optional<std::string> refuse_payload(caf::execution_unit* ctx, const frame_header& h, const char* payload,
                                            size_t n) const;

  /// The node the peer named in its handshake (none before it).
  const caf::node_id& peer() const { return peer_; }

private:
  caf::node_id self_;
  caf::node_id peer_;
  uint64_t config_server_;
  uint64_t spawn_server_;
};

} // namespace fleet::net
