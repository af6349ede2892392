// The guard in front of CAF's middleman (issue 16): what a peer that never completes a handshake,
// or lies about message sizes, or opens connection after connection, can make fleetd spend.

#include "fleetd_process.hpp"
#include "raw_basp.hpp"

#include <netinet/in.h>
#include <sys/socket.h>

#include <chrono>

using namespace fleet::test;

namespace {

int64_t peak_rss_kb(pid_t pid) {
  auto status = read_file("/proc/" + std::to_string(pid) + "/status");
  auto at = status.find("VmHWM:");
  REQUIRE(at != std::string::npos);
  return std::stoll(status.substr(at + 6));
}

} // namespace

TEST_CASE("a 4 GiB length before the handshake allocates nothing: the connection is closed") {
  fleetd_process d;
  REQUIRE_MESSAGE(d.start(), d.log());
  auto before = peak_rss_kb(d.pid());
  for (int i = 0; i < 3; ++i) {
    raw_connection c{d.port()};
    c.send(basp_header(1, 0xFFFFFFFF)); // a client handshake announcing 4 GiB
    CHECK(c.closed_within(10));
  }
  // CAF alone sized its buffer from the header: 4 GiB per connection, zero-filled.
  CHECK(peak_rss_kb(d.pid()) - before < 64 * 1024);
  CHECK(d.count_in_log("announced a message of 4294967295 bytes, more than the limit of 1048576 before a "
                       "handshake") >= 1);
  // A message other than the handshake first, and random bytes, are refused the same way.
  raw_connection early{d.port()};
  early.send(basp_header(2, 16) + std::string(16, 'x'));
  CHECK(early.closed_within(10));
  CHECK(d.count_in_log("sent message type 2 before the handshake") == 1);
  CHECK(d.ctl({"stats"}).exit_code == 0);
}

TEST_CASE("a connection that never completes its handshake is closed after fleet.handshake-timeout") {
  fleetd_process d("handshake-timeout=500\n");
  REQUIRE_MESSAGE(d.start(), d.log());
  raw_connection silent{d.port()};
  raw_connection half{d.port()};
  half.send(basp_header(1, 100).substr(0, 10)); // a header cut short, then nothing
  CHECK(silent.closed_within(20));
  CHECK(half.closed_within(20));
  CHECK(d.count_in_log("no handshake within 500 ms (fleet.handshake-timeout)") >= 1);
  // A client that completes its handshake stays connected however long it takes.
  CHECK(d.ctl({"stats"}).exit_code == 0);
}

TEST_CASE("connections over fleet.max-connections-per-peer are refused at once and logged") {
  fleetd_process d("max-connections-per-peer=3\nhandshake-timeout=60000\n");
  REQUIRE_MESSAGE(d.start(), d.log());
  {
    std::vector<std::unique_ptr<raw_connection>> held;
    for (int i = 0; i < 3; ++i)
      held.push_back(std::make_unique<raw_connection>(d.port()));
    raw_connection extra{d.port()};
    CHECK(extra.closed_within(10));
    REQUIRE(eventually([&] { return d.count_in_log("(fleet.max-connections-per-peer)") >= 1; }));
    auto refused = d.ctl({"--timeout", "5000", "stats"});
    CHECK(refused.exit_code == 2);
    CHECK_MESSAGE(refused.err.find("refusing connections (fleet.max-connections, see its log)") != std::string::npos,
                  refused.err);
  }
  // Once they are gone, so is their count.
  CHECK(eventually([&] { return d.ctl({"stats"}).exit_code == 0; }, 30));
}

TEST_CASE("out of file descriptors, fleetd keeps within its limit and goes on answering") {
  fleetd_process d("handshake-timeout=1000\n");
  // The hard limit too: fleetd cannot raise it, so it takes at most half of it in connections.
  auto config = d.config_file();
  logged_process proc;
  proc.launch({"sh", "-c", "ulimit -n 128 && exec \"$0\" --config-file=\"$1\"", bin("fleetd"), config},
              d.file("fleetd.log"));
  REQUIRE(eventually([&] { return d.count_in_log("listening on") == 1; }));
  CHECK(d.count_in_log("fleet.max-connections 1024 is more than half the file descriptor limit (128): 64 "
                       "connections at most") == 1);
  {
    std::vector<std::unique_ptr<raw_connection>> held;
    for (int i = 0; i < 200; ++i)
      held.push_back(std::make_unique<raw_connection>(d.port()));
    CHECK(eventually([&] { return d.count_in_log("refused a connection from 127.0.0.1") >= 1; }));
  }
  CHECK(eventually([&] { return d.ctl({"--timeout", "5000", "stats"}).exit_code == 0; }, 30));
  CHECK(proc.terminate() == 0);
}

TEST_CASE("fleetctl --timeout bounds the connection and handshake to a listener that never answers") {
  int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(listener >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::listen(listener, 8) == 0);
  socklen_t len = sizeof addr;
  REQUIRE(::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  auto port = std::to_string(ntohs(addr.sin_port));
  auto started = std::chrono::steady_clock::now();
  auto r = run({bin("fleetctl"), "--port", port, "--timeout", "1000", "stats"});
  auto took = std::chrono::steady_clock::now() - started;
  CHECK(r.exit_code == 2);
  CHECK_MESSAGE(r.err.find("no fleetd answered at 127.0.0.1:" + port + " within 1000 ms") != std::string::npos, r.err);
  CHECK(took < std::chrono::seconds(60)); // before: forever
  ::close(listener);
}
