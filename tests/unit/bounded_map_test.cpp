#include "fleet/bounded_map.hpp"

#include <doctest/doctest.h>

#include <string>

using fleet::bounded_map;

TEST_CASE("a bounded map keeps its newest keys and forgets the oldest first") {
  bounded_map<int, std::string> m{3};
  m[1] = "a";
  m[2] = "b";
  m[3] = "c";
  m[1] = "a2"; // not new: nothing forgotten, and 1 stays the oldest
  CHECK(m.size() == 3);
  REQUIRE(m.find(1) != nullptr);
  CHECK(*m.find(1) == "a2");
  m[4] = "d";
  CHECK(m.size() == 3);
  CHECK(m.find(1) == nullptr);
  CHECK(*m.find(2) == "b");
  CHECK(*m.find(4) == "d");
  m[5];
  CHECK(m.find(2) == nullptr);
  CHECK(m.find(5) != nullptr);
  CHECK(m.find(5)->empty());
  bounded_map<int, int> one{0}; // at least one key
  one[7] = 1;
  one[8] = 2;
  CHECK(one.size() == 1);
  CHECK(*one.find(8) == 2);
}
