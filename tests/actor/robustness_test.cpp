// What a worker, a hook, a node or the database does wrong must not take the manager down
// (issue 16): exceptions, permanent failures, lost attempts, a file damaged under a running fleet.

#include "actors/exception_guard.hpp"
#include "actors/fleet_node.hpp"
#include "fleet_fixture.hpp"

#include <caf/typed_event_based_actor.hpp>
#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>

using namespace fleet;
using namespace fleet::test;

namespace {

worker_actor::behavior_type throwing_worker_actor(worker_actor::pointer self) {
  report_exceptions(self);
  return {
    [](execute_atom, const task&, int32_t) -> task_outcome { throw std::runtime_error("boom"); },
  };
}

worker_actor::behavior_type hopeless_worker(worker_actor::pointer self) {
  return {
    [self](execute_atom, const task&, int32_t) -> task_outcome {
      self->quit();
      return permanent_failure("no attempt can work");
    },
  };
}

/// Hooks that fail in the user's code, not in fleetd's.
struct throwing_hooks : execution_hooks {
  caf::expected<worker_actor> get_worker_instance(caf::actor_system& sys, const worker_registry& registry,
                                                  const attempt_info& attempt, const task& t) override {
    if (t.type == "sleep")
      throw std::logic_error("no instance today");
    return execution_hooks::get_worker_instance(sys, registry, attempt, t);
  }
};

using echo_actor = caf::typed_actor<caf::replies_to<int32_t>::with<int32_t>>;

echo_actor::behavior_type fragile(echo_actor::pointer) {
  return {
    guarded([](int32_t x) -> int32_t {
      if (x < 0)
        throw std::out_of_range("negative");
      return x * 2;
    }),
  };
}

} // namespace

TEST_CASE("a guarded handler that throws answers internal_error, and its actor goes on") {
  fleet_fixture f;
  auto a = f.sys().spawn(fragile);
  caf::scoped_actor self{f.sys()};
  auto ask = [&](int32_t x) {
    caf::expected<int32_t> out{0};
    auto rh = self->request(a, caf::infinite, x);
    f.run();
    rh.receive([&](int32_t y) { out = y; }, [&](caf::error& err) { out = std::move(err); });
    return out;
  };
  auto bad = ask(-1);
  REQUIRE_FALSE(bad);
  CHECK(bad.error() == errc::internal_error);
  CHECK(error_text(bad.error()) == "fleetd failed while handling a message: negative (see its log)");
  auto good = ask(21);
  REQUIRE(good);
  CHECK(*good == 42);
  caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  f.run();
}

TEST_CASE("a worker that throws fails its attempt with the exception's text") {
  auto cfg = fleet_fixture::small_config();
  cfg.max_retries = 1;
  fleet_fixture f{cfg};
  f.registry().add("throw", [](caf::actor_system& sys) { return sys.spawn(throwing_worker_actor); });
  f.start();
  auto id = f.submit_ok({make_task("t", "throw"), make_task("e", "echo")});
  REQUIRE(f.advance_until([&] { return f.finished(id); }));
  auto results = f.results_of(id);
  REQUIRE(results.size() == 2);
  CHECK(results[0].task_id == "t");
  CHECK(results[0].error == "the worker threw: boom");
  CHECK(results[0].attempts == 2);
  CHECK(results[1].success);
}

TEST_CASE("an execution hook that throws fails the attempt, and the manager goes on") {
  auto cfg = fleet_fixture::small_config();
  cfg.max_retries = 0;
  fleet_fixture f{cfg};
  f.set_hooks(std::make_shared<throwing_hooks>());
  f.start();
  auto id = f.submit_ok({make_task("s", "sleep", R"({"ms": 10})"), make_task("e", "echo")});
  REQUIRE(f.advance_until([&] { return f.finished(id); }));
  auto results = f.results_of(id);
  CHECK(results[0].error == "the execution hook threw: no instance today");
  CHECK(results[1].success);
  CHECK(f.query_int("SELECT count(*) FROM tasks WHERE state = 'running'") == 0);
  CHECK(f.stats().active_workers == 0);
}

TEST_CASE("a worker that knows no retry can help fails its task at once") {
  auto cfg = fleet_fixture::small_config();
  cfg.max_retries = 5;
  fleet_fixture f{cfg};
  f.registry().add("hopeless", [](caf::actor_system& sys) { return sys.spawn(hopeless_worker); });
  f.start();
  auto id = f.submit_ok({make_task("h", "hopeless")});
  REQUIRE(f.advance_until([&] { return f.finished(id); }));
  auto results = f.results_of(id);
  CHECK(results[0].error == "no attempt can work");
  CHECK(results[0].attempts == 1);
  CHECK(f.query_int("SELECT retries FROM batches") == 0);
}

TEST_CASE("a result over fleet.max-task-result fails its task at once, and the fleet goes on storing the rest") {
  auto cfg = fleet_fixture::small_config();
  cfg.max_retries = 5;
  fleet_fixture f{cfg};
  f.set_max_task_result(1024);
  f.start();
  // The echo worker answers with the task's data: 2,000 bytes are over the limit, 100 within.
  auto big = R"({"pad":")" + std::string(2000, 'x') + R"("})";
  auto small = R"({"pad":")" + std::string(100, 'y') + R"("})";
  auto id = f.submit_ok({make_task("big", "echo", big), make_task("small", "echo", small)});
  REQUIRE(f.advance_until([&] { return f.finished(id); }));
  auto results = f.results_of(id);
  REQUIRE(results.size() == 2);
  CHECK_FALSE(results[0].success);
  CHECK(results[0].result.empty());
  CHECK(results[0].error == fmt::format("the result of {} bytes is over fleet.max-task-result (1024 bytes)", big.size()));
  CHECK(results[0].attempts == 1);
  CHECK(results[1].success);
  CHECK(results[1].result == small);
  CHECK(f.status_of(id).status == batch_state::partial);
  CHECK(f.query_int("SELECT count(*) FROM tasks WHERE task_id = 'big' AND state = 'failed'"
                    " AND (result IS NULL OR result = '')")
        == 1);
  CHECK(f.query_int("SELECT retries FROM batches") == 0);
  // Nothing of it stays in the way of later work.
  auto next = f.submit_ok(echo_tasks(3));
  REQUIRE(f.advance_until([&] { return f.finished(next); }));
  CHECK(f.status_of(next).completed == 3);
}

TEST_CASE("a task whose node keeps going away fails for good after fleet.max-interruptions") {
  fleet_fixture f;
  f.set_nodes(0);
  f.set_max_interruptions(2);
  f.start();
  auto join = [&](const std::string& name) {
    fleet_node_options opts;
    opts.manager = f.manager();
    opts.announcement = node_announcement{name, {"sleep"}, 1, {}};
    auto registry = std::make_shared<worker_registry>();
    add_builtin_workers(*registry);
    opts.registry = registry;
    auto node = f.sys().spawn(fleet_node, opts);
    f.run();
    return node;
  };
  auto id = f.submit_ok({make_task("long", "sleep", R"({"ms": 600000})")});
  auto first = join("n1");
  f.advance(f.node_start_delay()); // the start goes on record once no end came with it
  CHECK(f.query_int("SELECT count(*) FROM tasks WHERE state = 'running'") == 1);
  caf::anon_send_exit(first, caf::exit_reason::kill);
  f.run();
  CHECK(f.query_int("SELECT orphaned_attempts FROM tasks") == 1);
  CHECK(f.query_int("SELECT state = 'pending' FROM tasks") == 1);
  auto second = join("n2");
  caf::anon_send_exit(second, caf::exit_reason::kill);
  f.run();
  REQUIRE(f.finished(id));
  auto results = f.results_of(id);
  CHECK(results[0].error.find("given up after 2 lost attempts (fleet.max-interruptions): fleetd or the task's "
                              "node went down during each") == 0);
  CHECK(results[0].error.find("node n2 was dropped") != std::string::npos);
  CHECK(f.query_int("SELECT count(*) FROM attempts WHERE outcome = 'interrupted'") == 2);
  CHECK(f.metrics().tasks_failed.value() == 1);
  CHECK(f.metrics().tasks_interrupted.value() == 2);
}

TEST_CASE("a database damaged under a running fleet: nothing more is written, new work is refused") {
  fleet_fixture f;
  std::vector<task> tasks;
  for (int i = 0; i < 2000; ++i)
    tasks.push_back(make_task("t" + std::to_string(i), "sleep", R"({"ms": 600000, "pad": "fill the pages"})"));
  f.start();
  // Paused: nothing runs, so nothing needs the damaged index at the next start.
  REQUIRE(f.ask<bool>(pause_atom::value, std::string{}));
  f.submit_ok(tasks);
  f.stop();
  auto root = f.query_int("SELECT rootpage FROM sqlite_schema WHERE name = 'tasks_runnable'");
  auto page_size = f.query_int("PRAGMA page_size");
  {
    std::fstream file{f.db_path(), std::ios::in | std::ios::out | std::ios::binary};
    file.seekp((root - 1) * page_size);
    std::string garbage(64, '\xff');
    file.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
  }
  f.set_check_integrity(false); // as if the damage came while fleetd ran
  f.start();
  // Resumed, the fleet looks for work: the first read of the index meets the damage.
  REQUIRE(f.ask<bool>(resume_atom::value, std::string{}));
  auto wal = f.db_path() + "-wal";
  auto wal_size = std::filesystem::file_size(wal);
  auto refused = f.ask<std::string>(submit_atom::value, echo_tasks(1));
  REQUIRE_FALSE(refused);
  CHECK(refused.error() == errc::storage_unavailable);
  CHECK_MESSAGE(error_text(refused.error()).find("the database file is damaged") != std::string::npos, error_text(refused.error()));
  auto paused = f.ask<bool>(pause_atom::value, std::string{});
  REQUIRE_FALSE(paused);
  CHECK(paused.error() == errc::database_damaged);
  CHECK(f.metrics().storage_writable.value() == 0);
  // Nothing more went to the file: the write-ahead log did not grow.
  CHECK(std::filesystem::file_size(wal) == wal_size);
  f.stop();
}

TEST_CASE("a cancel that cannot be stored leaves its stopped attempts recorded, and a later cancel ends all") {
  fleet_fixture f; // 2 workers
  f.start();
  auto id = f.submit_ok(sleep_tasks(4, 600'000, "s"));
  f.advance(10);
  REQUIRE(f.stats().active_workers == 2);
  {
    // Another connection holds the write lock: the cancel's transaction cannot begin (busy_timeout).
    write_lock_holder blocker{f.db_path()};
    auto refused = f.ask<bool>(cancel_atom::value, id);
    REQUIRE_FALSE(refused);
    CHECK_MESSAGE(error_text(refused.error()).find("database is locked") != std::string::npos,
                  error_text(refused.error()));
  }
  // Once the store takes writes again, the two stopped attempts are on record as interrupted: no
  // task of the batch stays `running` in the file with nothing running it.
  REQUIRE(f.advance_until([&] {
    return f.query_int("SELECT count(*) FROM attempts WHERE outcome = 'interrupted'") == 2;
  }));
  CHECK(f.query_int("SELECT count(*) FROM attempts WHERE outcome = 'interrupted'"
                    " AND error LIKE 'stopped by a cancel that could not be stored: %'")
        == 2);
  REQUIRE(*f.ask<bool>(cancel_atom::value, id));
  f.run();
  CHECK(f.finished(id));
  CHECK(f.status_of(id).cancelled == 4);
  CHECK(f.query_int("SELECT count(*) FROM tasks WHERE state <> 'cancelled'") == 0);
  CHECK(f.query_int("SELECT count(*) FROM attempts WHERE finished_at IS NULL") == 0);
  // After a restart nothing of the cancelled batch runs.
  f.stop();
  f.start();
  f.advance(100);
  CHECK(f.stats().active_workers == 0);
  CHECK(f.query_int("SELECT count(*) FROM tasks WHERE state <> 'cancelled'") == 0);
}

TEST_CASE("a group commit that another program's lock holds back stops new attempts until it commits") {
  fleet_fixture f; // 2 workers
  f.start();
  auto first = f.submit_ok(sleep_tasks(1, 50, "s"));
  f.advance(10);
  REQUIRE(f.stats().active_workers == 1);
  {
    // The attempt's end waits for a group commit that cannot begin (busy_timeout).
    write_lock_holder blocker{f.db_path()};
    f.advance(50);
    CHECK(f.metrics().storage_writable.value() == 0);
    // Nothing starts that could not be recorded, and new work is refused with the reason.
    auto refused = f.ask<std::string>(submit_atom::value, echo_tasks(1));
    REQUIRE_FALSE(refused);
    CHECK(refused.error() == errc::storage_unavailable);
    CHECK_MESSAGE(error_text(refused.error()).find("a group commit failed: sqlite: database is locked")
                    != std::string::npos,
                  error_text(refused.error()));
  }
  // The next try (a second later) commits: the end is recorded, and work is taken again.
  REQUIRE(f.advance_until([&] { return f.finished(first); }, 5'000));
  CHECK(f.metrics().storage_writable.value() == 1);
  auto second = f.submit_ok(echo_tasks(2));
  REQUIRE(f.advance_until([&] { return f.finished(second); }, 5'000));
  CHECK(f.query_int("SELECT count(*) FROM attempts WHERE outcome = 'succeeded'") == 3);
  CHECK(f.query_int("SELECT count(*) FROM tasks t WHERE attempts <> (SELECT count(*) FROM attempts a"
                    " WHERE a.task_seq = t.seq)") == 0);
}
