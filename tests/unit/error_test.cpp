#include "fleetd/error.hpp"

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
    CHECK((status == 400 || status == 403 || status == 404 || status == 429 || status == 503));
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
}
