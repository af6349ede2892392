#include "fleetd/error.hpp"
#include "fleetd/peer_version.hpp"

#include <doctest/doctest.h>

#include <set>
#include <string>

using namespace fleet;

TEST_CASE("every error code has its own name and an HTTP status of its kind") {
  std::set<std::string> names;
  for (int i = 0; i <= static_cast<int>(last_errc); ++i) {
    auto x = static_cast<errc>(i);
    auto name = to_string(x);
    CAPTURE(name);
    CHECK(names.insert(name).second);
    CHECK(name != "unknown_error");
    auto status = http_status(x);
    CHECK((status == 400 || status == 403 || status == 404 || status == 409 || status == 429 || status == 503));
  }
  CHECK(http_status(errc::unknown_batch) == 404);
  CHECK(http_status(errc::unknown_upload) == 404);
  CHECK(http_status(errc::invalid_argument) == 400);
  CHECK(http_status(errc::invalid_task) == 400);
  CHECK(http_status(errc::duplicate_task_id) == 400);
  CHECK(http_status(errc::not_permitted) == 403);
  CHECK(http_status(errc::limit_exceeded) == 429);
  CHECK(http_status(errc::storage_unavailable) == 503);
  CHECK(http_status(errc::shutting_down) == 503);
  CHECK(http_status(errc::database_damaged) == 503);
  CHECK(http_status(errc::incompatible_version) == 400);
  CHECK(http_status(errc::unknown_schedule) == 404);
  CHECK(http_status(errc::schedule_exists) == 409);
  CHECK(http_status(errc::not_leader) == 503);
}

TEST_CASE("a peer of another protocol version is refused with both versions named, and which to upgrade") {
  peer_version ours{3, "0.3.0"};
  CHECK_FALSE(check_peer_version(ours, {3, "0.3.7"}, "this client"));
  auto older = check_peer_version(ours, {2, "0.2.1"}, "this client");
  REQUIRE(older);
  CHECK(older == errc::incompatible_version);
  CHECK(error_text(older)
        == "fleetd 0.3.0 speaks protocol version 3, this client (fleetd 0.2.1) speaks version 2: use clients and "
           "nodes of fleetd's release (upgrade this client)");
  auto newer = check_peer_version(ours, {4, "0.4.0"}, "the fleet-node n1");
  REQUIRE(newer);
  CHECK(error_text(newer).find("(upgrade fleetd)") != std::string::npos);
  CHECK(this_release().interface_version == interface_version);
  CHECK(this_release().release == FLEETD_VERSION);
}
