// Metrics and the status page's overview (issue 7): what the manager counts as changes commit, and
// the one snapshot the web page reads.

#include "fleet_fixture.hpp"

using namespace fleet;
using namespace fleet::test;

namespace {

uint64_t observations(const histogram& h) {
  return h.read().cumulative.back();
}

} // namespace

TEST_CASE("the manager counts submitted, succeeded, failed, retried, cancelled and replayed tasks") {
  fleet_fixture f; // 2 workers, 3 retries, backoff from 100 ms
  f.start();
  CHECK(f.metrics().storage_writable.value() == 1);
  CHECK(f.metrics().nodes.value() == 1);
  auto tasks = echo_tasks(3);
  tasks.push_back(make_task("always", "fail"));
  tasks.push_back(make_task("once", "fail", R"({"times": 1})"));
  auto id = f.submit_ok(tasks);
  REQUIRE(f.advance_until([&] { return f.finished(id); }));
  const auto& m = f.metrics();
  CHECK(m.batches_submitted.value() == 1);
  CHECK(m.tasks_submitted.value() == 5);
  CHECK(m.tasks_succeeded.value() == 4);
  CHECK(m.tasks_failed.value() == 1);
  // "always": attempts 1-3 retried, the 4th fails for good; "once": attempt 1 retried.
  CHECK(m.tasks_retried.value() == 4);
  CHECK(static_cast<int64_t>(m.tasks_retried.value()) == f.stats().retries);
  // 3 echo + 4 "always" + 2 "once": every attempt waited, ran its course, and was committed.
  CHECK(observations(m.attempt_duration) == 9);
  CHECK(observations(m.queue_wait) == 9);
  CHECK(observations(m.sqlite_commit) > 0);

  // Cancelling a batch with two running and two waiting tasks counts all four.
  auto slow = f.submit_ok(sleep_tasks(4, 10'000, "s"));
  f.advance(10);
  REQUIRE(f.stats().active_workers == 2);
  REQUIRE(*f.ask<bool>(cancel_atom::value, slow));
  CHECK(m.tasks_cancelled.value() == 4);
  CHECK(m.tasks_succeeded.value() == 4);

  auto replayed = f.ask<int64_t>(replay_atom::value, id, std::vector<std::string>{});
  REQUIRE(replayed);
  CHECK(*replayed == 1);
  CHECK(m.tasks_replayed.value() == 1);
  CHECK(m.batches_submitted.value() == 2);
  CHECK(m.tasks_submitted.value() == 9);
}

TEST_CASE("queue wait runs from submission to each attempt's start") {
  auto cfg = fleet_fixture::small_config();
  cfg.max_concurrent_workers = 1;
  fleet_fixture f{cfg};
  f.start();
  // One worker, four 100 ms tasks: they wait 0, 100, 200 and 300 ms.
  auto id = f.submit_ok(sleep_tasks(4, 100, "q"));
  REQUIRE(f.advance_until([&] { return f.finished(id); }, 10'000, 10));
  auto wait = f.metrics().queue_wait.read();
  CHECK(wait.cumulative.back() == 4);
  CHECK(wait.sum_s >= 0.6);
  CHECK(wait.sum_s < 0.7);
  // The first started at once, the last waited 300 ms: within the 0.5 s bucket, over 0.1 s.
  CHECK(wait.cumulative[0] == 1); // <= 1 ms
  auto duration = f.metrics().attempt_duration.read();
  CHECK(duration.cumulative.back() == 4);
  CHECK(duration.sum_s >= 0.4);
}

TEST_CASE("attempts cut short by a stop are counted as interrupted at the next start") {
  temp_dir dir;
  auto db = dir.file("fleet.db");
  {
    fleet_fixture first{fleet_fixture::small_config(), db};
    first.start();
    first.submit_ok(sleep_tasks(3, 10'000, "i"));
    first.advance(10);
    REQUIRE(first.stats().active_workers == 2);
    CHECK(first.metrics().tasks_interrupted.value() == 0);
    first.stop();
  }
  fleet_fixture second{fleet_fixture::small_config(), db};
  second.start();
  CHECK(second.metrics().tasks_interrupted.value() == 2);
  // The counters are this process's: the earlier batch was submitted before it started.
  CHECK(second.metrics().tasks_submitted.value() == 0);
}

TEST_CASE("the overview holds stats, the newest batches first, workers, failures and nodes") {
  fleet_fixture f;
  f.start();
  auto first = f.submit_ok(echo_tasks(2));
  auto tasks = echo_tasks(1);
  tasks.push_back(make_task("bad", "fail"));
  auto second = f.submit_ok(tasks);
  REQUIRE(f.advance_until([&] { return f.finished(first) && f.finished(second); }));
  auto third = f.submit_ok(sleep_tasks(3, 10'000, "r"));
  f.advance(10);
  auto ov = f.ask<fleet_overview>(overview_atom::value, int32_t{2}, int32_t{10});
  REQUIRE_MESSAGE(ov, (ov ? "" : error_text(ov.error())));
  REQUIRE(ov->batches.size() == 2);
  CHECK(ov->batches[0].batch_id == third);
  CHECK(ov->batches[1].batch_id == second);
  CHECK(ov->batches[1].status == batch_state::partial);
  CHECK(ov->batches[1].progress == 1.0);
  CHECK(ov->batches[0].progress == 0.0);
  REQUIRE(ov->failures.size() == 1);
  CHECK(ov->failures[0].batch_id == second);
  CHECK(ov->failures[0].task_id == "bad");
  CHECK(ov->failures[0].attempts == 4);
  CHECK(ov->stats.total_batches == 3);
  CHECK(ov->stats.active_workers == 2);
  CHECK(std::count_if(ov->workers.begin(), ov->workers.end(),
                      [&](const worker_info& w) { return w.batch_id == third && w.completed_at == 0; })
        == 2);
  REQUIRE(ov->nodes.size() == 1);
  CHECK(ov->nodes[0].name == "local");
  CHECK(ov->storage_error.empty());
  CHECK(ov->at > 0);
  auto all = f.ask<fleet_overview>(overview_atom::value, int32_t{1000}, int32_t{0});
  REQUIRE(all);
  CHECK(all->batches.size() == 3);
  CHECK(all->failures.empty());
  auto too_many = f.ask<fleet_overview>(overview_atom::value, int32_t{1001}, int32_t{0});
  REQUIRE_FALSE(too_many);
  CHECK(error_text(too_many.error()).find("0 to 1000") != std::string::npos);
  auto negative = f.ask<fleet_overview>(overview_atom::value, int32_t{0}, int32_t{-1});
  CHECK_FALSE(negative);
}
