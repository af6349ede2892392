#include "fleet_fixture.hpp"

using namespace fleet;
using namespace fleet::test;

namespace {

task delayed(std::string id, int64_t delay_ms, int32_t priority = 0) {
  auto t = make_task(std::move(id), "echo", "{}", priority);
  t.delay_ms = delay_ms;
  return t;
}

int64_t started(fleet_fixture& f, const std::string& task_id) {
  return f.query_int("SELECT count(*) FROM attempts a JOIN tasks t ON t.seq = a.task_seq WHERE t.task_id = '"
                     + task_id + "'");
}

} // namespace

TEST_CASE("a delayed task is stored at once and does not start a moment early") {
  fleet_fixture f;
  f.start();
  auto id = f.submit_ok({delayed("later", 5'000), make_task("now", "echo")});
  auto created = f.status_of(id).created_at;
  CHECK(f.query_int("SELECT state = 'scheduled' FROM tasks WHERE task_id = 'later'") == 1);
  CHECK(f.query_int("SELECT not_before FROM tasks WHERE task_id = 'later'") == created + 5'000);
  REQUIRE(f.advance_until([&] { return started(f, "now") == 1 && f.status_of(id).completed == 1; }, 1'000, 1));
  auto st = f.status_of(id);
  CHECK(st.scheduled == 1);
  CHECK(st.next_run_at == created + 5'000);
  CHECK(st.status == batch_state::processing);
  CHECK(f.stats().scheduled_tasks == 1);
  CHECK(f.stats().pending_tasks == 0); // a delayed task is not backlog: autoscaling does not grow for it
  // Step through the last milliseconds before its time: no attempt yet.
  auto elapsed = f.query_int("SELECT max(finished_at) FROM attempts") - created;
  f.advance(4'999 - elapsed - 1);
  CHECK(started(f, "later") == 0);
  CHECK(f.query_int("SELECT state = 'scheduled' FROM tasks WHERE task_id = 'later'") == 1);
  REQUIRE(f.advance_until([&] { return f.finished(id); }, 1'000, 1));
  auto first_start = f.query_int("SELECT a.started_at FROM attempts a JOIN tasks t ON t.seq = a.task_seq"
                                 " WHERE t.task_id = 'later'");
  CHECK(first_start >= created + 5'000);
  CHECK(first_start <= created + 5'002);
  st = f.status_of(id);
  CHECK(st.status == batch_state::completed);
  CHECK(st.scheduled == 0);
  CHECK(st.next_run_at == 0);
  CHECK(f.stats().scheduled_tasks == 0);
  CHECK(f.query_int("SELECT scheduled FROM fleet_totals") == 0);
}

TEST_CASE("due delayed tasks keep their priority among the tasks that wait") {
  auto cfg = fleet_fixture::small_config();
  cfg.max_concurrent_workers = 1;
  fleet_fixture f{cfg};
  f.start();
  REQUIRE(f.ask<bool>(pause_atom::value, std::string{}));
  // Each takes 10 ms, so that the one worker's order shows in the start times.
  auto low = f.submit_ok({make_task("low-a", "sleep", R"({"ms": 10})", 1), make_task("low-b", "sleep", R"({"ms": 10})", 1)});
  auto late = make_task("high", "sleep", R"({"ms": 10})", 9);
  late.delay_ms = 1'000;
  auto high = f.submit_ok({late});
  f.advance(1'100);
  CHECK(f.query_int("SELECT state = 'pending' FROM tasks WHERE task_id = 'high'") == 1);
  REQUIRE(f.ask<bool>(resume_atom::value, std::string{}));
  REQUIRE(f.advance_until([&] { return f.finished(low) && f.finished(high); }, 5'000, 1));
  // The one worker took the due high-priority task first, although it was submitted last.
  CHECK(f.query_int("SELECT (SELECT started_at FROM tasks WHERE task_id = 'high')"
                    " < (SELECT min(started_at) FROM tasks WHERE task_id LIKE 'low-%')") == 1);
}

TEST_CASE("a run_at in ms since the epoch is honoured, and bad start times are refused with nothing stored") {
  fleet_fixture f;
  f.start();
  auto probe = f.submit_ok({make_task("probe", "echo")});
  auto now = f.status_of(probe).created_at;
  auto t = make_task("at", "echo");
  t.run_at = now + 2'000;
  auto id = f.submit_ok({t});
  CHECK(f.status_of(id).next_run_at == now + 2'000);
  auto refused = [&](task bad, const std::string& needle) {
    auto batches = f.query_int("SELECT count(*) FROM batches");
    auto r = f.ask<std::string>(submit_atom::value, std::vector<task>{make_task("ok", "echo"), bad});
    REQUIRE_FALSE(r);
    CHECK(r.error() == errc::invalid_task);
    CHECK_MESSAGE(error_text(r.error()).find(needle) != std::string::npos, error_text(r.error()));
    CHECK(f.query_int("SELECT count(*) FROM batches") == batches);
  };
  auto negative = make_task("neg", "echo");
  negative.delay_ms = -1;
  refused(negative, "delay_ms is negative");
  auto both = make_task("both", "echo");
  both.delay_ms = 10;
  both.run_at = now + 10;
  refused(both, "both set");
  auto far = make_task("far", "echo");
  far.delay_ms = int64_t{366} * 86'400'000;
  refused(far, "fleet.max-delay (365d)");
  auto far_at = make_task("far-at", "echo");
  far_at.run_at = now + int64_t{366} * 86'400'000;
  refused(far_at, "further away than fleet.max-delay");
  auto seconds = make_task("secs", "echo");
  seconds.run_at = now / 1000; // seconds, not ms: 1970
  refused(seconds, "in seconds instead of milliseconds");
  // A little in the past is clock skew: it runs at once.
  auto skewed = make_task("skewed", "echo");
  skewed.run_at = now - 30'000;
  auto ok = f.submit_ok({skewed});
  CHECK(f.status_of(ok).scheduled == 0);
  REQUIRE(f.advance_until([&] { return f.finished(ok) && f.finished(id); }, 5'000, 1));
}

TEST_CASE("cancelling a batch cancels its delayed tasks, and pausing holds them past their time") {
  fleet_fixture f;
  f.start();
  auto cancelled = f.submit_ok({delayed("a", 1'000), delayed("b", 60'000)});
  auto r = f.ask<bool>(cancel_atom::value, cancelled);
  REQUIRE(r);
  CHECK(*r);
  auto st = f.status_of(cancelled);
  CHECK(st.status == batch_state::cancelled);
  CHECK(st.cancelled == 2);
  CHECK(st.scheduled == 0);
  CHECK(f.stats().scheduled_tasks == 0);
  auto paused = f.submit_ok({delayed("p", 1'000)});
  REQUIRE(f.ask<bool>(pause_atom::value, paused));
  f.advance(2'000);
  CHECK(f.query_int("SELECT state = 'pending' AND paused = 1 FROM tasks WHERE task_id = 'p'") == 1);
  CHECK(started(f, "p") == 0);
  REQUIRE(f.ask<bool>(resume_atom::value, paused));
  REQUIRE(f.advance_until([&] { return f.finished(paused); }, 5'000, 1));
  CHECK(f.query_int("SELECT count(*) FROM events WHERE kind = 'task_cancelled' AND batch_id = '" + cancelled + "'")
        == 2);
}

TEST_CASE("delayed tasks keep their time across a restart") {
  temp_dir dir;
  auto db = dir.file("fleet.db");
  std::string id;
  int64_t due = 0;
  {
    fleet_fixture first{fleet_fixture::small_config(), db};
    first.start();
    id = first.submit_ok({delayed("later", 20'000)});
    due = first.query_int("SELECT not_before FROM tasks");
    first.stop();
  }
  fleet_fixture second{fleet_fixture::small_config(), db};
  second.start();
  CHECK(second.query_int("SELECT not_before FROM tasks") == due);
  CHECK(second.status_of(id).scheduled == 1);
  second.advance(10'000);
  CHECK(second.query_int("SELECT state = 'scheduled' FROM tasks") == 1);
  REQUIRE(second.advance_until([&] { return second.finished(id); }, 30'000, 100));
  CHECK(second.query_int("SELECT started_at >= " + std::to_string(due) + " FROM attempts") == 1);
}

TEST_CASE("many tasks due at once become pending in bounded slices, each counted once") {
  auto cfg = fleet_fixture::small_config();
  cfg.max_concurrent_workers = 4;
  fleet_fixture f{cfg};
  f.set_promotion_slice(7);
  f.start();
  std::vector<task> tasks;
  for (int i = 0; i < 50; ++i)
    tasks.push_back(delayed("t" + std::to_string(i), 1'000));
  auto id = f.submit_ok(std::move(tasks));
  CHECK(f.status_of(id).scheduled == 50);
  f.advance(1'000);
  REQUIRE(f.advance_until([&] { return f.finished(id); }, 10'000, 1));
  auto st = f.status_of(id);
  CHECK(st.completed == 50);
  CHECK(st.scheduled == 0);
  CHECK(f.query_int("SELECT scheduled FROM fleet_totals") == 0);
  CHECK(f.query_int("SELECT count(*) FROM attempts") == 50);
}
