#include "fleetd/error.hpp"
#include "fleet/manager/node_membership.hpp"

#include <doctest/doctest.h>

using namespace fleet;

namespace {

/// Stands for a node actor handle: the process it lives in and its address.
struct fake_handle {
  int process = 0;
  int id = 0;
  int node() const { return process; }
  int address() const { return id; }
};

node_announcement node(std::string name, std::vector<std::string> types = {"echo"}, int32_t capacity = 2) {
  return {std::move(name), std::move(types), capacity, {}};
}

} // namespace

TEST_CASE("a node joins, is placed, found by address, and forgotten") {
  node_membership<fake_handle> nodes{{"sleep"}, 0}; // fleetd runs nothing itself
  CHECK(nodes.empty());
  CHECK(nodes.count() == 1);
  auto kind = nodes.check(node("n1"), fake_handle{7, 70}, 5000);
  REQUIRE(kind);
  CHECK(*kind == node_membership<fake_handle>::join::fresh);
  auto generation = nodes.add(node("n1"), fake_handle{7, 70}, 0);
  CHECK(nodes.count() == 2);
  CHECK(nodes.table().place("echo", 10) == std::optional<std::string>{"n1"});
  CHECK(nodes.name_of(70) == std::optional<std::string>{"n1"});
  CHECK_FALSE(nodes.name_of(71));
  REQUIRE(nodes.handle("n1"));
  CHECK(nodes.handle("n1")->id == 70);
  CHECK(nodes.current("n1", generation));
  auto gone = nodes.remove("n1");
  REQUIRE(gone);
  CHECK(gone->id == 70);
  CHECK_FALSE(nodes.remove("n1"));
  CHECK_FALSE(nodes.current("n1", generation));
  CHECK_FALSE(nodes.table().place("echo", 10));
  CHECK(nodes.empty());
}

TEST_CASE("the same process joins again, another process may not take the name") {
  node_membership<fake_handle> nodes{{}, -1};
  nodes.add(node("n1"), fake_handle{7, 70}, 0);
  auto again = nodes.check(node("n1"), fake_handle{7, 71}, 5000);
  REQUIRE(again);
  CHECK(*again == node_membership<fake_handle>::join::again);
  auto taken = nodes.check(node("n1"), fake_handle{8, 80}, 5000);
  REQUIRE_FALSE(taken);
  CHECK(taken.error() == errc::node_name_taken);
  CHECK(error_text(taken.error()).find("5000 ms") != std::string::npos);
  // A rejoin replaces the membership: a heartbeat of the old generation is stale.
  auto old_generation = nodes.table().generation("n1");
  nodes.remove("n1");
  auto new_generation = nodes.add(node("n1"), fake_handle{7, 71}, 1);
  CHECK(new_generation != old_generation);
  CHECK_FALSE(nodes.current("n1", old_generation));
  CHECK(nodes.name_of(71) == std::optional<std::string>{"n1"});
  CHECK_FALSE(nodes.name_of(70));
}

TEST_CASE("a bad announcement is refused before anything changes") {
  node_membership<fake_handle> nodes{{}, -1};
  auto bad = nodes.check(node("local"), fake_handle{1, 1}, 5000);
  REQUIRE_FALSE(bad);
  CHECK(bad.error() == errc::invalid_node);
  bad = nodes.check(node("n1", {}, 2), fake_handle{1, 1}, 5000);
  REQUIRE_FALSE(bad);
  CHECK(nodes.empty());
}
