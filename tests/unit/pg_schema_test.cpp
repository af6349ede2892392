// The PostgreSQL schema against the SQLite one (issue 24): the same tables and columns, audit views
// that answer alike for the same rows, and the triggers that keep totals and the event log.

#include "fleet/migrations.hpp"
#include "fleet/pg_migrations.hpp"
#include "fleet/sqlite.hpp"
#include "fleetd/error.hpp"
#include "doc_queries.hpp"
#include "pg_fixture.hpp"
#include "temp_dir.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <set>
#include <string>
#include <vector>

using namespace fleet;
using fleet::test::code_of;
using fleet::test::count;
using fleet::test::pg_database;
using fleet::test::temp_dir;

namespace {

using rows = std::vector<std::vector<std::string>>;

/// What exists on PostgreSQL only, for the lease and the terms.
const std::set<std::string> postgres_only{"fleetd_schema.application", "fleetd_schema.id",
                                          "fleetd_schema.version",     "leader_lease.*",
                                          "leader_terms.*",            "attempts.epoch",
                                          "task_history.epoch",        "fleetd_runs.holder"};

/// The query of docs/AUDIT-POSTGRES.md that lists rows without their parent (its last one).
std::string audit_orphans_query() {
  auto queries = fleet::test::audit_page_queries("AUDIT-POSTGRES.md", "", "");
  REQUIRE_FALSE(queries.empty());
  auto sql = queries.back();
  REQUIRE(sql.find("NOT EXISTS (SELECT 1 FROM batches") != std::string::npos);
  while (!sql.empty() && (sql.back() == '\n' || sql.back() == ';'))
    sql.pop_back(); // to be wrapped in a count
  return sql;
}

bool postgres_only_column(const std::string& table, const std::string& column) {
  return postgres_only.count(table + "." + column) > 0 || postgres_only.count(table + ".*") > 0;
}

sqlite::database fresh_sqlite(const temp_dir& dir) {
  auto db = sqlite::database::open(dir.file("fleet.db"));
  REQUIRE(db);
  REQUIRE_FALSE(migrate(*db));
  return std::move(*db);
}

pg::connection fresh_postgres(const pg_database& database) {
  auto db = database.connect();
  auto err = migrate(db);
  REQUIRE_MESSAGE(!err, error_text(err));
  return db;
}

rows sqlite_rows(sqlite::database& db, const std::string& sql) {
  auto st = db.prepare(sql);
  REQUIRE_MESSAGE(st, error_text(st.error()));
  rows out;
  auto err = st->each_row([&] {
    std::vector<std::string> row;
    for (int c = 0; c < st->column_count(); ++c)
      row.push_back(st->column_is_null(c) ? "NULL" : st->column_text(c));
    out.push_back(std::move(row));
  });
  REQUIRE_MESSAGE(!err, error_text(err));
  return out;
}

rows postgres_rows(pg::connection& db, const std::string& sql) {
  auto res = db.query(sql);
  REQUIRE_MESSAGE(res, error_text(res.error()));
  rows out;
  for (int r = 0; r < res->rows(); ++r) {
    std::vector<std::string> row;
    for (int c = 0; c < res->columns(); ++c)
      row.push_back(res->is_null(r, c) ? "NULL" : std::string{res->text(r, c)});
    out.push_back(std::move(row));
  }
  return out;
}

/// One value read alike on both: numbers by value (SQLite's 0.5 is PostgreSQL's 0.5000), and
/// PostgreSQL's booleans as SQLite's 0 and 1.
bool same_value(const std::string& sqlite, const std::string& postgres) {
  if (sqlite == postgres)
    return true;
  auto pg = postgres == "t" ? std::string{"1"} : postgres == "f" ? std::string{"0"} : postgres;
  char* end_a = nullptr;
  char* end_b = nullptr;
  auto a = std::strtod(sqlite.c_str(), &end_a);
  auto b = std::strtod(pg.c_str(), &end_b);
  return !sqlite.empty() && !pg.empty() && *end_a == '\0' && *end_b == '\0' && std::fabs(a - b) < 1e-9;
}

void check_same_rows(const rows& sqlite, const rows& postgres, const std::string& what) {
  INFO(what);
  REQUIRE(sqlite.size() == postgres.size());
  for (size_t r = 0; r < sqlite.size(); ++r) {
    REQUIRE(sqlite[r].size() == postgres[r].size());
    for (size_t c = 0; c < sqlite[r].size(); ++c)
      CHECK_MESSAGE(same_value(sqlite[r][c], postgres[r][c]),
                    "row ", r, " column ", c, ": SQLite ", sqlite[r][c], ", PostgreSQL ", postgres[r][c]);
  }
}

/// The same rows for both: three batches (one finished with a failure and a timeout, one running,
/// one cancelled) and their tasks and attempts, finished in two different minutes.
std::vector<std::string> sample_rows(bool postgres) {
  // PostgreSQL's attempts name the term that started them: term 1 here.
  auto epoch = [&](std::string values) { return postgres ? values.insert(values.size() - 1, ", 1") : values; };
  auto attempts = std::string{"INSERT INTO attempts (task_seq, attempt, worker_id, node, started_at, finished_at, "
                              "outcome, error"}
                  + (postgres ? ", epoch" : "") + ") VALUES ";
  return {
    "INSERT INTO batches (id, created_at, started_at, finished_at, total, succeeded, failed, retries, duration_ms,"
    " first_seq, last_seq) VALUES ('b1', 1733000000000, 1733000000100, 1733000061000, 3, 2, 1, 1, 700, 1, 3)",
    "INSERT INTO batches (id, created_at, started_at, total, succeeded, first_seq, last_seq, scheduled)"
    " VALUES ('b2', 1733000001000, 1733000001100, 6, 1, 4, 7, 1)",
    "INSERT INTO batches (id, created_at, cancelled_at, finished_at, total, cancelled, first_seq, last_seq,"
    " paused_at) VALUES ('b3', 1733000002000, 1733000002500, 1733000002500, 1, 1, 8, 8, 1733000002100)",
    "INSERT INTO tasks (seq, batch_id, task_id, type, data, state, attempts, finished_at, duration_ms, result, error)"
    " VALUES (1, 'b1', 't1', 'echo', '{}', 'succeeded', 1, 1733000000200, 100, '{\"ok\":1}', NULL),"
    " (2, 'b1', 't2', 'sleep', '{\"ms\":5}', 'succeeded', 2, 1733000060500, 300, '{}', NULL),"
    " (3, 'b1', 't3', 'exec', '{}', 'failed', 2, 1733000061000, 300, NULL, 'exit 3'),"
    " (4, 'b2', 'u1', 'echo', '{}', 'succeeded', 1, 1733000001200, 50, '{}', NULL),"
    " (5, 'b2', 'u2', 'echo', '{}', 'running', 1, NULL, NULL, NULL, NULL),"
    " (6, 'b2', 'u3', 'echo', '{}', 'pending', 0, NULL, NULL, NULL, NULL),"
    " (7, 'b2', 'u4', 'echo', '{}', 'scheduled', 0, NULL, NULL, NULL, NULL),"
    " (8, 'b3', 'v1', 'echo', '{}', 'cancelled', 0, 1733000002500, NULL, NULL, NULL)",
    attempts + epoch("(1, 1, 'w1', NULL, 1733000000100, 1733000000200, 'succeeded', NULL)") + ", "
      + epoch("(2, 1, 'w2', 'gpu-1', 1733000000100, 1733000030100, 'timed_out', 'ran out of time')") + ", "
      + epoch("(2, 2, 'w3', NULL, 1733000060200, 1733000060500, 'succeeded', NULL)") + ", "
      + epoch("(3, 1, 'w4', NULL, 1733000000100, 1733000000400, 'failed', 'exit 3')") + ", "
      + epoch("(3, 2, 'w5', 'gpu-1', 1733000060700, 1733000061000, 'failed', 'exit 3')") + ", "
      + epoch("(4, 1, 'w6', NULL, 1733000001100, 1733000001150, 'succeeded', NULL)") + ", "
      + epoch("(5, 1, 'w7', NULL, 1733000001100, NULL, NULL, NULL)"),
  };
}

} // namespace

TEST_CASE("pg schema: every table, view and column of the SQLite schema exists on PostgreSQL") {
  temp_dir dir;
  auto lite = fresh_sqlite(dir);
  pg_database database;
  auto pg = fresh_postgres(database);
  std::set<std::pair<std::string, std::string>> in_sqlite;
  for (const auto& row : sqlite_rows(lite, "SELECT m.name, p.name FROM sqlite_schema m, pragma_table_info(m.name) p"
                                           " WHERE m.type IN ('table', 'view') AND m.name NOT LIKE 'sqlite_%'"))
    in_sqlite.emplace(row[0], row[1]);
  std::set<std::pair<std::string, std::string>> in_postgres;
  for (const auto& row : postgres_rows(pg, "SELECT table_name, column_name FROM information_schema.columns"
                                           " WHERE table_schema = current_schema()"))
    in_postgres.emplace(row[0], row[1]);
  REQUIRE(in_sqlite.size() > 100);
  for (const auto& column : in_sqlite)
    CHECK_MESSAGE(in_postgres.count(column) == 1, "missing on PostgreSQL: ", column.first, ".", column.second);
  for (const auto& column : in_postgres)
    if (!postgres_only_column(column.first, column.second))
      CHECK_MESSAGE(in_sqlite.count(column) == 1, "not in the SQLite schema: ", column.first, ".", column.second);
}

TEST_CASE("pg schema: the audit views answer alike on both for the same rows") {
  temp_dir dir;
  auto lite = fresh_sqlite(dir);
  pg_database database;
  auto pg = fresh_postgres(database);
  for (const auto& sql : sample_rows(false))
    REQUIRE_MESSAGE(!lite.exec(sql), sql);
  for (const auto& sql : sample_rows(true)) {
    auto err = pg.exec(sql);
    REQUIRE_MESSAGE(!err, error_text(err));
  }
  for (const std::string query : {"SELECT * FROM batch_summary ORDER BY id",
                                  "SELECT * FROM failures_by_type ORDER BY type",
                                  "SELECT batch_id, task_id, type, task_state, attempt, node, worker_id, started_at,"
                                  " finished_at, duration_ms, outcome, error FROM task_history"
                                  " ORDER BY batch_id, task_id, attempt",
                                  "SELECT * FROM throughput_per_minute",
                                  "SELECT * FROM fleet_totals"}) {
    auto expected = sqlite_rows(lite, query);
    REQUIRE(!expected.empty());
    check_same_rows(expected, postgres_rows(pg, query), query);
  }
}

TEST_CASE("pg schema: fleet_totals follows the batches through inserts, updates and deletes") {
  pg_database database;
  auto pg = fresh_postgres(database);
  REQUIRE_FALSE(pg.exec("INSERT INTO batches (id, created_at, total) VALUES ('a', 1, 5), ('b', 2, 3)"));
  REQUIRE_FALSE(pg.exec("UPDATE batches SET succeeded = 4, failed = 1, duration_ms = 90, retries = 2 WHERE id = 'a'"));
  CHECK(count(pg, "SELECT batches * 1000 + tasks FROM fleet_totals") == 2'008);
  CHECK(count(pg, "SELECT succeeded * 100 + failed * 10 + retries FROM fleet_totals") == 412);
  CHECK(count(pg, "SELECT duration_ms FROM fleet_totals") == 90);
  REQUIRE_FALSE(pg.exec("DELETE FROM batches WHERE id = 'a'"));
  CHECK(count(pg, "SELECT batches * 1000 + tasks FROM fleet_totals") == 1'003);
  CHECK(count(pg, "SELECT succeeded + failed + retries + duration_ms FROM fleet_totals") == 0);
}

TEST_CASE("pg schema: events are append-only except for retention's pruning") {
  pg_database database;
  auto pg = fresh_postgres(database);
  REQUIRE_FALSE(pg.exec("INSERT INTO events (at, kind, batch_id) VALUES (1, 'batch_submitted', 'a'),"
                        " (2, 'batch_finished', 'a')"));
  auto changed = pg.exec("UPDATE events SET kind = 'forged'");
  REQUIRE(changed);
  CHECK(error_text(changed).find("append-only") != std::string::npos);
  auto deleted = pg.exec("DELETE FROM events WHERE at = 1");
  REQUIRE(deleted);
  CHECK(error_text(deleted).find("fleet.retain-events") != std::string::npos);
  CHECK(count(pg, "SELECT count(*) FROM events") == 2);
  // Retention says so for its own transaction only.
  REQUIRE_FALSE(pg.exec("BEGIN; SET LOCAL fleetd.pruning = 'on'; DELETE FROM events WHERE at = 1; COMMIT"));
  CHECK(count(pg, "SELECT count(*) FROM events") == 1);
  CHECK(pg.exec("DELETE FROM events"));
  CHECK(count(pg, "SELECT count(*) FROM events") == 1);
}

TEST_CASE("pg schema: the tables refuse what the SQLite schema refuses") {
  pg_database database;
  auto pg = fresh_postgres(database);
  REQUIRE_FALSE(pg.exec("INSERT INTO batches (id, created_at, total) VALUES ('a', 1, 2)"));
  REQUIRE_FALSE(pg.exec("INSERT INTO tasks (seq, batch_id, task_id, type, data) VALUES (1, 'a', 't', 'echo', '{}')"));
  for (const std::string bad :
       {"INSERT INTO batches (id, created_at, total) VALUES ('empty', 1, 0)",
        "UPDATE batches SET succeeded = 2, failed = 1 WHERE id = 'a'",
        "INSERT INTO tasks (seq, batch_id, task_id, type, data) VALUES (2, 'a', 't', 'echo', '{}')",
        "UPDATE tasks SET state = 'lost' WHERE seq = 1",
        "UPDATE tasks SET progress = 1.5 WHERE seq = 1",
        "INSERT INTO attempts (task_seq, attempt, worker_id, started_at) VALUES (1, 1, 'w', 1)",
        "INSERT INTO attempts (task_seq, attempt, worker_id, started_at, epoch, outcome)"
        " VALUES (1, 1, 'w', 1, 1, 'vanished')",
        "INSERT INTO queues (name, created_at, updated_at, rate_count) VALUES ('q', 1, 1, 5)",
        "INSERT INTO schedules (name, tasks, source, created_at, updated_at, handled_until)"
        " VALUES ('s', '[]', 'runtime', 1, 1, 1)"}) {
    auto err = pg.exec(bad);
    CHECK_MESSAGE(err, "accepted: ", bad);
    CHECK(code_of(err) == errc::database_error);
  }
  CHECK(count(pg, "SELECT count(*) FROM tasks") == 1);
  CHECK(count(pg, "SELECT succeeded FROM batches WHERE id = 'a'") == 0);
}

TEST_CASE("pg schema: the keys on every task's path are gone (schema 3), the audit's query finds what they guarded") {
  pg_database database;
  auto pg = fresh_postgres(database);
  auto foreign_keys = [&](const std::string& table) {
    return count(pg, "SELECT count(*) FROM pg_catalog.pg_constraint WHERE contype = 'f' AND conrelid = '" + table
                       + "'::regclass");
  };
  CHECK(foreign_keys("tasks") == 0);
  CHECK(foreign_keys("attempts") == 0);
  CHECK(foreign_keys("task_deps") == 2);
  CHECK(foreign_keys("task_policies") == 1);
  CHECK(foreign_keys("upload_parts") == 1);
  REQUIRE_FALSE(pg.exec("INSERT INTO batches (id, created_at, total) VALUES ('a', 1, 1)"));
  REQUIRE_FALSE(pg.exec("INSERT INTO tasks (seq, batch_id, task_id, type, data) VALUES (1, 'a', 't', 'echo', '{}')"));
  REQUIRE_FALSE(pg.exec("INSERT INTO attempts (task_seq, attempt, worker_id, started_at, epoch) VALUES (1, 1, 'w', 1, 1)"));
  auto orphans = audit_orphans_query();
  CHECK(count(pg, "SELECT count(*) FROM (" + orphans + ") o") == 0);
  // What a key would have refused, written by hand: the audit's query names both rows.
  REQUIRE_FALSE(pg.exec("INSERT INTO tasks (seq, batch_id, task_id, type, data) VALUES (2, 'gone', 'x', 'echo', '{}')"));
  REQUIRE_FALSE(pg.exec("INSERT INTO attempts (task_seq, attempt, worker_id, started_at, epoch) VALUES (9, 1, 'w', 1, 1)"));
  auto found = pg.query(orphans);
  REQUIRE(found);
  REQUIRE(found->rows() == 2);
  std::set<std::string> rows;
  for (int r = 0; r < found->rows(); ++r)
    rows.insert(std::string{found->text(r, 0)} + "|" + std::string{found->text(r, 1)});
  CHECK(rows == std::set<std::string>{"task|2", "attempt|9"});
}
