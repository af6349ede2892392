#include "fleetd_process.hpp"

#include <set>

using namespace fleet::test;

namespace {

std::string sleepers(int n, int ms) {
  std::string out;
  for (int i = 0; i < n; ++i)
    out += R"({"id": "s)" + std::to_string(i) + R"(", "type": "sleep", "data": {"ms": )" + std::to_string(ms) + "}}\n";
  return out;
}

void check_every_task_once(fleetd_process& d, const std::string& id, int n) {
  auto results = d.ctl_json({"results", id});
  REQUIRE(results.size() == static_cast<size_t>(n));
  std::set<std::string> seen;
  for (auto& r : results) {
    CHECK(r["success"] == true);
    seen.insert(r["task_id"].get<std::string>());
  }
  CHECK(seen.size() == static_cast<size_t>(n));
  // Straight from the file: one successful attempt per task, no result recorded twice.
  CHECK(d.query_int("SELECT count(*) FROM attempts WHERE outcome = 'succeeded'") == n);
  CHECK(d.query_int("SELECT count(*) FROM tasks WHERE state = 'succeeded'") == n);
  CHECK(d.query_int("SELECT succeeded FROM batches") == n);
  CHECK(d.query_int("SELECT count(*) FROM attempts WHERE finished_at IS NULL") == 0);
}

} // namespace

TEST_CASE("kill -9 in the middle of a batch: after a restart every task ends exactly once") {
  constexpr int n = 24;
  fleetd_process d{"max-workers=4\n"};
  REQUIRE_MESSAGE(d.start(), d.log());
  auto tasks = d.file("tasks.jsonl");
  write_file(tasks, sleepers(n, 300));
  auto id = d.submit(tasks);
  REQUIRE(eventually([&] { return d.ctl_json({"status", id})["completed"] >= 4; }));
  d.kill_hard();
  auto done_before = d.query_int("SELECT count(*) FROM tasks WHERE state = 'succeeded'");
  auto open_attempts = d.query_int("SELECT count(*) FROM attempts WHERE finished_at IS NULL");
  CHECK(done_before < n);
  CHECK(open_attempts >= 1);

  REQUIRE_MESSAGE(d.start(), d.log());
  CHECK(d.count_in_log("attempts were interrupted by the last shutdown") == 1);
  CHECK(d.ctl({"wait", id}).exit_code == 0);
  check_every_task_once(d, id, n);
  CHECK(d.query_int("SELECT count(*) FROM attempts WHERE outcome = 'interrupted'") == open_attempts);
  // Tasks finished before the kill were not run again.
  CHECK(d.query_int("SELECT count(*) FROM tasks WHERE state = 'succeeded' AND attempts > 1")
        == open_attempts);
}

TEST_CASE("SIGTERM drains: running attempts past the drain timeout are interrupted and rerun") {
  constexpr int n = 6;
  fleetd_process d{"max-workers=2\ndrain-timeout=200\n"};
  REQUIRE_MESSAGE(d.start(), d.log());
  auto tasks = d.file("tasks.jsonl");
  write_file(tasks, sleepers(n, 3000));
  auto id = d.submit(tasks);
  REQUIRE(eventually([&] { return d.ctl_json({"stats"})["running_tasks"] == 2; }));
  CHECK(d.terminate() == 0);
  CHECK(d.count_in_log("drain timeout: 2 attempts interrupted") == 1);
  // Closed cleanly: nothing left open, both interruptions recorded at shutdown.
  CHECK(d.query_int("SELECT count(*) FROM attempts WHERE finished_at IS NULL") == 0);
  CHECK(d.query_int("SELECT count(*) FROM attempts WHERE outcome = 'interrupted'") == 2);
  CHECK(d.query_int("SELECT count(*) FROM tasks WHERE state = 'pending'") == n);

  REQUIRE_MESSAGE(d.start(), d.log());
  CHECK(d.count_in_log("attempts were interrupted by the last shutdown") == 0);
  CHECK(d.ctl({"scale", "6"}).exit_code == 0);
  CHECK(d.ctl({"wait", id}).exit_code == 0);
  check_every_task_once(d, id, n);
}

TEST_CASE("SIGTERM with a long enough drain lets running attempts finish") {
  fleetd_process d{"max-workers=2\ndrain-timeout=60000\n"};
  REQUIRE_MESSAGE(d.start(), d.log());
  auto tasks = d.file("tasks.jsonl");
  write_file(tasks, sleepers(4, 500));
  d.submit(tasks);
  REQUIRE(eventually([&] { return d.ctl_json({"stats"})["running_tasks"] == 2; }));
  CHECK(d.terminate() == 0);
  CHECK(d.query_int("SELECT count(*) FROM attempts WHERE outcome = 'interrupted'") == 0);
  CHECK(d.query_int("SELECT count(*) FROM tasks WHERE state = 'succeeded'") == 2);
  CHECK(d.query_int("SELECT count(*) FROM tasks WHERE state = 'pending'") == 2);
}
