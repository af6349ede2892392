#include "fleet/error.hpp"
#include "fleet/migrations.hpp"
#include "fleet/store.hpp"
#include "temp_dir.hpp"

#include <doctest/doctest.h>

#include <fstream>

using namespace fleet;
using fleet::test::temp_dir;

namespace {

int64_t user_version(const std::string& path) {
  auto db = sqlite::database::open(path, false);
  REQUIRE(db);
  return *db->query_int("PRAGMA user_version");
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
    auto db = sqlite::database::open(path);
    REQUIRE(db);
    std::vector<migration> prefix(migrations().begin(), migrations().begin() + from);
    REQUIRE_FALSE(migrate(*db, prefix));
    if (from >= 1)
      REQUIRE_FALSE(db->exec("INSERT INTO batches (id, created_at, total) VALUES ('b-old', 1, 1)"));
    REQUIRE_FALSE(migrate(*db));
    CHECK(*db->query_int("PRAGMA user_version") == latest_schema_version());
    if (from >= 1) {
      CHECK(*db->query_int("SELECT count(*) FROM batches WHERE id = 'b-old'") == 1);
      CHECK(*db->query_int("SELECT tasks FROM fleet_totals") == 1);
    }
  }
}

TEST_CASE("schema 2 keeps the whole configuration a schema 1 database stored, as runtime settings") {
  temp_dir dir;
  auto path = dir.file("fleet.db");
  {
    auto db = sqlite::database::open(path);
    REQUIRE(db);
    std::vector<migration> first(migrations().begin(), migrations().begin() + 1);
    REQUIRE_FALSE(migrate(*db, first));
    REQUIRE_FALSE(db->exec("INSERT INTO fleet_config VALUES (1, 12, 5000, 0, 4, 250, 1.5, 8000, 7)"));
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
    auto db = sqlite::database::open(path);
    REQUIRE(db);
    std::vector<migration> up_to_11(migrations().begin(), migrations().begin() + 11);
    REQUIRE_FALSE(migrate(*db, up_to_11));
    // Staged out of id order, with data that needs escaping, and one upload without tasks.
    REQUIRE_FALSE(db->exec(
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
  auto db = sqlite::database::open(path, false);
  REQUIRE(db);
  auto st = db->prepare("SELECT group_concat(task_id || ':' || type || ':' || data || ':' || priority, ' | ')"
                        " FROM (SELECT * FROM tasks ORDER BY seq)");
  REQUIRE(st);
  REQUIRE(*st->step());
  CHECK(st->column_text(0) == "z:echo:{\"q\":\"a \\\"b\\\"\"}:2 | a:sleep:{\"ms\":1}:0 | m:echo:[\"\u00e9\"]:-1");
  CHECK(*db->query_int("SELECT count(*) FROM sqlite_master WHERE name = 'upload_tasks'") == 0);
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
