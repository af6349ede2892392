#include "fleet/ids.hpp"

#include <doctest/doctest.h>

#include <regex>
#include <set>

using namespace fleet;

TEST_CASE("base36 renders lower-case digits") {
  CHECK(base36(0) == "0");
  CHECK(base36(35) == "z");
  CHECK(base36(36) == "10");
  CHECK(base36(1700000000000ULL) == "loyw3v28");
}

TEST_CASE("batch ids have the seed's form and differ") {
  std::mt19937_64 rng{7};
  std::set<std::string> ids;
  for (int i = 0; i < 1000; ++i) {
    auto id = make_batch_id(1700000000000, rng);
    CHECK(std::regex_match(id, std::regex{"batch-loyw3v28-[0-9a-z]{8}"}));
    ids.insert(id);
  }
  CHECK(ids.size() == 1000);
  CHECK(make_worker_id(1700000000000, 12) == "worker-loyw3v28-12");
}
