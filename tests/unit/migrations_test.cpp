#include "fleetd/error.hpp"
#include "fleet/migrations.hpp"
#include "fleet/store.hpp"
#include "query_db.hpp"
#include "temp_dir.hpp"

#include <doctest/doctest.h>

#include <fstream>

using namespace fleet;
using namespace fleet::test;
using fleet::test::temp_dir;

namespace {

int64_t user_version(const std::string& path) {
  auto db = sqlite::database::open(path, false);
  REQUIRE(db);
  return *db->query_int("PRAGMA user_version");
}

/// The file at `path`, at schema `version` (the first `version` migrations), open for writing.
sqlite::database database_at(const std::string& path, int version) {
  auto db = sqlite::database::open(path);
  REQUIRE(db);
  std::vector<migration> prefix(migrations().begin(), migrations().begin() + version);
  REQUIRE_FALSE(migrate(*db, prefix));
  return std::move(*db);
}

std::string file_bytes(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  return {std::istreambuf_iterator<char>{in}, {}};
}

} // namespace

TEST_CASE("the embedded migrations are numbered 1..n without gaps") {
  REQUIRE_FALSE(migrations().empty());
  for (size_t i = 0; i < migrations().size(); ++i)
    CHECK(migrations()[i].version == static_cast<int>(i + 1));
  CHECK(latest_schema_version() == migrations().back().version);
}

TEST_CASE("a new database is created at the latest version, and migrating again changes nothing") {
  temp_dir dir;
  auto path = dir.file("fleet.db");
  {
    auto store = fleet_store::open({path, "full"});
    REQUIRE(store);
  }
  CHECK(user_version(path) == latest_schema_version());
  auto db = sqlite::database::open(path, false);
  REQUIRE(db);
  CHECK_FALSE(migrate(*db));
  CHECK(*db->query_int("PRAGMA application_id") == application_id);
}

TEST_CASE("every older version migrates to the latest with its data kept") {
  for (int from = 0; from < latest_schema_version(); ++from) {
    CAPTURE(from);
    temp_dir dir;
    auto path = dir.file("fleet.db");
    auto db = database_at(path, from);
    if (from >= 1)
      REQUIRE_FALSE(db.exec("INSERT INTO batches (id, created_at, total) VALUES ('b-old', 1, 1)"));
    REQUIRE_FALSE(migrate(db));
    CHECK(*db.query_int("PRAGMA user_version") == latest_schema_version());
    if (from >= 1) {
      CHECK(*db.query_int("SELECT count(*) FROM batches WHERE id = 'b-old'") == 1);
      CHECK(*db.query_int("SELECT tasks FROM fleet_totals") == 1);
    }
  }
}

TEST_CASE("a version 1 database with work in every state migrates to delayed tasks with every row kept") {
  temp_dir dir;
  auto path = dir.file("fleet.db");
  {
    auto db = database_at(path, 1);
    REQUIRE_FALSE(db.exec(
      "INSERT INTO batches (id, created_at, total, succeeded, retries, client_key, first_seq, last_seq)"
      " VALUES ('b1', 1, 4, 1, 1, 'key-1', 1, 4);"
      "INSERT INTO tasks (batch_id, task_id, type, data, priority, state, attempts, not_before, result)"
      " VALUES ('b1', 'done', 'echo', '{}', 0, 'succeeded', 1, 5, '{\"ok\":1}'),"
      "        ('b1', 'wait', 'echo', '{}', 3, 'retry_wait', 1, 9000, NULL),"
      "        ('b1', 'run', 'echo', '{}', 0, 'running', 1, 5, NULL),"
      "        ('b1', 'new', 'echo', '{\"big\":12345678901234567890}', -2, 'pending', 0, 5, NULL);"
      "INSERT INTO attempts (task_seq, attempt, worker_id, started_at, finished_at, outcome)"
      " VALUES (1, 1, 'w1', 2, 3, 'succeeded'), (2, 1, 'w2', 2, 3, 'failed'), (3, 1, 'w3', 4, NULL, NULL);"
      "INSERT INTO events (at, kind, batch_id) VALUES (1, 'batch_submitted', 'b1');"));
  }
  auto store = fleet_store::open({path, "full"});
  REQUIRE_MESSAGE(store, (store ? "" : error_text(store.error())));
  auto q = [&](const std::string& sql) { return query_db_int(path, sql); };
  CHECK(user_version(path) == latest_schema_version());
  CHECK(q("SELECT count(*) FROM tasks") == 4);
  CHECK(q("SELECT count(*) FROM attempts") == 3);
  CHECK(q("SELECT count(*) FROM events") == 1);
  CHECK(q("SELECT seq FROM tasks WHERE task_id = 'new' AND priority = -2 AND state = 'pending'") == 4);
  CHECK(q("SELECT not_before FROM tasks WHERE task_id = 'wait' AND state = 'retry_wait'") == 9000);
  CHECK(query_db_text(path, "SELECT data FROM tasks WHERE task_id = 'new'") == "{\"big\":12345678901234567890}");
  CHECK(q("SELECT succeeded = 1 AND retries = 1 AND scheduled = 0 AND last_seq = 4 FROM batches"
          " WHERE client_key = 'key-1'") == 1);
  CHECK(q("SELECT batches = 1 AND tasks = 4 AND succeeded = 1 AND scheduled = 0 FROM fleet_totals") == 1);
  CHECK(q("SELECT count(*) FROM pragma_foreign_key_check") == 0);
  CHECK(query_db_text(path, "PRAGMA integrity_check") == "ok");
  // The indexes and triggers are back: a new scheduled task is counted and found through them.
  auto db = sqlite::database::open(path, false);
  REQUIRE(db);
  CHECK(*db->query_int("PRAGMA foreign_keys") == 0); // a new connection's default: the store sets its own
  REQUIRE_FALSE(db->exec("INSERT INTO batches (id, created_at, total, scheduled) VALUES ('b2', 1, 1, 1)"));
  CHECK(q("SELECT scheduled FROM fleet_totals") == 1);
  CHECK(db->exec("INSERT INTO tasks (batch_id, task_id, type, data, state) VALUES ('b2', 't', 'x', '{}', 'later')"));
  CHECK(db->exec("DELETE FROM events"));
  // migrate() turns foreign keys off for its transaction only.
  auto other = database_at(dir.file("other.db"), 1);
  REQUIRE_FALSE(other.exec("PRAGMA foreign_keys = ON"));
  REQUIRE_FALSE(migrate(other));
  CHECK(*other.query_int("PRAGMA foreign_keys") == 1);
}

TEST_CASE("a version 5 database migrates to dependencies with its tasks, policies and attempts kept") {
  temp_dir dir;
  auto path = dir.file("fleet.db");
  {
    auto db = database_at(path, 5);
    REQUIRE_FALSE(db.exec(
      "INSERT INTO batches (id, created_at, total, succeeded, first_seq, last_seq, scheduled)"
      " VALUES ('b1', 1, 3, 1, 1, 3, 1);"
      "INSERT INTO tasks (batch_id, task_id, type, data, state, attempts, not_before, result, paused)"
      " VALUES ('b1', 'done', 'echo', '{}', 'succeeded', 1, 5, '{\"ok\":1}', 0),"
      "        ('b1', 'later', 'echo', '{}', 'scheduled', 0, 9000, NULL, 1),"
      "        ('b1', 'run', 'echo', '{}', 'running', 1, 5, NULL, 0);"
      "INSERT INTO task_policies (task_seq, timeout_ms) VALUES (3, 100);"
      "INSERT INTO attempts (task_seq, attempt, worker_id, started_at) VALUES (3, 1, 'w1', 4);"));
  }
  auto store = fleet_store::open({path, "full"});
  REQUIRE_MESSAGE(store, (store ? "" : error_text(store.error())));
  auto q = [&](const std::string& sql) { return query_db_int(path, sql); };
  CHECK(user_version(path) == latest_schema_version());
  CHECK(q("SELECT count(*) FROM tasks WHERE dependencies = 0 AND waiting_on = 0 AND dependents = 0") == 3);
  CHECK(q("SELECT not_before FROM tasks WHERE task_id = 'later' AND state = 'scheduled' AND paused = 1") == 9000);
  CHECK(query_db_text(path, "SELECT result FROM tasks WHERE task_id = 'done'") == "{\"ok\":1}");
  CHECK(q("SELECT timeout_ms FROM task_policies JOIN tasks ON seq = task_seq WHERE task_id = 'run'") == 100);
  CHECK(q("SELECT count(*) FROM attempts a JOIN tasks t ON t.seq = a.task_seq WHERE t.state = 'running'") == 1);
  CHECK(q("SELECT count(*) FROM pragma_foreign_key_check") == 0);
  CHECK(query_db_text(path, "PRAGMA integrity_check") == "ok");
  CHECK(q("SELECT count(*) FROM batch_summary WHERE id = 'b1' AND scheduled = 1") == 1);
}

TEST_CASE("a fresh database has exactly the checked-in schema, with incremental auto-vacuum") {
  // tests/data/schema.sql is the reviewed copy: a change to schema/ that alters what a fresh
  // database holds fails here until that copy is updated with it.
  temp_dir dir;
  auto path = dir.file("fleet.db");
  {
    auto store = fleet_store::open({path, "full"});
    REQUIRE(store);
  }
  auto actual = query_db_text(path, "SELECT group_concat(sql, ';' || char(10)) FROM"
                                    " (SELECT sql FROM sqlite_schema WHERE sql IS NOT NULL ORDER BY type, name)");
  std::ifstream in{FLEET_SOURCE_DIR "/tests/data/schema.sql"};
  REQUIRE(in);
  std::string expected{std::istreambuf_iterator<char>{in}, {}};
  while (!expected.empty() && expected.back() == '\n')
    expected.pop_back();
  CHECK(actual == expected);
  CHECK(query_db_int(path, "PRAGMA auto_vacuum") == 2);
  CHECK(query_db_int(path, "SELECT count(*) FROM fleet_totals WHERE batches = 0 AND tasks = 0") == 1);
}

TEST_CASE("a database written by a development build is refused untouched, with what to do") {
  temp_dir dir;
  auto path = dir.file("fleet.db");
  {
    auto db = sqlite::database::open(path);
    REQUIRE(db);
    REQUIRE_FALSE(db->exec("CREATE TABLE batches (id TEXT PRIMARY KEY); PRAGMA journal_mode = DELETE;"
                           "PRAGMA user_version = 15; PRAGMA application_id = "
                           + std::to_string(development_application_id)));
  }
  auto before = file_bytes(path);
  auto store = fleet_store::open({path, "full"});
  REQUIRE_FALSE(store);
  CHECK(store.error() == errc::not_a_fleet_db);
  auto text = error_text(store.error());
  CHECK_MESSAGE(text.find("development build") != std::string::npos, text);
  CHECK_MESSAGE(text.find("delete") != std::string::npos, text);
  CHECK(file_bytes(path) == before);
}

TEST_CASE("a database from a newer fleetd is refused and left untouched") {
  temp_dir dir;
  auto path = dir.file("fleet.db");
  {
    auto store = fleet_store::open({path, "full"});
    REQUIRE(store);
  }
  {
    auto db = sqlite::database::open(path, false);
    REQUIRE(db);
    REQUIRE_FALSE(db->exec("PRAGMA user_version = 999; PRAGMA journal_mode = DELETE"));
  }
  auto before = file_bytes(path);
  auto store = fleet_store::open({path, "full"});
  REQUIRE_FALSE(store);
  CHECK(store.error() == errc::schema_too_new);
  CHECK(error_text(store.error()).find("version 999 is newer than this fleetd") != std::string::npos);
  CHECK(file_bytes(path) == before);
}

TEST_CASE("foreign and corrupt files are refused with a clear error") {
  temp_dir dir;
  auto foreign = dir.file("other.db");
  {
    auto db = sqlite::database::open(foreign);
    REQUIRE(db);
    REQUIRE_FALSE(db->exec("CREATE TABLE customers (id INTEGER)"));
  }
  auto a = fleet_store::open({foreign, "full"});
  REQUIRE_FALSE(a);
  CHECK(a.error() == errc::not_a_fleet_db);
  auto garbage = dir.file("garbage.db");
  {
    std::ofstream out{garbage};
    out << std::string(8192, 'x');
  }
  auto before = file_bytes(garbage);
  auto b = fleet_store::open({garbage, "full"});
  REQUIRE_FALSE(b);
  CHECK(b.error() == errc::not_a_fleet_db);
  CHECK(file_bytes(garbage) == before);
  auto c = fleet_store::open({dir.file("no/such/dir/fleet.db"), "full"});
  REQUIRE_FALSE(c);
  CHECK(error_text(c.error()).find("cannot open database") != std::string::npos);
  auto d = fleet_store::open({dir.file("x.db"), "sometimes"});
  REQUIRE_FALSE(d);
  CHECK(d.error() == errc::invalid_config);
}
