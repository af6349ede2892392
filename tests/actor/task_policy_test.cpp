// Per-task policies: a task's own timeout, retry budget, backoff and retry rule, over the fleet's.
#include "fleet_fixture.hpp"
#include "temp_dir.hpp"

using namespace fleet;
using namespace fleet::test;

namespace {

task with_policy(task t, task_policy p) {
  t.policy = p;
  return t;
}

} // namespace

TEST_CASE("a task's own timeout stops its attempt while the fleet's lets its neighbour finish") {
  auto cfg = fleet_fixture::small_config();
  cfg.worker_timeout_ms = 60'000;
  cfg.max_retries = 1;
  fleet_fixture f{cfg};
  f.start();
  auto id = f.submit_ok({with_policy(make_task("short", "sleep", R"({"ms": 5000})"), {100, -1, -1, -1}),
                         make_task("long", "sleep", R"({"ms": 3000})")});
  REQUIRE(f.advance_until([&] { return f.finished(id); }, 20'000, 10));
  auto rs = f.results_of(id);
  REQUIRE(rs.size() == 2);
  for (const auto& r : rs) {
    CAPTURE(r.task_id);
    if (r.task_id == "short") {
      CHECK_FALSE(r.success);
      CHECK(r.error == "worker timed out after 100 ms");
      CHECK(r.attempts == 2); // the fleet's max_retries still applies
    } else {
      CHECK(r.success);
      CHECK(r.attempts == 1);
    }
  }
  // Stopped near its own deadline: at most the sweep's interval (a quarter of it) late.
  CHECK(f.query_int("SELECT max(a.finished_at - a.started_at) FROM attempts a JOIN tasks t ON t.seq = a.task_seq"
                    " WHERE t.task_id = 'short'")
        <= 100 + 25 + 10);
  CHECK(f.query_int("SELECT count(*) FROM attempts WHERE outcome = 'timed_out'") == 2);
}

TEST_CASE("max_retries, retry and backoff_ms of a task override the fleet's for that task only") {
  auto cfg = fleet_fixture::small_config(); // backoff 100 ms doubling, cap 1000 ms
  cfg.max_retries = 3;
  fleet_fixture f{cfg};
  f.start();
  auto fail = [](std::string id) { return make_task(std::move(id), "fail", R"({"error": "no"})"); };
  auto id = f.submit_ok({fail("fleet"), with_policy(fail("none"), {0, 0, -1, -1}),
                         with_policy(fail("one"), {0, 1, -1, -1}), with_policy(fail("never"), {0, -1, -1, 0}),
                         with_policy(fail("slow"), {0, 1, 5'000, -1})});
  CHECK(f.query_int("SELECT count(*) FROM task_policies") == 4);
  // The slow task's first retry waits between half its own backoff and all of it.
  auto wait = f.query_int("SELECT t.not_before - a.finished_at FROM tasks t JOIN attempts a ON a.task_seq = t.seq"
                          " WHERE t.task_id = 'slow' AND a.attempt = 1");
  CHECK(wait >= 2'500);
  CHECK(wait <= 5'000);
  REQUIRE(f.advance_until([&] { return f.finished(id); }, 30'000, 10));
  std::map<std::string, int32_t> attempts;
  for (const auto& r : f.results_of(id))
    attempts[r.task_id] = r.attempts;
  CHECK(attempts["fleet"] == 4);
  CHECK(attempts["none"] == 1);
  CHECK(attempts["one"] == 2);
  CHECK(attempts["never"] == 1);
  CHECK(attempts["slow"] == 2);
  CHECK(f.stats().retries == 3 + 1 + 1);
}

TEST_CASE("retry true retries a task although the fleet's retries are off") {
  auto cfg = fleet_fixture::small_config();
  cfg.retry_failed_tasks = false;
  cfg.max_retries = 2;
  fleet_fixture f{cfg};
  f.start();
  auto id = f.submit_ok({make_task("plain", "fail"), with_policy(make_task("forced", "fail"), {0, -1, -1, 1})});
  REQUIRE(f.advance_until([&] { return f.finished(id); }, 10'000, 10));
  std::map<std::string, int32_t> attempts;
  for (const auto& r : f.results_of(id))
    attempts[r.task_id] = r.attempts;
  CHECK(attempts["plain"] == 1);
  CHECK(attempts["forced"] == 3);
}

TEST_CASE("a task's max_retries is honoured across a restart") {
  temp_dir dir;
  auto db = dir.file("fleet.db");
  auto cfg = fleet_fixture::small_config();
  cfg.max_retries = 5;
  cfg.backoff_base_ms = 10'000;
  cfg.backoff_cap_ms = 10'000;
  std::string id;
  {
    fleet_fixture first{cfg, db};
    first.start();
    id = first.submit_ok({with_policy(make_task("budget", "fail", R"({"error": "no"})"), {0, 1, -1, -1})});
    CHECK(first.query_int("SELECT state = 'retry_wait' FROM tasks") == 1);
    first.stop();
  }
  fleet_fixture second{cfg, db};
  second.start();
  REQUIRE(second.advance_until([&] { return second.finished(id); }, 60'000, 100));
  auto rs = second.results_of(id);
  REQUIRE(rs.size() == 1);
  CHECK_FALSE(rs[0].success);
  CHECK(rs[0].attempts == 2); // its own budget of one retry, not the fleet's five
  CHECK(second.query_int("SELECT max_retries FROM task_policies") == 1);
}

TEST_CASE("a bad policy is refused naming the task, and nothing is stored") {
  fleet_fixture f;
  f.start();
  for (auto p : {task_policy{-1, -1, -1, -1}, task_policy{0, 5'000, -1, -1}, task_policy{0, -1, -3, -1},
                 task_policy{0, -1, -1, 7}, task_policy{0, 2, -1, 0}}) {
    auto refused = f.ask<std::string>(submit_atom::value,
                                      std::vector<task>{make_task("ok", "echo"), with_policy(make_task("bad", "echo"), p)});
    REQUIRE_FALSE(refused);
    CHECK(refused.error() == errc::invalid_task);
    CHECK(error_text(refused.error()).find("task 1 (id \"bad\")") == 0);
  }
  CHECK(f.query_int("SELECT count(*) FROM batches") == 0);
  CHECK(f.query_int("SELECT count(*) FROM task_policies") == 0);
}
