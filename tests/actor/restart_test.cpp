#include "fleet_fixture.hpp"

#include <map>

using namespace fleet;
using namespace fleet::test;

namespace {

std::vector<task> mixed_sleepers(int n) {
  std::vector<task> out;
  for (int i = 0; i < n; ++i)
    out.push_back(make_task("s" + std::to_string(i), "sleep", "{\"ms\": " + std::to_string(100 * (1 + i % 3)) + "}"));
  return out;
}

void check_exactly_once(const std::vector<task_result>& rs, int n) {
  std::map<std::string, int> seen;
  for (auto& r : rs)
    ++seen[r.task_id];
  CHECK(rs.size() == static_cast<size_t>(n));
  for (int i = 0; i < n; ++i)
    CHECK(seen["s" + std::to_string(i)] == 1);
}

} // namespace

TEST_CASE("stopped with work running, restarted on the same file, everything finishes once") {
  temp_dir dir;
  auto db = dir.file("fleet.db");
  std::string id;
  {
    fleet_fixture first{fleet_fixture::small_config(), db};
    first.start();
    id = first.submit_ok(mixed_sleepers(8));
    first.advance(150); // some done, two running, the rest pending
    auto st = first.status_of(id);
    REQUIRE(st.completed > 0);
    REQUIRE(st.completed < 8);
    CHECK(first.stats().active_workers == 2);
    first.stop();
  }
  auto running = 0;
  {
    auto raw = sqlite::database::open(db, false);
    REQUIRE(raw);
    running = static_cast<int>(*raw->query_int("SELECT count(*) FROM tasks WHERE state = 'running'"));
  }
  CHECK(running == 2);
  fleet_fixture second{fleet_fixture::small_config(), db};
  second.start();
  CHECK(second.query_int("SELECT count(*) FROM attempts WHERE outcome = 'interrupted'") == 2);
  CHECK(second.query_int("SELECT count(*) FROM events WHERE kind = 'attempt_interrupted'") == 2);
  REQUIRE(second.advance_until([&] { return second.finished(id); }));
  auto st = second.status_of(id);
  CHECK(st.status == batch_state::completed);
  CHECK(st.completed == 8);
  check_exactly_once(second.results_of(id), 8);
  // Interrupted attempts do not count against max_retries and the task ran again.
  CHECK(second.query_int("SELECT count(*) FROM tasks WHERE interruptions = 1 AND attempts = 2") == 2);
}

TEST_CASE("a crash mid-attempt (no clean shutdown) is recovered from the file alone") {
  temp_dir dir;
  auto db = dir.file("fleet.db");
  std::string id;
  {
    fleet_fixture first{fleet_fixture::small_config(), db};
    first.start();
    id = first.submit_ok(mixed_sleepers(4));
    first.stop();
  }
  {
    // What a kill -9 leaves behind: tasks marked running with open attempts, and a retry waiting.
    auto raw = sqlite::database::open(db, false);
    REQUIRE(raw);
    REQUIRE_FALSE(raw->exec("UPDATE tasks SET state = 'running', attempts = 1 WHERE task_id IN ('s0', 's1');"
                            "DELETE FROM attempts;"
                            "INSERT INTO attempts (task_seq, attempt, worker_id, started_at)"
                            " SELECT seq, 1, 'worker-dead', 0 FROM tasks WHERE task_id IN ('s0', 's1');"));
  }
  fleet_fixture second{fleet_fixture::small_config(), db};
  second.start();
  REQUIRE(second.advance_until([&] { return second.finished(id); }));
  check_exactly_once(second.results_of(id), 4);
  CHECK(second.query_int("SELECT count(*) FROM attempts WHERE worker_id = 'worker-dead'"
                         " AND outcome = 'interrupted'") == 2);
}

TEST_CASE("waiting retries keep their time across a restart") {
  temp_dir dir;
  auto db = dir.file("fleet.db");
  auto cfg = fleet_fixture::small_config();
  cfg.backoff_base_ms = 10'000;
  cfg.backoff_cap_ms = 10'000;
  std::string id;
  int64_t due = 0;
  {
    fleet_fixture first{cfg, db};
    first.start();
    id = first.submit_ok({make_task("flaky", "fail", R"({"times": 1})")});
    due = first.query_int("SELECT not_before FROM tasks");
    first.stop();
  }
  fleet_fixture second{cfg, db};
  second.start();
  CHECK(second.query_int("SELECT not_before FROM tasks") == due);
  CHECK(second.query_int("SELECT state = 'retry_wait' FROM tasks") == 1);
  REQUIRE(second.advance_until([&] { return second.finished(id); }, 60'000, 100));
  CHECK(second.results_of(id)[0].attempts == 2);
}

TEST_CASE("configuration persisted by scale_workers wins over the start-up values") {
  temp_dir dir;
  auto db = dir.file("fleet.db");
  {
    fleet_fixture first{fleet_fixture::small_config(), db};
    first.start();
    REQUIRE(first.ask<fleet_config>(scale_atom::value, int32_t{7}));
  }
  // The operator edits the start-up configuration: fields not changed at runtime follow it.
  auto edited = fleet_fixture::small_config();
  edited.max_concurrent_workers = 3;
  edited.max_retries = 9;
  fleet_fixture second{edited, db};
  second.start();
  auto cfg = second.ask<fleet_config>(get_config_atom::value);
  REQUIRE(cfg);
  CHECK(cfg->max_concurrent_workers == 7);
  CHECK(cfg->max_retries == 9);
}

TEST_CASE("a drain takes no new work and waits for running attempts to finish") {
  temp_dir dir;
  auto db = dir.file("fleet.db");
  std::string id;
  {
    fleet_fixture first{fleet_fixture::small_config(), db};
    first.start();
    id = first.submit_ok(mixed_sleepers(6));
    first.advance(50); // s0 (100 ms) and s1 (200 ms) are running
    auto rh = first.request(drain_atom::value, int64_t{10'000});
    first.run();
    auto refused = first.ask<std::string>(submit_atom::value, echo_tasks(1));
    REQUIRE_FALSE(refused);
    CHECK(refused.error() == errc::shutting_down);
    first.advance(200);
    std::optional<int32_t> interrupted;
    rh.receive([&](int32_t n) { interrupted = n; }, [&](caf::error& err) { FAIL(error_text(err)); });
    REQUIRE(interrupted);
    CHECK(*interrupted == 0);
    auto st = first.status_of(id);
    CHECK(st.completed == 2); // the two that were running; nothing new started
    CHECK(first.stats().active_workers == 0);
    CHECK(first.query_int("SELECT count(*) FROM tasks WHERE state = 'pending'") == 4);
    first.stop();
  }
  fleet_fixture second{fleet_fixture::small_config(), db};
  second.start();
  CHECK(second.query_int("SELECT count(*) FROM attempts WHERE outcome = 'interrupted'") == 0);
  REQUIRE(second.advance_until([&] { return second.finished(id); }));
  check_exactly_once(second.results_of(id), 6);
}

TEST_CASE("a drain that times out records the running attempts as interrupted, and they run again") {
  temp_dir dir;
  auto db = dir.file("fleet.db");
  std::string id;
  {
    fleet_fixture first{fleet_fixture::small_config(), db};
    first.start();
    id = first.submit_ok(mixed_sleepers(6));
    first.advance(50);
    auto rh = first.request(drain_atom::value, int64_t{20});
    first.run();
    first.advance(30);
    std::optional<int32_t> interrupted;
    rh.receive([&](int32_t n) { interrupted = n; }, [&](caf::error& err) { FAIL(error_text(err)); });
    REQUIRE(interrupted);
    CHECK(*interrupted == 2);
    CHECK(first.query_int("SELECT count(*) FROM attempts WHERE outcome = 'interrupted'") == 2);
    CHECK(first.query_int("SELECT count(*) FROM tasks WHERE state = 'running'") == 0);
    CHECK(first.query_int("SELECT count(*) FROM tasks WHERE state = 'pending'") == 6);
    first.advance(1000); // late worker replies change nothing
    CHECK(first.query_int("SELECT count(*) FROM tasks WHERE state = 'succeeded'") == 0);
    first.stop();
  }
  fleet_fixture second{fleet_fixture::small_config(), db};
  second.start();
  REQUIRE(second.advance_until([&] { return second.finished(id); }));
  check_exactly_once(second.results_of(id), 6);
  CHECK(second.query_int("SELECT count(*) FROM tasks WHERE interruptions = 1 AND attempts = 2") == 2);
  CHECK(second.status_of(id).status == batch_state::completed);
}

TEST_CASE("a batch uploaded in chunks appears at once when sealed, even across a restart") {
  temp_dir dir;
  auto db = dir.file("fleet.db");
  auto chunk = [](int from, int n) {
    std::vector<task> out;
    for (int i = from; i < from + n; ++i)
      out.push_back(make_task("t" + std::to_string(i), "echo", "{}"));
    return out;
  };
  std::string upload;
  {
    fleet_fixture first{fleet_fixture::small_config(), db};
    first.start();
    auto opened = first.ask<std::string>(upload_open_atom::value);
    REQUIRE(opened);
    upload = *opened;
    auto staged = first.ask<int64_t>(upload_chunk_atom::value, upload, chunk(0, 3));
    REQUIRE(staged);
    CHECK(*staged == 3);
    // A duplicate within a chunk is refused with the chunk.
    auto dup = first.ask<int64_t>(upload_chunk_atom::value, upload,
                                  std::vector<task>{make_task("x", "echo"), make_task("x", "echo")});
    REQUIRE_FALSE(dup);
    CHECK(dup.error() == errc::duplicate_task_id);
    // Nothing is visible or runs before the seal.
    CHECK(first.stats().total_tasks == 0);
    CHECK(first.query_int("SELECT count(*) FROM tasks") == 0);
    first.stop();
  }
  fleet_fixture second{fleet_fixture::small_config(), db};
  second.start();
  auto staged = second.ask<int64_t>(upload_chunk_atom::value, upload, chunk(3, 4));
  REQUIRE(staged);
  CHECK(*staged == 7);
  auto id = second.ask<std::string>(upload_seal_atom::value, upload);
  REQUIRE(id);
  REQUIRE(second.advance_until([&] { return second.finished(*id); }));
  auto rs = second.results_of(*id);
  REQUIRE(rs.size() == 7);
  for (int i = 0; i < 7; ++i)
    CHECK(rs[static_cast<size_t>(i)].task_id == "t" + std::to_string(i));
  CHECK(second.query_int("SELECT count(*) FROM upload_parts") == 0);
  CHECK(second.query_int("SELECT count(*) FROM uploads") == 0);
  auto again = second.ask<std::string>(upload_seal_atom::value, upload);
  REQUIRE_FALSE(again);
  CHECK(again.error() == errc::unknown_upload);
  auto opened = second.ask<std::string>(upload_open_atom::value);
  REQUIRE(opened);
  auto empty = second.ask<std::string>(upload_seal_atom::value, *opened);
  REQUIRE_FALSE(empty);
  CHECK(empty.error() == errc::invalid_batch);
  auto bad = second.ask<int64_t>(upload_chunk_atom::value, *opened,
                                 std::vector<task>{make_task("x", "teleport")});
  REQUIRE_FALSE(bad);
  CHECK(bad.error() == errc::unknown_task_type);
}

TEST_CASE("a task id repeated across chunks fails the seal, and neither the batch nor the upload stays") {
  fleet_fixture f{fleet_fixture::small_config()};
  f.start();
  auto opened = f.ask<std::string>(upload_open_atom::value);
  REQUIRE(opened);
  REQUIRE(f.ask<int64_t>(upload_chunk_atom::value, *opened, echo_tasks(3)));
  auto staged = f.ask<int64_t>(upload_chunk_atom::value, *opened, echo_tasks(2));
  REQUIRE(staged); // chunks are checked alone; the repeat shows at the seal
  CHECK(*staged == 5);
  auto sealed = f.ask<std::string>(upload_seal_atom::value, *opened);
  REQUIRE_FALSE(sealed);
  CHECK(sealed.error() == errc::duplicate_task_id);
  CHECK(error_text(sealed.error()).find("task 3 (id \"") == 0);
  CHECK(f.stats().total_batches == 0);
  CHECK(f.query_int("SELECT count(*) FROM tasks") == 0);
  // Such an upload can never seal: it is gone by the time the client hears why.
  CHECK(f.query_int("SELECT count(*) FROM upload_parts") == 0);
  CHECK(f.query_int("SELECT count(*) FROM uploads") == 0);
  auto again = f.ask<std::string>(upload_seal_atom::value, *opened);
  REQUIRE_FALSE(again);
  CHECK(again.error() == errc::unknown_upload);
  // Everything else goes on.
  auto fine = f.submit_ok(echo_tasks(2));
  REQUIRE(f.advance_until([&] { return f.finished(fine); }));
}
