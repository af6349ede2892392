// The RAII layer over SQLite's C API (src/fleet/sqlite.hpp): a value SQLite refuses to bind must
// fail the statement, never run it with NULL in the value's place.

#include "fleetd/error.hpp"
#include "fleet/sqlite.hpp"
#include "temp_dir.hpp"

#include <doctest/doctest.h>
#include <sqlite3.h>

#include <string>

using namespace fleet;
using fleet::test::temp_dir;

namespace {

/// A file with one table whose column takes NULL, and a length limit of 16 bytes per value.
struct small_limit_file {
  temp_dir dir;
  sqlite::database db = open(dir.file("layer.db"));
  static sqlite::database open(const std::string& path) {
    auto db = sqlite::database::open(path);
    REQUIRE(db);
    REQUIRE_FALSE(db->exec("CREATE TABLE t (id INTEGER PRIMARY KEY, value TEXT)"));
    sqlite3_limit(db->handle(), SQLITE_LIMIT_LENGTH, 16);
    return std::move(*db);
  }
  int64_t rows() {
    auto n = db.query_int("SELECT count(*) FROM t");
    REQUIRE(n);
    return *n;
  }
};

} // namespace

TEST_CASE("a value too long to bind fails the insert instead of storing NULL") {
  small_limit_file f;
  auto insert = f.db.prepare("INSERT INTO t (id, value) VALUES (?1, ?2)");
  REQUIRE(insert);
  auto err = insert->execute(int64_t{1}, std::string(64, 'x'));
  REQUIRE(err);
  CHECK(err.code() == static_cast<uint8_t>(errc::database_error));
  CHECK(error_text(err).find("too big") != std::string::npos);
  CHECK(error_text(err).find("INSERT INTO t") != std::string::npos);
  CHECK(f.rows() == 0);
  SUBCASE("the statement works again once rebound with values that fit") {
    CHECK_FALSE(insert->execute(int64_t{2}, std::string("fits")));
    CHECK(f.rows() == 1);
  }
  SUBCASE("a blob too long fails the same way") {
    auto err2 = insert->execute(int64_t{3}, sqlite::blob_view{std::string(64, 'y')});
    REQUIRE(err2);
    CHECK(f.rows() == 0);
  }
}

TEST_CASE("a parameter index the statement does not have fails the step") {
  small_limit_file f;
  auto insert = f.db.prepare("INSERT INTO t (id, value) VALUES (?1, ?2)");
  REQUIRE(insert);
  insert->reset();
  insert->bind(1, int64_t{1});
  insert->bind(3, std::string("no such parameter"));
  auto row = insert->step();
  REQUIRE_FALSE(row);
  CHECK(f.rows() == 0);
}
