// The HTTP port under slow or odd clients (issue 16): slow senders hold no thread and are closed
// after their time, /healthz keeps answering, a request without a body is answered at once, and
// odd ids, host names and log-forging paths are handled.

#include "fleetd_process.hpp"

#include <httplib.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

using namespace fleet::test;

namespace {

int connect_to(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  return fd;
}

/// True once the peer closed `fd` (within `seconds`).
bool closed_within(int fd, int seconds) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  char buf[1024];
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) > 0 && ::recv(fd, buf, sizeof buf, 0) <= 0)
      return true;
  }
  return false;
}

} // namespace

TEST_CASE("slow HTTP clients hold no thread: /healthz and /metrics answer, and the slow ones are closed") {
  auto http_port = free_port();
  fleetd_process d("http-port=" + std::to_string(http_port) + "\n");
  REQUIRE_MESSAGE(d.start(), d.log());
  std::vector<int> slow;
  for (int i = 0; i < 100; ++i) {
    slow.push_back(connect_to(http_port));
    std::string start = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n"; // and then a byte now and then
    CHECK(::send(slow.back(), start.data(), start.size(), MSG_NOSIGNAL) > 0);
  }
  httplib::Client c{"127.0.0.1", http_port};
  c.set_read_timeout(std::chrono::seconds(30));
  for (int round = 0; round < 3; ++round) {
    for (int fd : slow)
      ::send(fd, "X", 1, MSG_NOSIGNAL);
    auto health = c.Get("/healthz");
    REQUIRE(health);
    CHECK(health->status == 200);
    auto metrics = c.Get("/metrics");
    REQUIRE(metrics);
    CHECK(metrics->status == 200);
  }
  // Each slow one gets the request timeout (5 s) in total, however it dribbles.
  for (int fd : slow) {
    CHECK(closed_within(fd, 30));
    ::close(fd);
  }
  CHECK(d.count_in_log("did not send a whole request within 5000 ms: closed") >= 1);
}

TEST_CASE("odd HTTP requests: no Content-Length, ids that are not UTF-8, host case, two hosts, forged log lines") {
  auto http_port = free_port();
  fleetd_process d("http-port=" + std::to_string(http_port) + "\nhttp-actions=true\n");
  REQUIRE_MESSAGE(d.start(), d.log());
  httplib::Client c{"127.0.0.1", http_port};
  c.set_read_timeout(std::chrono::seconds(30));
  // A POST without a body and without Content-Length has no body: answered at once (it waited
  // for the read timeout before, then said 400).
  int fd = connect_to(http_port);
  std::string post = "POST /api/fleet/pause HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  REQUIRE(::send(fd, post.data(), post.size(), MSG_NOSIGNAL) > 0);
  std::string answer(4096, '\0');
  pollfd p{fd, POLLIN, 0};
  REQUIRE(::poll(&p, 1, 20'000) == 1);
  answer.resize(static_cast<size_t>(std::max<ssize_t>(0, ::recv(fd, answer.data(), answer.size(), 0))));
  CHECK(answer.rfind("HTTP/1.1 403", 0) == 0); // the action header is missing
  ::close(fd);

  auto odd = c.Get("/api/batches/abc%ff%fe");
  REQUIRE(odd);
  CHECK(odd->status == 404);
  CHECK(odd->body.find("not found (batch ids are UTF-8)") != std::string::npos);

  auto upper = c.Get("/healthz", {{"Host", "LOCALHOST:" + std::to_string(http_port)}});
  REQUIRE(upper);
  CHECK(upper->status == 200);

  int two = connect_to(http_port);
  std::string request = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\n\r\n";
  REQUIRE(::send(two, request.data(), request.size(), MSG_NOSIGNAL) > 0);
  std::string reply(4096, '\0');
  pollfd q{two, POLLIN, 0};
  REQUIRE(::poll(&q, 1, 20'000) == 1);
  reply.resize(static_cast<size_t>(std::max<ssize_t>(0, ::recv(two, reply.data(), reply.size(), 0))));
  CHECK(reply.rfind("HTTP/1.1 421", 0) == 0);
  ::close(two);

  // A newline in an id does not start a line of its own in fleetd's log.
  auto forged = c.Post("/api/batches/a%0a2026-12-01T00:00:00.000%20error%20FORGED/cancel",
                       {{"X-Fleetd-Action", "1"}}, "", "text/plain");
  REQUIRE(forged);
  CHECK(forged->status == 200);
  auto log = d.log();
  CHECK(log.find("\n2026-12-01T00:00:00.000 error FORGED") == std::string::npos);
  CHECK(log.find("a\\n2026-12-01T00:00:00.000 error FORGED") != std::string::npos);
}
