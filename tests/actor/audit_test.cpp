// The audit views (docs/AUDIT.md) against what the API reports.

#include "fleet_fixture.hpp"

#include <fstream>
#include <iterator>
#include <regex>

using namespace fleet;
using namespace fleet::test;

namespace {

std::string view_status(fleet_fixture& f, const std::string& id) {
  return query_db_text(f.db_path(), "SELECT status FROM batch_summary WHERE id = '" + id + "'");
}

task failing(std::string id, int times) {
  return make_task(std::move(id), "fail", times < 0 ? R"({"error":"always"})"
                                                    : R"({"times":)" + std::to_string(times) + "}");
}

} // namespace

TEST_CASE("the audit views agree with the API on every kind of batch") {
  auto cfg = fleet_fixture::small_config();
  cfg.max_retries = 1;
  fleet_fixture f{cfg};
  f.start();
  auto completed = f.submit_ok({failing("flaky", 1), make_task("e", "echo")});
  auto failed = f.submit_ok({failing("x", -1)});
  auto partial = f.submit_ok({failing("y", -1), make_task("ok", "echo")});
  REQUIRE(f.advance_until([&] { return f.finished(completed) && f.finished(failed) && f.finished(partial); }));
  // Two long sleepers fill both workers: the next batch waits.
  auto processing = f.submit_ok({make_task("s1", "sleep", R"({"ms":60000})"), make_task("s2", "sleep", R"({"ms":60000})")});
  auto pending = f.submit_ok({make_task("later", "echo")});
  auto cancelled = f.submit_ok({make_task("never", "echo")});
  REQUIRE(f.ask<bool>(cancel_atom::value, cancelled));
  f.run();
  for (const auto& id : {completed, failed, partial, processing, pending, cancelled}) {
    CAPTURE(id);
    CHECK(view_status(f, id) == to_string(f.status_of(id).status));
  }
  CHECK(view_status(f, completed) == "completed");
  CHECK(view_status(f, failed) == "failed");
  CHECK(view_status(f, partial) == "partial");
  CHECK(view_status(f, processing) == "processing");
  CHECK(view_status(f, pending) == "pending");
  CHECK(view_status(f, cancelled) == "cancelled");
  CHECK(f.query_int("SELECT retries FROM batch_summary WHERE id = '" + completed + "'") == 1);
  CHECK(f.query_int("SELECT unfinished FROM batch_summary WHERE id = '" + processing + "'") == 2);
  // task_history: one row per attempt, the node of fleetd's own workers named.
  CHECK(f.query_int("SELECT count(*) FROM task_history") == f.query_int("SELECT count(*) FROM attempts"));
  CHECK(f.query_int("SELECT count(*) FROM task_history WHERE task_id = 'flaky'") == 2);
  CHECK(query_db_text(f.db_path(), "SELECT outcome FROM task_history WHERE task_id = 'flaky' AND attempt = 1")
        == "failed");
  CHECK(f.query_int("SELECT count(*) FROM task_history WHERE node <> 'local'") == 0);
  // failures_by_type: x and y failed twice each (max_retries 1), flaky once.
  CHECK(f.query_int("SELECT failed_tasks FROM failures_by_type WHERE type = 'fail'") == 2);
  CHECK(f.query_int("SELECT failed_attempts FROM failures_by_type WHERE type = 'fail'") == 5);
  CHECK(f.query_int("SELECT count(*) FROM failures_by_type WHERE type = 'echo'") == 0);
  // throughput_per_minute counts every finished task once.
  CHECK(f.query_int("SELECT sum(finished) FROM throughput_per_minute")
        == f.query_int("SELECT count(*) FROM tasks WHERE finished_at IS NOT NULL"));
  CHECK(f.query_int("SELECT sum(cancelled) FROM throughput_per_minute") == 1);
}

TEST_CASE("every query of docs/AUDIT.md runs on a real database") {
  auto cfg = fleet_fixture::small_config();
  cfg.max_retries = 1;
  fleet_fixture f{cfg};
  f.start();
  auto id = f.submit_ok({failing("flaky", 1), failing("x", -1), make_task("e", "echo")});
  REQUIRE(f.advance_until([&] { return f.finished(id); }));
  std::ifstream in{std::string{FLEET_SOURCE_DIR} + "/docs/AUDIT.md"};
  REQUIRE(in);
  std::string doc{std::istreambuf_iterator<char>{in}, {}};
  static const std::regex block{"```sql\n([^`]*)```"};
  auto db = sqlite::database::open(f.db_path(), false);
  REQUIRE(db);
  int queries = 0;
  int rows_total = 0;
  for (std::sregex_iterator i{doc.begin(), doc.end(), block}, end; i != end; ++i) {
    auto sql = std::regex_replace((*i)[1].str(), std::regex{"BATCH_ID"}, id);
    sql = std::regex_replace(sql, std::regex{"TASK_ID"}, "flaky");
    CAPTURE(sql);
    auto st = db->prepare(sql);
    REQUIRE_MESSAGE(st, (st ? "" : error_text(st.error())));
    for (;;) {
      auto row = st->step();
      REQUIRE_MESSAGE(row, (row ? "" : error_text(row.error())));
      if (!*row)
        break;
      ++rows_total;
    }
    ++queries;
  }
  CHECK(queries >= 15);
  CHECK(rows_total > queries); // they found something, not just ran
}
