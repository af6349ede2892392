#include "fleet/error.hpp"
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

/// Every task in submission order as "id:type:data:priority | ...".
std::string stored_tasks(const std::string& path) {
  return query_db_text(path, "SELECT group_concat(task_id || ':' || type || ':' || data || ':' || priority, ' | ')"
                             " FROM (SELECT * FROM tasks ORDER BY seq)");
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

TEST_CASE("schema 2 keeps the whole configuration a schema 1 database stored, as runtime settings") {
  temp_dir dir;
  auto path = dir.file("fleet.db");
  {
    auto db = database_at(path, 1);
    REQUIRE_FALSE(db.exec("INSERT INTO fleet_config VALUES (1, 12, 5000, 0, 4, 250, 1.5, 8000, 7)"));
  }
  auto store = fleet_store::open({path, "full"});
  REQUIRE(store);
  auto kept = (*store)->load_config_overrides();
  REQUIRE(kept);
  CHECK(kept->max_concurrent_workers == 12);
  CHECK(kept->worker_timeout_ms == int64_t{5000});
  CHECK(kept->retry_failed_tasks == false);
  CHECK(kept->max_retries == 4);
  CHECK(kept->backoff_base_ms == int64_t{250});
  CHECK(kept->backoff_factor == 1.5);
  CHECK(kept->backoff_cap_ms == int64_t{8000});
}

TEST_CASE("an upload staged by schema 11 (a row per task) is sealed whole and in order after 12") {
  temp_dir dir;
  auto path = dir.file("fleet.db");
  {
    auto db = database_at(path, 11);
    // Staged out of id order, with data that needs escaping, and one upload without tasks.
    REQUIRE_FALSE(db.exec(
      "INSERT INTO uploads (id, created_at, tasks) VALUES ('u', 1, 3), ('empty', 1, 0);"
      "INSERT INTO upload_tasks (upload_id, task_id, type, data, priority) VALUES"
      " ('u', 'z', 'echo', '{\"q\":\"a \\\"b\\\"\"}', 2),"
      " ('u', 'a', 'sleep', '{\"ms\":1}', 0),"
      " ('u', 'm', 'echo', '[\"\u00e9\"]', -1);"));
  }
  auto store = fleet_store::open({path, "full"});
  REQUIRE(store);
  auto& s = **store;
  auto tx = s.transaction();
  REQUIRE_FALSE(tx.begin());
  auto sealed = s.seal_upload("u", "B", 5);
  REQUIRE(sealed);
  CHECK(*sealed == 3);
  auto empty = s.seal_upload("empty", "E", 5);
  REQUIRE_FALSE(empty);
  CHECK(empty.error() == errc::invalid_batch);
  REQUIRE_FALSE(tx.commit());
  CHECK(stored_tasks(path) == "z:echo:{\"q\":\"a \\\"b\\\"\"}:2 | a:sleep:{\"ms\":1}:0 | m:echo:[\"\u00e9\"]:-1");
  CHECK(query_db_int(path, "SELECT count(*) FROM sqlite_master WHERE name = 'upload_tasks'") == 0);
}

namespace {

/// A database at schema 12 with a task in every state and an attempt of every outcome.
void make_schema_12(const std::string& path) {
  auto db = database_at(path, 12);
  REQUIRE_FALSE(db.exec("INSERT INTO batches (id, created_at, total) VALUES ('b', 1, 6);"
                         "INSERT INTO tasks (batch_id, task_id, type, data, state) VALUES"
                         " ('b', '1', 'echo', '{}', 'pending'), ('b', '2', 'echo', '{}', 'running'),"
                         " ('b', '3', 'echo', '{}', 'retry_wait'), ('b', '4', 'echo', '{}', 'succeeded'),"
                         " ('b', '5', 'echo', '{}', 'failed'), ('b', '6', 'echo', '{}', 'cancelled');"
                         "INSERT INTO attempts (task_seq, attempt, worker_id, started_at, outcome) VALUES"
                         " (2, 1, 'w', 1, NULL), (3, 1, 'w', 1, 'timed_out'), (4, 1, 'w', 1, 'succeeded'),"
                         " (5, 1, 'w', 1, 'failed'), (5, 2, 'w', 1, 'interrupted'), (6, 1, 'w', 1, 'cancelled');"));
}

} // namespace

TEST_CASE("schema 13 states the same state and outcome rules without IN lists, and keeps every row") {
  temp_dir dir;
  auto path = dir.file("fleet.db");
  make_schema_12(path);
  int64_t cookie_before = 0;
  {
    auto db = sqlite::database::open(path, false);
    REQUIRE(db);
    cookie_before = *db->query_int("PRAGMA schema_version");
  }
  REQUIRE(fleet_store::open({path, "full"}));
  auto db = sqlite::database::open(path);
  REQUIRE(db);
  CHECK(*db->query_int("PRAGMA user_version") == latest_schema_version());
  CHECK(*db->query_int("PRAGMA schema_version") > cookie_before);
  CHECK(*db->query_int("SELECT count(*) FROM sqlite_schema WHERE name IN ('tasks', 'attempts')"
                       " AND sql LIKE '% IN (%'") == 0);
  CHECK(*db->query_int("SELECT count(*) FROM tasks") == 6);
  CHECK(*db->query_int("SELECT count(*) FROM attempts") == 6);
  auto st = db->prepare("PRAGMA integrity_check");
  REQUIRE(st);
  REQUIRE(*st->step());
  CHECK(st->column_text(0) == "ok");
  st = db->prepare("PRAGMA foreign_key_check");
  REQUIRE(st);
  CHECK_FALSE(*st->step());
  // The rules still hold, for new rows and for changes.
  auto bad_state = db->exec("INSERT INTO tasks (batch_id, task_id, type, data, state) VALUES ('b', '7', 'echo', '{}', 'lost')");
  REQUIRE(bad_state);
  CHECK(error_text(bad_state).find("CHECK constraint failed") != std::string::npos);
  CHECK(db->exec("UPDATE tasks SET state = 'Pending' WHERE seq = 1"));
  CHECK(db->exec("UPDATE attempts SET outcome = 'lost' WHERE task_seq = 4"));
  CHECK_FALSE(db->exec("UPDATE tasks SET state = 'running' WHERE seq = 1"));
  CHECK_FALSE(db->exec("UPDATE attempts SET outcome = NULL WHERE task_seq = 3"));
}

TEST_CASE("schema 13 refuses a tasks table it does not recognise, and changes nothing") {
  temp_dir dir;
  auto path = dir.file("fleet.db");
  make_schema_12(path);
  {
    auto db = sqlite::database::open(path, false);
    REQUIRE(db);
    // Someone rewrote the rule by hand: the migration must not guess.
    REQUIRE_FALSE(db->exec("PRAGMA writable_schema = ON;"
                           "UPDATE sqlite_schema SET sql = replace(sql, 'state IN (', 'state  IN (')"
                           " WHERE name = 'tasks';"
                           "PRAGMA writable_schema = RESET;"));
  }
  auto store = fleet_store::open({path, "full"});
  REQUIRE_FALSE(store);
  CHECK(error_text(store.error()).find("migration 0013_check_without_in failed") != std::string::npos);
  CHECK(user_version(path) == 12);
  auto db = sqlite::database::open(path, false);
  REQUIRE(db);
  CHECK(*db->query_int("SELECT count(*) FROM sqlite_schema WHERE name = 'tasks' AND sql LIKE '%state  IN (%'") == 1);
  CHECK(*db->query_int("SELECT count(*) FROM sqlite_schema WHERE name = 'attempts' AND sql LIKE '%outcome IN (%'") == 1);
}

TEST_CASE("an upload staged as JSON by schema 13 is kept by 14 and sealed from its JSON") {
  temp_dir dir;
  auto path = dir.file("fleet.db");
  {
    auto db = database_at(path, 13);
    REQUIRE_FALSE(db.exec(
      "INSERT INTO uploads (id, created_at, tasks) VALUES ('u', 1, 3);"
      "INSERT INTO upload_chunks (upload_id, first, tasks, body) VALUES"
      " ('u', 0, 2, '[[\"z\",\"echo\",\"{\\\"q\\\":1}\",2],[\"a\",\"sleep\",\"{}\",0]]'),"
      " ('u', 2, 1, '[[\"m\",\"echo\",\"[]\",-1]]');"));
  }
  auto store = fleet_store::open({path, "full"});
  REQUIRE(store);
  CHECK(query_db_int(path, "SELECT count(*) FROM upload_chunks WHERE typeof(body) = 'text'") == 2);
  CHECK(query_db_int(path, "SELECT count(*) FROM sqlite_schema WHERE name = 'upload_chunks'"
                           " AND sql LIKE '%body      BLOB NOT NULL%'") == 1);
  CHECK(query_db_int(path, "SELECT count(*) FROM sqlite_schema WHERE name LIKE 'upload_chunks_%'") == 0);
  auto& s = **store;
  auto tx = s.transaction();
  REQUIRE_FALSE(tx.begin());
  auto sealed = s.seal_upload("u", "B", 5);
  REQUIRE(sealed);
  CHECK(*sealed == 3);
  REQUIRE_FALSE(tx.commit());
  CHECK(stored_tasks(path) == "z:echo:{\"q\":1}:2 | a:sleep:{}:0 | m:echo:[]:-1");
  CHECK(query_db_int(path, "SELECT count(*) FROM upload_chunks") == 0);
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
