// The fleet manager on both stores (issue 24): the same deterministic scenarios on the SQLite file
// and on PostgreSQL, through the manager's API, each checked against what the store then holds.
// What differs between the two backends shows up here, where the manager uses them as fleetd does.

#include "fleet/pg_store.hpp"
#include "audit_history.hpp"
#include "fleet_fixture.hpp"
#include "pg_fixture.hpp"

#include <caf/typed_event_based_actor.hpp>
#include <nlohmann/json.hpp>

#include <map>

using namespace fleet;
using namespace fleet::test;

namespace {

struct on_sqlite {
  void attach(fleet_fixture&) {}
};

struct on_postgres {
  pg_database db;
  pg::connection audit = db.connect();
  void attach(fleet_fixture& f) {
    f.use_store({[this]() -> caf::expected<std::shared_ptr<fleet_store>> {
                   auto s = pg_store::open(db.conninfo());
                   if (!s)
                     return s.error();
                   return std::shared_ptr<fleet_store>{std::move(*s)};
                 },
                 [this](const std::string& sql) { return count(audit, sql); },
                 [this](const std::string& sql) {
                   auto r = audit.query(sql);
                   REQUIRE_MESSAGE(r, error_text(r.error()));
                   REQUIRE(r->rows() == 1);
                   return std::string{r->text(0, 0)};
                 }});
  }
};

/// A worker whose result is what it was given of its dependencies.
worker_actor::behavior_type deps_worker(worker_actor::pointer self) {
  return {
    [self](execute_atom, const task& t, int32_t) -> caf::result<task_outcome> {
      self->quit();
      return success(t.deps.empty() ? "{\"none\": true}" : t.deps);
    },
  };
}

/// Each task id of `rs` once, and `n` of them.
void check_each_once(const std::vector<task_result>& rs, size_t n) {
  std::map<std::string, int> seen;
  for (const auto& r : rs)
    ++seen[r.task_id];
  CHECK(rs.size() == n);
  CHECK(seen.size() == n);
}

/// Every task has its batch and every attempt its task: on PostgreSQL no key checks it (schema 3,
/// docs/AUDIT-POSTGRES.md), so each scenario does.
void check_parents(fleet_fixture& f) {
  CHECK(f.query_int("SELECT count(*) FROM tasks t WHERE NOT EXISTS (SELECT 1 FROM batches b WHERE b.id = t.batch_id)")
        == 0);
  CHECK(f.query_int("SELECT count(*) FROM attempts a WHERE NOT EXISTS (SELECT 1 FROM tasks t WHERE t.seq = a.task_seq)")
        == 0);
}

} // namespace

#define MANAGER_BACKENDS on_sqlite, on_postgres

TEST_CASE_TEMPLATE("on both stores: a batch runs to the end, and status, results, stats and the record agree", B,
                   MANAGER_BACKENDS) {
  B b;
  fleet_fixture f;
  b.attach(f);
  f.start();
  auto tasks = echo_tasks(10);
  tasks.push_back(make_task("bad", "fail", "{}"));
  auto id = f.submit_ok(tasks);
  REQUIRE(f.advance_until([&] { return f.finished(id); }));
  auto st = f.status_of(id);
  CHECK(st.status == batch_state::partial);
  CHECK(st.total == 11);
  CHECK(st.completed == 10);
  CHECK(st.failed == 1);
  auto rs = f.results_of(id);
  check_each_once(rs, 11);
  for (const auto& r : rs) {
    CHECK(r.success == (r.task_id != "bad"));
    if (r.task_id == "t3")
      CHECK(r.result == "{\"n\":3}");
  }
  auto stats = f.stats();
  CHECK(stats.total_batches == 1);
  CHECK(stats.total_tasks == 11);
  CHECK(stats.completed_tasks == 10);
  CHECK(stats.failed_tasks == 1);
  auto retries = fleet_fixture::small_config().max_retries;
  CHECK(f.query_int("SELECT count(*) FROM attempts WHERE outcome = 'succeeded'") == 10);
  CHECK(f.query_int("SELECT count(*) FROM attempts a JOIN tasks t ON t.seq = a.task_seq WHERE t.task_id = 'bad'")
        == 1 + retries);
  CHECK(f.query_int("SELECT count(*) FROM events WHERE kind = 'task_retry_scheduled'") == retries);
  CHECK(f.query_int("SELECT count(*) FROM events WHERE kind = 'task_failed'") == 1);
  CHECK(f.query_text("SELECT status FROM batch_summary WHERE id = '" + id + "'") == "partial");
  check_parents(f);
}

TEST_CASE_TEMPLATE("on both stores: a retry waits its backoff on the test clock, then succeeds", B, MANAGER_BACKENDS) {
  B b;
  fleet_fixture f;
  b.attach(f);
  f.start();
  auto id = f.submit_ok({make_task("flaky", "fail", "{\"times\": 2}")});
  REQUIRE(f.advance_until([&] { return f.query_int("SELECT count(*) FROM attempts") == 1
                                       && f.query_int("SELECT count(*) FROM tasks WHERE state = 'retry_wait'") == 1; }));
  // The first backoff is 100 ms (small_config): nothing starts before it.
  f.advance(50);
  CHECK(f.query_int("SELECT count(*) FROM attempts") == 1);
  REQUIRE(f.advance_until([&] { return f.finished(id); }));
  auto st = f.status_of(id);
  CHECK(st.status == batch_state::completed);
  CHECK(f.query_int("SELECT count(*) FROM attempts") == 3);
  CHECK(f.query_int("SELECT attempts FROM tasks WHERE task_id = 'flaky'") == 3);
  CHECK(f.results_of(id).at(0).attempts == 3);
  check_parents(f);
}

TEST_CASE_TEMPLATE("on both stores: cancel stops running attempts and ends the waiting tasks", B, MANAGER_BACKENDS) {
  B b;
  fleet_fixture f;
  b.attach(f);
  f.start();
  auto id = f.submit_ok(sleep_tasks(6, 10'000));
  f.advance(10);
  REQUIRE(f.stats().active_workers == 2);
  auto ok = f.ask<bool>(cancel_atom::value, id);
  REQUIRE(ok);
  CHECK(*ok);
  REQUIRE(f.advance_until([&] { return f.finished(id); }, 5'000));
  auto st = f.status_of(id);
  CHECK(st.status == batch_state::cancelled);
  CHECK(f.query_int("SELECT count(*) FROM tasks WHERE state = 'cancelled'") == 6);
  CHECK(f.query_int("SELECT count(*) FROM attempts WHERE outcome = 'cancelled'") == 2);
  CHECK(f.query_int("SELECT count(*) FROM attempts WHERE finished_at IS NULL") == 0);
  CHECK(f.stats().active_workers == 0);
  check_parents(f);
}

TEST_CASE_TEMPLATE("on both stores: stopped with work running and started again, every task finishes once", B,
                   MANAGER_BACKENDS) {
  B b;
  fleet_fixture f;
  b.attach(f);
  f.start();
  auto id = f.submit_ok(sleep_tasks(8, 100));
  f.advance(150);
  auto before = f.status_of(id);
  REQUIRE(before.completed > 0);
  REQUIRE(before.completed < 8);
  f.stop();
  CHECK(f.query_int("SELECT count(*) FROM tasks WHERE state = 'running'") == 2);
  f.start();
  CHECK(f.query_int("SELECT count(*) FROM attempts WHERE outcome = 'interrupted'") == 2);
  REQUIRE(f.advance_until([&] { return f.finished(id); }));
  CHECK(f.status_of(id).status == batch_state::completed);
  check_each_once(f.results_of(id), 8);
  CHECK(f.query_int("SELECT count(*) FROM attempts WHERE outcome = 'succeeded'") == 8);
  CHECK(f.query_int("SELECT count(*) FROM tasks WHERE interruptions = 1 AND attempts = 2") == 2);
  check_parents(f);
}

TEST_CASE_TEMPLATE("on both stores: a chain of dependencies runs in order, and a failure skips what follows", B,
                   MANAGER_BACKENDS) {
  B b;
  fleet_fixture f;
  b.attach(f);
  f.start();
  auto a = make_task("a", "echo", "{\"step\": 1}");
  auto c = make_task("c", "echo", "{\"step\": 3}");
  c.after = {"b"};
  auto bb = make_task("b", "echo", "{\"step\": 2}");
  bb.after = {"a"};
  auto broken = make_task("broken", "fail", "{}");
  broken.policy.retry = 0;
  auto skipped = make_task("skipped", "echo", "{}");
  skipped.after = {"broken"};
  auto id = f.submit_ok({c, bb, a, broken, skipped});
  REQUIRE(f.advance_until([&] { return f.finished(id); }));
  auto st = f.status_of(id);
  CHECK(st.completed == 3);
  CHECK(st.failed == 2);
  CHECK(f.query_int("SELECT count(*) FROM tasks x JOIN tasks y ON y.task_id = 'b' WHERE x.task_id = 'a'"
                    " AND x.finished_at <= y.started_at") == 1);
  CHECK(f.query_int("SELECT count(*) FROM tasks x JOIN tasks y ON y.task_id = 'c' WHERE x.task_id = 'b'"
                    " AND x.finished_at <= y.started_at") == 1);
  // Skipped without an attempt, with an error that names its dependency.
  CHECK(f.query_int("SELECT count(*) FROM attempts a JOIN tasks t ON t.seq = a.task_seq"
                    " WHERE t.task_id = 'skipped'") == 0);
  CHECK(f.query_text("SELECT error FROM tasks WHERE task_id = 'skipped'").find("broken") != std::string::npos);
  check_parents(f);
}

TEST_CASE_TEMPLATE("on both stores: dependency results reach the task, with its row or read at its start, or fail it",
                   B, MANAGER_BACKENDS) {
  B b;
  fleet_fixture f;
  b.attach(f);
  f.set_max_dependency_results(100'000);
  f.registry().add("deps", [](caf::actor_system& sys) { return sys.spawn(deps_worker); });
  f.start();
  // Small results come with the task's row; two of 40 KB are read when its attempt starts; three
  // are over the limit.
  auto json_pad = [](char c) { return R"({"pad":")" + std::string(40'000, c) + R"("})"; };
  auto small = make_task("small", "deps");
  small.after = {"a"};
  auto big = make_task("big", "deps");
  big.after = {"x", "y"};
  auto over = make_task("over", "deps");
  over.after = {"x", "y", "z"};
  auto id = f.submit_ok({make_task("a", "echo", R"({"n": 1})"), make_task("x", "echo", json_pad('x')),
                         make_task("y", "echo", json_pad('y')), make_task("z", "echo", json_pad('z')), small, big,
                         over});
  REQUIRE(f.advance_until([&] { return f.finished(id); }));
  std::map<std::string, task_result> rs;
  for (auto& r : f.results_of(id))
    rs[r.task_id] = r;
  REQUIRE(rs["small"].success);
  CHECK(nlohmann::json::parse(rs["small"].result) == nlohmann::json::parse(R"({"a": {"n": 1}})"));
  REQUIRE(rs["big"].success);
  CHECK(nlohmann::json::parse(rs["big"].result)
        == nlohmann::json{{"x", nlohmann::json::parse(json_pad('x'))}, {"y", nlohmann::json::parse(json_pad('y'))}});
  CHECK_FALSE(rs["over"].success);
  CHECK_MESSAGE(rs["over"].error.find("over fleet.max-dependency-results (100000 bytes)") != std::string::npos,
                rs["over"].error);
  CHECK(rs["over"].attempts == 1);
  check_parents(f);
}

TEST_CASE_TEMPLATE("on both stores: retention deletes finished batches whole, and what stays keeps its parents", B,
                   MANAGER_BACKENDS) {
  constexpr int64_t hour = 3'600'000;
  B b;
  fleet_fixture f;
  b.attach(f);
  f.set_retention(hour, 0, 24 * hour, 7); // passes only on request, 7 rows a step
  f.start();
  auto old = f.submit_ok({make_task("a", "echo"), make_task("b", "fail", R"({"times": 1})"), make_task("c", "echo")});
  REQUIRE(f.advance_until([&] { return f.finished(old); }, 60'000, 10));
  f.advance(hour + 1);
  auto young = f.submit_ok(echo_tasks(20));
  REQUIRE(f.advance_until([&] { return f.finished(young); }, 60'000, 10));
  auto report = f.ask<prune_report>(prune_atom::value);
  REQUIRE(report);
  CHECK(report->batches == 1);
  CHECK(report->tasks == 3);
  CHECK(f.query_int("SELECT count(*) FROM batches") == 1);
  CHECK(f.query_int("SELECT count(*) FROM tasks") == 20);
  CHECK(f.query_int("SELECT count(*) FROM attempts") == 20);
  check_parents(f);
}

TEST_CASE("every query of docs/AUDIT-POSTGRES.md runs on PostgreSQL and finds the rows its twin in AUDIT.md finds") {
  auto cfg = fleet_fixture::small_config();
  cfg.max_retries = 1;
  std::vector<int> on_sqlite_rows;
  {
    fleet_fixture f{cfg};
    f.check_clock_every(1000);
    f.start();
    auto a = build_audit_history(f).a;
    auto db = sqlite::database::open(f.db_path(), false);
    REQUIRE(db);
    for (const auto& sql : audit_page_queries("AUDIT.md", a, "x")) {
      auto st = db->prepare(sql);
      REQUIRE_MESSAGE(st, sql);
      int n = 0;
      while (*st->step())
        ++n;
      on_sqlite_rows.push_back(n);
    }
  }
  on_postgres pg;
  fleet_fixture f{cfg};
  pg.attach(f);
  f.check_clock_every(1000);
  f.start();
  auto a = build_audit_history(f).a;
  auto queries = audit_page_queries("AUDIT-POSTGRES.md", a, "x");
  REQUIRE(on_sqlite_rows.size() == 34);
  // The same queries in the same order, and the three that only PostgreSQL has (leadership, and
  // rows without their parent).
  REQUIRE(queries.size() == on_sqlite_rows.size() + 3);
  for (size_t i = 0; i < queries.size(); ++i) {
    CAPTURE(i);
    CAPTURE(queries[i]);
    auto rows = pg.audit.query(queries[i]);
    REQUIRE_MESSAGE(rows, error_text(rows.error()));
    if (i == queries.size() - 1)
      CHECK(rows->rows() == 0); // every task has its batch, every attempt its task
    if (i >= on_sqlite_rows.size())
      continue; // no lease in this test: no terms
    if (i == 7) // throughput per minute: a minute may begin within the run, on either clock
      CHECK((rows->rows() == 1 || rows->rows() == 2));
    else
      CHECK(rows->rows() == on_sqlite_rows[i]);
  }
  // Not all empty: the history reached most of them (20 of the 34 when this was written).
  int with_rows = 0;
  for (auto n : on_sqlite_rows)
    with_rows += n > 0 ? 1 : 0;
  CHECK(with_rows >= 20);
  // And what they find is the same: the dead letters, the failures by type, the invariant.
  auto row = [&](size_t i) {
    auto r = pg.audit.query(queries[i]);
    REQUIRE(r);
    REQUIRE(r->rows() >= 1);
    std::string out;
    for (int c = 0; c < r->columns(); ++c)
      out += (c > 0 ? "|" : "") + std::string{r->text(0, c)};
    return out;
  };
  CHECK(row(4) == "x|fail|4|always (attempt 4)");
  CHECK(row(5).rfind("fail|1|5|0|", 0) == 0);
  CHECK(row(15) == "3|5|2|1|1|3"); // fleet_totals
  CHECK(row(16) == "0|0");            // every end counted once
}
