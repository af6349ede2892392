#include "fleetd/error.hpp"
#include "fleet/manager/storage_health.hpp"

#include <doctest/doctest.h>

using namespace fleet;
using change = storage_health::change;

TEST_CASE("a full disk stops writes until one succeeds again") {
  storage_health health;
  CHECK(health.writable());
  CHECK(health.note(caf::none) == change::none);
  CHECK(health.note(caf::make_error(errc::storage_unavailable, "disk full")) == change::unavailable);
  CHECK_FALSE(health.writable());
  CHECK(health.error().find("disk full") != std::string::npos);
  CHECK(health.note(caf::make_error(errc::storage_unavailable, "still full")) == change::still_unavailable);
  CHECK(health.error().find("still full") != std::string::npos);
  // Other errors (a duplicate key, a bad argument) say nothing about the storage.
  CHECK(health.note(caf::make_error(errc::invalid_batch, "duplicate")) == change::none);
  CHECK_FALSE(health.writable());
  CHECK(health.note(caf::none) == change::recovered);
  CHECK(health.writable());
  CHECK(health.error().empty());
  CHECK(health.note(caf::none) == change::none);
}

TEST_CASE("damage lasts for the rest of the run, whatever succeeds or fails after it") {
  storage_health health;
  CHECK(health.note(caf::make_error(errc::database_damaged, "malformed")) == change::damaged);
  CHECK(health.damaged());
  CHECK_FALSE(health.writable());
  CHECK(health.note(caf::make_error(errc::database_damaged, "again")) == change::none);
  CHECK(health.note(caf::none) == change::none);
  CHECK(health.note(caf::make_error(errc::storage_unavailable, "full")) == change::none);
  CHECK(health.damaged());
  CHECK(health.error().find("malformed") != std::string::npos);
}
