// The HTTP port under slow or odd clients (issue 16): slow senders hold no thread and are closed
// after their time, /healthz keeps answering, a request without a body is answered at once, and
// odd ids, host names and log-forging paths are handled.

#include "fleetd_process.hpp"
#include "raw_connection.hpp"

#include <httplib.h>

#include <deque>

using namespace fleet::test;

TEST_CASE("slow HTTP clients hold no thread: /healthz and /metrics answer, and the slow ones are closed") {
  auto http_port = free_port();
  fleetd_process d("http-port=" + std::to_string(http_port) + "\n");
  REQUIRE_MESSAGE(d.start(), d.log());
  std::deque<raw_connection> slow;
  for (int i = 0; i < 100; ++i)
    slow.emplace_back(http_port).send("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n"); // then a byte now and then
  httplib::Client c{"127.0.0.1", http_port};
  c.set_read_timeout(std::chrono::seconds(30));
  for (int round = 0; round < 3; ++round) {
    for (auto& conn : slow)
      conn.try_send("X");
    auto health = c.Get("/healthz");
    REQUIRE(health);
    CHECK(health->status == 200);
    auto metrics = c.Get("/metrics");
    REQUIRE(metrics);
    CHECK(metrics->status == 200);
  }
  // Each slow one gets the request timeout (5 s) in total, however it dribbles.
  for (auto& conn : slow)
    CHECK(conn.closed_within(30));
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
  {
    raw_connection post{http_port};
    post.send("POST /api/fleet/pause HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    auto answer = post.read_some(20);
    REQUIRE(answer);
    CHECK(answer->rfind("HTTP/1.1 403", 0) == 0); // the action header is missing
  }

  auto odd = c.Get("/api/batches/abc%ff%fe");
  REQUIRE(odd);
  CHECK(odd->status == 404);
  CHECK(odd->body.find("not found (batch ids are UTF-8)") != std::string::npos);

  auto upper = c.Get("/healthz", {{"Host", "LOCALHOST:" + std::to_string(http_port)}});
  REQUIRE(upper);
  CHECK(upper->status == 200);

  {
    raw_connection two_hosts{http_port};
    two_hosts.send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\n\r\n");
    auto reply = two_hosts.read_some(20);
    REQUIRE(reply);
    CHECK(reply->rfind("HTTP/1.1 421", 0) == 0);
  }

  // A newline in an id does not start a line of its own in fleetd's log.
  auto forged = c.Post("/api/batches/a%0a2026-12-01T00:00:00.000%20error%20FORGED/cancel",
                       {{"X-Fleetd-Action", "1"}}, "", "text/plain");
  REQUIRE(forged);
  CHECK(forged->status == 200);
  auto log = d.log();
  CHECK(log.find("\n2026-12-01T00:00:00.000 error FORGED") == std::string::npos);
  CHECK(log.find("a\\n2026-12-01T00:00:00.000 error FORGED") != std::string::npos);
}
