// A fleetd that runs behind its node: the node's outcomes reached it, but the commit that would
// record them never came before it went away. The node keeps what it sent for a while
// (sent_outcomes) and reports it again when it rejoins, so nothing the node finished runs again.

#include "node_helpers.hpp"

#include <caf/send.hpp>

#include <memory>

using namespace fleet;
using namespace fleet::test;

namespace {

/// More attempts than a node used to keep outcomes for (the last 256 it sent, until 2026-12-06):
/// a fleetd that ran further behind lost the rest, and they ran again.
constexpr int lagged = 300;

int64_t unfinished_on_n1(fleet_fixture& f) {
  return f.query_int("SELECT count(*) FROM attempts WHERE node = 'n1' AND finished_at IS NULL");
}

} // namespace

TEST_CASE("a fleetd that received a node's outcomes but died before it recorded them takes them from the "
          "node's rejoin: none runs again") {
  fleet_fixture f;
  f.set_nodes(0, 1'000, 60'000);
  f.set_node_rejoin(60'000);
  f.initial_config().max_concurrent_workers = lagged;
  f.start();
  auto losses = std::make_shared<int>(0);
  auto node = join_holding_node(f, "n1", {"sleep"}, lagged, builtin_registry({"sleep"}), losses);
  f.submit_ok(sleep_tasks(lagged, 100, "s"));
  f.advance(f.node_start_delay() + 10);
  REQUIRE(node_named(f, "n1").running == lagged);
  REQUIRE(unfinished_on_n1(f) == lagged); // the starts are on record (node-start-delay passed)
  {
    // Another program holds the write lock: fleetd's group commits cannot begin (busy_timeout),
    // so the outcomes the node sends wait in fleetd's memory, and go with it.
    write_lock_holder blocker{f.db_path()};
    f.advance(200);
    CHECK(node_named(f, "n1").running == 0); // fleetd has the outcomes in memory
    f.stop();
  }
  CHECK(*losses == 1);
  CHECK(unfinished_on_n1(f) == lagged);
  CHECK(f.query_int("SELECT count(*) FROM tasks WHERE state = 'succeeded'") == 0);
  f.advance(2'000); // well within the node's 10 s memory of what it sent
  f.start();
  // Held for the node's rejoin: nothing runs meanwhile.
  CHECK(unfinished_on_n1(f) == lagged);
  rejoin(f, node);
  f.run();
  REQUIRE(f.advance_until([&] { return f.query_int("SELECT count(*) FROM tasks WHERE state = 'succeeded'") == lagged; },
                          5'000));
  // Each task's one attempt, recorded from the node's report, ran nowhere else.
  check_each_task_succeeded_once(f, lagged);
  CHECK(f.query_int("SELECT count(*) FROM attempts") == lagged);
  CHECK(f.query_int("SELECT count(*) FROM attempts WHERE outcome = 'succeeded' AND node = 'n1'") == lagged);
  CHECK(f.query_int("SELECT count(*) FROM tasks WHERE attempts <> 1") == 0);
  CHECK(f.query_int("SELECT count(*) FROM tasks WHERE result NOT LIKE '%slept_ms%'") == 0);
  CHECK(node_named(f, "n1").running == 0);
  caf::anon_send_exit(node, caf::exit_reason::kill);
}
