#include "fleet_fixture.hpp"

using namespace fleet;
using namespace fleet::test;

TEST_CASE("cancel_batch stops running attempts and cancels waiting tasks") {
  fleet_fixture f; // 2 workers
  f.start();
  auto id = f.submit_ok(sleep_tasks(5, 1000));
  auto other = f.submit_ok(sleep_tasks(1, 10));
  CHECK(f.stats().active_workers == 2);
  auto ok = f.ask<bool>(cancel_atom::value, id);
  REQUIRE(ok);
  CHECK(*ok);
  auto st = f.status_of(id);
  CHECK(st.status == batch_state::cancelled);
  CHECK(st.cancelled == 5);
  CHECK(st.progress == doctest::Approx(1.0));
  CHECK(st.finished_at != 0);
  auto rs = f.results_of(id);
  REQUIRE(rs.size() == 5);
  for (auto& r : rs) {
    CHECK_FALSE(r.success);
    CHECK(r.error == "cancelled");
  }
  CHECK(f.query_int("SELECT count(*) FROM attempts WHERE outcome = 'cancelled'") == 2);
  // The other batch gets the freed workers and finishes.
  REQUIRE(f.advance_until([&] { return f.finished(other); }));
  CHECK(f.status_of(other).status == batch_state::completed);
  // Time passing does not resurrect anything of the cancelled batch.
  f.advance(5000);
  CHECK(f.status_of(id).cancelled == 5);
  CHECK(f.query_int("SELECT count(*) FROM attempts") == 3);
  // Cancelling again, or a finished batch, answers false.
  CHECK_FALSE(*f.ask<bool>(cancel_atom::value, id));
  CHECK_FALSE(*f.ask<bool>(cancel_atom::value, other));
}

TEST_CASE("cancel_batch also cancels tasks waiting for a retry") {
  fleet_fixture f;
  f.start();
  auto id = f.submit_ok({make_task("flaky", "fail", R"({"times": 5})")});
  CHECK(f.query_int("SELECT count(*) FROM tasks WHERE state = 'retry_wait'") == 1);
  auto ok = f.ask<bool>(cancel_atom::value, id);
  REQUIRE_MESSAGE(ok, (ok ? "" : error_text(ok.error())));
  REQUIRE(*ok);
  f.advance(5000);
  CHECK(f.query_int("SELECT attempts FROM tasks") == 1);
  CHECK(f.status_of(id).status == batch_state::cancelled);
}

TEST_CASE("cancel_tasks cancels the named tasks wherever they wait or run, and leaves the rest") {
  auto cfg = fleet_fixture::small_config(); // 2 workers
  cfg.worker_timeout_ms = 3'600'000;
  cfg.backoff_base_ms = 60'000;
  cfg.backoff_cap_ms = 60'000;
  fleet_fixture f{cfg};
  f.start();
  auto delayed = make_task("d", "echo");
  delayed.delay_ms = 3'600'000;
  // By priority: e succeeds and w fails at once (w then waits a minute for its retry), r and r2
  // take both workers, p waits for one.
  auto id = f.submit_ok({make_task("e", "echo", "{}", 9), make_task("w", "fail", R"({"times": 1})", 8),
                         make_task("r", "sleep", R"({"ms": 600000})", 5), make_task("r2", "sleep", R"({"ms": 600000})", 5),
                         make_task("p", "echo"), delayed});
  f.run();
  auto state_of = [&](const std::string& task) {
    return f.query_text("SELECT state FROM tasks WHERE task_id = '" + task + "'");
  };
  REQUIRE(state_of("e") == "succeeded");
  REQUIRE(state_of("w") == "retry_wait");
  REQUIRE(state_of("r") == "running");
  REQUIRE(state_of("p") == "pending");
  REQUIRE(state_of("d") == "scheduled");

  auto refused = f.ask<int64_t>(cancel_atom::value, id, std::vector<std::string>{"p", "nope"});
  REQUIRE_FALSE(refused);
  CHECK(refused.error() == errc::invalid_task);
  CHECK(error_text(refused.error()) == "batch " + id + " has no task \"nope\"");
  CHECK(state_of("p") == "pending"); // all or nothing
  CHECK(f.ask<int64_t>(cancel_atom::value, id, std::vector<std::string>{}).error() == errc::invalid_argument);
  CHECK(f.ask<int64_t>(cancel_atom::value, id, std::vector<std::string>(10'001, "p")).error() == errc::limit_exceeded);
  CHECK(f.ask<int64_t>(cancel_atom::value, std::string{"batch-none"}, std::vector<std::string>{"p"}).error()
        == errc::unknown_batch);

  auto n = f.ask<int64_t>(cancel_atom::value, id, std::vector<std::string>{"e", "w", "r", "p", "d", "p"});
  REQUIRE(n);
  CHECK(*n == 4); // e had finished; p named twice counts once
  for (const auto* task : {"w", "r", "p", "d"})
    CHECK(state_of(task) == "cancelled");
  CHECK(state_of("e") == "succeeded");
  CHECK(state_of("r2") == "running");
  auto st = f.status_of(id);
  CHECK(st.cancelled == 4);
  CHECK(st.scheduled == 0);
  CHECK(st.finished_at == 0);
  CHECK(f.query_int("SELECT count(*) FROM attempts WHERE outcome = 'cancelled'") == 1);
  CHECK(f.query_int("SELECT count(*) FROM events WHERE kind = 'task_cancelled'") == 4);
  // The freed worker takes nothing of what was cancelled, and time brings none of it back.
  f.advance(120'000);
  CHECK(f.query_int("SELECT count(*) FROM attempts") == 4); // e, w, r, r2
  CHECK(f.stats().active_workers == 1);
  // The last one: the batch finishes (partial: one success, the rest cancelled) and is no
  // cancelled batch (cancel_batch was never asked).
  REQUIRE(*f.ask<int64_t>(cancel_atom::value, id, std::vector<std::string>{"r2"}) == 1);
  st = f.status_of(id);
  CHECK(st.status == batch_state::partial);
  CHECK(st.finished_at != 0);
  CHECK(st.cancelled == 5);
  CHECK(f.query_int("SELECT count(*) FROM events WHERE kind = 'batch_finished'") == 1);
  CHECK(*f.ask<int64_t>(cancel_atom::value, id, std::vector<std::string>{"e"}) == 0);
  CHECK(f.stats().cancelled_tasks == 5);
}

TEST_CASE("scale_workers refuses n < 1 and takes effect at once") {
  auto cfg = fleet_fixture::small_config();
  cfg.max_concurrent_workers = 1;
  fleet_fixture f{cfg};
  f.start();
  auto zero = f.ask<fleet_config>(scale_atom::value, int32_t{0});
  REQUIRE_FALSE(zero);
  CHECK(zero.error() == errc::invalid_config);
  CHECK(error_text(zero.error()) == "worker count must be at least 1 (got 0)");
  CHECK_FALSE(f.ask<fleet_config>(scale_atom::value, int32_t{-3}));
  auto id = f.submit_ok(sleep_tasks(10, 1000));
  CHECK(f.stats().active_workers == 1);
  auto up = f.ask<fleet_config>(scale_atom::value, int32_t{4});
  REQUIRE(up);
  CHECK(up->max_concurrent_workers == 4);
  CHECK(f.stats().active_workers == 4);
  CHECK(f.query_int("SELECT value FROM config_overrides WHERE name = 'max_concurrent_workers'") == 4);
  // Scaling down lets the running attempts finish; no new ones start until below the limit.
  REQUIRE(f.ask<fleet_config>(scale_atom::value, int32_t{2}));
  CHECK(f.stats().active_workers == 4);
  f.advance(1000);
  CHECK(f.stats().active_workers == 2);
  CHECK(f.query_int("SELECT count(*) FROM attempts WHERE outcome = 'cancelled'") == 0);
  REQUIRE(f.advance_until([&] { return f.finished(id); }));
  CHECK(f.status_of(id).completed == 10);
}

TEST_CASE("the autoscaling policy grows the worker limit under a backlog and shrinks it when idle") {
  fleet_fixture f; // max_concurrent_workers = 2
  autoscale_policy policy;
  policy.enabled = true;
  policy.min_workers = 1;
  policy.max_workers = 8;
  policy.up_ratio = 1.0;
  policy.idle_ms = 2000;
  policy.interval_ms = 1000;
  f.set_autoscale(policy);
  f.start();
  auto id = f.submit_ok(sleep_tasks(40, 5000));
  CHECK(f.stats().max_concurrent_workers == 2);
  f.advance(1000);
  CHECK(f.stats().max_concurrent_workers == 4);
  CHECK(f.stats().active_workers == 4);
  f.advance(1000);
  CHECK(f.stats().max_concurrent_workers == 8);
  f.advance(1000);
  CHECK(f.stats().max_concurrent_workers == 8); // the configured bound
  CHECK(f.query_int("SELECT count(*) FROM events WHERE kind = 'workers_autoscaled'") == 2);
  CHECK(f.query_int("SELECT count(*) FROM events WHERE kind = 'workers_autoscaled'"
                    " AND json_extract(detail, '$.from') = 4 AND json_extract(detail, '$.to') = 8") == 1);
  REQUIRE(f.advance_until([&] { return f.finished(id); }, 120'000, 500));
  // Idle: halved once per idle period, down to the minimum.
  REQUIRE(f.advance_until([&] { return f.stats().max_concurrent_workers == 1; }, 60'000, 500));
  CHECK(f.query_int("SELECT count(*) FROM events WHERE kind = 'workers_autoscaled'") == 5); // 2,4,8 and 4,2,1
  CHECK(f.status_of(id).completed == 40);
}

TEST_CASE("a limit the autoscaler sets is stored like scale_workers, so a restart starts from it") {
  temp_dir dir;
  auto db = dir.file("fleet.db");
  {
    fleet_fixture f{fleet_fixture::small_config(), db};
    autoscale_policy policy;
    policy.enabled = true;
    policy.max_workers = 8;
    policy.up_ratio = 1.0;
    f.set_autoscale(policy);
    f.start();
    f.submit_ok(sleep_tasks(40, 60'000));
    f.advance(1000);
    REQUIRE(f.stats().max_concurrent_workers == 4);
    f.run();
    CHECK(f.query_int("SELECT value FROM config_overrides WHERE name = 'max_concurrent_workers'") == 4);
    // Recorded once, as the autoscaler's change (not as a config update).
    CHECK(f.query_int("SELECT count(*) FROM events WHERE kind = 'config_updated'") == 0);
  }
  fleet_fixture again{fleet_fixture::small_config(), db};
  again.start();
  CHECK(again.stats().max_concurrent_workers == 4);
}

TEST_CASE("an autoscaling policy of the user's: its answer is kept within bounds, what it throws changes nothing") {
  fleet_fixture f; // max_concurrent_workers = 2
  autoscale_policy bounds;
  bounds.min_workers = 1;
  bounds.max_workers = 6;
  f.set_autoscale(bounds); // not enabled: the hook alone turns autoscaling on
  std::vector<autoscale_input> seen;
  int32_t answer = 5;
  bool throw_next = false;
  f.set_autoscale_hook([&](const autoscale_input& in) -> int32_t {
    if (throw_next)
      throw std::runtime_error("policy bug");
    seen.push_back(in);
    return answer;
  });
  f.start();
  f.submit_ok(sleep_tasks(10, 60'000));
  f.advance(1000);
  REQUIRE_FALSE(seen.empty());
  CHECK(seen.back().limit == 2);
  CHECK(seen.back().running == 2);
  CHECK(seen.back().waiting == 8);
  CHECK(f.stats().max_concurrent_workers == 5);
  answer = 1000;
  f.advance(1000);
  CHECK(f.stats().max_concurrent_workers == 6); // autoscale-max
  throw_next = true;
  f.advance(1000);
  CHECK(f.stats().max_concurrent_workers == 6);
  CHECK(f.query_int("SELECT count(*) FROM events WHERE kind = 'workers_autoscaled' "
                    "AND json_extract(detail, '$.policy') = 'hook'") == 2);
}
