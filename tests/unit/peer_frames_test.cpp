// What an accepted connection may send after its handshake (client/peer_frames.hpp): monitor and
// down messages in its own name and for this node only, no routed message, and no handshake in
// another node's name. The e2e suite (forged_peer_test.cpp) sends the same against fleetd.

#include "client/peer_frames.hpp"

#include <caf/binary_serializer.hpp>
#include <caf/error.hpp>

#include <doctest/doctest.h>

using fleet::net::peer_frames;
namespace op = fleet::net::basp_op;

namespace {

caf::node_id node(uint32_t pid, uint8_t host_byte = 1) {
  caf::node_id::default_data::host_id_type host{};
  host.fill(host_byte);
  return caf::make_node_id(pid, host);
}

template <class... Ts>
std::vector<char> bytes(Ts... xs) {
  std::vector<char> buf;
  caf::binary_serializer sink{nullptr, buf};
  REQUIRE(!sink(xs...));
  return buf;
}

struct checked_peer {
  caf::node_id self = node(100);
  caf::node_id peer = node(200);
  caf::node_id other = node(300, 2);
  peer_frames frames{self};

  checked_peer() {
    auto hs = bytes(peer);
    REQUIRE(!frames.handshake(nullptr, hs.data(), hs.size()));
    REQUIRE(frames.peer() == peer);
  }

  std::optional<std::string> payload(uint8_t type, const std::vector<char>& data) const {
    return frames.refuse_payload(nullptr, type, data.data(), data.size());
  }
};

bool says(const std::optional<std::string>& why, const std::string& part) {
  return why && why->find(part) != std::string::npos;
}

} // namespace

TEST_CASE("a client handshake names the peer's node: not none, not this node, and readable") {
  peer_frames frames{node(1)};
  std::vector<char> garbage{'\x7f', '\x01'};
  CHECK(says(frames.handshake(nullptr, garbage.data(), garbage.size()), "without a readable node"));
  CHECK(says(frames.handshake(nullptr, nullptr, 0), "without a readable node"));
  auto none = bytes(caf::node_id{});
  CHECK(says(frames.handshake(nullptr, none.data(), none.size()), "names no node"));
  auto own = bytes(node(1));
  CHECK(says(frames.handshake(nullptr, own.data(), own.size()), "this process's own node"));
  CHECK(!frames.peer());
  auto good = bytes(node(2));
  CHECK(!frames.handshake(nullptr, good.data(), good.size()));
  CHECK(frames.peer() == node(2));
}

TEST_CASE("after the handshake: direct messages and heartbeats pass, routed messages and server handshakes never") {
  checked_peer p;
  CHECK(!p.frames.refuse_header(op::direct_message, 100));
  CHECK(!p.frames.refuse_header(op::heartbeat, 0));
  CHECK(says(p.frames.refuse_header(op::routed_message, 100), "routed message"));
  CHECK(says(p.frames.refuse_header(op::server_handshake, 100), "server's handshake"));
  CHECK(says(p.frames.refuse_header(op::client_handshake, 0), "handshake without its node"));
  CHECK(says(p.frames.refuse_header(op::monitor_message, 0), "monitor message without its nodes"));
  CHECK(says(p.frames.refuse_header(op::down_message, 0), "down message without its nodes"));
  CHECK(!p.frames.refuse_header(op::monitor_message, 50));
  CHECK(!p.payload(op::direct_message, {'a', 'b'}));
}

TEST_CASE("CAF's repeated client handshake passes only in the peer's own name") {
  checked_peer p;
  CHECK(!p.payload(op::client_handshake, bytes(p.peer)));
  CHECK(says(p.payload(op::client_handshake, bytes(p.other)), "second handshake, in the name of another node"));
  CHECK(says(p.payload(op::client_handshake, {'x'}), "second handshake"));
}

TEST_CASE("monitor and down messages: from the peer, for this node, or refused") {
  checked_peer p;
  for (auto type : {op::monitor_message, op::down_message}) {
    CAPTURE(int{type});
    auto kind = std::string{type == op::monitor_message ? "monitor" : "down"};
    CHECK(!p.payload(type, bytes(p.peer, p.self, caf::error{})));
    CHECK(says(p.payload(type, bytes(p.other, p.self)), kind + " message in the name of another node"));
    CHECK(says(p.payload(type, bytes(p.peer, p.other)), kind + " message for another node"));
    CHECK(says(p.payload(type, bytes(p.self, p.self)), "in the name of another node"));
    CHECK(says(p.payload(type, bytes(p.peer)), "without readable nodes"));
    CHECK(says(p.payload(type, {'\xff', '\xff', '\xff'}), "without readable nodes"));
  }
}
