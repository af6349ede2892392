// The audit views (docs/AUDIT.md) against what the API reports.

#include "audit_history.hpp"
#include "fleet_fixture.hpp"

#include <array>
#include <fstream>
#include <iterator>
#include <regex>

using namespace fleet;
using namespace fleet::test;

namespace {

std::string view_status(fleet_fixture& f, const std::string& id) {
  return query_db_text(f.db_path(), "SELECT status FROM batch_summary WHERE id = '" + id + "'");
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

namespace {

/// The rows of `sql` as text, NULL as "NULL", one string per row with columns joined by "|".
std::vector<std::string> rows_of(sqlite::database& db, const std::string& sql) {
  auto st = db.prepare(sql);
  REQUIRE_MESSAGE(st, (st ? "" : error_text(st.error())));
  std::vector<std::string> out;
  for (;;) {
    auto row = st->step();
    REQUIRE_MESSAGE(row, (row ? "" : error_text(row.error())));
    if (!*row)
      return out;
    std::string line;
    for (int c = 0; c < st->column_count(); ++c)
      line += (c == 0 ? "" : "|") + (st->column_is_null(c) ? std::string{"NULL"} : st->column_text(c));
    out.push_back(line);
  }
}

/// The documented queries of docs/AUDIT.md, in order, with the ids put in.
std::vector<std::string> audit_queries(const std::string& batch_id, const std::string& task_id) {
  return audit_page_queries("AUDIT.md", batch_id, task_id);
}

} // namespace

TEST_CASE("every query of docs/AUDIT.md gives the rows of what happened") {
  auto cfg = fleet_fixture::small_config();
  cfg.max_retries = 1;
  fleet_fixture f{cfg};
  f.check_clock_every(1000);
  f.start();
  auto [a, b, c] = build_audit_history(f);
  auto db = sqlite::database::open(f.db_path(), false);
  REQUIRE(db);
  // Times and ids differ from run to run: compare the rest.
  auto shown = [&](const std::string& sql) {
    auto rows = rows_of(*db, sql);
    for (auto& r : rows) {
      r = std::regex_replace(r, std::regex{"\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d(:\\d\\d)?"}, "T");
      r = std::regex_replace(r, std::regex{"\\d{13}"}, "MS");
      r = std::regex_replace(r, std::regex{"worker-[a-z0-9]+-\\d+"}, "W");
      r = std::regex_replace(r, std::regex{a}, "A");
      r = std::regex_replace(r, std::regex{b}, "B");
      r = std::regex_replace(r, std::regex{c}, "C");
    }
    return rows;
  };
  using rows = std::vector<std::string>;
  auto queries = audit_queries(a, "x");
  REQUIRE(queries.size() == 34);
  // The latest batches, and those that did not complete.
  CHECK(shown(queries[0]) == rows{"C|processing|1|0|0|0|0.0|T|NULL", "B|cancelled|1|0|0|1|100.0|T|10",
                                  "A|partial|3|2|1|0|100.0|T|1150"});
  CHECK(shown(queries[1]) == rows{"B|cancelled|0|1|0", "A|partial|1|0|0"});
  // x's whole story: two attempts, failed for good, replayed, two more attempts, failed again.
  CHECK(shown(queries[2]) == rows{
    "T|attempt started|1|local|NULL|NULL",  "T|attempt ended|1|local|failed|always (attempt 1)",
    "T|task_retry_scheduled|1|NULL|failed|always (attempt 1)", "T|task_retry_due|NULL|NULL|NULL|NULL",
    "T|attempt started|2|local|NULL|NULL",  "T|attempt ended|2|local|failed|always (attempt 2)",
    "T|task_failed|2|NULL|failed|always (attempt 2)", "T|task_replayed|NULL|NULL|NULL|NULL",
    "T|attempt started|3|local|NULL|NULL",  "T|attempt ended|3|local|failed|always (attempt 3)",
    "T|task_retry_scheduled|3|NULL|failed|always (attempt 3)", "T|task_retry_due|NULL|NULL|NULL|NULL",
    "T|attempt started|4|local|NULL|NULL",  "T|attempt ended|4|local|failed|always (attempt 4)",
    "T|task_failed|4|NULL|failed|always (attempt 4)"});
  // The cancelled task's story ends with its cancel.
  CHECK(shown(audit_queries(b, "s")[2]) == rows{"T|attempt started|1|local|NULL|NULL",
                                                 "T|attempt ended|1|local|cancelled|cancelled",
                                                 "T|task_cancelled|1|NULL|cancelled|cancelled"});
  CHECK(shown(queries[3]) == rows{
    "T|batch_submitted|NULL|{\"tasks\":3}",
    "T|task_retry_scheduled|flaky|{\"attempt\":1,\"error\":\"task failed on purpose (attempt 1)\",\"not_before\":MS,\"outcome\":\"failed\"}",
    "T|task_retry_scheduled|x|{\"attempt\":1,\"error\":\"always (attempt 1)\",\"not_before\":MS,\"outcome\":\"failed\"}",
    "T|task_retry_due|flaky|NULL", "T|task_retry_due|x|NULL",
    "T|task_failed|x|{\"attempt\":2,\"error\":\"always (attempt 2)\",\"outcome\":\"failed\"}",
    "T|batch_finished|NULL|NULL", "T|task_replayed|x|NULL",
    "T|task_retry_scheduled|x|{\"attempt\":3,\"error\":\"always (attempt 3)\",\"not_before\":MS,\"outcome\":\"failed\"}",
    "T|task_retry_due|x|NULL",
    "T|task_failed|x|{\"attempt\":4,\"error\":\"always (attempt 4)\",\"outcome\":\"failed\"}",
    "T|batch_finished|NULL|NULL"});
  CHECK(shown(queries[4]) == rows{"x|fail|4|always (attempt 4)"}); // the dead letters
  CHECK(shown(queries[5]) == rows{"fail|1|5|0|T"});                // failures by type
  CHECK(shown(queries[6]) == rows{"always (attempt 1)|1", "always (attempt 2)|1", "always (attempt 3)|1",
                                  "always (attempt 4)|1", "task failed on purpose (attempt 1)|1"});
  // Throughput per minute: the run spans about two seconds of fleetd's clock, which starts at the
  // wall clock's time, so a minute may begin within it: the rows add up to the four finished tasks.
  auto minutes = shown(queries[7]);
  CHECK((minutes.size() == 1 || minutes.size() == 2));
  std::array<int64_t, 4> sums{};
  for (const auto& row : minutes) {
    std::smatch m;
    REQUIRE_MESSAGE(std::regex_match(row, m, std::regex{"T\\|(\\d+)\\|(\\d+)\\|(\\d+)\\|(\\d+)"}), row);
    for (size_t i = 0; i < sums.size(); ++i)
      sums[i] += std::stoll(m[i + 1].str());
  }
  CHECK(sums == std::array<int64_t, 4>{4, 2, 1, 1});
  CHECK(shown(queries[8]) == rows{"A|e|echo|local|0", "A|flaky|fail|local|0"});
  CHECK(shown(queries[9]) == rows{"C|long|sleep|1|local|W|T"});    // what runs now
  CHECK(shown(queries[10]) == rows{"local|9|2|0"});                // attempts per node
  CHECK(shown(queries[11]).empty());                               // no fleet-node joined here
  CHECK(shown(queries[12]).empty());                               // no HTTP API here (api_test.cpp)
  CHECK(shown(queries[13]) == rows{"max_concurrent_workers|3|T"});
  CHECK(shown(queries[14]) == rows{"T|config_updated|{\"max_concurrent_workers\":3}|NULL"}); // asked in-process
  CHECK(shown(queries[15]) == rows{"3|5|2|1|1|3"});                // fleet totals
  CHECK(shown(queries[16]) == rows{"0|0"});                        // the invariant holds
  CHECK(shown(queries[17]) == rows{"nightly|0 3 * * * Europe/Berlin|1|0|0|0|NULL|NULL"}); // the schedules
  CHECK(shown(queries[18]) == rows{"T|schedule_paused|nightly|NULL|NULL|NULL",
                                   "T|schedule_added|nightly|NULL|NULL|NULL"});
  CHECK(shown(queries[19]) == rows{"C|long|running|1|3600000|NULL|NULL|NULL"}); // tasks with a policy
  // D: a graph whose root fails: what each task waits on, what was skipped, and why.
  auto root = failing("root", -1);
  root.policy.max_retries = 0;
  auto mid = make_task("mid", "echo");
  mid.after = {"root"};
  auto leaf = make_task("leaf", "echo");
  leaf.after = {"mid"};
  auto d = f.submit_ok({root, mid, leaf, make_task("other", "echo")});
  REQUIRE(f.advance_until([&] { return f.finished(d); }));
  auto graph = audit_queries(d, "");
  CHECK(shown(graph[20]) == rows{"mid|failed|1|root=failed", "leaf|failed|1|mid=failed"});
  CHECK(shown(graph[21]) == rows{"mid|not run: task \"root\", which it runs after, failed|T",
                                 "leaf|not run: task \"root\", which it runs after, failed|T"});
  CHECK(shown(graph[22]) == rows{"root|failed|2"});
  // E: a queue made at runtime, paused, holding a task of a group; C's task still runs.
  queue_change mail;
  mail.max_workers = 2;
  mail.rate_count = 10;
  mail.rate_interval_ms = 1000;
  mail.paused = 1;
  REQUIRE(f.ask<queue_info>(queue_set_atom::value, std::string{"mail"}, mail));
  auto held = make_task("held", "echo");
  held.queue = "mail";
  held.group = "c-42";
  f.submit_ok({held});
  CHECK(shown(queries[23]) == rows{"mail|2|10/1000ms|NULL|NULL|1|T"});
  CHECK(shown(queries[24])
        == rows{"T|mail|{\"max_workers\":2,\"paused\":true,\"rate\":\"10/1s\"}|"
                "{\"group_max_workers\":0,\"max_workers\":2,\"paused\":true,\"rate\":\"10/1s\",\"weight\":1}"});
  CHECK(shown(queries[25]) == rows{"default|-|running|1", "mail|c-42|pending|1"});
  // No crash here: nothing was left running (the orphan tests check the rows they show).
  CHECK(shown(queries[26]).empty());
  CHECK(shown(queries[27]).empty());
  // A manager that is not fleetd records no run (the runs are checked in recovery_test.cpp and
  // orphan_test.cpp); the queries still run against the schema.
  CHECK(shown(queries[28]).empty());
  CHECK(shown(queries[29]).empty());
  // Who asked: nobody over CAF here (the client's name, address and certificate: who_test.cpp and
  // tls_test.cpp); the queries still run against the schema.
  CHECK(shown(queries[30]).empty());
  CHECK(shown(queries[31]).empty());
  CHECK(shown(queries[32]).empty());
  // The step of the clock, with no retry waiting.
  auto steps = shown(queries[33]);
  REQUIRE(steps.size() == 1);
  CHECK(std::regex_match(steps[0], std::regex{"\\d+\\|T\\|-6\\d{4}\\|T\\|0"}));
}
