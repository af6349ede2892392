// The store's reads on PostgreSQL against SQLite's (issue 24): the same rows in both databases,
// then every read of store_reader on both, compared answer for answer (errors by code).

#include "fleet/pg_migrations.hpp"
#include "fleet/pg_reader.hpp"
#include "fleet/sqlite.hpp"
#include "fleet/store.hpp"
#include "fleetd/error.hpp"
#include "pg_fixture.hpp"
#include "temp_dir.hpp"

#include <caf/deep_to_string.hpp>
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <functional>
#include <string>
#include <vector>

using namespace fleet;
using fleet::test::code_of;
using fleet::test::pg_database;
using fleet::test::temp_dir;

namespace {

/// Rows of every kind the reads look at, valid on both schemas.
const std::vector<std::string> reader_rows{
  "INSERT INTO batches (id, created_at, started_at, finished_at, total, succeeded, failed, retries, duration_ms,"
  " first_seq, last_seq, client_key) VALUES ('b1', 1000, 1100, 5000, 3, 2, 1, 1, 700, 1, 3, 'key-1')",
  "INSERT INTO batches (id, created_at, started_at, total, succeeded, first_seq, last_seq, scheduled)"
  " VALUES ('b2', 2000, 2100, 10, 2, 4, 13, 1)",
  "INSERT INTO batches (id, created_at, cancelled_at, finished_at, paused_at, total, cancelled, first_seq, last_seq)"
  " VALUES ('b3', 3000, 3500, 3500, 3100, 1, 1, 14, 14)",
  "INSERT INTO tasks (seq, batch_id, task_id, type, data, state, attempts, finished_at, duration_ms, result, error,"
  " priority, queue, task_group, progress, progress_note, not_before, interruptions, orphaned_attempts,"
  " replay_base, dependencies, waiting_on, dependents) VALUES"
  " (1, 'b1', 't1', 'echo', '{}', 'succeeded', 1, 1200, 100, '{\"ok\":1}', NULL, 0, 'default', NULL, NULL, NULL, 0, 0, 0, 0, 0, 0, 0),"
  " (2, 'b1', 't2', 'sleep', '{\"ms\":5}', 'succeeded', 2, 4500, 300, '\"text\"', NULL, 0, 'default', NULL, NULL, NULL, 0, 0, 0, 0, 0, 0, 0),"
  " (3, 'b1', 't3', 'exec', '{}', 'failed', 2, 5000, 300, NULL, 'exit 3', 0, 'default', NULL, NULL, NULL, 0, 0, 0, 0, 0, 0, 0),"
  " (4, 'b2', 'u1', 'echo', '{}', 'succeeded', 1, 2200, 50, 'not json', NULL, 0, 'default', NULL, NULL, NULL, 0, 0, 0, 0, 0, 0, 1),"
  " (5, 'b2', 'u2', 'echo', '{}', 'running', 1, NULL, NULL, NULL, NULL, 0, 'q1', 'g1', 0.5, 'half way', 0, 0, 0, 0, 0, 0, 1),"
  " (6, 'b2', 'u3', 'echo', '{\"n\":3}', 'pending', 0, NULL, NULL, NULL, NULL, 5, 'default', NULL, NULL, NULL, 2150, 0, 0, 0, 0, 0, 0),"
  " (7, 'b2', 'u4', 'echo', '{}', 'pending', 0, NULL, NULL, NULL, NULL, 5, 'q1', 'g1', NULL, NULL, 0, 0, 0, 0, 2, 0, 0),"
  " (8, 'b2', 'u5', 'echo', '{}', 'pending', 1, NULL, NULL, NULL, NULL, 0, 'q1', 'g2', NULL, NULL, 0, 1, 1, 0, 0, 0, 0),"
  " (9, 'b2', 'u6', 'echo', '{}', 'pending', 3, NULL, NULL, NULL, 'before', 3, 'q1', 'g1', 0.25, NULL, 0, 0, 0, 2, 0, 0, 0),"
  " (10, 'b2', 'u7', 'echo', '{}', 'scheduled', 0, NULL, NULL, NULL, NULL, 0, 'default', NULL, NULL, NULL, 9000, 0, 0, 0, 0, 0, 0),"
  " (11, 'b2', 'u8', 'echo', '{}', 'retry_wait', 1, NULL, NULL, NULL, 'boom', 0, 'default', NULL, NULL, NULL, 7000, 0, 0, 0, 0, 0, 0),"
  " (12, 'b2', 'u9', 'echo', '{}', 'blocked', 0, NULL, NULL, NULL, NULL, 0, 'default', NULL, NULL, NULL, 0, 0, 0, 0, 1, 1, 0),"
  " (13, 'b2', 'u10', 'echo', '{}', 'succeeded', 1, 2300, 20, '{\"ok\":[1,\"x\"]}', NULL, 0, 'default', NULL, NULL, NULL, 0, 0, 0, 0, 0, 0, 1),"
  " (14, 'b3', 'v1', 'echo', '{}', 'cancelled', 0, 3500, NULL, NULL, NULL, 0, 'default', NULL, NULL, NULL, 0, 0, 0, 0, 0, 0, 0)",
  "INSERT INTO task_deps (after_seq, task_seq) VALUES (4, 7), (13, 7), (5, 12)",
  "INSERT INTO task_policies (task_seq, timeout_ms, max_retries, backoff_ms, retry) VALUES (7, 5000, 2, NULL, NULL),"
  " (9, NULL, NULL, 100, 0)",
  "INSERT INTO uploads (id, created_at, tasks) VALUES ('up1', 100, 42)",
  "INSERT INTO config_overrides (name, value, updated_at) VALUES ('max_concurrent_workers', 8, 1),"
  " ('backoff_factor', 1.5, 1), ('retry_failed_tasks', 0, 1), ('worker_timeout_ms', 60000, 1)",
  "INSERT INTO fleet_pause (id, paused_at) VALUES (1, 500)",
  "INSERT INTO queues (name, max_workers, rate_count, rate_interval_ms, weight, group_max_workers, paused, created_at,"
  " updated_at) VALUES ('q1', 4, 10, 1000, 3, 2, 0, 1, 1), ('q2', NULL, NULL, NULL, NULL, NULL, 1, 1, 1)",
  "INSERT INTO schedules (name, cron, time_zone, every_ms, tasks, missed, overlap, paused_at, source, created_at,"
  " updated_at, handled_until, last_slot, last_batch_id, fired, skipped, missed_slots) VALUES"
  " ('nightly', '0 3 * * *', 'Europe/Berlin', NULL, '[{\"id\":\"a\",\"type\":\"echo\"}]', 'skip', 1, NULL, 'config',"
  " 1, 2, 3, 4, 'b1', 5, 6, 7),"
  " ('often', NULL, NULL, 60000, '[]', 'once', 0, 99, 'runtime', 1, 2, 3, NULL, NULL, 0, 0, 0)",
};

template <class T>
std::string render(const caf::expected<T>& x, const std::function<std::string(const T&)>& show) {
  if (!x)
    return fmt::format("error {}", to_string(code_of(x.error())));
  return show(*x);
}

template <class T>
std::string render(const caf::expected<T>& x) {
  return render<T>(x, [](const T& v) { return caf::deep_to_string(v); });
}

/// A task's dependencies' results as JSON read back (key order and spacing are the database's).
std::string deps_text(const std::string& deps) {
  if (deps.empty())
    return "";
  auto parsed = nlohmann::json::parse(deps, nullptr, false);
  return parsed.is_discarded() ? "not JSON: " + deps : parsed.dump();
}

std::string show_runnable(const std::vector<runnable_task>& xs) {
  std::string out;
  for (const auto& r : xs) {
    auto spec = r.spec;
    spec.deps = deps_text(spec.deps);
    out += fmt::format("[{} {} {} a{} i{} r{} o{} d{} ready{} p{}/{}/{}/{}] ", r.seq, r.batch_id,
                       caf::deep_to_string(spec), r.attempts, r.interruptions, r.replay_base, r.orphaned,
                       r.dependencies, r.ready_at, spec.policy.timeout_ms,
                       spec.policy.max_retries, spec.policy.backoff_ms, int{spec.policy.retry});
  }
  return out;
}

std::string show_schedule(const schedule_row& x) {
  return fmt::format("{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}", x.name, x.cron, x.time_zone, x.every_ms,
                     x.tasks_json, x.missed, x.overlap, x.paused_at, x.source, x.created_at, x.updated_at,
                     x.handled_until, x.last_slot, x.last_batch_id, x.fired, x.skipped, x.missed_slots);
}

/// Every read, each rendered as text, in one list: what a backend answers for the sample rows.
std::vector<std::pair<std::string, std::string>> every_read(store_reader& r) {
  std::vector<std::pair<std::string, std::string>> out;
  auto add = [&](std::string what, std::string answer) { out.emplace_back(std::move(what), std::move(answer)); };
  using runnable_list = std::vector<runnable_task>;
  add("load_config_overrides", render(r.load_config_overrides()));
  add("unfinished_batches", render(r.unfinished_batches()));
  add("upload_size up1", render(r.upload_size("up1")));
  add("upload_size unknown", render(r.upload_size("nope")));
  add("batch_for_key", render(r.batch_for_key("key-1")));
  add("batch_for_key unknown", render(r.batch_for_key("none")));
  add("fleet_paused", render(r.fleet_paused()));
  add("dead_letters all", render(r.dead_letters("", 0, 10)));
  add("dead_letters b1 limit 1", render(r.dead_letters("b1", 0, 1)));
  add("dead_letters after", render(r.dead_letters("", 3, 10)));
  add("next_runnable default", render<runnable_list>(r.next_runnable("default", 10, {}), show_runnable));
  add("next_runnable q1 2", render<runnable_list>(r.next_runnable("q1", 2, {}), show_runnable));
  add("next_runnable q1 after", render<runnable_list>(r.next_runnable("q1", 10, run_position{5, 7}), show_runnable));
  add("next_runnable q1 after first",
      render<runnable_list>(r.next_runnable("q1", 10, run_position{5, 0}), show_runnable));
  add("next_runnable empty queue", render<runnable_list>(r.next_runnable("q2", 10, {}), show_runnable));
  auto show_dependencies = [](const dependency_results& x) {
    return fmt::format("{} bytes {}", x.bytes, deps_text(x.object));
  };
  add("dependency_results 7", render<dependency_results>(r.dependency_results(7, 1 << 20), show_dependencies));
  add("dependency_results 7 over", render<dependency_results>(r.dependency_results(7, 5), show_dependencies));
  add("dependency_results 3", render<dependency_results>(r.dependency_results(3, 1 << 20), show_dependencies));
  add("runnable_of_group g1",
      render<runnable_list>(r.runnable_of_group("q1", "g1", 10, {5, 7}, {0, 9}), show_runnable));
  add("runnable_of_group g1 limit 1",
      render<runnable_list>(r.runnable_of_group("q1", "g1", 1, {5, 0}, {0, 100}), show_runnable));
  add("runnable_of_group backwards",
      render<runnable_list>(r.runnable_of_group("q1", "g1", 10, {0, 9}, {5, 7}), show_runnable));
  add("runnable_of_group same priority",
      render<runnable_list>(r.runnable_of_group("q1", "g1", 10, {0, 0}, {0, 9}), show_runnable));
  add("pending_by_queue", render(r.pending_by_queue()));
  add("stored_queues", render(r.stored_queues()));
  add("next_due", render(r.next_due()));
  for (const std::string id : {"b1", "b2", "b3", "nope"})
    add("status " + id, render(r.status(id)));
  add("task_state", render(r.task_state("b2", "u3")));
  add("task_state unknown", render(r.task_state("b2", "zz")));
  add("recent_batches 2", render(r.recent_batches(2)));
  add("recent_batches 10", render(r.recent_batches(10)));
  add("recent_failures", render(r.recent_failures(10)));
  add("results b1", render(r.results("b1", 0, -1, SIZE_MAX)));
  add("results b1 limit 1", render(r.results("b1", 0, 1, SIZE_MAX)));
  add("results b1 after 2", render(r.results("b1", 2, 10, SIZE_MAX)));
  add("results b1 60 bytes", render(r.results("b1", 0, -1, 60)));
  add("results b2", render(r.results("b2", 0, -1, SIZE_MAX)));
  add("results whole b1", render(r.results("b1", SIZE_MAX)));
  add("results whole b1 too big", render(r.results("b1", 40)));
  add("results unknown", render(r.results("nope", 0, 10, SIZE_MAX)));
  add("task_rows b2", render(r.task_rows("b2", 0, 100)));
  add("task_rows b2 page", render(r.task_rows("b2", 5, 3)));
  add("task_rows unknown", render(r.task_rows("nope", 0, 3)));
  add("finished_count b1", render(r.finished_count("b1")));
  add("stats", render(r.stats()));
  add("unfinished_tasks", render(r.unfinished_tasks()));
  add("result_totals", render(r.result_totals()));
  using oldest = std::optional<std::pair<std::string, int64_t>>;
  auto show_oldest = [](const oldest& x) { return x ? fmt::format("{} {}", x->first, x->second) : "none"; };
  for (int64_t before : {100, 4000, 10000})
    add(fmt::format("oldest_finished {}", before), render<oldest>(r.oldest_finished(before), show_oldest));
  add("schedules", render<std::vector<schedule_row>>(r.schedules(), [](const std::vector<schedule_row>& xs) {
        std::string s;
        for (const auto& x : xs)
          s += show_schedule(x) + "; ";
        return s;
      }));
  using maybe_schedule = std::optional<schedule_row>;
  auto show_maybe = [](const maybe_schedule& x) { return x ? show_schedule(*x) : std::string{"none"}; };
  add("schedule often", render<maybe_schedule>(r.schedule("often"), show_maybe));
  add("schedule unknown", render<maybe_schedule>(r.schedule("none"), show_maybe));
  return out;
}

} // namespace

TEST_CASE("pg reader: every read answers as SQLite's does for the same rows") {
  temp_dir dir;
  auto lite = fleet_store::open({dir.file("fleet.db"), "normal"});
  REQUIRE(lite);
  {
    auto raw = sqlite::database::open(dir.file("fleet.db"), false);
    REQUIRE(raw);
    for (const auto& sql : reader_rows)
      REQUIRE_MESSAGE(!raw->exec(sql), sql);
  }
  pg_database database;
  auto db = database.connect();
  REQUIRE_FALSE(migrate(db));
  for (const auto& sql : reader_rows) {
    auto err = db.exec(sql);
    REQUIRE_MESSAGE(!err, error_text(err));
  }
  pg_reader pg{std::move(db)};
  auto expected = every_read(**lite);
  auto answered = every_read(pg);
  REQUIRE(expected.size() == answered.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    INFO(expected[i].first);
    CHECK(answered[i].second == expected[i].second);
  }
  // The sample reaches what it should: the reads that matter answer with rows.
  auto answer = [&](const std::string& what) {
    for (const auto& [name, text] : expected)
      if (name == what)
        return text;
    FAIL("no read named ", what);
    return std::string{};
  };
  CHECK(answer("next_runnable default").find("u3") != std::string::npos);
  // A dependency's result that is not JSON arrives as a JSON string, one that is as itself.
  CHECK(answer("next_runnable q1 2").find(" d2 ") != std::string::npos);
  CHECK(answer("next_runnable q1 2").find(R"({\"u1\":\"not json\",\"u10\":{\"ok\":[1,\"x\"]}})")
        != std::string::npos);
  CHECK(answer("dependency_results 7").find(R"({"u1":"not json","u10":{"ok":[1,"x"]}})") != std::string::npos);
  CHECK(answer("dependency_results 7 over").ends_with(" bytes "));
  CHECK(answer("runnable_of_group g1").find("u6") != std::string::npos);
  CHECK(answer("task_rows b2").find("half way") != std::string::npos);
  CHECK(answer("schedules").find("Europe/Berlin") != std::string::npos);
  CHECK(pg.file().find(database.name()) != std::string::npos);
}

TEST_CASE("pg reader: a lost connection is storage_unavailable, not an empty answer") {
  pg_database database;
  auto db = database.connect();
  REQUIRE_FALSE(migrate(db));
  auto pid = db.backend_pid();
  pg_reader reader{std::move(db)};
  auto admin = database.admin_connection();
  REQUIRE(admin.query("SELECT pg_terminate_backend($1)", int64_t{pid}));
  auto stats = reader.stats();
  REQUIRE_FALSE(stats);
  CHECK(code_of(stats.error()) == errc::storage_unavailable);
  auto status = reader.status("b1");
  REQUIRE_FALSE(status);
  CHECK(code_of(status.error()) == errc::storage_unavailable);
}
