// Steps of the wall clock (issue 22): fleetd stores the wall clock as read at each event and
// follows its steps, while what it measures in memory (timeouts, durations, rates) and the backoff
// of waiting retries keep their lengths.

#include "fleet_fixture.hpp"

#include <cstdlib>

using namespace fleet;
using namespace fleet::test;

namespace {

constexpr int64_t hour_ms = 3'600'000;

/// Retries that wait 5-10 s (a 10 s backoff with jitter), at most two.
fleet_config ten_second_backoff() {
  auto cfg = fleet_fixture::small_config();
  cfg.backoff_base_ms = 10'000;
  cfg.backoff_cap_ms = 20'000;
  cfg.max_retries = 2;
  return cfg;
}

int64_t steps_recorded(fleet_fixture& f) {
  return f.query_int("SELECT count(*) FROM events WHERE kind = 'clock_stepped'");
}

} // namespace

TEST_CASE("a backward step of the clock keeps a waiting retry's backoff, and stored times follow the clock") {
  auto cfg = ten_second_backoff();
  fleet_fixture f{cfg};
  f.check_clock_every(1000);
  f.start();
  auto id = f.submit_ok({make_task("flaky", "fail", R"({"times": 1})")});
  REQUIRE(f.query_int("SELECT count(*) FROM tasks WHERE state = 'retry_wait'") == 1);
  auto not_before = f.query_int("SELECT not_before FROM tasks");
  auto failed_at = f.query_int("SELECT finished_at FROM attempts WHERE attempt = 1");
  f.step_wall_clock(-hour_ms);
  f.advance(1000);
  REQUIRE(steps_recorded(f) == 1);
  auto by = f.query_int("SELECT json_extract(detail, '$.by_ms') FROM events WHERE kind = 'clock_stepped'");
  CHECK(std::abs(by + hour_ms) < 1000);
  CHECK(f.query_int("SELECT json_extract(detail, '$.retries_moved') FROM events WHERE kind = 'clock_stepped'") == 1);
  CHECK(f.query_int("SELECT not_before FROM tasks") == not_before + by);
  // The retry runs after its backoff, not an hour later.
  REQUIRE(f.advance_until([&] { return f.finished(id); }, 20'000, 10));
  CHECK(f.status_of(id).status == batch_state::completed);
  // The second attempt started on the stepped clock: an hour before the first one failed.
  auto second = f.query_int("SELECT started_at FROM attempts WHERE attempt = 2");
  CHECK(second < failed_at - hour_ms + 20'000);
  CHECK(second > failed_at - hour_ms);
}

TEST_CASE("a forward step of the clock times out no running attempt, and its duration is measured") {
  auto cfg = fleet_fixture::small_config();
  cfg.worker_timeout_ms = 10'000;
  cfg.max_retries = 0;
  fleet_fixture f{cfg};
  f.check_clock_every(1000);
  f.start();
  auto id = f.submit_ok({make_task("slow", "sleep", R"({"ms": 3000})")});
  f.advance(500);
  f.step_wall_clock(hour_ms);
  REQUIRE(f.advance_until([&] { return f.finished(id); }, 20'000, 10));
  auto rs = f.results_of(id);
  REQUIRE(rs.size() == 1);
  CHECK(rs[0].success);
  CHECK(rs[0].attempts == 1);
  CHECK(rs[0].duration_ms >= 3000);
  CHECK(rs[0].duration_ms < 4000);
  CHECK(steps_recorded(f) == 1);
  // The stored times are the wall clock as read: the step lies between start and finish.
  CHECK(f.query_int("SELECT finished_at - started_at FROM attempts") >= hour_ms);
}

TEST_CASE("a forward step of the clock starts a delayed task whose time has come") {
  fleet_fixture f{fleet_fixture::small_config()};
  f.check_clock_every(1000);
  f.start();
  auto later = make_task("later", "echo");
  later.delay_ms = 10 * 60'000;
  auto id = f.submit_ok({later});
  f.advance(2000);
  CHECK_FALSE(f.finished(id));
  f.step_wall_clock(hour_ms);
  // Within the next check (and the wake-up it re-arms), not ten minutes later.
  REQUIRE(f.advance_until([&] { return f.finished(id); }, 5000, 10));
  CHECK(steps_recorded(f) == 1);
}

TEST_CASE("a rate-limited queue goes on starting after a backward step of the clock") {
  fleet_fixture f{fleet_fixture::small_config()};
  queue_limits api;
  api.rate_count = 1;
  api.rate_interval_ms = 1000;
  f.set_declared_queues({{"api", api}});
  f.check_clock_every(500);
  f.start();
  std::vector<task> tasks;
  for (int i = 0; i < 4; ++i) {
    auto t = make_task("api-" + std::to_string(i), "echo");
    t.queue = "api";
    tasks.push_back(t);
  }
  auto id = f.submit_ok(tasks);
  auto started = [&] { return f.query_int("SELECT count(*) FROM attempts"); };
  CHECK(started() == 1);
  f.step_wall_clock(-hour_ms);
  f.advance(500);
  REQUIRE(steps_recorded(f) == 1);
  REQUIRE(f.advance_until([&] { return f.finished(id); }, 10'000, 10));
  CHECK(started() == 4);
}

TEST_CASE("a difference below the tolerance is no step") {
  fleet_fixture f{fleet_fixture::small_config()};
  f.check_clock_every(1000);
  f.start();
  f.step_wall_clock(600);
  f.advance(5000);
  CHECK(steps_recorded(f) == 0);
  f.step_wall_clock(600); // 1.2 s in all: now it is one
  f.advance(1000);
  CHECK(steps_recorded(f) == 1);
}

TEST_CASE("a schedule fires each slot once across a backward step, and skips what a forward step jumps over") {
  fleet_fixture f{fleet_fixture::small_config()};
  f.check_clock_every(1000);
  f.start();
  schedule_spec spec;
  spec.name = "tick";
  spec.every_ms = 10'000;
  spec.tasks = {make_task("t", "echo")};
  REQUIRE(f.ask<schedule_info>(schedule_add_atom::value, spec, false));
  auto fired = [&] { return f.query_int("SELECT count(*) FROM batches WHERE client_key LIKE 'schedule:tick@%'"); };
  for (int i = 0; i < 350; ++i)
    f.advance(100);
  auto before = fired();
  CHECK(before >= 3);
  // Back by a minute: the slots of that minute were fired already and are not fired again (one
  // may fire before the step is noticed, and one as the clock passes where it stepped from).
  f.step_wall_clock(-60'000);
  for (int i = 0; i < 600; ++i)
    f.advance(100);
  CHECK(fired() <= before + 2);
  // On by an hour: the 360 slots jumped over are missed (skip), not fired in a burst.
  auto at_forward = fired();
  f.step_wall_clock(hour_ms);
  for (int i = 0; i < 50; ++i)
    f.advance(100);
  CHECK(fired() <= at_forward + 2); // one before the step is noticed, one due on the new clock
  CHECK(f.query_int("SELECT count(*) FROM events WHERE kind = 'schedule_missed'") >= 1);
  CHECK(steps_recorded(f) == 2);
  // And it goes on every 10 s on the new clock.
  auto after_jump = fired();
  for (int i = 0; i < 300; ++i)
    f.advance(100);
  CHECK(fired() >= after_jump + 2);
}


TEST_CASE("a retry of an earlier run is not moved by a step that corrects a clock wrong since the start") {
  temp_dir dir;
  auto db = dir.file("fleet.db");
  auto cfg = ten_second_backoff();
  std::string id;
  int64_t not_before = 0;
  {
    fleet_fixture first{cfg, db};
    first.start();
    id = first.submit_ok({make_task("flaky", "fail", R"({"times": 1})")});
    REQUIRE(first.query_int("SELECT count(*) FROM tasks WHERE state = 'retry_wait'") == 1);
    not_before = first.query_int("SELECT not_before FROM tasks");
  }
  // The machine boots with its clock an hour behind; NTP sets it right after fleetd started.
  fleet_fixture again{cfg, db};
  again.check_clock_every(1000);
  again.step_wall_clock(-hour_ms);
  again.start();
  // Seen from the clock that is behind, the retry waits an hour more than any backoff: it is
  // brought in to backoff-cap (found_at_start), which the live step then leaves alone.
  auto pulled_in = again.query_int("SELECT not_before FROM tasks");
  CHECK(pulled_in < not_before);
  again.step_wall_clock(hour_ms);
  again.advance(1000);
  REQUIRE(steps_recorded(again) == 2);
  CHECK(again.query_int("SELECT json_extract(detail, '$.retries_moved') FROM events WHERE kind = 'clock_stepped'"
                        " AND json_extract(detail, '$.found_at_start') IS NULL") == 0);
  CHECK(again.query_int("SELECT not_before FROM tasks") == pulled_in);
  REQUIRE(again.advance_until([&] { return again.finished(id); }, 20'000, 10));
}

TEST_CASE("a retry scheduled while the clock was ahead waits no longer than backoff-cap after a restart on the right clock") {
  temp_dir dir;
  auto db = dir.file("fleet.db");
  auto cfg = ten_second_backoff();
  std::string id;
  {
    // The clock is an hour ahead while the attempt fails; fleetd stops; the clock is set right.
    fleet_fixture first{cfg, db};
    first.set_wall_offset(hour_ms);
    first.start();
    id = first.submit_ok({make_task("flaky", "fail", R"({"times": 1})")});
    REQUIRE(first.query_int("SELECT count(*) FROM tasks WHERE state = 'retry_wait'") == 1);
  }
  fleet_fixture again{cfg, db};
  again.start();
  auto now = fleet_fixture::wall_clock_now_ms();
  auto not_before = again.query_int("SELECT not_before FROM tasks");
  CHECK(not_before <= now + cfg.backoff_cap_ms);
  CHECK(not_before >= now + cfg.backoff_cap_ms - 60'000); // the cap from the start, not at once
  CHECK(again.query_int("SELECT json_extract(detail, '$.retries_moved') FROM events WHERE kind = 'clock_stepped'"
                        " AND json_extract(detail, '$.found_at_start')") == 1);
  REQUIRE(again.advance_until([&] { return again.finished(id); }, 30'000, 10));
  CHECK(again.status_of(id).completed == 1);
}

TEST_CASE("a task's own backoff longer than the fleet's cap is kept at a restart") {
  temp_dir dir;
  auto db = dir.file("fleet.db");
  auto cfg = ten_second_backoff();
  int64_t not_before = 0;
  {
    fleet_fixture first{cfg, db};
    first.start();
    auto t = make_task("patient", "fail", R"({"times": 1})");
    t.policy.backoff_ms = 600'000;
    first.submit_ok({t});
    REQUIRE(first.query_int("SELECT count(*) FROM tasks WHERE state = 'retry_wait'") == 1);
    not_before = first.query_int("SELECT not_before FROM tasks");
  }
  fleet_fixture again{cfg, db};
  again.start();
  CHECK(again.query_int("SELECT not_before FROM tasks") == not_before);
  CHECK(steps_recorded(again) == 0);
}
