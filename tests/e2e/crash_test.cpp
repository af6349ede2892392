#include "fleetd_process.hpp"
#include "gunzip_lines.hpp"

#include <filesystem>
#include <random>

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

TEST_CASE("kill -9 while retention prunes with an archive: no batch loses a row without its whole archive") {
  temp_dir archive;
  fleetd_process d{"retain-finished=\"1h\"\nretain-events=\"0\"\narchive-dir=\"" + archive.path().string() + "\"\n"};
  REQUIRE_MESSAGE(d.start(), d.log());
  std::string lines;
  for (int i = 0; i < 5'000; ++i)
    lines += R"({"type": "echo", "data": {"i": )" + std::to_string(i) + "}}\n";
  auto file = d.file("tasks.jsonl");
  write_file(file, lines);
  std::vector<std::string> batches;
  for (int b = 0; b < 8; ++b)
    batches.push_back(d.submit(file));
  for (const auto& id : batches)
    REQUIRE(d.ctl({"wait", id}).exit_code == 0);
  REQUIRE(d.terminate() == 0);
  // Two hours later, as far as retention can tell.
  {
    auto db = fleet::sqlite::database::open(d.db());
    REQUIRE(db);
    REQUIRE_FALSE(db->exec("UPDATE batches SET finished_at = finished_at - 7200000"));
  }
  std::mt19937 rng{7};
  for (int cycle = 0; cycle < 5; ++cycle) {
    REQUIRE_MESSAGE(d.start(), d.log());
    logged_process prune;
    prune.launch({bin("fleetctl"), "--port", std::to_string(d.port()), "--timeout", "3000", "prune", "--now"},
                 d.file("prune.log"));
    // Once the pass is under way (an archive begun or rows gone), at a random moment within it;
    // a pass that shows nothing within 20 s is killed all the same.
    auto tasks_before = d.query_int("SELECT count(*) FROM tasks");
    auto files_before = std::distance(std::filesystem::directory_iterator{archive.path()}, {});
    (void)eventually(
      [&] {
        return std::distance(std::filesystem::directory_iterator{archive.path()}, {}) > files_before
               || d.query_int("SELECT count(*) FROM tasks") < tasks_before;
      },
      20);
    std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>{0, 15}(rng)));
    d.kill_hard();
    prune.wait_exit();
    MESSAGE("after kill ", cycle, ": ", d.query_int("SELECT count(*) FROM batches"), " batches, ",
            d.query_int("SELECT count(*) FROM tasks"), " tasks left");
  }
  REQUIRE_MESSAGE(d.start(), d.log());
  auto report = d.ctl_json({"prune", "--now"});
  CHECK(d.query_int("SELECT count(*) FROM batches") == 0);
  CHECK(d.query_int("SELECT count(*) FROM tasks") == 0);
  REQUIRE(d.terminate() == 0);
  // Every batch has its archive, whole: the batch line, 5,000 tasks in order, their attempts.
  for (const auto& id : batches) {
    CAPTURE(id);
    std::vector<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator{archive.path()})
      if (entry.path().filename().string().rfind(id + "-", 0) == 0)
        names.push_back(entry.path().string());
    REQUIRE(names.size() == 1);
    CHECK(names[0].ends_with(".jsonl.gz"));
    auto got = gunzip_lines(names[0]);
    REQUIRE(got.size() >= 1 + 5'000 + 5'000);
    CHECK(nlohmann::json::parse(got[0])["batch"]["id"] == id);
    CHECK(nlohmann::json::parse(got[1])["task"]["data"] == R"({"i": 0})");
    CHECK(nlohmann::json::parse(got[5'000])["task"]["data"] == R"({"i": 4999})");
    CHECK(d.query_int("SELECT count(*) FROM events WHERE kind = 'batch_pruned' AND batch_id = '" + id
                      + "' AND json_extract(detail, '$.tasks') = 5000 AND json_extract(detail, '$.archive') IS NOT NULL")
          == 1);
  }
  CHECK(integrity_check(d.db()) == "ok");
}
