#include "client/peer_frames.hpp"

#include <caf/binary_deserializer.hpp>
#include <caf/error.hpp>

namespace fleet::net {

namespace {

const char* kind_of(uint8_t op) {
  return op == basp_op::monitor_message ? "monitor" : "down";
}

} // namespace

std::optional<std::string> peer_frames::refuse_header(uint8_t op, uint32_t length) const {
  switch (op) {
    case basp_op::server_handshake:
      return "sent a server's handshake";
    case basp_op::client_handshake:
      // CAF sends its client handshake again after the server's (and drops the repetition): it
      // must name the same node (refuse_payload).
      if (length == 0)
        return "sent a handshake without its node";
      return std::nullopt;
    case basp_op::routed_message:
      return "sent a routed message (a peer speaks only in its own name, and nothing is forwarded to other "
             "nodes)";
    case basp_op::monitor_message:
    case basp_op::down_message:
      if (length == 0)
        return std::string{"sent a "} + kind_of(op) + " message without its nodes";
      return std::nullopt;
    default:
      return std::nullopt;
  }
}

std::optional<std::string> peer_frames::handshake(caf::execution_unit* ctx, const char* payload, size_t n) {
  caf::binary_deserializer source{ctx, payload, n};
  caf::node_id node;
  if (auto err = source(node))
    return std::string{"sent a handshake without a readable node"};
  if (!node)
    return std::string{"sent a handshake that names no node"};
  if (node == self_)
    return std::string{"sent a handshake in the name of this process's own node"};
  peer_ = std::move(node);
  return std::nullopt;
}

std::optional<std::string> peer_frames::refuse_payload(caf::execution_unit* ctx, uint8_t op, const char* payload,
                                                       size_t n) const {
  if (op == basp_op::client_handshake) {
    caf::binary_deserializer source{ctx, payload, n};
    caf::node_id node;
    if (auto err = source(node); err || node != peer_)
      return std::string{"sent a second handshake, in the name of another node"};
    return std::nullopt;
  }
  if (op != basp_op::monitor_message && op != basp_op::down_message)
    return std::nullopt;
  caf::binary_deserializer source{ctx, payload, n};
  caf::node_id from;
  caf::node_id to;
  if (auto err = source(from, to))
    return std::string{"sent a "} + kind_of(op) + " message without readable nodes";
  if (from != peer_)
    return std::string{"sent a "} + kind_of(op) + " message in the name of another node (" + caf::to_string(from)
           + ")";
  if (to != self_)
    return std::string{"sent a "} + kind_of(op) + " message for another node (" + caf::to_string(to)
           + "): nothing is forwarded";
  return std::nullopt;
}

} // namespace fleet::net
