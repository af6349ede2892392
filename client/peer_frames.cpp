#include "client/peer_frames.hpp"

#include <caf/binary_deserializer.hpp>
#include <caf/atom.hpp>
#include <caf/error.hpp>

#include <string_view>
#include <vector>

namespace fleet::net {

namespace {

const char* kind_of(uint8_t op) {
  return op == basp_op::monitor_message ? "monitor" : "down";
}

/// A forwarding stage of a direct message as BASP 0.17 writes a strong_actor_ptr: read without
/// making a proxy for it.
struct stage {
  uint64_t actor = 0;
  caf::node_id node;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, stage& x) {
  return f(x.actor, x.node);
}

/// CAF's own messages, which CAF makes locally (an exit for a link, a down for a monitor, the
/// stream protocol): from a peer, an exit with reason kill stops any actor it reaches, and a down
/// runs the down handler of the actor (fleetd's manager, its watcher) as if what it watches died.
bool is_system_message(std::string_view element) {
  return element == "@exit" || element == "@down" || element == "@group_down" || element == "@open_stream_msg"
         || element == "@upstream_msg" || element == "@downstream_msg";
}

/// Why a direct message's content is refused, or nothing. BASP 0.17 writes its forwarding stages,
/// then the message as an object of type number 0 named "@<>+" and its elements' names joined by
/// '+'; what cannot be read this way is left to CAF's own checks.
std::optional<std::string> refuse_content(caf::execution_unit* ctx, const char* payload, size_t n, bool named) {
  caf::binary_deserializer source{ctx, payload, n};
  std::vector<stage> stages;
  uint16_t type_number = 0;
  std::string names;
  if (named) {
    // To the spawn server by name: only the question CAF asks it on every new connection.
    auto sys = caf::atom_value{};
    auto get = caf::atom_value{};
    std::string what;
    if (auto err = source(stages, type_number, names, sys, get, what);
        err || type_number != 0 || names != "@<>+@atom+@atom+@str" || sys != caf::sys_atom::value
        || get != caf::get_atom::value || what != "info")
      return std::string{"sent CAF's spawn server something other than its \"info\" question"};
    return std::nullopt;
  }
  if (auto err = source(stages, type_number, names); err || type_number != 0)
    return std::nullopt;
  std::string_view rest{names};
  while (!rest.empty()) {
    auto cut = rest.find('+');
    if (is_system_message(rest.substr(0, cut)))
      return std::string{"sent an exit or down message (CAF's own, "} + std::string{rest.substr(0, cut)}
             + "): a peer may not stop or unwatch fleetd's actors";
    rest = cut == std::string_view::npos ? std::string_view{} : rest.substr(cut + 1);
  }
  return std::nullopt;
}

} // namespace

frame_header frame_header::read(const char* bytes) {
  auto b = reinterpret_cast<const unsigned char*>(bytes);
  auto big_endian = [b](size_t at, size_t n) {
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i)
      v = (v << 8) | b[at + i];
    return v;
  };
  return {b[0], b[3], static_cast<uint32_t>(big_endian(4, 4)), big_endian(24, 8)};
}

std::optional<std::string> peer_frames::refuse_header(const frame_header& h) const {
  if (h.op == basp_op::direct_message) {
    if ((h.flags & basp_op::named_receiver_flag) != 0) {
      if (h.dest_actor != caf::atom_uint(caf::atom("SpawnServ")))
        return std::string{"sent a message to a named actor other than CAF's spawn server"};
    } else if (h.dest_actor != 0 && (h.dest_actor == config_server_ || h.dest_actor == spawn_server_)) {
      return std::string{"sent a message to CAF's config or spawn server"};
    }
  }
  switch (h.op) {
    case basp_op::server_handshake:
      return "sent a server's handshake";
    case basp_op::client_handshake:
      // CAF sends its client handshake again after the server's (and drops the repetition): it
      // must name the same node (refuse_payload).
      if (h.length == 0)
        return "sent a handshake without its node";
      return std::nullopt;
    case basp_op::routed_message:
      return "sent a routed message (a peer speaks only in its own name, and nothing is forwarded to other "
             "nodes)";
    case basp_op::monitor_message:
    case basp_op::down_message:
      if (h.length == 0)
        return std::string{"sent a "} + kind_of(h.op) + " message without its nodes";
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

std::optional<std::string> peer_frames::refuse_payload(caf::execution_unit* ctx, const frame_header& h,
                                                       const char* payload, size_t n) const {
  auto op = h.op;
  if (op == basp_op::client_handshake) {
    caf::binary_deserializer source{ctx, payload, n};
    caf::node_id node;
    if (auto err = source(node); err || node != peer_)
      return std::string{"sent a second handshake, in the name of another node"};
    return std::nullopt;
  }
  if (op == basp_op::direct_message)
    return refuse_content(ctx, payload, n, (h.flags & basp_op::named_receiver_flag) != 0);
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
