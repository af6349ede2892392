#include "fleet_fixture.hpp"

using namespace fleet;
using namespace fleet::test;

TEST_CASE("a failing task is retried with backoff until it succeeds") {
  auto cfg = fleet_fixture::small_config(); // backoff 100 ms doubling, cap 1000 ms
  cfg.max_retries = 3;
  fleet_fixture f{cfg};
  f.start();
  auto id = f.submit_ok({make_task("flaky", "fail", R"({"times": 2})")});
  // The first attempt failed at once; the retry waits at least half the first backoff step.
  CHECK(f.query_int("SELECT attempts FROM tasks") == 1);
  CHECK(f.query_int("SELECT count(*) FROM tasks WHERE state = 'retry_wait'") == 1);
  auto not_before = f.query_int("SELECT not_before FROM tasks");
  auto failed_at = f.query_int("SELECT finished_at FROM attempts WHERE attempt = 1");
  CHECK(not_before - failed_at >= 50);
  CHECK(not_before - failed_at <= 100);
  f.advance(49);
  CHECK(f.query_int("SELECT attempts FROM tasks") == 1);
  REQUIRE(f.advance_until([&] { return f.finished(id); }, 10'000, 1));
  auto st = f.status_of(id);
  CHECK(st.status == batch_state::completed);
  auto rs = f.results_of(id);
  REQUIRE(rs.size() == 1);
  CHECK(rs[0].success);
  CHECK(rs[0].attempts == 3);
  CHECK(f.stats().retries == 2);
  CHECK(f.query_int("SELECT count(*) FROM attempts WHERE outcome = 'failed'") == 2);
  CHECK(f.query_int("SELECT count(*) FROM attempts WHERE outcome = 'succeeded'") == 1);
  // The second wait is longer than the first: exponential backoff, seen in the stored times.
  auto gap1 = f.query_int("SELECT (SELECT started_at FROM attempts WHERE attempt = 2)"
                          " - (SELECT finished_at FROM attempts WHERE attempt = 1)");
  auto gap2 = f.query_int("SELECT (SELECT started_at FROM attempts WHERE attempt = 3)"
                          " - (SELECT finished_at FROM attempts WHERE attempt = 2)");
  CHECK(gap1 >= 50);
  CHECK(gap1 <= 101);
  CHECK(gap2 >= 100);
  CHECK(gap2 <= 201);
}

TEST_CASE("after max_retries the task fails with the last error") {
  auto cfg = fleet_fixture::small_config();
  cfg.max_retries = 2;
  fleet_fixture f{cfg};
  f.start();
  auto id = f.submit_ok({make_task("doomed", "fail", R"({"error": "disk on fire"})")});
  REQUIRE(f.advance_until([&] { return f.finished(id); }));
  auto st = f.status_of(id);
  CHECK(st.status == batch_state::failed);
  CHECK(st.failed == 1);
  auto rs = f.results_of(id);
  REQUIRE(rs.size() == 1);
  CHECK_FALSE(rs[0].success);
  CHECK(rs[0].attempts == 3);
  CHECK(rs[0].error == "disk on fire (attempt 3)");
  CHECK(f.query_int("SELECT count(*) FROM attempts") == 3);
}

TEST_CASE("with retry_failed_tasks off a failure is final") {
  auto cfg = fleet_fixture::small_config();
  cfg.retry_failed_tasks = false;
  fleet_fixture f{cfg};
  f.start();
  auto id = f.submit_ok({make_task("once", "fail")});
  REQUIRE(f.advance_until([&] { return f.finished(id); }));
  CHECK(f.results_of(id)[0].attempts == 1);
  CHECK(f.stats().retries == 0);
}

TEST_CASE("an attempt that outlives worker_timeout is stopped and counts as failed") {
  auto cfg = fleet_fixture::small_config();
  cfg.worker_timeout_ms = 50;
  cfg.max_retries = 1;
  fleet_fixture f{cfg};
  f.start();
  auto id = f.submit_ok({make_task("slow", "sleep", R"({"ms": 5000})")});
  REQUIRE(f.advance_until([&] { return f.finished(id); }, 10'000, 5));
  auto rs = f.results_of(id);
  REQUIRE(rs.size() == 1);
  CHECK_FALSE(rs[0].success);
  CHECK(rs[0].error == "worker timed out after 50 ms");
  CHECK(rs[0].attempts == 2);
  CHECK(f.query_int("SELECT count(*) FROM attempts WHERE outcome = 'timed_out'") == 2);
  CHECK(f.stats().active_workers == 0);
}

TEST_CASE("update_config changes retries for later failures and is validated") {
  fleet_fixture f;
  f.start();
  config_update bad;
  bad.worker_timeout_ms = 0;
  auto refused = f.ask<fleet_config>(update_config_atom::value, bad);
  REQUIRE_FALSE(refused);
  CHECK(refused.error() == errc::invalid_config);
  CHECK(error_text(refused.error()).find("worker_timeout") != std::string::npos);
  config_update bad_retries;
  bad_retries.max_retries = -1;
  CHECK_FALSE(f.ask<fleet_config>(update_config_atom::value, bad_retries));
  auto before = f.ask<fleet_config>(get_config_atom::value);
  REQUIRE(before);
  CHECK(*before == fleet_fixture::small_config());
  config_update update;
  update.retry_failed_tasks = false;
  update.worker_timeout_ms = 600000;
  auto after = f.ask<fleet_config>(update_config_atom::value, update);
  REQUIRE(after);
  CHECK_FALSE(after->retry_failed_tasks);
  CHECK(after->worker_timeout_ms == 600000);
  CHECK(after->max_concurrent_workers == before->max_concurrent_workers);
  CHECK(f.query_int("SELECT value FROM config_overrides WHERE name = 'retry_failed_tasks'") == 0);
  CHECK(f.query_int("SELECT value FROM config_overrides WHERE name = 'worker_timeout_ms'") == 600000);
  auto id = f.submit_ok({make_task("once", "fail")});
  REQUIRE(f.advance_until([&] { return f.finished(id); }));
  CHECK(f.results_of(id)[0].attempts == 1);
}
