// Several fleetd addresses (fleetctl --host, node.fleetd-host): what is one, and what is refused.
#include "fleetd/client.hpp"
#include "fleetd/error.hpp"

#include <doctest/doctest.h>

using namespace fleet;

TEST_CASE("fleetd addresses: one or several, each with its port or the default") {
  auto one = parse_endpoints("127.0.0.1", 4242);
  REQUIRE(one);
  REQUIRE(one->size() == 1);
  CHECK((*one)[0].host == "127.0.0.1");
  CHECK((*one)[0].port == 4242);
  auto several = parse_endpoints("db1:4301, db2 ,[::1]:4303,::1,[fe80::1]", 4242);
  REQUIRE(several);
  REQUIRE(several->size() == 5);
  CHECK((*several)[0].text() == "db1:4301");
  CHECK((*several)[1].text() == "db2:4242");
  CHECK((*several)[2].host == "::1");
  CHECK((*several)[2].port == 4303);
  CHECK((*several)[2].text() == "[::1]:4303");
  CHECK((*several)[3].host == "::1"); // a bare IPv6 address has no port
  CHECK((*several)[3].port == 4242);
  CHECK((*several)[4].host == "fe80::1");
}

TEST_CASE("fleetd addresses: what is not one is refused, naming the entry") {
  for (auto bad : {"", "a,,b", "a,", ",a", "a:", "a:0", "a:65536", "a:42x", "[::1", "[::1]x", "[::1]:", ":4242",
                   "[]:4242", "a:-1"}) {
    auto parsed = parse_endpoints(bad, 4242);
    REQUIRE_MESSAGE(!parsed, bad);
    CHECK(parsed.error() == errc::invalid_config);
  }
  std::string many;
  for (int i = 0; i < 17; ++i)
    many += (i ? ",h" : "h") + std::to_string(i);
  CHECK_FALSE(parse_endpoints(many, 4242));
  auto named = parse_endpoints("good:1,bad:99999", 4242);
  REQUIRE_FALSE(named);
  CHECK(error_text(named.error()).find("bad:99999") != std::string::npos);
}
