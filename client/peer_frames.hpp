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
// sent to fleetd's manager stopped fleetd.

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
} // namespace basp_op

/// The checks for one accepted connection. `self` is this process's node.
class peer_frames {
public:
  explicit peer_frames(caf::node_id self) : self_(std::move(self)) {}

  /// Why a message of type `op`, announcing `length` payload bytes, is refused after the
  /// handshake, or nothing.
  std::optional<std::string> refuse_header(uint8_t op, uint32_t length) const;

  /// Reads the peer's node from its client handshake's payload; why it is refused, or nothing.
  std::optional<std::string> handshake(caf::execution_unit* ctx, const char* payload, size_t n);

  /// Why the payload of a message of type `op` is refused, or nothing.
  std::optional<std::string> refuse_payload(caf::execution_unit* ctx, uint8_t op, const char* payload,
                                            size_t n) const;

  /// The node the peer named in its handshake (none before it).
  const caf::node_id& peer() const { return peer_; }

private:
  caf::node_id self_;
  caf::node_id peer_;
};

} // namespace fleet::net
