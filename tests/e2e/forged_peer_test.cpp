// A peer that speaks in another node's name. CAF 0.17's BASP takes the nodes named in a routed,
// monitor or down message at their word, and forwards what is addressed to another node: a
// connected peer could announce the death of a fleet-node's actor (fleetd drops the node and runs
// its attempts again) or send a fleet-node attempts "from fleetd". fleetd closes such a
// connection at its first such message; the node it named stays joined and works.

#include "client_system.hpp"
#include "fleetd_process.hpp"
#include "raw_basp.hpp"

#include "fleetd/client.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>
#include <caf/error.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/system_messages.hpp>
#include <caf/send.hpp>
#include <caf/message.hpp>
#include <caf/node_id.hpp>
#include <caf/scoped_actor.hpp>

#include <fstream>
#include <set>

using namespace fleet::test;

namespace {

/// A hand-written peer that knows fleetd's node (from its handshake) and can compute the node of
/// any process on this machine, as CAF does: its process id and the machine's host id.
class forger {
public:
  explicit forger(uint16_t port) : conn_(port) {
    auto header = conn_.read_exactly(32);
    REQUIRE(header);
    REQUIRE((*header)[0] == 0); // the server's handshake
    auto payload = conn_.read_exactly(get_big_endian(*header, 4, 4));
    REQUIRE(payload);
    caf::binary_deserializer source{sys_, payload->data(), payload->size()};
    std::vector<std::string> app_ids;
    std::set<std::string> signatures;
    REQUIRE(!source(fleetd_, app_ids, published_, signatures));
    REQUIRE(fleetd_);
  }

  const caf::node_id& fleetd() const { return fleetd_; }
  /// The actor fleetd publishes: its manager.
  uint64_t published() const { return published_; }

  /// The node of the first actor system of process `pid` (CAF 0.17 numbers a process's actor
  /// systems in the host id's last byte).
  caf::node_id node_of(uint32_t pid) {
    auto host = static_cast<const caf::node_id::default_data&>(*sys_.node()).host_id();
    host.back() = 0;
    return caf::make_node_id(pid, host);
  }

  template <class... Ts>
  std::string bytes(Ts... xs) {
    std::vector<char> buf;
    caf::binary_serializer sink{sys_, buf};
    REQUIRE(!sink(xs...));
    return {buf.begin(), buf.end()};
  }

  /// The client handshake, in the name of `node`.
  void handshake(const caf::node_id& node) { send(1, bytes(node)); }

  /// Writes one message; the connection may be closed by then.
  void send(uint8_t op, const std::string& payload, uint64_t source_actor = 0, uint64_t dest_actor = 0) {
    conn_.try_send(basp_header(op, static_cast<uint32_t>(payload.size()), source_actor, dest_actor) + payload);
  }

  bool cut_off() { return conn_.closed_within(10); }
  void send_raw(const std::string& bytes) { conn_.try_send(bytes); }

private:
  // An actor system for its node id (CAF 0.17's has none without the middleman) and to
  // serialize with.
  client_system client_;
  caf::actor_system& sys_ = client_.sys;
  raw_connection conn_;
  caf::node_id fleetd_;
  uint64_t published_ = 0;
};

constexpr uint32_t forger_pid = 0x7ffffff0; // no process of this machine has it

std::string echo_tasks(fleetd_process& d, int n) {
  auto path = d.file("echo.jsonl");
  std::ofstream out{path};
  for (int i = 0; i < n; ++i)
    out << R"({"id":"e)" << i << R"(","type":"echo","data":{"i":)" << i << "}}\n";
  return path;
}

/// fleetd with one fleet-node, `victim`, that runs all its echo tasks.
struct fleet_with_victim {
  fleet_with_victim() {
    REQUIRE_MESSAGE(d.start(), d.log());
    victim.start();
    REQUIRE_MESSAGE(eventually([&] { return d.query_int("SELECT count(*) FROM events WHERE kind = 'node_joined'") == 1; }),
                    victim.log());
  }

  /// The node is still the one that joined first, and runs a batch.
  void check_victim_unharmed() {
    CHECK(d.query_int("SELECT count(*) FROM events WHERE kind = 'node_dropped'") == 0);
    CHECK(d.query_int("SELECT count(*) FROM events WHERE kind = 'node_joined'") == 1);
    auto batch = d.submit(echo_tasks(d, 10));
    CHECK(d.ctl({"wait", batch}).exit_code == 0);
    CHECK(d.query_int("SELECT count(*) FROM attempts WHERE node = 'victim' AND outcome = 'succeeded'") == 10);
    CHECK(victim.log().find("fleetd dropped this node") == std::string::npos);
  }

  fleetd_process d{"local-workers=0\nnode-heartbeat=200\nnode-timeout=5000\n"};
  node_process victim{d.port(), "victim", "echo", 4};
};

} // namespace

TEST_CASE("a peer that announces the death of a fleet-node's actors is cut off, and the node stays") {
  fleet_with_victim f;
  forger attacker{f.d.port()};
  attacker.handshake(attacker.node_of(forger_pid));
  auto victim = attacker.node_of(static_cast<uint32_t>(f.victim.pid()));
  auto payload = attacker.bytes(victim, attacker.fleetd(), caf::error{});
  // The node actor's id is small and unknown: a forger tries them all.
  for (uint64_t aid = 1; aid <= 64; ++aid)
    attacker.send(5, payload, aid, 0);
  CHECK(attacker.cut_off());
  CHECK_MESSAGE(f.d.count_in_log("sent a down message in the name of another node") == 1, f.d.log());
  f.check_victim_unharmed();
}

TEST_CASE("a peer cannot reach a fleet-node through fleetd, nor speak for it") {
  fleet_with_victim f;
  auto victim_pid = static_cast<uint32_t>(f.victim.pid());
  SUBCASE("a routed message from 'fleetd' to the node (forwarded before: the node believed it was dropped)") {
    forger attacker{f.d.port()};
    attacker.handshake(attacker.node_of(forger_pid));
    auto victim = attacker.node_of(victim_pid);
    auto msg = caf::make_message(caf::atom("dropped"), std::string{"forged"});
    auto payload = attacker.bytes(attacker.fleetd(), victim, std::vector<caf::strong_actor_ptr>{}, msg);
    for (uint64_t aid = 1; aid <= 64; ++aid)
      attacker.send(3, payload, attacker.published(), aid);
    CHECK(attacker.cut_off());
    CHECK_MESSAGE(f.d.count_in_log("sent a routed message") == 1, f.d.log());
  }
  SUBCASE("a monitor message for the node") {
    forger attacker{f.d.port()};
    attacker.handshake(attacker.node_of(forger_pid));
    auto self = attacker.node_of(forger_pid);
    attacker.send(4, attacker.bytes(self, attacker.node_of(victim_pid)), 0, 1);
    CHECK(attacker.cut_off());
    CHECK_MESSAGE(f.d.count_in_log("sent a monitor message for another node") == 1, f.d.log());
  }
  SUBCASE("a handshake in the node's name, then a second one") {
    forger first{f.d.port()};
    first.handshake(first.node_of(victim_pid));
    CHECK(first.cut_off());
    CHECK_MESSAGE(f.d.count_in_log("in the name of a node another open connection speaks for") == 1, f.d.log());
    forger second{f.d.port()};
    second.handshake(second.node_of(forger_pid));
    second.handshake(second.node_of(forger_pid + 1));
    CHECK(second.cut_off());
    CHECK_MESSAGE(f.d.count_in_log("sent a second handshake, in the name of another node") == 1, f.d.log());
  }
  SUBCASE("a handshake in fleetd's own name") {
    forger attacker{f.d.port()};
    attacker.handshake(attacker.fleetd());
    CHECK(attacker.cut_off());
    CHECK_MESSAGE(f.d.count_in_log("in the name of this process's own node") == 1, f.d.log());
  }
  f.check_victim_unharmed();
}

TEST_CASE("a fleet-node joins with an actor of its own process only") {
  fleetd_process d;
  REQUIRE_MESSAGE(d.start(), d.log());
  client_system thief;
  client_system elsewhere; // another CAF node: fleetd would send it the thief's attempts
  auto api = fleet::connect_fleet(thief.sys, "127.0.0.1", d.port());
  REQUIRE_MESSAGE(api, fleet::error_text(api.error()));
  auto manager = caf::actor_cast<fleet::fleet_manager_actor>(*api);
  auto other = elsewhere.sys.spawn([]() -> caf::behavior { return {[](int32_t) {}}; });
  REQUIRE(other.node() != thief.sys.node());
  fleet::node_announcement a;
  a.name = "thief";
  a.types = {"echo"};
  a.capacity = 1;
  caf::scoped_actor self{thief.sys};
  caf::error refused;
  self->request(manager, std::chrono::seconds(30), fleet::node_join_atom::value, a, caf::actor_cast<fleet::node_actor>(other))
    .receive([](const fleet::node_welcome&) {}, [&](caf::error& err) { refused = std::move(err); });
  CHECK(refused == fleet::errc::invalid_node);
  CHECK_MESSAGE(fleet::error_text(refused).find("not of another CAF node") != std::string::npos, fleet::error_text(refused));
  CHECK(d.query_int("SELECT count(*) FROM events WHERE kind = 'node_joined'") == 0);
  caf::anon_send_exit(other, caf::exit_reason::user_shutdown);
}

TEST_CASE("a peer cannot stop fleetd's actors with exit or down messages of its own") {
  fleet_with_victim f;
  SUBCASE("an exit message with reason kill to the manager (fleetd exited before)") {
    forger attacker{f.d.port()};
    attacker.handshake(attacker.node_of(forger_pid));
    auto kill = caf::make_message(caf::exit_msg{caf::actor_addr{}, caf::exit_reason::kill});
    attacker.send(2, attacker.bytes(std::vector<caf::strong_actor_ptr>{}, kill), 0, attacker.published());
    CHECK(attacker.cut_off());
    CHECK_MESSAGE(f.d.count_in_log("sent an exit or down message") == 1, f.d.log());
  }
  SUBCASE("down messages to the manager and the actors after it (delivered before: taken as deaths)") {
    forger attacker{f.d.port()};
    attacker.handshake(attacker.node_of(forger_pid));
    auto down = caf::make_message(caf::down_msg{caf::actor_addr{}, caf::exit_reason::kill});
    auto payload = attacker.bytes(std::vector<caf::strong_actor_ptr>{}, down);
    // From the manager on: the actors fleetd made (CAF's own servers, before it, refuse otherwise).
    for (uint64_t aid = attacker.published(); aid < attacker.published() + 64; ++aid)
      attacker.send(2, payload, 0, aid);
    CHECK(attacker.cut_off());
    CHECK_MESSAGE(f.d.count_in_log("sent an exit or down message") == 1, f.d.log());
  }
  CHECK(f.d.alive());
  f.check_victim_unharmed();
}

TEST_CASE("a peer cannot fill CAF's config server") {
  // The config server keeps what a peer puts into it: 200 puts of 1 MiB grew fleetd by 209 MB
  // before, for good.
  fleet_with_victim f;
  forger attacker{f.d.port()};
  attacker.handshake(attacker.node_of(forger_pid));
  auto put = caf::make_message(caf::atom("put"), std::string{"key"}, caf::make_message(std::string(1 << 20, 'x')));
  auto payload = attacker.bytes(std::vector<caf::strong_actor_ptr>{}, put);
  auto header = basp_header(2, static_cast<uint32_t>(payload.size()), 0, caf::atom_uint(caf::atom("ConfigServ")));
  header[3] = 1; // BASP's named receiver flag: dest_actor is a name
  attacker.send_raw(header + payload);
  CHECK(attacker.cut_off());
  CHECK_MESSAGE(f.d.count_in_log("sent a message to a named actor other than CAF's spawn server") == 1, f.d.log());
  f.check_victim_unharmed();
}
