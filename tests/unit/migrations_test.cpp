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
