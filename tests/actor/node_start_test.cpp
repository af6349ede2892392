// The start of an attempt on a fleet-node waits up to fleet.node-start-delay for its end, so that
// both are written as one row: what the record shows meanwhile, and how each way an attempt can
// end (an outcome, the delay passing, a cancel, the node's loss, fleetd dying) writes it.

#include "node_helpers.hpp"

#include <caf/send.hpp>

#include <memory>

using namespace fleet;
using namespace fleet::test;

namespace {

/// The attempts the silent node was given, in the order it got them.
std::vector<node_attempt> placed(const silent_record& record) {
  std::vector<node_attempt> out;
  for (const auto& message : record.messages)
    out.insert(out.end(), message.begin(), message.end());
  return out;
}

void report(fleet_fixture& f, const scripted_node_actor& node, std::vector<node_outcome> outcomes) {
  caf::anon_send(node, outcomes_atom::value, std::move(outcomes));
  f.run();
}

node_outcome succeeded(const node_attempt& a) {
  return node_outcome{a.seq, a.attempt, a.worker_id, task_outcome{true, R"({"ok":true})", {}, true}, {}};
}

/// fleetd with no workers of its own and up to 8 attempts, started, and a silent node `s` joined.
scripted_node_actor start_with_silent_node(fleet_fixture& f, std::shared_ptr<silent_record> record, int32_t capacity) {
  f.set_nodes(0);
  f.initial_config().max_concurrent_workers = 8;
  f.start();
  return join_silent(f, std::move(record), "s", capacity);
}

worker_status status_of_worker(fleet_fixture& f, const std::string& worker_id) {
  auto workers = f.ask<std::vector<worker_info>>(workers_atom::value);
  REQUIRE(workers);
  for (const auto& w : *workers)
    if (w.worker_id == worker_id)
      return w.status;
  FAIL("no such worker: " << worker_id);
  return worker_status::failed;
}

} // namespace

TEST_CASE("a node attempt that ends within node-start-delay is written once, and one that runs on is on record from then") {
  fleet_fixture f;
  REQUIRE(f.node_start_delay() > 0);
  auto record = std::make_shared<silent_record>();
  auto node = start_with_silent_node(f, record, 2);
  auto id = f.submit_ok(echo_tasks(2));
  auto attempts = placed(*record);
  REQUIRE(attempts.size() == 2);
  // Running on the node, and not yet in the file: their tasks still read as pending there.
  CHECK(f.query_int("SELECT count(*) FROM attempts") == 0);
  CHECK(f.query_int("SELECT count(*) FROM tasks WHERE state = 'pending'") == 2);
  CHECK(f.stats().active_workers == 2);
  CHECK(status_of_worker(f, attempts[0].worker_id) == worker_status::spawning);
  // The first ends within the delay: one complete row, started when it was placed.
  report(f, node, {succeeded(attempts[0])});
  CHECK(f.query_int("SELECT count(*) FROM attempts WHERE outcome = 'succeeded' AND node = 's'"
                    " AND started_at <= finished_at")
        == 1);
  CHECK(f.query_int("SELECT count(*) FROM tasks WHERE state = 'succeeded' AND attempts = 1") == 1);
  CHECK(f.query_int("SELECT count(*) FROM tasks WHERE state = 'pending'") == 1);
  // The delay passes for the other: its start goes on record, its worker active.
  f.advance(f.node_start_delay());
  CHECK(f.query_int("SELECT count(*) FROM tasks WHERE state = 'running' AND attempts = 1") == 1);
  CHECK(f.query_int("SELECT count(*) FROM attempts WHERE finished_at IS NULL AND node = 's' AND worker_id = '"
                    + attempts[1].worker_id + "'")
        == 1);
  CHECK(status_of_worker(f, attempts[1].worker_id) == worker_status::active);
  f.advance(1'000);
  report(f, node, {succeeded(attempts[1])});
  REQUIRE(f.finished(id));
  check_each_task_succeeded_once(f, 2);
  CHECK(f.query_int("SELECT count(*) FROM attempts") == 2);
  // Its row keeps the time it started, not the time the start was written.
  CHECK(f.query_int("SELECT finished_at - started_at >= 1000 FROM attempts WHERE worker_id = '"
                    + attempts[1].worker_id + "'")
        == 1);
  CHECK(f.query_int("SELECT started_at FROM batches WHERE id = '" + id + "'") > 0);
  caf::anon_send_exit(node, caf::exit_reason::kill);
}

TEST_CASE("a cancel stops node attempts whose starts are held: each task cancelled once and counted once") {
  SUBCASE("the whole batch") {
    fleet_fixture f;
    auto record = std::make_shared<silent_record>();
    auto node = start_with_silent_node(f, record, 3);
    auto id = f.submit_ok(echo_tasks(4));
    REQUIRE(placed(*record).size() == 3);
    REQUIRE(f.query_int("SELECT count(*) FROM attempts") == 0);
    auto ok = f.ask<bool>(cancel_atom::value, id);
    REQUIRE(ok);
    CHECK(*ok);
    auto st = f.status_of(id);
    CHECK(st.status == batch_state::cancelled);
    CHECK(st.cancelled == 4);
    CHECK(f.query_int("SELECT cancelled FROM batches") == 4);
    CHECK(f.query_int("SELECT count(*) FROM tasks WHERE state = 'cancelled'") == 4);
    CHECK(f.query_int("SELECT count(*) FROM attempts WHERE outcome = 'cancelled' AND node = 's'") == 3);
    CHECK(f.metrics().tasks_cancelled.value() == 4);
    // Neither the delay passing nor the node's late outcomes change anything.
    f.advance(f.node_start_delay() + 1'000);
    std::vector<node_outcome> late;
    for (const auto& a : placed(*record))
      late.push_back(succeeded(a));
    report(f, node, late);
    CHECK(f.query_int("SELECT count(*) FROM attempts") == 3);
    CHECK(f.query_int("SELECT count(*) FROM tasks WHERE state = 'cancelled'") == 4);
    caf::anon_send_exit(node, caf::exit_reason::kill);
  }
  SUBCASE("one task of it") {
    fleet_fixture f;
    auto record = std::make_shared<silent_record>();
    auto node = start_with_silent_node(f, record, 2);
    auto id = f.submit_ok(echo_tasks(2));
    auto attempts = placed(*record);
    REQUIRE(attempts.size() == 2);
    auto n = f.ask<int64_t>(cancel_atom::value, id, std::vector<std::string>{attempts[0].spec.id});
    REQUIRE(n);
    CHECK(*n == 1);
    CHECK(f.query_int("SELECT count(*) FROM attempts WHERE outcome = 'cancelled' AND worker_id = '"
                      + attempts[0].worker_id + "'")
          == 1);
    CHECK(f.query_int("SELECT cancelled FROM batches") == 1);
    report(f, node, {succeeded(attempts[1])});
    REQUIRE(f.finished(id));
    CHECK(f.status_of(id).status == batch_state::partial);
    CHECK(f.query_int("SELECT count(*) FROM attempts") == 2);
    caf::anon_send_exit(node, caf::exit_reason::kill);
  }
}

TEST_CASE("a cancel of node attempts with held starts that cannot be stored: each start and its interrupted end go on "
          "record once writes resume") {
  fleet_fixture f;
  auto record = std::make_shared<silent_record>();
  auto node = start_with_silent_node(f, record, 2);
  auto id = f.submit_ok(echo_tasks(2));
  REQUIRE(placed(*record).size() == 2);
  {
    write_lock_holder blocker{f.db_path()};
    auto refused = f.ask<bool>(cancel_atom::value, id);
    REQUIRE_FALSE(refused);
  }
  REQUIRE(f.advance_until([&] {
    return f.query_int("SELECT count(*) FROM attempts WHERE outcome = 'interrupted' AND node = 's'"
                       " AND started_at <= finished_at"
                       " AND error LIKE 'stopped by a cancel that could not be stored: %'")
           == 2;
  }));
  CHECK(f.query_int("SELECT count(*) FROM tasks WHERE attempts = 1 AND interruptions = 1") == 2);
  REQUIRE(*f.ask<bool>(cancel_atom::value, id));
  CHECK(f.status_of(id).cancelled == 2);
  CHECK(f.query_int("SELECT count(*) FROM attempts WHERE finished_at IS NULL") == 0);
  caf::anon_send_exit(node, caf::exit_reason::kill);
}

TEST_CASE("a node lost while starts are held: its attempts are recorded as interrupted, each with its start") {
  fleet_fixture f;
  auto record = std::make_shared<silent_record>();
  auto node = start_with_silent_node(f, record, 3);
  auto id = f.submit_ok(echo_tasks(3));
  REQUIRE(placed(*record).size() == 3);
  caf::anon_send_exit(node, caf::exit_reason::kill);
  f.run();
  CHECK(f.query_int("SELECT count(*) FROM attempts WHERE outcome = 'interrupted' AND node = 's'"
                    " AND started_at <= finished_at")
        == 3);
  CHECK(f.query_int("SELECT count(*) FROM tasks WHERE state = 'pending' AND attempts = 1 AND interruptions = 1") == 3);
  // They run again on the next node, once each in the record.
  auto next = join_node(f, "n", {"echo"}, 3);
  REQUIRE(f.advance_until([&] { return f.finished(id); }));
  check_each_task_succeeded_once(f, 3);
  caf::anon_send_exit(next, caf::exit_reason::kill);
}

TEST_CASE("fleetd gone before a held start was written: the node's report of that attempt is not taken, its task runs "
          "again, once in the record") {
  constexpr int n = 4;
  fleet_fixture f;
  f.set_nodes(0, 1'000, 60'000);
  f.set_node_rejoin(60'000);
  f.initial_config().max_concurrent_workers = n;
  f.start();
  auto losses = std::make_shared<int>(0);
  auto node = join_holding_node(f, "n1", {"sleep"}, n, builtin_registry({"sleep"}), losses);
  f.submit_ok(sleep_tasks(n, 100, "s"));
  REQUIRE(node_named(f, "n1").running == n);
  {
    // Another program holds the write lock: neither the starts (due after the delay) nor the
    // outcomes (after 100 ms) are written before fleetd goes.
    write_lock_holder blocker{f.db_path()};
    f.advance(200);
    CHECK(node_named(f, "n1").running == 0); // the outcomes reached fleetd
    f.stop();
  }
  CHECK(*losses == 1);
  CHECK(f.query_int("SELECT count(*) FROM attempts") == 0);
  CHECK(f.query_int("SELECT count(*) FROM tasks WHERE state = 'pending' AND attempts = 0") == n);
  f.start();
  // The node reports its finished attempts as it joins again: fleetd has none of them on record
  // (same task and attempt number, but not the worker it runs now), so each task runs again.
  rejoin(f, node);
  f.run();
  REQUIRE(f.advance_until([&] { return f.query_int("SELECT count(*) FROM tasks WHERE state = 'succeeded'") == n; },
                          5'000));
  check_each_task_succeeded_once(f, n);
  CHECK(f.query_int("SELECT count(*) FROM attempts") == n);
  CHECK(f.query_int("SELECT count(*) FROM tasks WHERE attempts <> 1") == 0);
  caf::anon_send_exit(node, caf::exit_reason::kill);
}
