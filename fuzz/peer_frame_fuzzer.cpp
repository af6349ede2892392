// libFuzzer target: what a peer of fleetd's CAF port sends after connecting, through the checks of
// client/peer_frames.hpp. The first byte picks the part: 0 a client handshake's payload (the node
// it names), else a frame of a peer that has shaken hands (a 32-byte BASP header, then its
// payload). Besides never crashing, a frame that passes must be one the checks promise to pass
// only: no routed message or server handshake, nothing to a named actor but CAF's spawn server,
// nothing to the config or spawn server by id, and monitor, down and repeated handshakes only in
// the peer's own name (read again here, apart from the checks).

#include "client/peer_frames.hpp"

#include <caf/atom.hpp>
#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>
#include <caf/node_id.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

namespace op = fleet::net::basp_op;

caf::node_id node(uint32_t pid) {
  caf::node_id::default_data::host_id_type host{};
  host.fill(1);
  return caf::make_node_id(pid, host);
}

constexpr uint64_t config_server = 41;
constexpr uint64_t spawn_server = 42;

/// Seeds use the same nodes: this process is pid 100, the peer pid 200 (fuzz/corpus/peer_frame).
const caf::node_id& self_node() {
  static const auto n = node(100);
  return n;
}

const caf::node_id& peer_node() {
  static const auto n = node(200);
  return n;
}

/// The peer's own handshake payload (its node, as CAF writes one): every frame comes after it.
const std::vector<char>& peer_handshake() {
  static const auto bytes = [] {
    std::vector<char> buf;
    caf::binary_serializer sink{nullptr, buf};
    auto node = peer_node();
    if (sink(node))
      std::abort();
    return buf;
  }();
  return bytes;
}

void require(bool ok) {
  if (!ok)
    std::abort();
}

/// The nodes at the start of `payload`, read apart from the checks; false if unreadable.
template <class... Ts>
bool read(const char* payload, size_t n, Ts&... xs) {
  caf::binary_deserializer source{nullptr, payload, n};
  return !source(xs...);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0)
    return 0;
  auto bytes = reinterpret_cast<const char*>(data);
  if (data[0] == 0) {
    fleet::net::peer_frames frames{self_node()};
    if (!frames.handshake(nullptr, bytes + 1, size - 1))
      require(frames.peer() && frames.peer() != self_node());
    return 0;
  }
  fleet::net::peer_frames frames{self_node(), config_server, spawn_server};
  const auto& handshake = peer_handshake();
  require(!frames.handshake(nullptr, handshake.data(), handshake.size()));
  std::string header(32, '\0');
  auto rest = size - 1;
  header.replace(0, std::min<size_t>(32, rest), bytes + 1, std::min<size_t>(32, rest));
  auto h = fleet::net::frame_header::read(header.data());
  auto payload = rest > 32 ? bytes + 33 : bytes + size;
  auto n = rest > 32 ? rest - 32 : 0;
  if (frames.refuse_header(h))
    return 0;
  require(h.op != op::routed_message && h.op != op::server_handshake);
  if (h.op == op::direct_message) {
    if ((h.flags & op::named_receiver_flag) != 0)
      require(h.dest_actor == caf::atom_uint(caf::atom("SpawnServ")));
    else
      require(h.dest_actor != config_server && h.dest_actor != spawn_server);
  }
  if (frames.refuse_payload(nullptr, h, payload, n))
    return 0;
  if (h.op == op::client_handshake) {
    caf::node_id named;
    require(read(payload, n, named) && named == peer_node());
  } else if (h.op == op::monitor_message || h.op == op::down_message) {
    caf::node_id from;
    caf::node_id to;
    require(read(payload, n, from, to) && from == peer_node() && to == self_node());
  }
  return 0;
}
