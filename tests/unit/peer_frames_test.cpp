// What an accepted connection may send after its handshake (client/peer_frames.hpp): monitor and
// down messages in its own name and for this node only, no routed message, and no handshake in
// another node's name. The e2e suite (forged_peer_test.cpp) sends the same against fleetd.

#include "client/peer_frames.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/binary_serializer.hpp>
#include <caf/error.hpp>
#include <caf/exit_reason.hpp>
#include <caf/atom.hpp>
#include <caf/message.hpp>
#include <caf/system_messages.hpp>

#include <doctest/doctest.h>

#include <set>

using fleet::net::peer_frames;
namespace op = fleet::net::basp_op;

namespace {

caf::node_id node(uint32_t pid, uint8_t host_byte = 1) {
  caf::node_id::default_data::host_id_type host{};
  host.fill(host_byte);
  return caf::make_node_id(pid, host);
}

fleet::net::frame_header header(uint8_t type, uint32_t length, uint8_t flags = 0, uint64_t dest = 0) {
  return {type, flags, length, dest};
}

/// BASP's bytes of `xs`. CAF's serializer writes a message's element names only with an actor
/// system as its context.
struct wire {
  template <class... Ts>
  std::vector<char> bytes(Ts... xs) {
    std::vector<char> buf;
    caf::binary_serializer sink{sys, buf};
    REQUIRE(!sink(xs...));
    return buf;
  }

  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
};

struct checked_peer : wire {
  caf::node_id self = node(100);
  caf::node_id peer = node(200);
  caf::node_id other = node(300, 2);
  peer_frames frames{self, 41, 42}; // CAF's config and spawn servers have ids 41 and 42

  checked_peer() {
    auto hs = bytes(peer);
    REQUIRE(!frames.handshake(nullptr, hs.data(), hs.size()));
    REQUIRE(frames.peer() == peer);
  }

  std::optional<std::string> payload(uint8_t type, const std::vector<char>& data, uint8_t flags = 0) const {
    return frames.refuse_payload(nullptr, header(type, static_cast<uint32_t>(data.size()), flags), data.data(),
                                 data.size());
  }
};

bool says(const std::optional<std::string>& why, const std::string& part) {
  return why && why->find(part) != std::string::npos;
}

} // namespace

TEST_CASE("a client handshake names the peer's node: not none, not this node, and readable") {
  wire w;
  peer_frames frames{node(1)};
  std::vector<char> garbage{'\x7f', '\x01'};
  CHECK(says(frames.handshake(nullptr, garbage.data(), garbage.size()), "without a readable node"));
  CHECK(says(frames.handshake(nullptr, nullptr, 0), "without a readable node"));
  auto none = w.bytes(caf::node_id{});
  CHECK(says(frames.handshake(nullptr, none.data(), none.size()), "names no node"));
  auto own = w.bytes(node(1));
  CHECK(says(frames.handshake(nullptr, own.data(), own.size()), "this process's own node"));
  CHECK(!frames.peer());
  auto good = w.bytes(node(2));
  CHECK(!frames.handshake(nullptr, good.data(), good.size()));
  CHECK(frames.peer() == node(2));
}

TEST_CASE("after the handshake: direct messages and heartbeats pass, routed messages and server handshakes never") {
  checked_peer p;
  CHECK(!p.frames.refuse_header(header(op::direct_message, 100, 0)));
  CHECK(!p.frames.refuse_header(header(op::heartbeat, 0, 0)));
  CHECK(says(p.frames.refuse_header(header(op::routed_message, 100, 0)), "routed message"));
  CHECK(says(p.frames.refuse_header(header(op::server_handshake, 100, 0)), "server's handshake"));
  CHECK(says(p.frames.refuse_header(header(op::client_handshake, 0, 0)), "handshake without its node"));
  CHECK(says(p.frames.refuse_header(header(op::monitor_message, 0, 0)), "monitor message without its nodes"));
  CHECK(says(p.frames.refuse_header(header(op::down_message, 0, 0)), "down message without its nodes"));
  CHECK(!p.frames.refuse_header(header(op::monitor_message, 50, 0)));
  CHECK(!p.payload(op::direct_message, {'a', 'b'}));
}

TEST_CASE("CAF's repeated client handshake passes only in the peer's own name") {
  checked_peer p;
  CHECK(!p.payload(op::client_handshake, p.bytes(p.peer)));
  CHECK(says(p.payload(op::client_handshake, p.bytes(p.other)), "second handshake, in the name of another node"));
  CHECK(says(p.payload(op::client_handshake, {'x'}), "second handshake"));
}

TEST_CASE("monitor and down messages: from the peer, for this node, or refused") {
  checked_peer p;
  for (auto type : {op::monitor_message, op::down_message}) {
    CAPTURE(int{type});
    auto kind = std::string{type == op::monitor_message ? "monitor" : "down"};
    CHECK(!p.payload(type, p.bytes(p.peer, p.self, caf::error{})));
    CHECK(says(p.payload(type, p.bytes(p.other, p.self)), kind + " message in the name of another node"));
    CHECK(says(p.payload(type, p.bytes(p.peer, p.other)), kind + " message for another node"));
    CHECK(says(p.payload(type, p.bytes(p.self, p.self)), "in the name of another node"));
    CHECK(says(p.payload(type, p.bytes(p.peer)), "without readable nodes"));
    CHECK(says(p.payload(type, {'\xff', '\xff', '\xff'}), "without readable nodes"));
  }
}

namespace {

/// A forwarding stage as BASP writes a strong_actor_ptr: its actor id and node.
struct wire_stage {
  uint64_t actor = 0;
  caf::node_id node;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, wire_stage& x) {
  return f(x.actor, x.node);
}

} // namespace

TEST_CASE("direct messages: CAF's exit, down and stream messages are refused, anything else passes") {
  checked_peer p;
  std::vector<wire_stage> none;
  std::vector<wire_stage> two{{7, p.peer}, {9, p.other}};
  auto exit = caf::make_message(caf::exit_msg{caf::actor_addr{}, caf::exit_reason::kill});
  auto down = caf::make_message(std::string{"first"}, caf::down_msg{caf::actor_addr{}, caf::exit_reason::normal});
  CHECK(says(p.payload(op::direct_message, p.bytes(none, exit)), "exit or down message (CAF's own, @exit)"));
  CHECK(says(p.payload(op::direct_message, p.bytes(two, down)), "exit or down message (CAF's own, @down)"));
  CHECK(!p.payload(op::direct_message, p.bytes(two, caf::make_message(caf::atom("nodejoin"), std::string{"@exit"}))));
  CHECK(!p.payload(op::direct_message, p.bytes(none, caf::make_message())));
  // What this reading cannot make sense of is CAF's to refuse, as before.
  CHECK(!p.payload(op::direct_message, {'\x05', '\x01'}));
}

TEST_CASE("CAF's config server is out of reach, its spawn server answers only its info question") {
  checked_peer p;
  auto named = fleet::net::basp_op::named_receiver_flag;
  auto config_serv = caf::atom_uint(caf::atom("ConfigServ"));
  auto spawn_serv = caf::atom_uint(caf::atom("SpawnServ"));
  CHECK(says(p.frames.refuse_header(header(op::direct_message, 100, named, config_serv)),
             "named actor other than CAF's spawn server"));
  CHECK(says(p.frames.refuse_header(header(op::direct_message, 100, 0, 41)), "config or spawn server"));
  CHECK(says(p.frames.refuse_header(header(op::direct_message, 100, 0, 42)), "config or spawn server"));
  CHECK(!p.frames.refuse_header(header(op::direct_message, 100, 0, 43)));
  CHECK(!p.frames.refuse_header(header(op::direct_message, 100, 0x02, 41 + 2))); // select_connection
  CHECK(!p.frames.refuse_header(header(op::direct_message, 100, named, spawn_serv)));
  std::vector<wire_stage> none;
  auto info = caf::make_message(caf::sys_atom::value, caf::get_atom::value, std::string{"info"});
  CHECK(!p.payload(op::direct_message, p.bytes(none, info), named));
  auto other = caf::make_message(caf::sys_atom::value, caf::get_atom::value, std::string{"all"});
  CHECK(says(p.payload(op::direct_message, p.bytes(none, other), named), "other than its \"info\" question"));
  auto spawn = caf::make_message(caf::spawn_atom::value, std::string{"worker"}, caf::make_message(),
                                 std::set<std::string>{});
  CHECK(says(p.payload(op::direct_message, p.bytes(none, spawn), named), "other than its \"info\" question"));
  // The same info question to an actor id is an ordinary message.
  CHECK(!p.payload(op::direct_message, p.bytes(none, other)));
}
